"""Reading a materialised feature set: the training matrix, a point-in-time join, and
the newest vector of a chart.

The matrix comes straight from the blocks: one bytea per ~2,048 bars is copied into a
NumPy array allocated once, so no Python object is made per bar or per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from psycopg import sql

from candlelab.features.blocks import datetime64, moment, unpacked_times
from candlelab.features.registry import StoredSet
from candlelab.market.calendars import bar_ends
from candlelab.market.candles import CORE_COLUMNS, candle_arrays, read_candles
from candlelab.market.timeframes import Timeframe
from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows by chart then time; `values` is (rows, columns) in the set's column order."""

    columns: tuple[str, ...]
    chart_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.datetime64]
    values: Floats
    candles: dict[str, npt.NDArray[Any]] | None = None

    def __len__(self) -> int:
        return len(self.time)

    def between(self, start: datetime | None, end: datetime | None) -> FeatureMatrix:
        """The rows of bars in [start, end); itself when that is every row."""
        keep = in_range(self.time, start, end)
        if keep.all():
            return self
        candles = {k: v[keep] for k, v in self.candles.items()} if self.candles else None
        return FeatureMatrix(self.columns, self.chart_id[keep], self.time[keep],
                             self.values[keep], candles)  # fmt: skip

    def to_arrow(self) -> pa.Table:
        """chart_id, time (UTC), the candle columns when read, then one column per feature."""
        table: dict[str, Any] = {
            "chart_id": self.chart_id,
            "time": pa.array(self.time, pa.timestamp("us", "UTC")),
        }
        for name, column in (self.candles or {}).items():
            if name not in table:
                table[name] = column
        for j, name in enumerate(self.columns):
            table[name] = self.values[:, j]
        return pa.table(table)


def read_features(
    url: str,
    stored: StoredSet,
    chart_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    with_candles: bool = False,
) -> FeatureMatrix:
    """The set's values for bars in [start, end) of the charts (all built ones if None)."""
    with connect(url) as conn:
        matrix = _read_blocks(conn, stored, chart_ids, start, end)
    if not with_candles:
        return matrix
    candles = candle_arrays(read_candles(url, chart_ids, start, end, CORE_COLUMNS))
    return _beside(matrix, candles)


def _read_blocks(
    conn: Connection, stored: StoredSet, chart_ids: Sequence[int] | None,
    start: datetime | None, end: datetime | None,
) -> FeatureMatrix:  # fmt: skip
    width = len(stored.columns)
    where = _where(stored.id, chart_ids, start, end)
    row = conn.execute(sql.SQL(QUERIES["count_bars"]).format(where=where)).fetchone()
    total = int(row[0]) if row and row[0] is not None else 0
    values = np.empty((total, width), dtype=np.float64)
    times = np.empty(total, dtype="M8[us]")
    charts = np.empty(total, dtype=np.int64)
    filled = 0
    with conn.cursor(name="feature_blocks", binary=True) as cursor:
        cursor.itersize = 64
        for chart_id, packed_times, vectors in cursor.execute(
            sql.SQL(QUERIES["read_blocks"]).format(where=where)
        ):
            bars = len(packed_times) // 8
            values[filled : filled + bars] = np.frombuffer(vectors, "<f8").reshape(bars, width)
            times[filled : filled + bars] = unpacked_times(packed_times)
            charts[filled : filled + bars] = chart_id
            filled += bars
    return FeatureMatrix(stored.columns, charts, times, values).between(start, end)


