"""Reading candles back: bulk into Arrow/NumPy in (chart, time) order, and a chart's last bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from candlelab.market.candles import (
    ALL_COLUMNS,
    candle_arrays,
    last_bars,
    load_bars,
    packed_candles,
    read_candles,
)
from candlelab.market.charts import ChartKey, upsert_chart
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, hourly_bars
from candlelab.store.database import Connection

SPEC = MarketSpec(start=date(2024, 1, 1), end=date(2024, 2, 1))


def stored_backwards(conn: Connection) -> tuple[int, int, pl.DataFrame]:
    """Two charts whose bars were loaded newest half first, so storage order is not time order."""
    frame = hourly_bars(INSTRUMENTS[0], SPEC).to_frame()
    btc = upsert_chart(conn, ChartKey("BTC", "1h", "t"))
    eth = upsert_chart(conn, ChartKey("ETH", "1h", "t"))
    half = frame.height // 2
    for chart in (eth, btc):
        load_bars(conn, chart, frame.slice(half))
        load_bars(conn, chart, frame.head(half))
    conn.commit()
    return btc, eth, frame


def test_bulk_reads_come_sorted_by_chart_then_time(conn: Connection, database_url: str) -> None:
    btc, eth, frame = stored_backwards(conn)
    table = read_candles(database_url, [eth, btc], columns=ALL_COLUMNS)
    arrays = candle_arrays(table)
    assert table.num_rows == 2 * frame.height
    assert arrays["chart_id"][0] == min(btc, eth)
    assert np.all(np.diff(arrays["time"][: frame.height]) > np.timedelta64(0))
    expected = frame["time"].dt.replace_time_zone(None).to_numpy()
    assert np.array_equal(arrays["time"][: frame.height], expected)
    assert np.array_equal(arrays["close"][: frame.height], frame["close"].to_numpy())
    assert np.isnan(arrays["vwap"]).all()  # not given, so NULL, so NaN


def test_only_the_core_columns_come_unless_asked(conn: Connection, database_url: str) -> None:
    btc, _, _ = stored_backwards(conn)
    assert read_candles(database_url, [btc]).column_names == [
        "chart_id",
        "time",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert read_candles(database_url, [btc], columns=["close"]).column_names == [
        "chart_id",
        "time",
        "close",
    ]


def test_a_time_window_is_start_inclusive_and_end_exclusive(
    conn: Connection, database_url: str
) -> None:
    btc, _, _ = stored_backwards(conn)
    start, end = datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 11, tzinfo=UTC)
    table = read_candles(database_url, [btc], start, end)
    times = table.column("time").to_pylist()
    assert len(times) == 24
    assert read_candles(database_url, start=start, end=end).num_rows == 2 * 24  # every chart
    assert times[0] == start
    assert max(times) < end


def test_the_last_bars_of_a_chart_come_oldest_first(conn: Connection) -> None:
    btc, _, frame = stored_backwards(conn)
    bars = last_bars(conn, btc, 500)
    assert len(bars) == 500
    assert [row[0] for row in bars] == frame["time"].tail(500).to_list()
    assert bars[-1][4] == frame["close"][-1]


def test_packed_candles_are_the_bulk_read_of_the_core_columns(
    conn: Connection, database_url: str
) -> None:
    btc, eth, frame = stored_backwards(conn)
    start, end = frame["time"][10], frame["time"][frame.height - 7]
    for bounds in ((None, None), (start, None), (None, end), (start, end)):
        expected = candle_arrays(read_candles(database_url, [eth, btc], *bounds))
        packed = packed_candles(database_url, [eth, btc], *bounds)
        assert list(packed) == list(expected)
        for name, column in expected.items():
            assert packed[name].dtype == column.dtype
            assert np.array_equal(packed[name], column), name
    assert len(packed_candles(database_url, [])["time"]) == 0
