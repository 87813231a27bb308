"""Materialising a feature set: per chart, in one transaction, only what is missing.

A chart is built from its first bar the first time; afterwards only bars after its last
built bar are computed, so that each value equals what a full rebuild gives: charts
that only gained bars are continued together from their stored values and carried
states (`increments`); the others (stale, or of a set that cannot be continued) are
computed from `history` bars before their first new bar. Bars written inside the built
range (an ingest's correction, a backfill, an import, an edit in psql) mark the build
stale from the first of them, in their own transaction (`mark_features_stale`); the next
build recomputes from there.
A killed build leaves every chart either built or as it was; a re-run does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from psycopg.pq import TransactionStatus

from candlelab.features import blocks, computation, continuation, increments
from candlelab.features.bars import chart_bars, check_columns, longer_chart_id, read_start
from candlelab.features.blocks import Run, datetime64, moment
from candlelab.features.builds import ChartBuild, lock_build, packed_state
from candlelab.features.definitions import FeatureSet
from candlelab.features.registry import StoredSet, register
from candlelab.market.charts import Chart, all_charts, chart
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


@dataclass(frozen=True)
class BuildReport:
    feature_set: StoredSet
    charts: tuple[ChartBuild, ...]

    @property
    def bars_written(self) -> int:
        return sum(c.bars_written for c in self.charts)


def build_features(
    conn: Connection,
    features: FeatureSet,
    chart_ids: Sequence[int] | None = None,
    progress: Callable[[ChartBuild], None] | None = None,
    *,
    rebuild: bool = False,
) -> BuildReport:
    """Register the set's version and bring its values up to date on the charts (all when
    None), committing each chart on its own. Checked whole before anything is written.
    `rebuild` computes every bar again (after candles were changed in ways no trigger
    sees, such as TRUNCATE or a restored backup).

    The connection must not be inside a transaction: each chart's commit is the point
    of building per chart (a killed build keeps the charts done so far)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("build_features commits chart by chart: call it outside a "
                         "transaction (commit or roll back first)")  # fmt: skip
    with conn.transaction():  # read-only checks; their transaction ends here
        charts = [chart(conn, i) for i in chart_ids] if chart_ids is not None else all_charts(conn)
        _check(conn, features, charts)
        stored = register(conn, features)
    done: list[ChartBuild] = []
    if not rebuild:
        done, charts = increments.build_increments(conn, stored, features, charts, progress)
    history = computation.history(features)  # walks every definition: once per build
    for each in charts:
        with conn.transaction():
            built = _ChartJob(conn, stored, features, each, history, rebuild).run()
        done.append(built)
        if progress:
            progress(built)
    return BuildReport(stored, tuple(done))


def _check(conn: Connection, features: FeatureSet, charts: Sequence[Chart]) -> None:
    """Everything that can refuse the build, before any chart is written."""
    check_columns(conn, features, charts)
    for each in charts:
        for timeframe in features.longer_timeframes:
            longer_chart_id(conn, each, timeframe)


_UP_TO_DATE = datetime.max


@dataclass(frozen=True)
class _ChartJob:
    """One chart's build: what it reads, computes and writes."""

    conn: Connection
    stored: StoredSet
    features: FeatureSet
    chart: Chart
    history: int  # computation.history(features)
    rebuild: bool = False

    @property
    def keys(self) -> dict[str, int]:
        return {"set_id": self.stored.id, "chart_id": self.chart.id}

    def run(self) -> ChartBuild:
        # The chart's load lock: no ingest writes its candles between our read and write.
        lock_build(self.conn, self.stored, self.chart.id)
        start = self.start()
        if start is _UP_TO_DATE:
            return ChartBuild(self.chart.id, None, 0, 0)
        first_read = read_start(self.conn, self.chart.id, start or blocks.EARLIEST, self.history)
        bars = chart_bars(self.conn, self.chart, self.features, first_read)
        if len(bars) == 0:
            self.conn.execute(QUERIES["drop_build"], self.keys)
            return ChartBuild(self.chart.id, start, 0, 0)
        values = computation.computed(self.features, bars, self.anchors(bars, start))
        vectors = computation.matrix(self.features, values)
        run = Run(bars.time, vectors).from_index(_first_new(bars.time, start))
        self.write(run, start, self.carried(values))
        computed_from = moment(run.time[0]) if len(run) else start
        return ChartBuild(self.chart.id, computed_from, len(run), len(bars))

    def start(self) -> datetime | None:
        """Where the build must start: None from the first bar, a time, or _UP_TO_DATE
        when the chart has no bar after its last built one and nothing is stale."""
        state = self.conn.execute(QUERIES["build_state"], self.keys).fetchone()
        if state is None or self.rebuild:
            return None
        first_bar, last_bar, stale_from = state
        if stale_from is not None:
            return None if stale_from <= first_bar else stale_from
        newer = self.conn.execute(QUERIES["first_bar_after"], {**self.keys, "last": last_bar})
        row = newer.fetchone()
        return row[0] if row and row[0] is not None else _UP_TO_DATE

    def anchors(self, bars: computation.ChartBars, start: datetime | None) -> dict[str, float]:
        """Stored values of the cumulative features at the first bar read, when it is
        one of the bars kept (before `start`)."""
        if start is None or bars.time[0] >= datetime64(start):
            return {}
        return stored_anchors(self.conn, self.stored, self.features, self.chart.id, bars)

    @property
    def width(self) -> int:
        return len(self.stored.columns)

    def carried(self, values: dict[str, computation.Floats]) -> bytes | None:
        """The state an increment continues from, when the set can be continued."""
        if not continuation.continuable(self.features):
            return None
        return packed_state(continuation.final_state(self.features, values))

    def write(self, run: Run, start: datetime | None, state: bytes | None) -> None:
        """Replace the values from `start` on with `run`, and note the chart's build."""
        set_id, chart_id = self.stored.id, self.chart.id
        blocks.cut_from(self.conn, set_id, chart_id, start or blocks.EARLIEST, self.width)
        if len(run):
            blocks.write_run(self.conn, set_id, chart_id, run)
        blocks.merge_tail(self.conn, set_id, chart_id, self.width)
        longer = self.features.longer_timeframes
        depends = sorted({longer_chart_id(self.conn, self.chart, tf) for tf in longer})
        params = {**self.keys, "depends_on": depends, "state": state}
        self.conn.execute(QUERIES["save_build"], params)


def stored_anchors(
    conn: Connection,
    stored: StoredSet,
    features: FeatureSet,
    chart_id: int,
    bars: computation.ChartBars,
) -> dict[str, float]:
    """The stored values of the set's cumulative features at the first of `bars`, when
    that bar is built: a computation from there is shifted onto them."""
    names = computation.cumulative_features(features)
    if not names or len(bars) == 0:
        return {}
    vector = blocks.vector_at(conn, stored.id, chart_id, moment(bars.time[0]), len(stored.columns))
    if vector is None:
        return {}
    return {name: float(vector[features.columns.index(name)]) for name in names}


def _first_new(time: np.ndarray, start: datetime | None) -> int:
    return 0 if start is None else int(np.searchsorted(time, datetime64(start)))
