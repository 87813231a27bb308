"""Ingest into the database: counts add up, nothing is duplicated, refusals write nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import psycopg
import pytest

from candlelab.errors import DatabaseUnavailable
from candlelab.market.candles import count_candles, load_bars, read_candles
from candlelab.market.charts import (
    ChartKey,
    all_charts,
    chart_summaries,
    recount_bars,
    upsert_chart,
)
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_files, ingest_frame
from candlelab.market.quality import check_charts
from candlelab.market.quality_rules import QualityRules
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, daily_bars, hourly_bars
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection, connect
from tests.fixtures.charts import assert_bar_counts_current

FIXTURES = Path(__file__).parent.parent / "fixtures" / "candles"
HOURLY = IngestOptions("BTCUSDT", Timeframe.parse("1h"), source="test")
STOCK_DAYS = IngestOptions("AAPL", Timeframe.parse("1d"), source="test")


def market_frame(count: int) -> pl.DataFrame:
    spec = MarketSpec(start=date(2024, 1, 1), end=date(2024, 3, 1))
    return hourly_bars(INSTRUMENTS[0], spec).slice(0, count).to_frame()


def stock_days() -> pl.DataFrame:
    """A year of a synthetic NYSE stock's daily bars, each at midnight UTC of its session."""
    aapl = next(i for i in INSTRUMENTS if i.symbol == "AAPL")
    spec = MarketSpec(start=date(2024, 1, 1), end=date(2025, 1, 1))
    return daily_bars(hourly_bars(aapl, spec)).to_frame()


def calendar_findings(database_url: str) -> list[str]:
    """The gap and off_calendar findings of the only chart, by code."""
    with connect(database_url) as conn:
        (checked,) = check_charts(database_url, all_charts(conn), QualityRules())
    return [f.code for f in checked.findings if f.code in ("gap", "off_calendar")]


def add_up(report: IngestReport) -> bool:
    counted = report.loaded + report.updated + report.unchanged + report.rejected
    return counted == report.rows_read


def test_a_clean_generated_file_loads_with_zero_rejections(
    conn: Connection, tmp_path: Path
) -> None:
    path = tmp_path / "clean.csv"
    market_frame(500).write_csv(path)
    (report,) = ingest_files(conn, [path], HOURLY)
    assert (report.rows_read, report.loaded, report.rejected) == (500, 500, 0)
    assert report.ok
    assert add_up(report)


def test_the_pathology_fixture_loads_its_good_rows_and_counts_the_rest(conn: Connection) -> None:
    loose = IngestOptions("X", Timeframe.parse("1h"), max_reject_ratio=1.0)
    (report,) = ingest_files(conn, [FIXTURES / "pathology_1h.csv"], loose)
    assert report.loaded == 3
    assert report.rejected == 14
    assert report.by_code["duplicate_conflicting"] == 2
    assert add_up(report)


def test_reingesting_writes_nothing_and_overlaps_add_only_new_bars(conn: Connection) -> None:
    frame = market_frame(300)
    first = ingest_frame(conn, frame.head(200), HOURLY)
    again = ingest_frame(conn, frame.head(200), HOURLY)
    overlap = ingest_frame(conn, frame.slice(150, 150), HOURLY)
    assert (first.loaded, again.loaded, again.unchanged) == (200, 0, 200)
    assert (overlap.loaded, overlap.unchanged) == (100, 50)
    assert count_candles(conn) == 300
    assert all(add_up(r) for r in (first, again, overlap))
    assert_bar_counts_current(conn)


def changed(frame: pl.DataFrame, rows: int) -> pl.DataFrame:
    return frame.with_columns(
        close=pl.when(pl.int_range(pl.len()) < rows).then(pl.col("low")).otherwise(pl.col("close"))
    )


@pytest.mark.parametrize(
    ("policy", "loaded", "updated", "unchanged"),
    [("skip", 0, 0, 10), ("update", 0, 3, 7)],
)
def test_a_changed_bar_follows_the_conflict_policy(
    conn: Connection, policy: str, loaded: int, updated: int, unchanged: int
) -> None:
    frame = market_frame(10)
    ingest_frame(conn, frame, HOURLY)
    options = IngestOptions("BTCUSDT", Timeframe.parse("1h"), source="test", on_conflict=policy)  # type: ignore[arg-type]
    report = ingest_frame(conn, changed(frame, 3), options)
    assert (report.loaded, report.updated, report.unchanged) == (loaded, updated, unchanged)
    assert report.differing == 3
    assert add_up(report)
    stored = conn.execute("SELECT close, low FROM candles ORDER BY time LIMIT 1").fetchone()
    assert stored is not None
    assert (stored[0] == stored[1]) == (policy == "update")
    ingest_frame(conn, market_frame(20).slice(5), options)  # 10 stored among 15
    assert_bar_counts_current(conn)


