"""What a careless user or an attacker types: each is one `error:` line and a non-zero exit.

Never a traceback, never a page of Polars advice, never a chart made of a bad value.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from candlelab.legacy.sample import write_sample
from tests.acceptance.conftest import Cli, assert_one_line_error

# Whole commands in subprocesses, seconds each: run on the first server only (`make test`);
# the refusals are the CLI's, the same on any server.
pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "candles"
GOOD = str(FIXTURES / "BTCUSDT-1h-2024-12.csv")
HOURLY = ("--symbol", "BTCUSDT", "--timeframe", "1h")
Args = tuple[str, ...]


def assert_no_chart(url: str) -> None:
    """Nothing was written: no chart (read in SQL; `charts` itself is tested elsewhere)."""
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id, symbol FROM charts").fetchall() == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--timezone", "Not/AZone"), "--timezone: 'Not/AZone' is not a known timezone"),
        (("--chart-timezone", "Not/AZone"), "--chart-timezone: 'Not/AZone' is not a known"),
        (("--offset", "-5h"), "--offset: '-5h' is not whole minutes or hours, 0 or more"),
        (("--offset", "99999d"), "--offset: '99999d' is not whole minutes or hours"),
        (("--offset", "99999h"), "--offset: '99999h' is not shorter than one 1h bar"),
    ],
)
def test_a_bad_clock_for_the_bars_is_one_line_naming_the_option(
    cli: Cli, database_url: str, options: tuple[str, ...], named: str
) -> None:
    result = cli("ingest", GOOD, *HOURLY, *options, DATABASE_URL=database_url)
    assert_one_line_error(result, named)
    assert_no_chart(database_url)


@pytest.mark.parametrize("timeframe", ["99999d", "1000000000000m", "0m", "-1h"])
def test_a_timeframe_out_of_bounds_is_one_line(cli: Cli, database_url: str, timeframe: str) -> None:
    result = cli("ingest", GOOD, "--symbol", "X", "--timeframe", timeframe,
                 DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(result, "--timeframe: ", repr(timeframe))
    assert_no_chart(database_url)


@pytest.mark.parametrize(
    ("symbol", "why"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("A\nB", "U+000A"),
        ("A\u202eB", "U+202E"),
        ("S" * 5000, "has 5000 characters"),
    ],
)
def test_a_bad_symbol_is_one_line_naming_symbol(
    cli: Cli, database_url: str, symbol: str, why: str
) -> None:
    result = cli("ingest", GOOD, "--symbol", symbol, "--timeframe", "1h",
                 DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(result, "--symbol: ", why)
    assert len(result.stderr) < 300
    assert_no_chart(database_url)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--source", ""), "--source: is empty"),
        (("--source", "bin\u202eance"), "--source: holds the character U+202E"),
        (("--reject-file", "/"), "--reject-file /: is a directory"),
        (("--reject-file", "/nowhere/rejects.csv"), "no directory /nowhere"),
    ],
)
def test_a_bad_source_or_reject_file_is_one_line_before_any_load(
    cli: Cli, database_url: str, options: Args, named: str
) -> None:
    result = cli("ingest", GOOD, *HOURLY, *options, DATABASE_URL=database_url)
    assert_one_line_error(result, named)
    assert_no_chart(database_url)


def test_one_symbol_lands_in_one_chart_whatever_its_case(cli: Cli, database_url: str) -> None:
    for symbol in ("btcusdt", " BTCUSDT "):
        loaded = cli("ingest", GOOD, "--symbol", symbol, "--timeframe", "1h",
                     DATABASE_URL=database_url)  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
    charts = json.loads(cli("charts", "--json", DATABASE_URL=database_url).stdout)
    assert [(c["symbol"], c["bars"]) for c in charts] == [("BTCUSDT", 6)]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--to", "99999d"), "--to: timeframe '99999d' is longer than a year"),
        (("--to", "4h", "--offset", "-5h"), "--offset: '-5h'"),
        (("--to", "4h", "--offset", "4h"), "--offset: '4h' is not shorter than one 4h bar"),
    ],
)
def test_resample_options_out_of_bounds_are_one_line(
    cli: Cli, database_url: str, options: tuple[str, ...], named: str
) -> None:
    assert_one_line_error(cli("resample", "1", *options, DATABASE_URL=database_url), named)


def test_a_bad_vendor_symbol_is_one_line(cli: Cli, database_url: str) -> None:
    result = cli("backfill", "--vendor-symbol", "A\u202eB", DATABASE_URL=database_url)
    assert_one_line_error(result, "--vendor-symbol: ", "U+202E")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (("--start", "0001-01-01"), "--start: 0001-01-01 is before 1900-01-01"),
        (("--start", "2025-01-02", "--end", "2025-01-01"), "--end: 2025-01-01 00:00:00 is before"),
    ],
)
def test_a_backfill_span_out_of_bounds_is_one_line(
    cli: Cli, database_url: str, options: Args, named: str
) -> None:
    assert_one_line_error(cli("backfill", *options, DATABASE_URL=database_url), named)


def test_a_backfill_span_reaching_millions_of_bars_back_is_refused_before_any_request(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    minutes = tmp_path / "minutes.csv"
    minutes.write_text("time,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,2,0.5,1.5,10\n")
    loaded = cli("ingest", str(minutes), "--symbol", "BTCUSDT", "--timeframe", "1m",
                 "--source", "binance", DATABASE_URL=database_url)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    nowhere = "http://127.0.0.1:9"  # a request would fail differently
    result = cli("backfill", "--start", "1990-01-01", "--base-url", nowhere,
                 DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(result, "span: from 1990-01-01", "at most 5,000,000 per run")


@pytest.mark.parametrize(
    ("name", "shown"), [("[/bold].csv", "[/bold].csv"), ("a\x1b[31mred.csv", "a\\x1b[31mred.csv")]
)
def test_a_file_name_that_looks_like_markup_or_a_terminal_escape_is_shown_as_it_is(
    cli: Cli, database_url: str, tmp_path: Path, name: str, shown: str
) -> None:
    result = cli("ingest", str(tmp_path / name), *HOURLY, DATABASE_URL=database_url)
    assert_one_line_error(result, f"{shown}: no such file")
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("frobnicate",), "No such command 'frobnicate'"),
        (("ingest", GOOD, *HOURLY, "--max-reject-ratio", "5"), "'--max-reject-ratio'"),
        (("quality", "--chart", "9223372036854775808"), "'--chart'"),
        (("backfill", "--chart", "9" * 30), "'--chart'"),
        (("resample", "0", "--to", "1d"), "'chart_id'"),
        (("serve", "--port", "0"), "'--port'"),
        (("ingest", GOOD, "--timeframe", "1h"), "'--symbol'"),
    ],
    ids=[
        "unknown-command",
        "ratio-over-1",
        "chart-2**63",
        "chart-1e30",
        "chart-0",
        "port-0",
        "no-symbol",
    ],
)
def test_a_usage_mistake_is_one_line_pointing_to_help(
    cli: Cli, database_url: str, arguments: Args, named: str
) -> None:
    result = cli(*arguments, DATABASE_URL=database_url)
    assert_one_line_error(result, named, "--help")
    assert result.returncode == 2


# Unreadable inputs: the streaming rewrite of ingest answers these (issue 13).


def _not_parquet(tmp_path: Path) -> Args:
    path = tmp_path / "bars.parquet"
    path.write_text("this is not parquet\n")
    return (str(path),)


def _csv_as_parquet(tmp_path: Path) -> Args:
    return (GOOD, "--format", "parquet")


def _corrupt_gzip(tmp_path: Path) -> Args:
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(gzip.compress(Path(GOOD).read_bytes())[:60])
    return (str(path),)


def _directory(tmp_path: Path) -> Args:
    folder = tmp_path / "bars.csv"
    folder.mkdir()
    return (str(folder),)


def _header_only(tmp_path: Path) -> Args:
    path = tmp_path / "empty.csv"
    path.write_text("time,open,high,low,close,volume\n")
    return (str(path),)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (_not_parquet, "bars.parquet"),
        (_csv_as_parquet, "BTCUSDT-1h-2024-12.csv"),
        (_corrupt_gzip, "bars.csv.gz"),
        (_directory, "bars.csv: is a directory, not a file"),
        (_header_only, "no rows"),
    ],
    ids=["not-parquet", "csv-as-parquet", "corrupt-gzip", "directory", "header-only"],
)
def test_an_input_that_is_not_candles_is_one_line_naming_the_file(
    cli: Cli, database_url: str, tmp_path: Path, make: Callable[[Path], Args], named: str
) -> None:
    arguments = make(tmp_path)
    result = cli("ingest", *arguments, *HOURLY, DATABASE_URL=database_url)
    assert_one_line_error(result, named)
    assert_no_chart(database_url)


def test_a_nul_in_a_legacy_chart_name_under_remap_ids_is_one_line(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "legacy.db"
    write_sample(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE charts SET name = 'bad' || char(0) || 'name' WHERE id = 1")
    db.close()
    result = cli("import-sqlite", str(path), "--remap-ids", DATABASE_URL=database_url)
    assert_one_line_error(result, "name")
    assert_no_chart(database_url)
