from __future__ import annotations

from pathlib import Path

import pytest

from candlelab.cli.serve import mlflow_ui_command
from candlelab.errors import ConfigError
from candlelab.settings import load_settings

VARIABLES = ("DATABASE_URL", "CANDLELAB_HOME", "CANDLELAB_ARTIFACT_ROOT", "CANDLELAB_LOG_LEVEL",
             "CANDLELAB_MLFLOW_UI")  # fmt: skip


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
    assert settings.mlflow_ui == "http://127.0.0.1:5000"


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


def test_the_mlflow_ui_is_an_http_address_and_its_command_takes_its_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANDLELAB_MLFLOW_UI", "https://ml.example.org:8443/mlflow/")
    settings = load_settings()
    assert settings.mlflow_ui == "https://ml.example.org:8443/mlflow"
    command = mlflow_ui_command("postgresql+psycopg://db", settings.mlflow_ui, "file:///a", "::1")
    assert command[1:] == ["-m", "mlflow", "ui", "--backend-store-uri", "postgresql+psycopg://db",
                           "--default-artifact-root", "file:///a", "--host", "::1", "--port",
                           "8443", "--static-prefix", "/mlflow"]  # fmt: skip
    assert mlflow_ui_command("b", "http://127.0.0.1", "a", "127.0.0.1")[-2:] == ["--port", "80"]
    for wrong in ("127.0.0.1:5000", "ftp://host", "http://", "http://a b"):
        monkeypatch.setenv("CANDLELAB_MLFLOW_UI", wrong)
        with pytest.raises(ConfigError, match="CANDLELAB_MLFLOW_UI"):
            load_settings()
