"""`candlelab db upgrade | downgrade | status | url` against a server named by DATABASE_URL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from mlflow import MlflowClient

from candlelab.store import migrations
from candlelab.store.embedded import EmbeddedServer, shared_buffers_mb
from candlelab.store.urls import describe, redact
from candlelab.training.tracking import Tracking
from tests.acceptance.conftest import Cli, assert_one_line_error


def status(cli: Cli, url: str) -> dict[str, object]:
    result = cli("db", "status", "--json", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_upgrade_is_idempotent_and_downgrade_undoes_it(cli: Cli, empty_database_url: str) -> None:
    for _ in range(2):
        result = cli("db", "upgrade", DATABASE_URL=empty_database_url)
        assert result.returncode == 0, result.stderr
        assert f"revision {migrations.head()} (head)" in result.stdout
    report = status(cli, empty_database_url)
    assert report["up_to_date"] is True
    assert report["mlflow_schema"] is True
    assert report["embedded"] is False

    result = cli("db", "downgrade", "base", DATABASE_URL=empty_database_url)
    assert result.returncode == 0, result.stderr
    assert status(cli, empty_database_url)["revision"] is None
    with psycopg.connect(empty_database_url) as conn:
        public = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        ).fetchone()
    assert public == (0,)


def test_url_prints_the_database_and_the_mlflow_uri(cli: Cli, database_url: str) -> None:
    plain = cli("db", "url", DATABASE_URL=database_url)
    assert plain.stdout.strip() == database_url
    mlflow = cli("db", "url", "--mlflow", DATABASE_URL=database_url)
    assert mlflow.stdout.startswith("postgresql+psycopg://")
    assert "search_path%3Dmlflow" in mlflow.stdout


def test_status_and_start_print_urls_whole_on_a_narrow_terminal(
    cli: Cli, database_url: str
) -> None:
    status = cli("db", "status", DATABASE_URL=database_url, COLUMNS="40")
    assert f"url: {redact(database_url)}" in [line.strip() for line in status.stdout.splitlines()]
    assert len(redact(database_url)) > 40  # what makes the terminal narrow
    start = cli("db", "start", DATABASE_URL=database_url, COLUMNS="40")
    assert f"candlelab uses {describe(database_url)}, which answers" in start.stdout


@pytest.mark.embedded
def test_start_prints_the_embedded_servers_url_on_one_line(cli: Cli, embedded_home: Path) -> None:
    home = {"CANDLELAB_HOME": str(embedded_home), "COLUMNS": "40"}
    started = cli("db", "start", **home)
    assert started.returncode == 0, started.stderr
    url = cli("db", "url", **home).stdout.strip()
    assert f"url: {url}" in started.stdout.splitlines()


@pytest.mark.embedded
def test_the_embedded_server_takes_candlelabs_settings_and_alter_system_wins(
    embedded_home: Path,
) -> None:
    server = EmbeddedServer(embedded_home)

    def shared_buffers() -> str:
        with psycopg.connect(server.start()) as conn:
            row = conn.execute("SHOW shared_buffers").fetchone()
        assert row is not None
        return str(row[0])

    expected = shared_buffers_mb()
    assert shared_buffers() == (f"{expected // 1024}GB" if expected % 1024 == 0
                                else f"{expected}MB")  # fmt: skip
    with psycopg.connect(server.start(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_buffers = '200MB'")
    server.stop()  # and started again in the same process
    assert shared_buffers() == "200MB"
    conf = (embedded_home / "pg" / "postgresql.conf").read_text()
    assert conf.count("candlelab.conf") == 1  # included once, whatever the starts


def test_a_database_never_migrated_is_refused_with_the_fix(
    cli: Cli, empty_database_url: str
) -> None:
    result = cli("charts", DATABASE_URL=empty_database_url)
    assert_one_line_error(result, "revision None", "candlelab db upgrade")


def test_stop_refuses_a_server_candlelab_does_not_run(cli: Cli, database_url: str) -> None:
    assert_one_line_error(cli("db", "stop", DATABASE_URL=database_url), "DATABASE_URL is set")


def test_help_names_each_environment_variable(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for variable in ("DATABASE_URL", "CANDLELAB_HOME", "CANDLELAB_ARTIFACT_ROOT"):
        assert variable in result.stdout


def test_with_database_url_set_the_embedded_server_is_never_started(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "never"
    for command in (("db", "start"), ("db", "status"), ("charts",)):
        result = cli(*command, DATABASE_URL=database_url, CANDLELAB_HOME=str(home))
        assert result.returncode == 0, result.stderr
    assert not home.exists()


def test_a_plain_mlflow_client_on_the_printed_uri_reads_candlelabs_runs(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    tracking = Tracking(database_url, (tmp_path / "artifacts").as_uri())
    run = tracking.start_run("from-candlelab", params={"seed": 7})
    tracking.log_metrics(run, {"accuracy": 0.55})
    tracking.finish(run)

    printed = cli("db", "url", "--mlflow", DATABASE_URL=database_url).stdout.strip()
    got = MlflowClient(tracking_uri=printed).get_run(run.run_id)
    assert got.data.metrics == {"accuracy": 0.55}
    assert got.data.params == {"seed": "7"}


def test_a_usage_mistake_is_explained_with_exit_code_2(cli: Cli) -> None:
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "No such command 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr
