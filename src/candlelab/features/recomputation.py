"""Feature values computed from the candles instead of read from the store.

Two uses: training recomputes a set in memory where that is faster than reading it (the
benchmark says when), and prediction needs the vector of a bar that is not built yet.
Both give what a build would store: the same function on the same bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from candlelab.features import computation
from candlelab.features.bars import chart_bars, read_start
from candlelab.features.blocks import moment
from candlelab.features.computation import ChartBars
from candlelab.features.definitions import FeatureSet
from candlelab.features.materialisation import stored_anchors
from candlelab.features.reading import FeatureMatrix, latest_vector
from candlelab.features.registry import StoredSet
from candlelab.market.charts import all_charts, chart
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


def recompute_features(
    url: str,
    features: FeatureSet,
    chart_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> FeatureMatrix:
    """What `read_features` gives for bars in [start, end), computed from each chart's
    whole history in memory (recursive features depend on where they start)."""
    parts: list[tuple[int, ChartBars, np.ndarray]] = []
    with connect(url) as conn:
        ids = list(chart_ids) if chart_ids is not None else [c.id for c in all_charts(conn)]
        for chart_id in sorted(ids):
            bars = chart_bars(conn, chart(conn, chart_id), features)
            parts.append((chart_id, bars, computation.compute(features, bars)))
    return _matrix(features, parts, start, end)


def _matrix(
    features: FeatureSet,
    parts: list[tuple[int, ChartBars, np.ndarray]],
    start: datetime | None,
    end: datetime | None,
) -> FeatureMatrix:
    if not parts:
        empty = np.empty((0, len(features.columns)))
        return FeatureMatrix(features.columns, np.empty(0, np.int64), np.empty(0, "M8[us]"), empty)
    charts = np.concatenate([np.full(len(bars), i, dtype=np.int64) for i, bars, _ in parts])
    times = np.concatenate([bars.time for _, bars, _ in parts])
    values = np.concatenate([v for _, _, v in parts])
    return FeatureMatrix(features.columns, charts, times, values).between(start, end)


def newest_vector(
    conn: Connection, stored: StoredSet, features: FeatureSet, chart_id: int
) -> tuple[datetime, np.ndarray] | None:
    """The vector of the chart's newest bar: stored when the build reaches it and is not
    stale, else computed now from the bars its history needs (nothing is written). A
    cumulative feature (OBV) is exact where the bar its history starts at is built."""
    row = conn.execute(
        QUERIES["build_freshness"], {"set_id": stored.id, "chart_id": chart_id}
    ).fetchone()
    if row is None or row[0] is None:
        return None
    newest, built_to, stale_from = row
    if built_to == newest and stale_from is None:
        return latest_vector(conn, stored, chart_id)
    first = read_start(conn, chart_id, newest, computation.history(features))
    bars = chart_bars(conn, chart(conn, chart_id), features, first)
    values = computation.compute(
        features, bars, stored_anchors(conn, stored, features, chart_id, bars)
    )
    return moment(bars.time[-1]), values[-1]
