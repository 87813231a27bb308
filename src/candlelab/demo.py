"""The main job on a fresh machine: a synthetic market stored through the candle path.

Each chart is stored in its own transaction and only missing bars are added, so the job
can be killed at any moment and run again to the same final rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from candlelab.candles import Bars, store_bars
from candlelab.charts import ChartKey, upsert_chart
from candlelab.database import Connection
from candlelab.synthetic_market import (
    INSTRUMENTS,
    Instrument,
    MarketSpec,
    daily_bars,
    hourly_bars,
)

SOURCE = "synthetic"
TIMEZONES = {"equity": "America/New_York", "fx": "UTC", "crypto": "UTC"}


@dataclass(frozen=True)
class StoredChart:
    key: ChartKey
    bars: int
    inserted: int


def demo_charts(spec: MarketSpec) -> Iterator[tuple[Instrument, str, Bars]]:
    """Every (instrument, timeframe, bars) the demo stores: all daily bars, recent hourly ones."""
    for instrument in INSTRUMENTS:
        hourly = hourly_bars(instrument, spec)
        yield instrument, "1d", daily_bars(hourly)
        first = int(
            np.searchsorted(hourly.time, hourly.time[-1] - np.timedelta64(spec.hourly_days, "D"))
        )
        yield instrument, "1h", hourly.slice(first, len(hourly))


def store_market(
    conn: Connection, spec: MarketSpec, on_chart: Callable[[StoredChart], None]
) -> list[StoredChart]:
    """Store the synthetic market, one transaction per chart; report each chart as it lands."""
    stored = []
    for instrument, timeframe, bars in demo_charts(spec):
        key = ChartKey(instrument.symbol, timeframe, SOURCE)
        with conn.transaction():
            chart_id = upsert_chart(conn, key, TIMEZONES[instrument.market])
            inserted = store_bars(conn, chart_id, bars)
        stored.append(StoredChart(key, len(bars), inserted))
        on_chart(stored[-1])
    return stored