def _where(
    set_id: int, chart_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> sql.Composable:
    """Blocks that hold bars in the range: the bounds are cut exactly after reading."""
    parts: list[sql.Composable] = [sql.SQL("feature_set_id = {}").format(sql.Literal(set_id))]
    if chart_ids is not None:
        parts.append(sql.SQL("chart_id = ANY({}::bigint[])").format(sql.Literal(list(chart_ids))))
    if start is not None:
        parts.append(sql.SQL("last_time >= {}").format(sql.Literal(start)))
    if end is not None:
        parts.append(sql.SQL("first_time < {}").format(sql.Literal(end)))
    return sql.SQL(" AND ").join(parts)


def in_range(
    times: npt.NDArray[np.datetime64], start: datetime | None, end: datetime | None
) -> npt.NDArray[np.bool_]:
    """Which times lie in [start, end) (an open bound takes every time)."""
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= datetime64(start)
    if end is not None:
        keep &= times < datetime64(end)
    return keep


def _beside(matrix: FeatureMatrix, candles: dict[str, npt.NDArray[Any]]) -> FeatureMatrix:
    """The candles of the matrix's rows, aligned by (chart, time); both come sorted so, and
    are usually the same rows (a chart's bars are all built)."""
    chart, time = candles["chart_id"], candles["time"]
    if np.array_equal(chart, matrix.chart_id) and np.array_equal(time, matrix.time):
        return FeatureMatrix(matrix.columns, matrix.chart_id, matrix.time, matrix.values, candles)
    index = np.empty(len(matrix), dtype=np.int64)
    for chart_id in np.unique(matrix.chart_id).tolist():
        rows = slice(*np.searchsorted(matrix.chart_id, [chart_id, chart_id + 1]).tolist())
        first, last = np.searchsorted(chart, [chart_id, chart_id + 1]).tolist()
        found = np.searchsorted(time[first:last], matrix.time[rows]) + first
        if np.any(found >= last) or np.any(time[np.minimum(found, last - 1)] != matrix.time[rows]):
            raise ValueError(f"chart {chart_id}: feature values for bars that are not stored; "
                             "build the set again")  # fmt: skip
        index[rows] = found
    aligned = {name: column[index] for name, column in candles.items()}
    return FeatureMatrix(matrix.columns, matrix.chart_id, matrix.time, matrix.values, aligned)


def features_as_of(
    url: str,
    stored: StoredSet,
    chart_ids: Sequence[int],
    times: Sequence[datetime] | npt.NDArray[np.datetime64],
) -> Floats:
    """For each (chart, time) row, the vector of the chart's last bar that had closed by
    that time (NaN where none had): a point-in-time join, like an entity frame's in Feast.

    Only the blocks' bar times are read whole; the vectors the rows need are cut out of
    their blocks by the server, each once, so the join reads ~one vector per row instead
    of every block up to the newest time asked. Many rows are split by chart between two
    connections reading one snapshot, so that the server cuts on two cores."""
    ids = np.asarray(chart_ids, dtype=np.int64)
    at = np.asarray(times, dtype="M8[us]")
    out = np.full((len(ids), len(stored.columns)), np.nan)
    if len(ids) == 0:
        return out
    first, *others = _halves_by_chart(ids) if len(ids) >= PARALLEL_ROWS else [np.arange(len(ids))]
    with connect(url) as conn, ThreadPoolExecutor(max_workers=1) as pool:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot is not None
        helpers = [pool.submit(_as_of_in_snapshot, url, snapshot[0], stored, ids[rows], at[rows])
                   for rows in others]  # fmt: skip
        out[first] = _as_of(conn, stored, ids[first], at[first])
        for rows, helper in zip(others, helpers, strict=True):
            out[rows] = helper.result()
    return out


# Below this many rows a second connection costs more than it saves.
PARALLEL_ROWS = 20_000


def _halves_by_chart(ids: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """The rows in two groups of about equal size, each chart's rows in one group."""
    charts, counts = np.unique(ids, return_counts=True)
    lower = charts[: int(np.searchsorted(np.cumsum(counts), len(ids) / 2)) + 1]
    in_lower = np.isin(ids, lower)
    return [np.flatnonzero(in_lower), np.flatnonzero(~in_lower)]


def _as_of_in_snapshot(
    url: str, snapshot: str, stored: StoredSet, ids: npt.NDArray[np.int64],
    at: npt.NDArray[np.datetime64],
) -> Floats:  # fmt: skip
    """`_as_of` on a connection of its own that sees what the first one sees."""
    with connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        return _as_of(conn, stored, ids, at)


def _as_of(
    conn: Connection, stored: StoredSet, ids: npt.NDArray[np.int64],
    at: npt.NDArray[np.datetime64],
) -> Floats:  # fmt: skip
    out = np.full((len(ids), len(stored.columns)), np.nan)
    if len(ids) == 0:
        return out
    bars = _StoredBars.read(conn, stored, np.unique(ids), moment(at.max()))
    closed = bars.last_closed(ids, at)
    known = closed >= 0
    wanted, rows = np.unique(closed[known], return_inverse=True)
    out[known] = _vectors_at(conn, stored, bars, wanted)[rows]
    return out


@dataclass(frozen=True)
class _StoredBars:
    """The stored bars of some charts by chart then open, and where each one's vector
    lies: its block (an index into `block_chart`/`block_first`) and its place in it."""

    chart_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.datetime64]
    block: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    block_chart: list[int]
    block_first: list[datetime]
    kinds: dict[int, tuple[str, str]]  # chart → (timeframe, timezone)

    @classmethod
    def read(
        cls, conn: Connection, stored: StoredSet, chart_ids: npt.NDArray[np.int64], until: datetime
    ) -> _StoredBars:
        """The bars opened by `until` (later ones cannot have closed by then)."""
        params = {"set_id": stored.id, "chart_ids": chart_ids.tolist(), "until": until}
        with conn.cursor(binary=True) as cursor:
            rows = cursor.execute(QUERIES["block_times"], params).fetchall()
        opens = [unpacked_times(row[2]) for row in rows]
        sizes = np.array([len(o) for o in opens], dtype=np.int64)
        block = np.repeat(np.arange(len(rows)), sizes)
        offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        charts = [int(row[0]) for row in rows]
        time = np.concatenate(opens) if opens else np.empty(0, "M8[us]")
        kinds = {int(row[0]): (row[3], row[4]) for row in rows}
        return cls(np.repeat(np.array(charts, dtype=np.int64), sizes), time, block, offset,
                   charts, [row[1] for row in rows], kinds)  # fmt: skip

    def last_closed(
        self, ids: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> npt.NDArray[np.int64]:
        """For each row, the index of its chart's last bar closed by its time, or -1.

        That is the last bar opened by then, or the one before it if it was still open:
        a bar closes by the next one's open, so only those candidates need their close."""
        first, candidate = self._last_opened(ids, at)
        has = candidate >= 0
        ends = self._ends(ids[has], candidate[has])
        back = np.flatnonzero(has)[ends > at[has]]
        candidate[back] -= 1
        candidate[candidate < first] = -1
        return candidate

    def _last_opened(
        self, ids: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each row's chart's first bar, and its last bar opened at or before its time."""
        charts, bounds = self._charts()
        if not len(charts):
            return np.full(len(ids), -1), np.full(len(ids), -1)
        rank = np.minimum(np.searchsorted(charts, ids), len(charts) - 1)
        found = charts[rank] == ids
        first = np.where(found, bounds[rank], -1)
        last = np.where(found, bounds[rank + 1], -1)
        keyed = self._keys(rank, at, bounds)
        if keyed is None:
            candidate = self._last_opened_by_chart(ids, at, first, last)
        else:  # one search over (chart, time) keys, the rows in order: the bars are too
            order = np.argsort(keyed[1])
            candidate = np.empty(len(ids), dtype=np.int64)
            candidate[order] = np.searchsorted(keyed[0], keyed[1][order], side="right") - 1
        candidate[(candidate < first) | (candidate >= last)] = -1  # none, or no such chart
        return first, candidate

    def _charts(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The charts in order, and where each one's bars start (then the end); none
        when there are no bars."""
        if not len(self.chart_id):
            return self.chart_id, np.zeros(1, dtype=np.int64)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(self.chart_id)) + 1])
        return self.chart_id[starts], np.concatenate([starts, [len(self.chart_id)]])

    def _keys(
        self, rank: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64],
        bounds: npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:  # fmt: skip
        """(chart, time) as one int64 each, for the bars and for the rows (`rank`: the
        place of each row's chart in `_charts`, whose `bounds` these are), ordered as the
        pairs are; None when the span of times is too wide for that (years 1 to 9999)."""
        bars, rows = self.time.astype(np.int64), at.astype("M8[us]").astype(np.int64)
        charts = len(bounds) - 1
        low = min(int(bars.min()), int(rows.min()))
        span = max(int(bars.max()), int(rows.max())) - low + 1
        if span * (charts + 1) >= 2**62:
            return None
        bar_rank = np.repeat(np.arange(charts, dtype=np.int64), np.diff(bounds))
        return bar_rank * span + (bars - low), rank * span + (rows - low)

    def _last_opened_by_chart(
        self, ids: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64],
        first: npt.NDArray[np.int64], last: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:  # fmt: skip
        candidate = np.full(len(ids), -1, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        cuts = np.flatnonzero(np.diff(ids[order])) + 1
        for rows in np.split(order, cuts):
            lo, hi = first[rows[0]], last[rows[0]]
            candidate[rows] = lo + np.searchsorted(self.time[lo:hi], at[rows], side="right") - 1
        return candidate

    def _ends(
        self, ids: npt.NDArray[np.int64], bars: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.datetime64]:
        """The closes of the given bars, computed per (timeframe, timezone) at once."""
        ends = np.empty(len(bars), dtype="M8[us]")
        charts_of: dict[tuple[str, str], list[int]] = {}
        for chart_id in np.unique(ids).tolist():
            charts_of.setdefault(self.kinds[chart_id], []).append(chart_id)
        for (timeframe, timezone), charts in charts_of.items():
            rows = np.flatnonzero(np.isin(ids, charts))
            ends[rows] = bar_ends(Timeframe.parse(timeframe), timezone, self.time[bars[rows]])
        return ends


def _vectors_at(
    conn: Connection, stored: StoredSet, bars: _StoredBars, wanted: npt.NDArray[np.int64]
) -> Floats:
    """The vectors of the wanted bars (indexes into `bars`), in that order: their places
    go in by one binary COPY (no Python object per row), the vectors come back as one
    bytea with the order they came in."""
    firsts = np.array([datetime64(first) for first in bars.block_first], dtype="M8[us]")
    blocks = bars.block[wanted]
    columns = [CopyColumn("bigint", np.arange(len(wanted), dtype=np.int64)),
               CopyColumn("bigint", np.asarray(bars.block_chart, dtype=np.int64)[blocks]),
               CopyColumn("timestamptz", firsts[blocks]),
               CopyColumn("bigint", bars.offset[wanted])]  # fmt: skip
    conn.execute(QUERIES["create_wanted_bars"])
    with conn.cursor().copy(QUERIES["copy_wanted_bars"]) as copy:
        copy.write(binary_copy_buffer(columns))
    with conn.cursor(binary=True) as cursor:
        row = cursor.execute(QUERIES["vectors_at"], {"set_id": stored.id}).fetchone()
    order, packed = (row[0], row[1]) if row and row[0] is not None else (b"", b"")
    vectors = np.full((len(wanted), len(stored.columns)), np.nan)
    vectors[np.frombuffer(order, ">i8")] = np.frombuffer(packed, "<f8").reshape(
        -1, len(stored.columns)
    )
    return vectors


def latest_vector(
    conn: Connection, stored: StoredSet, chart_id: int
) -> tuple[datetime, Floats] | None:
    """The newest stored vector of a chart and its bar's open; None when none is built.

    The server cuts the one vector out of the chart's last block, on a kept-open
    connection with a prepared statement: what prediction calls per request.
    """
    params = {"set_id": stored.id, "chart_id": chart_id}
    row = conn.execute(QUERIES["latest_vector"], params, prepare=True).fetchone()
    if row is None:
        return None
    return row[0], np.frombuffer(row[1], "<f8").copy()
