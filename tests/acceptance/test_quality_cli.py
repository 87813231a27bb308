"""`candlelab quality` as a user runs it: findings by code, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from candlelab.market.candles import Bars
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.quality_cases import as_csv, clean_bars, pathological_bars, planted_times


def write(tmp_path: Path, name: str, bars: Bars) -> str:
    path = tmp_path / name
    path.write_text(as_csv(bars))
    return str(path)


def test_each_planted_problem_is_reported_and_the_exit_code_is_1(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    dirty = write(tmp_path, "dirty.csv", pathological_bars())
    clean = write(tmp_path, "clean.csv", clean_bars(9, 500))
    for path, symbol in ((dirty, "DIRTY"), (clean, "CLEAN")):
        loaded = cli("ingest", path, "--symbol", symbol, "--timeframe", "1h",
                     DATABASE_URL=database_url)  # fmt: skip
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert " 0 rejected" in loaded.stdout  # the planted problems pass ingest's checks

    result = cli("quality", "--json", DATABASE_URL=database_url)
    assert result.returncode == 1, result.stderr
    by_symbol = {report["chart"]["symbol"]: report for report in json.loads(result.stdout)}
    assert by_symbol["CLEAN"]["findings"] == []
    reported = {
        (f["code"], np.datetime64(f["start"][:19], "us"), np.datetime64(f["end"][:19], "us"))
        for f in by_symbol["DIRTY"]["findings"]
    }
    assert reported == planted_times()

    text = cli("quality", DATABASE_URL=database_url)
    assert "unit_jump" in text.stdout
    assert "split_like" in text.stdout
    assert "no findings" in text.stdout
    assert "2 chart(s), 7 finding(s)" in text.stdout


def test_a_clean_chart_exits_0_and_its_settings_are_the_ones_ingest_was_given(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    """NYSE hourly bars start at 09:30: the chart keeps --offset 30m and checks against it."""
    times = np.array(
        [
            np.datetime64(f"2025-11-{day}T{hour}:30", "us")
            for day in (24, 25)
            for hour in range(14, 21)
        ]
    )
    base = clean_bars(6, len(times))
    path = write(
        tmp_path, "aapl.csv", Bars(times, base.open, base.high, base.low, base.close, base.volume)
    )
    loaded = cli(
        "ingest", path, "--symbol", "AAPL", "--timeframe", "1h", "--calendar", "XNYS",
        "--chart-timezone", "America/New_York", "--offset", "30m", DATABASE_URL=database_url,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    result = cli("quality", "--json", "--chart", "1", DATABASE_URL=database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = json.loads(result.stdout)
    assert report["chart"]["bar_offset"] == "30m"
    assert (report["bars"], report["findings"]) == (14, [])


def test_an_unknown_chart_or_calendar_is_one_error_line(
    cli_then_here: Cli, database_url: str
) -> None:
    cli = cli_then_here
    assert_one_line_error(cli("quality", "--chart", "999", DATABASE_URL=database_url),
                          "chart 999 does not exist")  # fmt: skip
    refused = cli("ingest", __file__, "--symbol", "X", "--timeframe", "1h", "--calendar", "MOON",
                  DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(refused, "--calendar", "'MOON'")
