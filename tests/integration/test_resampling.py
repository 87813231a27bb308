"""Resampled charts: the right aggregates, calendar-aware days, kept current by ingest."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from candlelab.errors import InvalidValue
from candlelab.market.candles import count_candles, read_candles
from candlelab.market.charts import delete_chart
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.resampling import derive_chart
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, daily_bars, hourly_bars
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.fixtures.charts import assert_bar_counts_current

MINUTE = IngestOptions("BTCUSDT", Timeframe.parse("1m"), source="test")


def minute_bars(count: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.concatenate([[100.0], close[:-1]])
    start = np.datetime64("2024-03-01T00:00", "us")
    times = pl.Series(start + np.arange(count) * np.timedelta64(1, "m")).dt.replace_time_zone("UTC")
    high, low = np.maximum(open_, close) + 0.05, np.minimum(open_, close) - 0.05
    return pl.DataFrame({
        "time": times, "open": open_, "high": high, "low": low, "close": close,
        "volume": rng.integers(1, 100, count).astype(float),
    })  # fmt: skip


def expected(bars: pl.DataFrame, every: str) -> pl.DataFrame:
    return bars.group_by_dynamic("time", every=every).agg(
        pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
        pl.col("close").last(), pl.col("volume").sum(),
    )  # fmt: skip


def stored(database_url: str, chart_id: int) -> pl.DataFrame:
    table = read_candles(database_url, [chart_id])
    return pl.DataFrame(table).drop("chart_id")


def base_chart(conn: Connection, frame: pl.DataFrame) -> int:
    assert ingest_frame(conn, frame, MINUTE).ok
    row = conn.execute("SELECT id FROM charts WHERE timeframe = '1m'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("every", ["5m", "1h"])
def test_minutes_resample_to_first_open_max_high_min_low_last_close_sum_volume(
    conn: Connection, database_url: str, every: str
) -> None:
    frame = minute_bars(600)
    derived = derive_chart(conn, base_chart(conn, frame), Timeframe.parse(every))
    conn.commit()
    got, want = stored(database_url, derived), expected(frame, every)
    assert got["time"].to_list() == want["time"].to_list()
    for column in ("open", "high", "low", "close", "volume"):
        assert np.allclose(got[column].to_numpy(), want[column].to_numpy()), column


def test_session_days_stay_whole_across_the_dst_switch(conn: Connection, database_url: str) -> None:
    spec = MarketSpec(start=date(2024, 3, 1), end=date(2024, 3, 20))
    hourly = hourly_bars(next(i for i in INSTRUMENTS if i.symbol == "AAPL"), spec)
    options = IngestOptions("AAPL", Timeframe.parse("1h"), source="test",
                            chart_timezone="America/New_York", calendar="XNYS",
                            offset="30m")  # fmt: skip
    assert ingest_frame(conn, hourly.to_frame(), options).ok
    base = conn.execute("SELECT id FROM charts").fetchone()
    assert base is not None
    derived = derive_chart(conn, int(base[0]), Timeframe.parse("1d"))
    conn.commit()
    got = stored(database_url, derived)
    want = daily_bars(hourly, "America/New_York")
    assert got["time"].dt.replace_time_zone(None).to_numpy().tolist() == want.time.tolist()
    assert {t.hour for t in got["time"]} == {5, 4}  # local midnight, before and after DST
    assert np.allclose(got["close"].to_numpy(), want.close)
    assert np.allclose(got["volume"].to_numpy(), want.volume)


def test_ingesting_more_base_bars_updates_the_derived_chart(
    conn: Connection, database_url: str
) -> None:
    frame = minute_bars(600)
    base = base_chart(conn, frame.head(333))  # ends inside a 5-minute bin
    derived = derive_chart(conn, base, Timeframe.parse("5m"))
    assert ingest_frame(conn, frame.slice(300), MINUTE).loaded == 267
    conn.commit()
    got, want = stored(database_url, derived), expected(frame, "5m")
    assert got.height == want.height == 120
    assert np.allclose(got["close"].to_numpy(), want["close"].to_numpy())
    assert np.allclose(got["volume"].to_numpy(), want["volume"].to_numpy())
    assert_bar_counts_current(conn)


def test_only_longer_whole_multiples_can_be_derived(conn: Connection) -> None:
    base = base_chart(conn, minute_bars(10))
    five = derive_chart(conn, base, Timeframe.parse("5m"))
    assert derive_chart(conn, five, Timeframe.parse("1h")) > five  # 12 bins of 5m
    assert_bar_counts_current(conn)
    with pytest.raises(InvalidValue, match="cannot resample 5m bars to 3m"):
        derive_chart(conn, five, Timeframe.parse("3m"))
    with pytest.raises(InvalidValue, match="cannot resample 1m bars to 1m"):
        derive_chart(conn, base, Timeframe.parse("1m"))


def test_deleting_the_base_deletes_what_was_derived_from_it(conn: Connection) -> None:
    base = base_chart(conn, minute_bars(120))
    five = derive_chart(conn, base, Timeframe.parse("5m"))
    derive_chart(conn, five, Timeframe.parse("1h"))
    assert count_candles(conn) == 120 + 24 + 2
    assert delete_chart(conn, base)
    assert count_candles(conn) == 0
    assert conn.execute("SELECT count(*) FROM charts").fetchone() == (0,)