def test_under_on_conflict_error_a_changed_bar_refuses_the_whole_input(conn: Connection) -> None:
    frame = market_frame(10)
    ingest_frame(conn, frame.head(5), HOURLY)
    strict = IngestOptions("BTCUSDT", Timeframe.parse("1h"), source="test", on_conflict="error")
    report = ingest_frame(conn, changed(frame, 1), strict)
    assert report.refused is not None
    assert "1 bar(s) differ" in report.refused
    assert "line 1" in report.refused
    assert count_candles(conn) == 5  # the 5 new bars of that input were not written either
    assert add_up(report)
    assert_bar_counts_current(conn)  # the chart's figures went back with them


def test_above_the_reject_ratio_or_under_strict_nothing_is_written(conn: Connection) -> None:
    (loose,) = ingest_files(conn, [FIXTURES / "pathology_1h.csv"], HOURLY)
    assert loose.refused is not None
    assert "more than --max-reject-ratio" in loose.refused
    frame = market_frame(200).vstack(
        pl.DataFrame({"time": [datetime(2030, 1, 1, tzinfo=UTC)], "open": [1.0], "high": [1.0],
                      "low": [1.0], "close": [1.0], "volume": [1.0]})
    )  # fmt: skip
    strict = IngestOptions("BTCUSDT", Timeframe.parse("1h"), source="test", strict=True)
    report = ingest_frame(conn, frame, strict)
    assert report.refused is not None
    assert report.refused.startswith("--strict: line 201")
    assert count_candles(conn) == 0
    assert chart_summaries(conn) == []  # not even the chart


def test_binance_and_yahoo_fixtures_land_with_their_extra_columns(conn: Connection) -> None:
    binance = [FIXTURES / "BTCUSDT-1h-2024-12.csv", FIXTURES / "BTCUSDT-1h-2025-01.zip"]
    reports = ingest_files(conn, binance, HOURLY)
    assert [r.loaded for r in reports] == [6, 6]
    row = conn.execute(
        "SELECT trades, taker_buy_volume, quote_volume FROM candles ORDER BY time LIMIT 1"
    ).fetchone()
    assert row == (300, 6.1, 525000.0)
    yahoo = IngestOptions("AAPL", Timeframe.parse("1d"), source="yahoo", max_reject_ratio=0.1)
    (report,) = ingest_files(conn, [FIXTURES / "yahoo_AAPL_1d.csv"], yahoo)
    assert (report.loaded, report.rejected, report.by_code) == (10, 1, {"missing_value": 1})


def test_loads_into_one_chart_wait_for_each_other_and_other_charts_do_not(
    database_url: str,
) -> None:
    frame = market_frame(20).with_columns(line=pl.int_range(1, 21))
    with connect(database_url) as holder, connect(database_url) as other:
        btc, eth = (
            upsert_chart(holder, ChartKey("BTC", "1h", "t")),
            upsert_chart(holder, ChartKey("ETH", "1h", "t")),
        )
        holder.commit()
        load_bars(holder, btc, frame)  # the transaction stays open: BTC is locked
        other.execute("SET lock_timeout = '300ms'")
        assert load_bars(other, eth, frame).inserted == 20
        other.commit()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            load_bars(other, btc, frame)
        other.rollback()
        holder.commit()
        assert load_bars(other, btc, frame).unchanged == 20


def test_the_validation_thread_stops_when_the_writer_stops_early(
    conn: Connection, tmp_path: Path
) -> None:
    import threading

    paths = []
    for index in range(30):
        paths.append(tmp_path / f"s{index}.csv")
        market_frame(50).write_csv(paths[-1])
    conn.close()  # every write now fails: the first input raises
    with pytest.raises(DatabaseUnavailable):
        ingest_files(conn, paths, HOURLY)
    for _ in range(50):
        if not any(t.name == "candlelab-validate" for t in threading.enumerate()):
            break
        threading.Event().wait(0.05)
    assert not any(t.name == "candlelab-validate" for t in threading.enumerate())


