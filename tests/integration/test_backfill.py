"""Backfill into stored charts from recorded vendor responses: gaps filled, re-runs idle."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from candlelab.market.backfill import Span, backfill_chart, merged
from candlelab.market.charts import chart
from candlelab.market.ingest import IngestOptions
from candlelab.market.providers.binance import Binance
from candlelab.market.providers.yahoo import Yahoo
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.fixtures.cassettes import Cassette
from tests.fixtures.charts import XNYS_HOURLY, assert_bar_counts_current, stored_chart
from tests.unit.test_providers import Sleeps


def hours(day: str, first: int, last: int) -> list[str]:
    return [f"{day}T{h:02d}:00" for h in range(first, last + 1)]


def test_binance_fills_a_six_hour_gap_then_finds_nothing_to_do(
    conn: Connection, database_url: str
) -> None:
    options = IngestOptions("BTCUSDT", Timeframe(1, "h"), source="binance")
    chart_id = stored_chart(conn, hours("2024-12-02", 0, 9) + hours("2024-12-02", 16, 23), options)
    conn.commit()
    target = chart(conn, chart_id)
    cassette = Cassette("binance_btcusdt_1h_gap")
    binance = Binance(transport=cassette.transport(), sleep=Sleeps(), page=4)
    report = backfill_chart(conn, database_url, target, binance)
    cassette.assert_all_played()
    assert (report.gaps, report.missing, report.fetched, report.loaded) == (1, 6, 6, 6)
    assert (report.still_missing, report.requests, report.retries) == (0, 4, 2)
    extras = conn.execute(
        "SELECT count(*), min(trades) FROM candles WHERE chart_id = %s AND trades IS NOT NULL",
        (chart_id,),
    ).fetchone()
    assert extras == (6, 41000)

    idle = Binance(transport=Cassette("binance_invalid_symbol").transport(), sleep=Sleeps())
    again = backfill_chart(conn, database_url, target, idle)
    assert (again.gaps, again.requests, again.loaded) == (0, 0, 0)
    assert_bar_counts_current(conn)


def test_yahoo_fills_two_missing_sessions_of_a_daily_nyse_chart(
    conn: Connection, database_url: str
) -> None:
    options = IngestOptions("AAPL", Timeframe(1, "d"), source="yahoo",
                            chart_timezone="America/New_York", calendar="XNYS")  # fmt: skip
    days = ["2025-11-17", "2025-11-18", "2025-11-19", "2025-11-24", "2025-11-25"]
    chart_id = stored_chart(conn, [f"{d}T05:00" for d in days], options)
    conn.commit()
    cassette = Cassette("yahoo_aapl_1d_gap")
    yahoo = Yahoo(transport=cassette.transport(), sleep=Sleeps())
    report = backfill_chart(conn, database_url, chart(conn, chart_id), yahoo)
    cassette.assert_all_played()
    assert (report.gaps, report.missing, report.loaded, report.still_missing) == (1, 2, 2, 0)
    closes = conn.execute(
        "SELECT time::date::text, close FROM candles WHERE chart_id = %s AND volume > 1e7"
        " ORDER BY time", (chart_id,)
    ).fetchall()  # fmt: skip
    assert closes == [("2025-11-20", 266.25), ("2025-11-21", 271.489990234375)]


def test_a_bar_the_vendor_does_not_have_stays_missing_and_is_reported(
    conn: Connection, database_url: str
) -> None:
    times = ["2025-11-24T14:30", "2025-11-24T18:30", "2025-11-24T19:30", "2025-11-24T20:30"]
    chart_id = stored_chart(conn, times, XNYS_HOURLY)
    conn.commit()
    yahoo = Yahoo(transport=Cassette("yahoo_aapl_1h_gap").transport(), sleep=Sleeps())
    report = backfill_chart(conn, database_url, chart(conn, chart_id), yahoo)
    assert (report.missing, report.fetched, report.loaded, report.still_missing) == (3, 2, 2, 1)


def test_history_before_the_first_bar_is_fetched_when_asked_for(
    conn: Connection, database_url: str
) -> None:
    options = IngestOptions("BTCUSDT", Timeframe(1, "h"), source="binance")
    chart_id = stored_chart(conn, hours("2024-12-02", 16, 23), options)
    conn.commit()
    cassette = Cassette("binance_btcusdt_1h_gap")
    binance = Binance(transport=cassette.transport(), sleep=Sleeps(), page=4)
    start = datetime(2024, 12, 2, 10, tzinfo=UTC)
    report = backfill_chart(conn, database_url, chart(conn, chart_id), binance,
                            span=Span(start=start))  # fmt: skip
    assert (report.missing, report.loaded, report.still_missing) == (6, 6, 0)


def test_gaps_closer_than_a_page_share_one_request() -> None:
    hour = np.timedelta64(1, "h")
    t0 = np.datetime64("2024-12-02T00:00", "us")
    windows = [(t0, t0), (t0 + 3 * hour, t0 + 4 * hour), (t0 + 20 * hour, t0 + 20 * hour)]
    binance = Binance(sleep=Sleeps(), page=10)
    assert merged(windows, Timeframe(1, "h"), binance) == [
        (t0, t0 + 4 * hour), (t0 + 20 * hour, t0 + 20 * hour)
    ]  # fmt: skip
