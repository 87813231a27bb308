"""`candlelab ingest` as a user runs it: reports, reject files, exit codes, SIGKILL mid-load."""

from __future__ import annotations

import csv
import gzip
import json
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest

from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, daily_bars, hourly_bars
from candlelab.store.embedded import EmbeddedServer
from tests.acceptance.conftest import Cli, candlelab_command, cli_environment

# Whole commands in subprocesses, seconds each: run on the first server only (`make test`);
# tests/integration/test_ingest*.py and test_resampling.py run the same code on both.
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "candles"
CHART = ("--symbol", "BTCUSDT", "--timeframe", "1h", "--source", "binance")


def test_binance_files_by_glob_then_again_with_nothing_new(cli: Cli, database_url: str) -> None:
    pattern = str(FIXTURES / "BTCUSDT-1h-*")
    first = cli("ingest", pattern, *CHART, DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("6 loaded") == 2
    again = cli("ingest", pattern, *CHART, "--json", DATABASE_URL=database_url)
    reports = json.loads(again.stdout)
    assert [(r["loaded"], r["unchanged"]) for r in reports] == [(0, 6), (0, 6)]
    assert {r["format"] for r in reports} == {"binance"}


def test_rejected_rows_are_reported_with_line_and_written_to_the_reject_file(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    result = cli(
        "ingest", str(FIXTURES / "pathology_1h.csv"), "--symbol", "X", "--timeframe", "1h",
        "--max-reject-ratio", "1", "--reject-file", str(rejects), DATABASE_URL=database_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "17 read, 3 loaded, 0 updated, 0 unchanged, 14 rejected" in result.stdout
    assert "line 3: unparsable_value in open ('abc')" in result.stdout
    with rejects.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14
    assert rows[0] == {"input": str(FIXTURES / "pathology_1h.csv"), "line": "3",
                       "code": "unparsable_value", "field": "open", "value": "abc"}  # fmt: skip


def test_a_refused_file_exits_1_and_the_others_still_land(cli: Cli, database_url: str) -> None:
    result = cli(
        "ingest", str(FIXTURES / "pathology_1h.csv"), str(FIXTURES / "BTCUSDT-1h-2024-12.csv"),
        *CHART, DATABASE_URL=database_url,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refused, nothing written" in result.stdout
    assert "6 loaded" in result.stdout


def test_a_missing_file_or_bad_timeframe_is_one_line(cli: Cli, database_url: str) -> None:
    missing = cli("ingest", "nowhere.csv", *CHART, DATABASE_URL=database_url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: nowhere.csv: no such file"
    bad = cli("ingest", str(FIXTURES / "pathology_1h.csv"), "--symbol", "X", "--timeframe",
              "1hour", DATABASE_URL=database_url)  # fmt: skip
    assert bad.returncode == 2
    assert "--timeframe: timeframe '1hour'" in bad.stderr


def write_minutes(path: Path, rows: int) -> None:
    """`rows` one-minute bars from 2000-01-01, as CSV."""
    minutes = pl.int_range(rows, eager=True)
    price = 100.0 + (minutes % 97).cast(pl.Float64) / 10
    pl.DataFrame({
        "time": (minutes * 60).cast(pl.Int64) + 946684800,
        "open": price, "high": price + 1, "low": price - 1, "close": price + 0.5,
        "volume": (minutes % 13).cast(pl.Float64),
    }).write_csv(path)  # fmt: skip


def copy_running(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY candles%%'"
            " AND state = 'active'"
        ).fetchone()
    return bool(row and row[0])


def ingest_until_copy_runs(
    args: tuple[str, ...], env: dict[str, str], url: str
) -> subprocess.Popen[str]:
    """Start `candlelab ingest` and return once its COPY is running on the server."""
    process = subprocess.Popen(
        candlelab_command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not copy_running(url):
        assert process.poll() is None, "the load ended before it was seen"
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.005)
    return process


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM candles), (SELECT count(*) FROM charts)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_sigkill_mid_load_leaves_nothing_and_a_rerun_loads_everything_once(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "minutes.csv"
    write_minutes(path, 1_000_000)
    args = ("ingest", str(path), "--symbol", "M", "--timeframe", "1m")
    env = cli_environment(tmp_path, DATABASE_URL=database_url)
    process = ingest_until_copy_runs(args, env, database_url)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.5)  # the server notices the dead client and rolls its transaction back
    assert stored(database_url) == (0, 0)

    rerun = cli(*args, DATABASE_URL=database_url, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "1,000,000 loaded" in rerun.stdout
    assert stored(database_url) == (1_000_000, 1)


def test_charts_lists_each_chart_with_counts_range_and_calendar(
    cli: Cli, database_url: str
) -> None:
    yahoo = ("--symbol", "AAPL", "--timeframe", "1d", "--source", "yahoo", "--calendar", "XNYS",
             "--max-reject-ratio", "0.1")  # fmt: skip
    assert (
        cli(
            "ingest", str(FIXTURES / "yahoo_AAPL_1d.csv"), *yahoo, DATABASE_URL=database_url
        ).returncode
        == 0
    )
    listed = json.loads(cli("charts", "--json", DATABASE_URL=database_url).stdout)
    assert len(listed) == 1
    chart = listed[0]
    assert (chart["symbol"], chart["timeframe"], chart["source"]) == ("AAPL", "1d", "yahoo")
    assert (chart["calendar"], chart["bars"]) == ("XNYS", 10)
    assert chart["first_bar"].startswith("2024-01-02")
    assert chart["last_bar"].startswith("2024-01-16")
    text = cli("charts", DATABASE_URL=database_url).stdout
    assert "XNYS" in text
    assert "AAPL" in text
    with psycopg.connect(database_url) as conn:  # bars removed by SQL of one's own
        conn.execute("DELETE FROM candles WHERE time > '2024-01-10'")
    recounted = cli("charts", "--recount", "--json", DATABASE_URL=database_url)
    assert "1 had figures that were off" in recounted.stderr
    assert json.loads(recounted.stdout)[0]["last_bar"].startswith("2024-01-10")


@pytest.mark.embedded
def test_a_database_crash_mid_load_leaves_nothing_and_a_rerun_loads_everything_once(
    cli: Cli, embedded_home: Path, tmp_path: Path
) -> None:
    home = {"CANDLELAB_HOME": str(embedded_home)}
    assert cli("db", "upgrade", **home).returncode == 0
    url = cli("db", "url", **home).stdout.strip()
    path = tmp_path / "minutes.csv"
    write_minutes(path, 1_000_000)
    args = ("ingest", str(path), "--symbol", "M", "--timeframe", "1m")
    process = ingest_until_copy_runs(args, cli_environment(tmp_path, **home), url)
    EmbeddedServer(embedded_home).stop(immediate=True)  # as if the server crashed
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.strip().startswith("error: lost the database")
    assert "Traceback" not in stderr

    assert cli("db", "start", **home).returncode == 0  # recovery runs here
    assert stored(url) == (0, 0)
    rerun = cli(*args, timeout=300, **home)
    assert rerun.returncode == 0, rerun.stderr
    assert stored(url) == (1_000_000, 1)


def test_resample_derives_a_chart_that_follows_later_ingests(cli: Cli, database_url: str) -> None:
    first, second = (FIXTURES / "BTCUSDT-1h-2024-12.csv", FIXTURES / "BTCUSDT-1h-2025-01.zip")
    assert cli("ingest", str(first), *CHART, DATABASE_URL=database_url).returncode == 0
    result = cli("resample", "1", "--to", "4h", "--json", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    derived = json.loads(result.stdout)
    assert (derived["timeframe"], derived["source"], derived["bars"]) == ("4h", "binance:1h", 2)
    assert cli("ingest", str(second), *CHART, DATABASE_URL=database_url).returncode == 0
    listed = json.loads(cli("charts", "--json", DATABASE_URL=database_url).stdout)
    assert next(c for c in listed if c["id"] == derived["id"])["bars"] == 4
    refused = cli("resample", "1", "--to", "90m", DATABASE_URL=database_url)
    assert refused.returncode == 1
    assert "cannot resample 1h bars to 90m" in refused.stderr


def test_a_new_charts_calendar_is_told_from_its_bars_unless_given(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """A year of a stock's daily bars: XNYS, said in the report; --calendar still decides."""
    aapl = next(i for i in INSTRUMENTS if i.symbol == "AAPL")
    spec = MarketSpec(start=date(2024, 1, 1), end=date(2025, 1, 1))
    path = tmp_path / "AAPL-1d.csv"
    daily_bars(hourly_bars(aapl, spec)).to_frame().write_csv(path)
    day = ("--timeframe", "1d", "--source", "yahoo")
    told = cli("ingest", str(path), "--symbol", "AAPL", *day, DATABASE_URL=database_url)
    assert told.returncode == 0, told.stderr
    assert "    calendar XNYS (inferred from the bars: no weekend or XNYS holiday bars)\n" in (
        told.stdout
    )
    quiet = cli("ingest", str(path), "--symbol", "SPY", *day, "--json", DATABASE_URL=database_url)
    (report,) = json.loads(quiet.stdout)
    assert (report["calendar"], report["calendar_inferred"]) == ("XNYS", True)
    given = cli("ingest", str(path), "--symbol", "MSFT", *day, "--calendar", "24/7",
                DATABASE_URL=database_url)  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "inferred" not in given.stdout
    listed = json.loads(cli("charts", "--json", DATABASE_URL=database_url).stdout)
    assert {c["symbol"]: c["calendar"] for c in listed} == {
        "AAPL": "XNYS", "MSFT": "24/7", "SPY": "XNYS"
    }  # fmt: skip


def hostile_files(folder: Path) -> dict[str, tuple[Path, tuple[str, ...], str]]:
    """Each bad input: its file, extra options, and what its one error line says."""
    header, row = "time,open,high,low,close,volume\n", "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
    (folder / "a.csv").write_text(header + row)
    (folder / "fake.parquet").write_text(header + row)
    (folder / "corrupt.parquet").write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    (folder / "corrupt.csv.gz").write_bytes(gzip.compress((header + row * 100).encode())[:-20])
    (folder / "quoted.csv").write_text(header + row + '2024-01-01T01:00:00Z,"1,2,0.5,1.5,10\n')
    (folder / "line.csv").write_text("x" * 10_000_000)
    (folder / "wide.csv").write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    (folder / "twice.csv").write_text("time,open,high,low,close,Last\n" + row)
    (folder / "bomb.csv.gz").write_bytes(gzip.compress(header.encode() + b"0" * 20_000_000))
    (folder / "dir").mkdir()
    return {
        "fake.parquet": (folder / "fake.parquet", (), "not a readable Parquet file"),
        "corrupt.parquet": (folder / "corrupt.parquet", (), "not a readable Parquet file"),
        "--format parquet": (folder / "a.csv", ("--format", "parquet"), "not a readable Parquet"),
        "corrupt.csv.gz": (folder / "corrupt.csv.gz", (), "cannot read it: it is cut short"),
        "quoted.csv": (folder / "quoted.csv", (), "line 3: not readable as CSV: a quote"),
        "line.csv": (folder / "line.csv", (), "line 1 is longer than 65,536 bytes"),
        "wide.csv": (folder / "wide.csv", (), "line 1 is longer than 65,536 bytes"),
        "twice.csv": (folder / "twice.csv", (), "the columns 'close' and 'Last' both name close"),
        "bomb.csv.gz": (folder / "bomb.csv.gz", ("--max-expanded", "1M"),
                        "expands to more than 1,048,576 bytes, the limit (--max-expanded)"),
        "dir": (folder / "dir", (), "is a directory, not a file"),
    }  # fmt: skip


def test_every_unreadable_input_is_one_error_line_naming_the_file(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    for case, (path, options, says) in hostile_files(tmp_path).items():
        result = cli("ingest", str(path), *CHART, *options, DATABASE_URL=database_url)
        assert result.returncode == 1, case
        assert result.stderr.count("\n") == 1, (case, result.stderr[:2000])
        assert result.stderr.startswith(f"error: {path}: "), (case, result.stderr[:300])
        assert says in result.stderr, (case, result.stderr)
        assert len(result.stderr) < 400, case
    assert stored(database_url) == (0, 0)


def test_a_header_only_csv_exits_1_with_no_rows_and_no_chart(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "header.csv"
    path.write_text("time,open,high,low,close,volume\n")
    result = cli("ingest", str(path), *CHART, DATABASE_URL=database_url)
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: no rows, only a header\n"
    assert stored(database_url) == (0, 0)


def test_bars_before_earliest_are_refused(cli: Cli, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text("time,open,high,low,close,volume\n0001-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
                    "1990-01-01T00:00:00Z,1,2,0.5,1.5,10\n")  # fmt: skip
    result = cli("ingest", str(path), *CHART, "--max-reject-ratio", "1", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "1 too_early_time" in result.stdout
    later = cli("ingest", str(path), "--symbol", "L", "--timeframe", "1h", "--earliest",
                "2000-01-01", "--strict", DATABASE_URL=database_url)  # fmt: skip
    assert later.returncode == 1
    assert "--strict: line 2: too_early_time" in later.stdout
