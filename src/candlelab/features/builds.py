"""What is materialised of a stored set, per chart (`feature_builds`), and the lock that
lets one build of a set on a chart run at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from candlelab.features.registry import LOCK_CLASS, StoredSet
from candlelab.market.candles import LOCK_CLASS as LOAD_LOCK_CLASS
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]


def packed_state(state: Floats | None) -> bytes | None:
    """A carried state as stored (little-endian float64, as the blocks pack values), or
    None when there is none to continue from: absent, or NaN after a NaN input."""
    if state is None or np.isnan(state).any():
        return None
    return np.ascontiguousarray(state, dtype="<f8").tobytes()


def unpacked_state(packed: bytes) -> Floats:
    return np.frombuffer(packed, dtype="<f8").astype(np.float64)


def lock_build(conn: Connection, stored: StoredSet, chart_id: int) -> None:
    """Hold, until the transaction ends, the chart's load lock (no ingest writes its bars
    meanwhile) and then its build lock for the set (a second build waits, then finds the
    work done). Always in this order, so two builds cannot wait for each other."""
    params = {"load_class": LOAD_LOCK_CLASS, "lock_class": LOCK_CLASS, "set_id": stored.id,
              "chart_id": chart_id}  # fmt: skip
    conn.execute(QUERIES["lock_build"], params)


@dataclass(frozen=True)
class ChartBuild:
    """What a build did to one chart."""

    chart_id: int
    computed_from: datetime | None  # None: nothing to do
    bars_written: int
    bars_read: int


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
