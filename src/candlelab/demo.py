"""The main job on a fresh machine: a synthetic market stored through the ingest path.

Each chart is one ingest (validated, one transaction) and only missing bars are added,
so the job can be killed at any moment and run again to the same final rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from candlelab.candles import Bars
from candlelab.database import Connection
from candlelab.ingest import IngestOptions, IngestReport, ingest_frame
from candlelab.synthetic_market import (
    INSTRUMENTS,
    MARKETS,
    Instrument,
    MarketSpec,
    daily_bars,
    hourly_bars,
)
from candlelab.timeframes import Timeframe

SOURCE = "synthetic"


def demo_charts(spec: MarketSpec) -> Iterator[tuple[Instrument, str, Bars]]:
    """Every (instrument, timeframe, bars) the demo stores: all daily bars, recent hourly ones."""
    for instrument in INSTRUMENTS:
        hourly = hourly_bars(instrument, spec)
        yield instrument, "1d", daily_bars(hourly, MARKETS[instrument.market].timezone)
        since = hourly.time[-1] - np.timedelta64(spec.hourly_days, "D")
        yield instrument, "1h", hourly.slice(int(np.searchsorted(hourly.time, since)), len(hourly))


def store_market(
    conn: Connection, spec: MarketSpec, on_chart: Callable[[IngestReport], None]
) -> list[IngestReport]:
    """Ingest the synthetic market, one chart per transaction; report each as it lands."""
    reports = []
    for instrument, timeframe, bars in demo_charts(spec):
        market = MARKETS[instrument.market]
        options = IngestOptions(
            symbol=instrument.symbol,
            timeframe=Timeframe.parse(timeframe),
            source=SOURCE,
            chart_timezone=market.timezone,
            calendar=market.calendar,
            offset=market.hourly_offset if timeframe == "1h" else "0m",
            max_reject_ratio=0.0,  # generated data has no excuse
        )
        reports.append(ingest_frame(conn, bars.to_frame(), options, name=options.key.name))
        on_chart(reports[-1])
    return reports
