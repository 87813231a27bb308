"""A wrong DATABASE_URL or password, a read-only or foreign CANDLELAB_HOME: one error line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from candlelab.store.embedded import MARKER, EmbeddedServer
from tests.acceptance.conftest import (
    Cli,
    assert_one_line_error,
    candlelab_command,
    cli_environment,
)


def test_an_unreachable_server_is_named_without_the_password(cli: Cli) -> None:
    result = cli("db", "upgrade", DATABASE_URL="postgresql://ana:hunter2@127.0.0.1:1/db")
    assert_one_line_error(result, "cannot connect", "ana@127.0.0.1:1/db")
    assert "hunter2" not in result.stderr


def test_a_url_that_is_not_postgres_is_a_setting_error(cli: Cli) -> None:
    result = cli("db", "status", DATABASE_URL="mysql://root:pw@localhost/x")
    assert_one_line_error(result, "DATABASE_URL")
    assert result.returncode == 2


def test_a_bad_log_level_is_a_setting_error(cli: Cli, database_url: str) -> None:
    result = cli("db", "status", DATABASE_URL=database_url, CANDLELAB_LOG_LEVEL="loud")
    assert_one_line_error(result, "CANDLELAB_LOG_LEVEL='loud'")
    assert result.returncode == 2


@pytest.mark.embedded
def test_a_wrong_password_is_named_without_the_password(cli: Cli, embedded_home: Path) -> None:
    server = EmbeddedServer(embedded_home)
    url = server.start()
    socket_dir = url.split("host=")[1]
    hba = embedded_home / "pg" / "pg_hba.conf"
    hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE ana LOGIN PASSWORD 'right-one'")
        conn.execute("SELECT pg_reload_conf()")
    wrong = f"postgresql://ana:hunter2@localhost/candle_annotator?host={socket_dir}"
    result = cli("db", "status", DATABASE_URL=wrong)
    assert_one_line_error(result, "password authentication failed", "ana@")
    assert "hunter2" not in result.stderr


@pytest.mark.embedded
def test_a_read_only_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "readonly"
    home.mkdir()
    home.chmod(0o555)
    command = candlelab_command("db", "start")
    if os.geteuid() == 0:  # root ignores file modes unless it gives up that capability
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test as root"
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]
    env = cli_environment(tmp_path, CANDLELAB_HOME=str(home / "candlelab"))
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert_one_line_error(result, "CANDLELAB_HOME=", "Permission denied")


@pytest.mark.embedded
def test_a_directory_of_other_files_is_not_taken_as_home(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "report.docx").write_text("someone's work")
    result = cli("db", "start", CANDLELAB_HOME=str(home))
    assert_one_line_error(result, "is not a candlelab home")
    assert sorted(p.name for p in home.iterdir()) == ["report.docx"]


@pytest.mark.embedded
def test_a_pg_directory_that_is_not_postgres_data_is_refused(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "pg").mkdir(parents=True)
    (home / MARKER).write_text("a candlelab home")
    (home / "pg" / "base").write_text("not a cluster")
    result = cli("db", "start", CANDLELAB_HOME=str(home))
    assert_one_line_error(result, "not a PostgreSQL data directory")
