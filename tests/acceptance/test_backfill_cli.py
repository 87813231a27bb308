"""`candlelab backfill` as a user runs it, against a local server replaying Yahoo's answers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.cassettes import Cassette

DAILY = "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(
    f"2025-11-{day},{price},{price + 2},{price - 2},{price + 1},{price + 1},1000000"
    for day, price in (("17", 267), ("18", 266), ("19", 268), ("24", 275), ("25", 276))
)


def test_backfill_fills_what_quality_found_and_quality_is_then_clean(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    prices = tmp_path / "AAPL.csv"
    prices.write_text(DAILY + "\n")
    loaded = cli("ingest", str(prices), "--symbol", "AAPL", "--timeframe", "1d",
                 "--source", "yahoo", "--calendar", "XNYS", "--timezone", "America/New_York",
                 DATABASE_URL=database_url)  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    before = cli("quality", "--json", DATABASE_URL=database_url)
    assert before.returncode == 1
    assert [f["code"] for f in json.loads(before.stdout)[0]["findings"]] == ["gap"]

    cassette = Cassette("yahoo_aapl_1d_gap")
    with cassette.served() as url:
        filled = cli("backfill", "--base-url", url, "--json", DATABASE_URL=database_url)
    assert filled.returncode == 0, filled.stdout + filled.stderr
    cassette.assert_all_played()
    (report,) = json.loads(filled.stdout)
    assert (report["missing"], report["loaded"], report["still_missing"]) == (2, 2, 0)
    assert report["retries"] == 1  # Yahoo's 429 came first

    after = cli("quality", DATABASE_URL=database_url)
    assert after.returncode == 0, after.stdout
    assert "7 bars, no findings" in after.stdout


def test_a_chart_from_a_file_needs_a_provider_and_a_refusal_is_one_line(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    prices = tmp_path / "AAPL.csv"
    prices.write_text(DAILY + "\n")
    cli("ingest", str(prices), "--symbol", "NOSUCH", "--timeframe", "1d", "--calendar", "XNYS",
        "--timezone", "America/New_York", DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(cli("backfill", "--chart", "1", DATABASE_URL=database_url),
                          "source 'file', not a provider", "--provider")  # fmt: skip
    cassette = Cassette("yahoo_unknown_symbol")
    with cassette.served() as url:
        refused = cli("backfill", "--chart", "1", "--provider", "yahoo", "--base-url", url,
                      DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(refused, "yahoo", "No data found, symbol may be delisted")
