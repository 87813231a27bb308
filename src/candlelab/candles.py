"""Candles: one bar of a chart, keyed by (chart_id, time), time being the bar's open in UTC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.database import Connection, translated
from candlelab.queries import load_queries

QUERIES = load_queries(__file__)
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Bars:
    """A run of bars as columns: times (datetime64[us], UTC) and float64 prices and volume."""

    time: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time)

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(*(getattr(self, name)[start:stop] for name in ("time", *PRICE_COLUMNS)))


def store_bars(conn: Connection, chart_id: int, bars: Bars) -> int:
    """Add the bars a chart does not have yet, in the caller's transaction; returns how many."""
    chart_ids = np.full(len(bars), chart_id, dtype=np.int64)
    payload = binary_copy_buffer(
        [CopyColumn("bigint", chart_ids), CopyColumn("timestamptz", bars.time)]
        + [CopyColumn("double precision", getattr(bars, name)) for name in PRICE_COLUMNS]
    )
    with translated():
        conn.execute(QUERIES["create_staging"])
        with conn.cursor().copy(QUERIES["copy_staging"]) as copy:
            copy.write(payload)
        inserted = conn.execute(QUERIES["insert_new_candles"]).rowcount
        conn.execute(QUERIES["drop_staging"])
    return inserted


def chart_candles(conn: Connection, chart_id: int) -> list[tuple[object, ...]]:
    """A chart's candles, oldest first, as (time, open, high, low, close, volume) rows."""
    return conn.execute(QUERIES["chart_candles"], {"chart_id": chart_id}).fetchall()


def count_candles(conn: Connection) -> int:
    row = conn.execute(QUERIES["count_candles"]).fetchone()
    return int(row[0]) if row else 0
