"""`candlelab import-sqlite` as a user runs it: reports, reject files, bad files, exit codes."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from candlelab.legacy.sample import PROBLEMS, SampleSpec, write_sample
from tests.acceptance.conftest import Cli, assert_one_line_error, candlelab_command, cli_environment


def test_the_sample_imports_and_verifies_and_a_second_run_writes_nothing(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "candles.db"
    made = cli("import-sqlite", str(path), "--write-sample", DATABASE_URL=database_url)
    assert made.returncode == 0, made.stderr
    first = cli("import-sqlite", str(path), DATABASE_URL=database_url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "times read as charts.created_at seconds" in first.stdout
    assert "18 candle(s) without volume: stored with volume 0" in first.stdout
    assert "placeholder symbol LEGACY-3, timeframe 1d" in first.stdout
    assert first.stdout.count(" ok ") == 6
    again = cli("import-sqlite", str(path), "--json", DATABASE_URL=database_url)
    report = json.loads(again.stdout)
    assert (report["written"], report["verified"]) == ({}, True)
    assert report["already_imported"] == [
        "parents", "candles:1", "candles:2", "candles:3", "annotations", "spans"
    ]  # fmt: skip


def test_problems_are_listed_and_nothing_is_written_then_skip_invalid_writes_rejects(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "dirty.db"
    write_sample(path, SampleSpec(problems=frozenset(PROBLEMS)))
    refused = cli("import-sqlite", str(path), DATABASE_URL=database_url)
    assert refused.returncode == 1
    assert f"{len(PROBLEMS)} problem(s)" in refused.stdout
    assert "nothing written" in refused.stdout
    imported = cli("import-sqlite", str(path), "--skip-invalid", DATABASE_URL=database_url)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    rejects = path.with_name("dirty.db.rejects.jsonl")
    assert str(rejects) in imported.stdout.replace("\n", "")
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert len(lines) == len(PROBLEMS)
    span = next(line for line in lines if line["problems"][0]["code"] == "end_before_start")
    assert set(span["row"]) >= {"id", "chart_id", "start_time", "end_time", "source", "created_at"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"time,open,high,low,close\n1,2,3,1,2\n", "not a SQLite database"),
    ],
)
def test_files_that_are_not_legacy_databases_are_one_error_line(
    cli: Cli, database_url: str, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "candles.db"
    path.write_bytes(content)
    assert_one_line_error(cli("import-sqlite", str(path), DATABASE_URL=database_url), message)


def test_other_sqlite_files_and_missing_tables_or_columns_are_named(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE users (id integer primary key, email text)")
    assert_one_line_error(cli("import-sqlite", str(other), DATABASE_URL=database_url),
                          "not a candle annotator's", "users")  # fmt: skip
    broken = tmp_path / "broken.db"
    write_sample(broken)
    with sqlite3.connect(broken) as db:
        db.execute("DROP TABLE span_label_types")
    assert_one_line_error(cli("import-sqlite", str(broken), DATABASE_URL=database_url),
                          "missing table(s) span_label_types")  # fmt: skip
    narrow = tmp_path / "narrow.db"
    write_sample(narrow)
    with sqlite3.connect(narrow) as db:
        db.execute("ALTER TABLE candles DROP COLUMN volume")
    assert_one_line_error(cli("import-sqlite", str(narrow), DATABASE_URL=database_url),
                          "table candles lacks column(s) volume")  # fmt: skip


def test_a_killed_import_is_finished_by_the_next_run(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.db"
    write_sample(path, SampleSpec(candles_per_chart=60_000, spans=2_000))
    process = subprocess.Popen(
        candlelab_command("import-sqlite", str(path)),
        env=cli_environment(tmp_path, DATABASE_URL=database_url),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(2.5)
    process.kill()
    process.wait()
    finished = cli("import-sqlite", str(path), "--json", DATABASE_URL=database_url)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["verified"] is True
    assert [c["rows_out"] for c in report["checks"]][:2] == [3, 180_000]


def test_a_file_nobody_may_write_imports_all_the_same(database_url: str, tmp_path: Path) -> None:
    """Read-only all the way: no write, no journal, no -wal or -shm beside it."""
    with tempfile.TemporaryDirectory() as scratch:  # pytest's own folders are root's alone
        Path(scratch).chmod(0o755)
        _import_read_only(Path(scratch) / "readonly", database_url, tmp_path)


def _import_read_only(folder: Path, database_url: str, tmp_path: Path) -> None:
    folder.mkdir()
    path = folder / "candles.db"
    write_sample(path)
    path.chmod(0o444)
    folder.chmod(0o555)
    command = candlelab_command("import-sqlite", str(path), "--json")
    if os.geteuid() == 0:  # root ignores file modes: run as the user the database runs as
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test as root"
        user = pwd.getpwnam("pgserver" if _has_user("pgserver") else "nobody")
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                   "--clear-groups", *command]  # fmt: skip
    env = cli_environment(tmp_path, DATABASE_URL=database_url)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True
    assert sorted(p.name for p in folder.iterdir()) == ["candles.db"]


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
