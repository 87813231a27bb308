"""Bars go in by binary COPY exactly as given, once."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from candlelab.errors import UnknownReference
from candlelab.market.candles import Bars, chart_candles, count_candles, load_bars
from candlelab.market.charts import ChartKey, delete_chart, upsert_chart
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, hourly_bars
from candlelab.store.database import Connection


def store(conn: Connection, chart_id: int, bars: Bars) -> int:
    return load_bars(conn, chart_id, bars.to_frame()).inserted


def test_bars_round_trip_exactly(conn: Connection) -> None:
    bars = hourly_bars(INSTRUMENTS[0], MarketSpec(hourly_days=3)).slice(0, 500)
    chart = upsert_chart(conn, ChartKey("BTCUSDT", "1h", "test"))
    assert store(conn, chart, bars) == 500
    rows = chart_candles(conn, chart)
    first = rows[0]
    assert first[0] == datetime(2023, 1, 2, tzinfo=UTC)
    stored = np.array([row[1:] for row in rows], dtype=np.float64)
    given = np.column_stack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    assert np.array_equal(stored, given)  # doubles survive bit for bit
    naive = [row[0].replace(tzinfo=None) for row in rows if isinstance(row[0], datetime)]
    times = np.array(naive, dtype="datetime64[us]")
    assert np.array_equal(times, bars.time)


def test_storing_again_or_overlapping_adds_only_new_bars(conn: Connection) -> None:
    bars = hourly_bars(INSTRUMENTS[4], MarketSpec()).slice(0, 300)
    chart = upsert_chart(conn, ChartKey("AAPL", "1h", "test"))
    assert store(conn, chart, bars.slice(0, 200)) == 200
    assert store(conn, chart, bars.slice(0, 200)) == 0
    assert store(conn, chart, bars.slice(150, 300)) == 100
    assert count_candles(conn) == 300


def test_the_same_chart_key_gives_the_same_chart(conn: Connection) -> None:
    key = ChartKey("ETHUSDT", "1d", "binance")
    assert upsert_chart(conn, key) == upsert_chart(conn, key)
    assert upsert_chart(conn, key) != upsert_chart(conn, ChartKey("ETHUSDT", "1d", "yahoo"))


def test_bars_for_a_chart_that_does_not_exist_are_refused(conn: Connection) -> None:
    bars = hourly_bars(INSTRUMENTS[0], MarketSpec()).slice(0, 3)
    with pytest.raises(UnknownReference, match="chart 424242 does not exist"):
        store(conn, 424242, bars)


def test_deleting_a_chart_deletes_its_bars_and_no_others(conn: Connection) -> None:
    bars = hourly_bars(INSTRUMENTS[0], MarketSpec()).slice(0, 10)
    gone, kept = (upsert_chart(conn, ChartKey(s, "1h", "test")) for s in ("GONE", "KEPT"))
    store(conn, gone, bars)
    store(conn, kept, bars)
    assert delete_chart(conn, gone)
    assert not delete_chart(conn, gone)
    assert count_candles(conn) == 10
    assert chart_candles(conn, gone) == []
