"""The demo's market goes in through the candle path, and a second run adds nothing."""

from __future__ import annotations

from datetime import date

from candlelab.candles import count_candles
from candlelab.charts import chart_summaries
from candlelab.database import Connection
from candlelab.demo import StoredChart, store_market
from candlelab.synthetic_market import INSTRUMENTS, MarketSpec

SMALL = MarketSpec(start=date(2025, 1, 1), end=date(2025, 3, 1), hourly_days=10)


def test_the_demo_stores_every_chart_once(conn: Connection) -> None:
    seen: list[StoredChart] = []
    first = store_market(conn, SMALL, seen.append)
    assert len(first) == len(seen) == 2 * len(INSTRUMENTS)
    total = count_candles(conn)
    assert total == sum(chart.inserted for chart in first) > 0

    again = store_market(conn, SMALL, lambda chart: None)
    assert sum(chart.inserted for chart in again) == 0
    assert count_candles(conn) == total
    summaries = chart_summaries(conn)
    assert {(c.symbol, c.timeframe) for c in summaries} == {
        (i.symbol, tf) for i in INSTRUMENTS for tf in ("1d", "1h")
    }
    assert all(c.bars > 0 for c in summaries)
