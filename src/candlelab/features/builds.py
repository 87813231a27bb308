"""What is materialised of a stored set, per chart (`feature_builds`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from candlelab.features.registry import StoredSet
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


@dataclass(frozen=True)
class ChartBuildState:
    """A chart's build of a set: the bars built, NaN values per column, and from where
    it must be recomputed (None: current)."""

    chart_id: int
    symbol: str
    timeframe: str
    source: str
    first_bar: datetime
    last_bar: datetime
    bars: int
    warmup: list[int]
    stale_from: datetime | None
    built_at: datetime
    chart_last_bar: datetime | None

    @property
    def behind(self) -> bool:
        """Whether the chart has bars the build has not computed yet."""
        return self.chart_last_bar is not None and self.chart_last_bar > self.last_bar


def chart_builds(conn: Connection, stored: StoredSet) -> list[ChartBuildState]:
    rows = conn.execute(QUERIES["builds"], {"set_id": stored.id}).fetchall()
    return [_state(row) for row in rows]


def _state(row: tuple[Any, ...]) -> ChartBuildState:
    chart_id, symbol, timeframe, source, first, last, bars, warmup, stale, built, newest = row
    nans = [int(n) for n in warmup]
    return ChartBuildState(chart_id, symbol, timeframe, source, first, last, int(bars), nans,
                           stale, built, newest)  # fmt: skip
