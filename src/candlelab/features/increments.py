"""Increments: the charts of a build that only gained bars, continued together.

A chart whose build is current (nothing stale) and carries its recursive indicators'
state needs only its last `continuation.window` built bars and the new ones. Reading
them chart by chart, computing chart by chart, would cost more in round trips and
per-call overhead than the few values are worth, so all such charts are read in one
snapshot (three statements), computed by `continuation.Batch` (charts of the same shape
at once), and then written each in its own transaction, as every build writes: under
the chart's load lock and build lock, and only if the build and the new bars are still
what was read (its last bar and stale mark, a digest of the new bars); a chart that
changed meanwhile is left to the chart-by-chart build, which reads under the lock.
The server does all of this (`append_feature_increments`, store/schema.py): one CALL
writes a batch of charts, committing after each, so a build no longer waits for a round
trip per chart (or three: the lock, the write, the commit); and a thread makes that call
for one batch while the next is computed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import sql

from candlelab.features import blocks, continuation
from candlelab.features.bars import column_names, packed_terms, unpacked
from candlelab.features.blocks import FULL_BLOCK, MAX_TAIL, Floats, Times, datetime64, moment
from candlelab.features.builds import ChartBuild, lock_build, packed_state, unpacked_state
from candlelab.features.definitions import FeatureSet
from candlelab.features.registry import LOCK_CLASS, StoredSet
from candlelab.market.candles import LOCK_CLASS as LOAD_LOCK_CLASS
from candlelab.market.charts import Chart
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Progress = Callable[[ChartBuild], None]
# Charts per CALL (~200 KB of parameters for a one-bar increment): small enough that the
# last batch's write, which nothing overlaps, is short.
WRITE_BATCH = 200


@dataclass
class _Chart:
    """One chart's increment: what was read of it, then what was computed."""

    chart: Chart
    new_bars: int
    last_bar: datetime
    newest: datetime
    digest: str
    state: Floats
    short_blocks: int
    time: Times = field(default_factory=lambda: np.empty(0, "M8[us]"))
    columns: dict[str, Floats] = field(default_factory=dict)
    stored: Floats = field(default_factory=lambda: np.empty((0, 0)))
    vectors: Floats = field(default_factory=lambda: np.empty((0, 0)))
    new_state: Floats = field(default_factory=lambda: np.empty(0))

    def shape(self) -> tuple[int, int, str, str, str]:
        """Charts of equal shape are computed as one batch."""
        return (len(self.stored), self.new_bars, self.chart.timeframe, self.chart.timezone,
                self.chart.calendar)  # fmt: skip


def build_increments(
    conn: Connection,
    stored: StoredSet,
    features: FeatureSet,
    charts: Sequence[Chart],
    progress: Progress | None = None,
) -> tuple[list[ChartBuild], list[Chart]]:
    """Continue the charts that only gained bars (and report those with nothing to do);
    return what was done and the charts left for the chart-by-chart build."""
    if not continuation.continuable(features) or not charts:
        return [], list(charts)
    done, pending = _read(conn, stored, features, charts)
    done += _continued_and_written(conn, stored, features, pending)
    written = [d for d in done if d is not None]
    if progress:
        for each in written:
            progress(each)
    finished = {d.chart_id for d in written}
    return written, [c for c in charts if c.id not in finished]


def _read(
    conn: Connection, stored: StoredSet, features: FeatureSet, charts: Sequence[Chart]
) -> tuple[list[ChartBuild | None], list[_Chart]]:
    """In one snapshot: the charts with nothing new (done), and those to continue with
    their bars and stored vectors."""
    by_id = {c.id: c for c in charts}
    window = continuation.window(features)
    params = {"set_id": stored.id, "chart_ids": list(by_id), "window": window,
              "state_size": _state_size(features), "full": FULL_BLOCK}  # fmt: skip
    with conn.transaction(), conn.cursor(binary=True) as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # Row estimates per chart are far off (a range after the last built bar), and
        # compiling these short queries took longer than running them.
        cursor.execute("SET LOCAL jit = off")
        rows = cursor.execute(QUERIES["increment_charts"], params).fetchall()
        done: list[ChartBuild | None] = [ChartBuild(r[0], None, 0, 0) for r in rows if r[1] == 0]
        pending = [_candidate(by_id[r[0]], r) for r in rows if r[1] > 0]
        _read_bars(cursor, features, pending, window)
        _read_vectors(cursor, stored, pending, window)
    return done, [p for p in pending if _aligned(p)]


def _state_size(features: FeatureSet) -> int:
    return sum(slot.size for slot in continuation.slots(features))


def _candidate(chart: Chart, row: tuple[Any, ...]) -> _Chart:
    _, new_bars, last_bar, newest, digest, state, short_blocks = row
    return _Chart(chart, int(new_bars), last_bar, newest, digest, unpacked_state(state),
                  int(short_blocks))  # fmt: skip


def _read_bars(cursor: Any, features: FeatureSet, pending: list[_Chart], window: int) -> None:
    """Each chart's last `window` built bars and its new ones, packed by the server."""
    names = column_names(features)
    query = sql.SQL(QUERIES["increment_bars"]).format(columns=packed_terms(names))
    params = {"chart_ids": [p.chart.id for p in pending], "window": window,
              "lasts": [p.last_bar for p in pending],
              "newest": [p.newest for p in pending]}  # fmt: skip
    packed = {row[0]: row[1] for row in cursor.execute(query, params).fetchall()}
    for each in pending:
        each.time, each.columns = unpacked(packed[each.chart.id], names)