def test_files_committed_together_still_land_or_fail_one_by_one(
    conn: Connection, database_url: str, tmp_path: Path
) -> None:
    """Small files share a commit; a refused one in the middle takes nothing else with it,
    and every report comes after its commit."""
    frame = market_frame(30)
    ingest_frame(conn, frame.slice(10, 5), HOURLY)
    conn.commit()
    paths = [tmp_path / f"part{i}.parquet" for i in range(3)]
    frame.slice(0, 10).write_parquet(paths[0])
    changed(frame.slice(10, 10), 1).write_parquet(paths[1])  # differs from a stored bar
    frame.slice(20, 10).write_parquet(paths[2])
    strict = IngestOptions("BTCUSDT", Timeframe.parse("1h"), source="test", on_conflict="error")
    committed: list[int] = []

    def on_report(report: IngestReport) -> None:
        with connect(database_url) as other:  # what another session sees at this point
            committed.append(count_candles(other))

    reports = ingest_files(conn, paths, strict, on_report)
    assert [r.loaded for r in reports] == [10, 0, 10]
    assert reports[1].refused is not None
    assert count_candles(conn) == 25
    assert committed == [25, 25, 25]  # told only once the whole group was durable


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize(
    "case",
    [
        ("1d", pd.date_range("2024-01-01", periods=40, freq="D")),
        ("1h", pd.date_range("2024-03-09", periods=60, freq="h", tz="America/New_York")),
        ("5m", pd.date_range("2024-06-03 13:30", periods=60, freq="5min", tz="UTC")),
    ],
)
def test_files_written_by_pandas_with_their_time_index_load_every_bar(
    conn: Connection, database_url: str, tmp_path: Path, suffix: str,
    case: tuple[str, pd.DatetimeIndex],
) -> None:  # fmt: skip
    timeframe, index = case
    hourly = market_frame(len(index)).to_pandas()
    frame = hourly[["open", "high", "low", "close", "volume"]].set_axis(index)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]  # as Yahoo-style tools name them
    path = tmp_path / f"bars{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path)
    options = IngestOptions("PANDAS", Timeframe.parse(timeframe), source="pandas")
    (report,) = ingest_files(conn, [path], options)
    assert (report.loaded, report.rejected) == (len(index), 0)
    chart_id = upsert_chart(conn, options.key)
    conn.commit()
    stored = read_candles(database_url, [chart_id]).column("time").to_pylist()
    expected = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    assert stored == list(expected.to_pydatetime())


def test_bars_written_by_hand_are_counted_again_on_request(conn: Connection) -> None:
    ingest_frame(conn, market_frame(30), HOURLY)
    chart_id = upsert_chart(conn, HOURLY.key)
    conn.execute(
        "DELETE FROM candles WHERE chart_id = %s AND time > "
        "(SELECT min(time) FROM candles WHERE chart_id = %s) + interval '19 hours'",
        (chart_id, chart_id),
    )
    (summary,) = chart_summaries(conn)
    assert summary.bars == 30  # SQL of one's own is not seen by the kept figures...
    assert recount_bars(conn) == [chart_id]
    (summary,) = chart_summaries(conn)
    assert summary.bars == 20  # ...until they are counted again
    assert recount_bars(conn) == []
    assert_bar_counts_current(conn)


def test_a_new_daily_stock_chart_without_a_calendar_gets_its_exchanges_and_no_gaps(
    conn: Connection, database_url: str
) -> None:
    report = ingest_frame(conn, stock_days(), STOCK_DAYS)
    assert (report.loaded, report.calendar, report.calendar_inferred) == (252, "XNYS", True)
    assert report.calendar_note == "inferred from the bars: no weekend or XNYS holiday bars"
    conn.commit()
    assert [c.calendar for c in all_charts(conn)] == ["XNYS"]
    assert calendar_findings(database_url) == []


def test_weekday_fx_days_without_a_calendar_get_the_fx_week_and_no_sunday_gaps(
    conn: Connection, database_url: str
) -> None:
    days = stock_days()  # NYSE sessions, with the holidays an FX feed trades through
    every = pl.datetime_range(days["time"][0], days["time"][-1], "1d", eager=True)
    weekdays = every.filter(every.dt.weekday() <= 5).to_frame("time")
    fx = weekdays.join(days.drop("time").head(1), how="cross")
    report = ingest_frame(conn, fx, IngestOptions("EURUSD", Timeframe.parse("1d"), "test"))
    assert (report.calendar, report.calendar_inferred) == ("24/5", True)
    conn.commit()
    assert calendar_findings(database_url) == []  # no Sunday owed, no holiday either


def test_a_calendar_given_wins_and_an_existing_chart_keeps_its_own(
    conn: Connection, database_url: str
) -> None:
    days = stock_days()
    given = IngestOptions("AAPL", Timeframe.parse("1d"), source="test", calendar="24/7")
    first = ingest_frame(conn, days.head(100), given)
    assert (first.calendar, first.calendar_inferred, first.calendar_note) == ("24/7", False, "")
    untold = ingest_frame(conn, days.slice(100, 100), STOCK_DAYS)
    assert (untold.calendar, untold.calendar_inferred, untold.calendar_note) == ("24/7", False, "")
    other = IngestOptions("AAPL", Timeframe.parse("1d"), source="test", calendar="XNYS")
    late = ingest_frame(conn, days.slice(200), other)
    assert late.calendar == "24/7"
    assert late.calendar_note == "the chart's own: XNYS applies to a new chart only"
    conn.commit()
    assert [c.calendar for c in all_charts(conn)] == ["24/7"]
    assert calendar_findings(database_url).count("gap") > 50  # a run for every weekend
