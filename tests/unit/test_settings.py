from __future__ import annotations

from pathlib import Path

import pytest

from candlelab.errors import ConfigError
from candlelab.settings import load_settings

VARIABLES = ("DATABASE_URL", "CANDLELAB_HOME", "CANDLELAB_ARTIFACT_ROOT", "CANDLELAB_LOG_LEVEL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.database_url is None
    assert settings.home == tmp_path / ".candlelab"
    assert settings.artifact_location == (tmp_path / ".candlelab" / "artifacts").as_uri()
    assert settings.log_level == "WARNING"


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/db")
    monkeypatch.setenv("CANDLELAB_LOG_LEVEL", "debug")
    monkeypatch.setenv("CANDLELAB_ARTIFACT_ROOT", "s3://bucket/models")
    settings = load_settings({"CANDLELAB_HOME": "/srv/candlelab"})
    assert settings.database_url == "postgresql://a@h/db"
    assert settings.log_level == "DEBUG"
    assert settings.home == Path("/srv/candlelab")
    assert settings.artifact_location == "s3://bucket/models"


def test_an_empty_database_url_means_the_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert load_settings().database_url is None


def test_a_bad_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANDLELAB_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="CANDLELAB_LOG_LEVEL='loud'"):
        load_settings()


def test_a_database_url_that_is_not_postgres_is_refused_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(ConfigError, match="DATABASE_URL") as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert ConfigError.exit_code == 2
