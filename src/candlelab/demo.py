"""The main job on a fresh machine: a synthetic market stored through the ingest path,
label types to start labelling with, and trend proposals to review.

Each chart is one ingest (validated, one transaction) and only missing bars are added;
a chart's proposals are made once, in their own transaction. So the job can be killed at
any moment and run again to the same final rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from candlelab.labels.proposals import propose, trend_proposals
from candlelab.market.candles import Bars
from candlelab.market.charts import upsert_chart
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_frame
from candlelab.market.quality import utc_datetime
from candlelab.market.synthetic_market import (
    INSTRUMENTS,
    MARKETS,
    Instrument,
    MarketSpec,
    daily_bars,
    hourly_bars,
)
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

SOURCE = "synthetic"
QUERIES = load_queries(__file__)
LABELS = (  # name, colour, hotkey, direction, description
    ("uptrend", "#26a69a", "1", 1, "Price rising: higher highs and higher lows."),
    ("downtrend", "#ef5350", "2", -1, "Price falling: lower highs and lower lows."),
    ("range", "#7e57c2", "3", 0, "Sideways between a support and a resistance."),
)
ANNOTATION_TYPES = (("breakout", "#2962ff", "arrowUp"), ("reversal", "#ff9800", "circle"))


def demo_charts(spec: MarketSpec) -> Iterator[tuple[Instrument, str, Bars]]:
    """Every (instrument, timeframe, bars) the demo stores: all daily bars, recent hourly ones."""
    for instrument in INSTRUMENTS:
        hourly = hourly_bars(instrument, spec)
        yield instrument, "1d", daily_bars(hourly, MARKETS[instrument.market].timezone)
        since = hourly.time[-1] - np.timedelta64(spec.hourly_days, "D")
        yield instrument, "1h", hourly.slice(int(np.searchsorted(hourly.time, since)), len(hourly))


def store_market(
    conn: Connection,
    spec: MarketSpec,
    on_chart: Callable[[IngestReport], None],
    labels: dict[int, int] | None = None,
) -> list[IngestReport]:
    """Ingest the synthetic market, one chart per transaction; report each as it lands.
    With `labels` (direction → label id), each chart also gets its trend proposals."""
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
        if labels and reports[-1].ok:
            propose_trends(conn, upsert_chart(conn, options.key), bars, labels)
        on_chart(reports[-1])
    return reports


def seed_labels(conn: Connection) -> dict[int, int]:
    """The demo's label and annotation types (kept if already there); direction → label id."""
    for name, color, hotkey, direction, description in LABELS:
        conn.execute(QUERIES["seed_label_type"], {"name": name, "color": color, "hotkey": hotkey,
                     "direction": direction, "description": description})  # fmt: skip
    for name, color, shape in ANNOTATION_TYPES:
        conn.execute(
            QUERIES["seed_annotation_type"], {"name": name, "color": color, "shape": shape}
        )
    names = [label[0] for label in LABELS]
    ids: dict[str, int] = dict(conn.execute(QUERIES["label_ids"], {"names": names}).fetchall())
    conn.commit()
    return {d: ids[name] for name, _, _, d, _ in LABELS if d and name in ids}


def propose_trends(conn: Connection, chart_id: int, bars: Bars, labels: dict[int, int]) -> int:
    """The chart's trend proposals, made once (none if it has model spans already), in their
    own transaction; how many."""
    if conn.execute(QUERIES["has_proposals"], {"chart_id": chart_id}).fetchone() == (True,):
        return 0
    times = [utc_datetime(t) for t in bars.time]
    made = propose(conn, chart_id, times, trend_proposals(bars.close), labels)
    conn.commit()
    return made


def waiting_proposals(conn: Connection) -> int:
    """Model spans not reviewed yet, over every chart."""
    row = conn.execute(QUERIES["waiting_proposals"]).fetchone()
    return int(row[0]) if row else 0