def _read_vectors(cursor: Any, stored: StoredSet, pending: list[_Chart], window: int) -> None:
    """Each chart's stored vectors of its last `window` built bars, cut out of its last
    blocks by the server."""
    params = {"set_id": stored.id, "chart_ids": [p.chart.id for p in pending], "window": window}
    pieces: dict[int, list[bytes]] = defaultdict(list)
    for chart_id, vectors in cursor.execute(QUERIES["increment_vectors"], params).fetchall():
        pieces[chart_id].append(vectors)
    width = len(stored.columns)
    for each in pending:
        each.stored = np.frombuffer(b"".join(pieces[each.chart.id]), "<f8").reshape(-1, width)


def _aligned(each: _Chart) -> bool:
    """Whether the stored vectors are those of the built bars read (always, unless the
    blocks were edited by hand): a chart that is not is built chart by chart."""
    built = len(each.time) - each.new_bars
    return 0 < built == len(each.stored) and each.time[built - 1] == datetime64(each.last_bar)


def _batches(pending: list[_Chart]) -> list[list[_Chart]]:
    groups: dict[tuple[int, int, str, str, str], list[_Chart]] = defaultdict(list)
    for each in pending:
        groups[each.shape()].append(each)
    return list(groups.values())


def _continue(features: FeatureSet, charts: list[_Chart]) -> None:
    first = charts[0]
    batch = continuation.Batch(
        time=np.stack([c.time for c in charts]),
        columns={name: np.stack([c.columns[name] for c in charts]) for name in first.columns},
        stored=np.stack([c.stored for c in charts]),
        state=np.stack([c.state for c in charts]),
        timeframe=Timeframe.parse(first.chart.timeframe),
        timezone=first.chart.timezone,
        calendar=first.chart.calendar,
    )
    vectors, states = continuation.continue_batch(features, batch)
    for i, each in enumerate(charts):
        each.vectors, each.new_state = vectors[i], states[i]


def _continued_and_written(
    conn: Connection, stored: StoredSet, features: FeatureSet, pending: list[_Chart]
) -> list[ChartBuild | None]:
    """Compute the charts a batch at a time, each batch appended by a thread while the
    next is computed (the server writes on one core while NumPy and TA-Lib compute on the
    other); then merge the short blocks of those that pass MAX_TAIL."""
    appended: list[bool] = []
    with _autocommit(conn), ThreadPoolExecutor(max_workers=1) as writer:
        writing: Future[list[bool]] | None = None
        for start in range(0, len(pending), WRITE_BATCH):
            batch = pending[start : start + WRITE_BATCH]
            for same_shape in _batches(batch):
                _continue(features, same_shape)
            appended += writing.result() if writing else []
            writing = writer.submit(_append, conn, stored, batch)
        appended += writing.result() if writing else []
    _merge_tails(conn, stored, [each for each, done in zip(pending, appended, strict=True) if done])
    return [_built(each) if done else None for each, done in zip(pending, appended, strict=True)]


def _append(conn: Connection, stored: StoredSet, batch: list[_Chart]) -> list[bool]:
    """Append each chart's new bars and note its build, each chart in its own transaction,
    if the build and the bars are still what was read: whether each was written."""
    row = conn.execute(QUERIES["append_increments"], _appended(stored, batch)).fetchone()
    return list(row[0]) if row else []


def _merge_tails(conn: Connection, stored: StoredSet, written: list[_Chart]) -> None:
    """Merge, each in a transaction of its own, the short blocks of the charts whose
    new block took them past MAX_TAIL."""
    for each in written:
        if each.short_blocks + 1 > MAX_TAIL:
            with conn.transaction():
                lock_build(conn, stored, each.chart.id)
                blocks.merge_tail(conn, stored.id, each.chart.id, len(stored.columns))


@contextmanager
def _autocommit(conn: Connection) -> Iterator[None]:
    """The connection outside any transaction block, where a procedure may commit."""
    was = conn.autocommit
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed:
            conn.autocommit = was


def _built(each: _Chart) -> ChartBuild:
    new = each.time[len(each.stored) :]
    return ChartBuild(each.chart.id, moment(new[0]), len(new), len(each.time))


def _appended(stored: StoredSet, pending: list[_Chart]) -> dict[str, object]:
    """The charts' new blocks and states as arrays, chart by chart. NaN counts per column
    as their distinct rows (`width` each, end to end: the new bars of most charts have
    NaN in the same columns) and each chart's row among them, from 1: a count per chart
    and column took 15 ms for 1,000 charts to send."""
    new = [each.time[len(each.stored) :] for each in pending]
    vectors = [np.ascontiguousarray(each.vectors, dtype="<f8") for each in pending]
    counts = np.stack([np.isnan(v).sum(axis=0) for v in vectors])
    rows, row = np.unique(counts, axis=0, return_inverse=True)
    return {
        "load_class": LOAD_LOCK_CLASS, "lock_class": LOCK_CLASS, "set_id": stored.id,
        "chart_ids": [each.chart.id for each in pending],
        "lasts": [each.last_bar for each in pending],
        "newest": [each.newest for each in pending],
        "digests": [each.digest for each in pending],
        "firsts": [moment(times[0]) for times in new], "bars": [len(times) for times in new],
        "width": len(stored.columns), "times": [blocks.packed_times(times) for times in new],
        "steps": [blocks.step_us(times) for times in new],
        "vectors": [v.tobytes() for v in vectors], "nan_rows": rows.ravel().tolist(),
        "nan_row": (row.ravel() + 1).tolist(),
        "states": [packed_state(each.new_state) for each in pending],
    }  # fmt: skip
