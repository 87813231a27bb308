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
from contextlib import closing
from pathlib import Path

import pytest

from candlelab.legacy.sample import PROBLEMS, SampleSpec, write_sample
from tests.acceptance.conftest import Cli, assert_one_line_error, candlelab_command, cli_environment

# Whole commands in subprocesses, seconds each: run on the first server only (`make test`);
# tests/integration/test_legacy_import.py runs the import itself on both.
pytestmark = pytest.mark.slow


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
    assert_one_line_error(refused, "row(s) refused, nothing written")
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


@pytest.mark.parametrize("wal", [False, True], ids=["plain", "wal-with-unchecked-rows"])
def test_a_file_nobody_may_write_imports_all_the_same(
    database_url: str, tmp_path: Path, wal: bool
) -> None:
    """Read-only all the way: no write, no journal, no -wal or -shm beside it; a file whose
    last rows are still in its -wal (the app never checkpointed) has them imported."""
    with tempfile.TemporaryDirectory() as scratch:  # pytest's own folders are root's alone
        Path(scratch).chmod(0o755)
        _import_read_only(Path(scratch), database_url, tmp_path, wal)


def _import_read_only(scratch: Path, database_url: str, tmp_path: Path, wal: bool) -> None:
    folder = scratch / "readonly"
    folder.mkdir()
    path = folder / "candles.db"
    if wal:
        _wal_with_unchecked_rows(scratch / "app", folder)
    else:
        write_sample(path)
    for file in folder.iterdir():
        file.chmod(0o444)
    folder.chmod(0o555)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    command = candlelab_command("import-sqlite", str(path), "--json")
    if os.geteuid() == 0:  # root ignores file modes: run as the user the database runs as
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test as root"
        user = pwd.getpwnam("pgserver" if _has_user("pgserver") else "nobody")
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                   "--clear-groups", *command]  # fmt: skip
    env = cli_environment(tmp_path, DATABASE_URL=database_url)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verified"] is True
    assert after == before
    assert sorted(before) == (["candles.db", "candles.db-wal"] if wal else ["candles.db"])
    assert report["read"]["span_label_types"] == (5 if wal else 4)


def _wal_with_unchecked_rows(app: Path, folder: Path) -> None:
    """The file and its -wal as a running app leaves them: a label type in the -wal only."""
    app.mkdir()
    write_sample(app / "candles.db")
    with closing(sqlite3.connect(app / "candles.db")) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("INSERT INTO span_label_types (name, color, is_active, created_at) "
                   "VALUES ('Late', '#123456', 1, 1700000000)")  # fmt: skip
        db.commit()
        for name in ("candles.db", "candles.db-wal"):
            shutil.copy(app / name, folder / name)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def assert_refused_rows(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    """A report of refused rows (--json) on stdout, one error line on stderr; its problems."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert_one_line_error(result, "row(s) refused")
    problems: list[dict[str, object]] = json.loads(result.stdout)["problems"]
    return problems


def first(problems: list[dict[str, object]], table: str) -> tuple[object, ...]:
    """The first problem of a table: table, id, code, field."""
    found = next(p for p in problems if p["table"] == table)
    return found["table"], found["id"], found["code"], found["field"]


def dirty(tmp_path: Path, sql: str, *params: object) -> Path:
    path = tmp_path / "hostile.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(sql, params)
    return path


def test_a_symlink_to_a_system_file_is_named_and_none_of_it_printed(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    link = tmp_path / "candles.db"
    link.symlink_to("/etc/passwd")
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    result = cli("import-sqlite", str(link), DATABASE_URL=database_url)
    assert_one_line_error(result, str(link), "not a SQLite database")
    assert first_line not in result.stdout + result.stderr
    assert "root:" not in result.stdout + result.stderr


def test_a_directory_given_as_the_file_is_one_error_line(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    result = cli("import-sqlite", str(tmp_path), DATABASE_URL=database_url)
    assert_one_line_error(result, str(tmp_path), "a directory")


def test_a_script_for_a_colour_is_a_refused_row(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE annotation_types SET color = 'javascript:alert(1)' WHERE id = 2")
    problems = assert_refused_rows(cli("import-sqlite", str(path), "--json",
                                       DATABASE_URL=database_url))  # fmt: skip
    assert first(problems, "annotation_types") == ("annotation_types", 2, "invalid_field", "color")
    assert {p["code"] for p in problems} == {"invalid_field", "orphan"}  # its annotations


def test_a_nul_in_a_chart_name_is_refused_alike_by_the_dry_run_and_the_real_run(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE charts SET name = ? WHERE id = 3", "My\x00setups")
    runs = [cli("import-sqlite", str(path), "--remap-ids", "--json", *dry,
                DATABASE_URL=database_url) for dry in (["--dry-run"], [])]  # fmt: skip
    dry_run, real = (assert_refused_rows(run) for run in runs)
    assert dry_run == real
    assert first(real, "charts") == ("charts", 3, "invalid_field", "name")
    shown = cli("import-sqlite", str(path), "--remap-ids", DATABASE_URL=database_url)
    assert_one_line_error(shown, "charts 3 name")
    assert "invalid_field" in shown.stdout, shown.stdout


def test_a_blob_of_megabytes_is_refused_by_its_size(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE charts SET name = randomblob(3000000) WHERE id = 1")
    problems = assert_refused_rows(cli("import-sqlite", str(path), "--json",
                                       DATABASE_URL=database_url))  # fmt: skip
    assert first(problems, "charts") == ("charts", 1, "too_large", "name")
    assert "a blob of 3,000,000 bytes; at most 1,000,000" in {p["value"] for p in problems}


def test_an_infinite_high_is_reported_under_high(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE candles SET high = 9e999 WHERE id = 12")
    problems = assert_refused_rows(cli("import-sqlite", str(path), "--json",
                                       DATABASE_URL=database_url))  # fmt: skip
    assert [(p["table"], p["id"], p["code"], p["field"]) for p in problems] == [
        ("candles", 12, "non_finite", "high")]  # fmt: skip


def test_markup_in_a_value_or_a_file_name_is_shown_as_text(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE span_label_types SET color = '[/]' WHERE id = 1")
    shown = cli("import-sqlite", str(path), DATABASE_URL=database_url)
    assert_one_line_error(shown, "'[/]'")
    assert "'[/]'" in shown.stdout
    odd = tmp_path / "[red]odd["  # with its file "].db": the path holds "[red]odd[/].db"
    odd.mkdir()
    (odd / "].db").write_text("not SQLite")
    assert_one_line_error(cli("import-sqlite", str(odd / "].db"), DATABASE_URL=database_url),
                          "[red]odd[/].db")  # fmt: skip


def test_a_reject_file_that_cannot_be_written_is_one_error_line(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = dirty(tmp_path, "UPDATE candles SET high = 9e999 WHERE id = 12")
    nowhere = tmp_path / "no-such-folder" / "rejects.jsonl"
    result = cli("import-sqlite", str(path), "--skip-invalid", "--reject-file", str(nowhere),
                 DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(result, str(nowhere), "cannot write the reject file")
    again = cli("import-sqlite", str(path), "--skip-invalid", "--reject-file",
                str(tmp_path / "rejects.jsonl"), DATABASE_URL=database_url)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert len((tmp_path / "rejects.jsonl").read_text().splitlines()) == 1
