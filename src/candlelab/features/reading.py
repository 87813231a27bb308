"""Reading a materialised feature set: the training matrix, a point-in-time join, and
the newest vector of a chart.

The matrix comes straight from the blocks: one bytea per ~2,048 bars is copied into a
NumPy array allocated once, so no Python object is made per bar or per value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from psycopg import sql

from candlelab.errors import DataError
from candlelab.features.blocks import Times, datetime64, moment, unpacked_times
from candlelab.features.registry import StoredSet
from candlelab.market.calendars import bar_ends
from candlelab.market.candles import packed_candles
from candlelab.market.timeframes import Timeframe
from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer, copied_rows, not_null
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]
Values = npt.NDArray[np.floating[Any]]  # float64 as stored, or float32 for training
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows by chart then time; `values` is (rows, columns) in the set's column order."""

    columns: tuple[str, ...]
    chart_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.datetime64]
    values: Values
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
    dtype: npt.DTypeLike = np.float64,
) -> FeatureMatrix:
    """The set's values for bars in [start, end) of the charts (all built ones if None),
    as stored (float64) or rounded to `dtype` (float32: as a training matrix holds them;
    a value beyond float32's range is refused)."""
    matrix = _read_blocks(url, stored, _where(stored.id, chart_ids, start, end), dtype)
    matrix = matrix.between(start, end)
    if not with_candles:
        return matrix
    stored_candles = block_candles(url, stored, chart_ids, start, end)
    if stored_candles is not None:
        return _beside(matrix, stored_candles)
    ids = chart_ids if chart_ids is not None else np.unique(matrix.chart_id).tolist()
    return _beside(matrix, packed_candles(url, ids, start, end))


def _read_blocks(url: str, stored: StoredSet, where: sql.Composable,
                 dtype: npt.DTypeLike) -> FeatureMatrix:  # fmt: skip
    """The blocks' bars by chart then time, in a result allocated once; the count and
    the blocks are read in one snapshot.

    Read in two parts on two connections sharing a snapshot, this was no faster (0.59 s
    against 0.58 s for 1.5M bars): one COPY already keeps the server and client busy
    at once, and a training read has the candles to read beside it."""
    width = len(stored.columns)
    with _snapshot(url) as conn:
        total = _bars(conn, where)
        matrix = FeatureMatrix(stored.columns, np.empty(total, dtype=np.int64),
                               np.empty(total, dtype="M8[us]"),
                               np.empty((total, width), dtype=dtype))  # fmt: skip
        _copy_blocks(conn, where, matrix)
    return matrix


@contextmanager
def _snapshot(url: str) -> Iterator[Connection]:
    """A connection whose transaction reads one snapshot: a count, then the rows it counted."""
    with connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield conn


def _bars(conn: Connection, where: sql.Composable) -> int:
    row = conn.execute(sql.SQL(QUERIES["count_bars"]).format(where=where)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _copy_blocks(conn: Connection, where: sql.Composable, matrix: FeatureMatrix) -> None:
    """The blocks into `matrix`'s rows by one binary COPY: each block's bytes go from the
    chunk the server sent straight into place."""
    filled = 0
    with conn.cursor().copy(sql.SQL(QUERIES["copy_blocks"]).format(where=where)) as copy:
        for fields in copied_rows(copy):
            chart_id, packed_times, vectors = not_null(fields)
            rows = slice(filled, filled + len(packed_times) // 8)
            matrix.time[rows] = unpacked_times(packed_times)
            matrix.chart_id[rows] = int.from_bytes(chart_id, "big", signed=True)
            put_vectors(matrix, rows, vectors)
            filled = rows.stop


def put_vectors(matrix: FeatureMatrix, rows: slice, vectors: memoryview) -> None:
    """A block's vectors into `matrix.values[rows]` (its chart and times already there),
    rounded to the matrix's type; refused where that overflows (a float32 matrix): the
    value would be read as infinite."""
    block = np.frombuffer(vectors, "<f8").reshape(rows.stop - rows.start, -1)
    try:
        with np.errstate(over="raise"):
            matrix.values[rows] = block
    except FloatingPointError:
        raise _beyond_range(matrix, rows, block) from None


def first_beyond(values: Values, dtype: npt.DTypeLike) -> tuple[int, ...] | None:
    """The index of the first finite value too large for `dtype` (it would overflow to
    infinity there), or None."""
    limit = float(np.finfo(dtype).max)
    found = np.argwhere(np.isfinite(values) & (np.abs(values) > limit))
    return tuple(int(i) for i in found[0]) if len(found) else None


def _beyond_range(matrix: FeatureMatrix, rows: slice, block: Floats) -> DataError:
    found = first_beyond(block, matrix.values.dtype)
    assert found is not None, "the cast overflowed"
    bar, column = found
    at = rows.start + bar
    return DataError(f"feature {matrix.columns[column]!r} of chart {matrix.chart_id[at]} at "
                     f"{moment(matrix.time[at]).isoformat()} is {block[bar, column]:g}, beyond "
                     f"float32's range (±{FLOAT32_MAX:.4g}), which models train and predict on: "
                     "rescale it in the feature set (a log, a ratio)")  # fmt: skip


def block_candles(
    url: str,
    stored: StoredSet,
    chart_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, npt.NDArray[Any]] | None:
    """The candles of the set's stored bars in [start, end), as `packed_candles` gives
    them (chart_id, time, OHLCV by chart then time), read from beside the blocks' values:
    those the values were computed from (a bar changed since marks the build stale, and
    training refuses a stale build). None when a block has none: the chart's candles in
    its range were not its bars when it was written."""
    where = _where(stored.id, chart_ids, start, end)
    with _snapshot(url) as conn:
        total = _bars(conn, where)
        ohlcv = np.empty((len(CANDLE_COLUMNS), total), dtype=np.float64)
        candles = {"chart_id": np.empty(total, np.int64), "time": np.empty(total, "M8[us]"),
                   **dict(zip(CANDLE_COLUMNS, ohlcv, strict=True))}  # fmt: skip
        if not _copy_candles(conn, where, candles, ohlcv):
            return None
    keep = in_range(candles["time"], start, end)
    return candles if keep.all() else {name: column[keep] for name, column in candles.items()}


CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")


def _copy_candles(conn: Connection, where: sql.Composable, candles: dict[str, npt.NDArray[Any]],
                  ohlcv: Floats) -> bool:  # fmt: skip
    """The blocks' candles into `candles` (OHLCV into the rows of `ohlcv`, column by
    column) by one binary COPY; False when a block has none. The COPY is read to its
    end either way: a connection leaves a COPY only when the server has finished it."""
    filled, whole = 0, True
    with conn.cursor().copy(sql.SQL(QUERIES["copy_block_candles"]).format(where=where)) as copy:
        for fields in copied_rows(copy):
            (chart_id, packed_times), packed = not_null(fields[:2]), fields[2]
            rows = slice(filled, filled + len(packed_times) // 8)
            whole = whole and packed is not None
            if packed is not None:
                ohlcv[:, rows] = np.frombuffer(packed, ">f8").reshape(-1, len(CANDLE_COLUMNS)).T
            candles["time"][rows] = unpacked_times(packed_times)
            candles["chart_id"][rows] = int.from_bytes(chart_id, "big", signed=True)
            filled = rows.stop
    return whole


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
    chart_ids: Sequence[int] | npt.NDArray[np.int64],
    times: Sequence[datetime] | npt.NDArray[np.datetime64],
) -> Floats:
    """For each (chart, time) row, the vector of the chart's last bar that had closed by
    that time (NaN where none had): a point-in-time join, like an entity frame's in Feast.

    Each row's bar is placed from the blocks' first bars and steps alone (only blocks of
    unevenly spaced bars have their times read), and its vector is cut out of its block
    by the server: the join reads ~one vector per row. Many rows are split by chart
    between two connections reading one snapshot, so that the server cuts on two cores."""
    join = _Join(stored, np.asarray(chart_ids, dtype=np.int64), np.asarray(times, "M8[us]"))
    if len(join.ids) == 0:
        return join.out
    first, *others = _parts_by_chart(join.ids)
    with connect(url) as conn, ThreadPoolExecutor(max_workers=1) as pool:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot is not None
        helpers = [pool.submit(join.run_in_snapshot, url, snapshot[0], rows) for rows in others]
        join.run(conn, first)
        for helper in helpers:
            helper.result()
    return join.out


# Below this many rows a second connection costs more than it saves.
PARALLEL_ROWS = 20_000
Rows = npt.NDArray[np.int64]
Places = tuple[Rows, Rows]  # (block, bar in it)


def _parts_by_chart(ids: Rows) -> list[Rows]:
    """The rows in two groups of about equal size, each chart's rows in one group (one
    group when they are few)."""
    if len(ids) < PARALLEL_ROWS:
        return [np.arange(len(ids))]
    charts, counts = np.unique(ids, return_counts=True)
    lower = charts[: int(np.searchsorted(np.cumsum(counts), len(ids) / 2)) + 1]
    in_lower = np.isin(ids, lower)
    return [np.flatnonzero(in_lower), np.flatnonzero(~in_lower)]


@dataclass(frozen=True)
class _Join:
    """A point-in-time join: its rows, and the result each part of them is written into
    (once per row: it starts empty, not NaN)."""

    stored: StoredSet
    ids: Rows
    at: Times
    out: Floats = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", np.empty((len(self.ids), len(self.stored.columns))))

    def run_in_snapshot(self, url: str, snapshot: str, rows: Rows) -> None:
        """`run` on a connection of its own that sees what the first one sees."""
        with connect(url) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            self.run(conn, rows)

    def run(self, conn: Connection, rows: Rows) -> None:
        """Join the given rows (their charts' rows all among them)."""
        if len(rows) == 0:
            return
        ids, at = self.ids[rows], self.at[rows]
        blocks = _Blocks.read(conn, self.stored, np.unique(ids), moment(at.max()))
        block, offset = blocks.last_closed(conn, ids, at)
        self.out[rows[block < 0]] = np.nan
        cuts, (source, copy) = _Cuts.of(block, offset, blocks.longest)
        if len(cuts.row):
            self.cut(conn, blocks, cuts, rows)
            self.out[rows[copy]] = self.out[rows[source]]

    def cut(self, conn: Connection, blocks: _Blocks, cuts: _Cuts, rows: Rows) -> None:
        """Cut the vectors into their rows (`rows[cuts.row]`). Their places go in by one
        binary COPY (no Python object per row); the vectors come back in pieces, each
        one bytea with the order its bars came in, put in place while the server cuts
        the next piece."""
        columns = [CopyColumn("bigint", np.arange(len(cuts.row), dtype=np.int64)),
                   CopyColumn("bigint", blocks.chart_id[cuts.block]),
                   CopyColumn("timestamptz", blocks.first[cuts.block].astype("M8[us]")),
                   CopyColumn("bigint", cuts.offset)]  # fmt: skip
        conn.execute(QUERIES["create_wanted_bars"])
        with conn.cursor().copy(QUERIES["copy_wanted_bars"]) as copy:
            copy.write(binary_copy_buffer(columns))
        params = {
            "set_id": self.stored.id,
            "width": len(self.stored.columns),
            "size": PIECE,
        }
        conn.execute(QUERIES["plan_vectors_at"])
        with conn.cursor(binary=True) as cursor:
            for order, packed in cursor.stream(QUERIES["vectors_at"], params):
                if order is not None:
                    n = np.frombuffer(order, ">i8")
                    self.out[rows[cuts.row[n]]] = np.frombuffer(packed, "<f8").reshape(len(n), -1)


# Bars cut per piece: a few MB, so that a piece is put in place while the next is cut.
PIECE = 8192


@dataclass(frozen=True)
class _Cuts:
    """The vectors to cut out of the blocks: each one's block, place in it, and the row
    of the result it goes to."""

    block: npt.NDArray[np.int64]
    offset: npt.NDArray[np.int64]
    row: Rows

    @classmethod
    def of(cls, block: Rows, offset: Rows, longest: int) -> tuple[_Cuts, tuple[Rows, Rows]]:
        """The cuts the rows' places need, and which rows then copy which (from, to):
        rows on one bar share its vector, cut once into the first of them (a daily
        feature joined onto minute rows is cut once per day, not per minute)."""
        known = np.flatnonzero(block >= 0)
        pairs, first, shared = np.unique(block[known] * longest + offset[known],
                                         return_index=True, return_inverse=True)  # fmt: skip
        cut_rows = known[first]
        source = cut_rows[shared]
        again = source != known
        cuts = cls(pairs // longest, pairs % longest, cut_rows)
        return cuts, (source[again], known[again])


@dataclass(frozen=True)
class _Blocks:
    """Some charts' stored blocks, by chart then first bar: each one's chart, first bar
    and step (µs since 1970; a step of 0: its bars are not evenly spaced) and bars."""

    set_id: int
    chart_id: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]
    step: npt.NDArray[np.int64]
    bars: npt.NDArray[np.int64]
    kinds: dict[int, tuple[str, str]]  # chart → (timeframe, timezone)

    @classmethod
    def read(
        cls, conn: Connection, stored: StoredSet, chart_ids: npt.NDArray[np.int64], until: datetime
    ) -> _Blocks:
        """The blocks starting by `until` (later bars cannot have closed by then)."""
        params = {"set_id": stored.id, "chart_ids": chart_ids.tolist(), "until": until}
        rows = conn.execute(QUERIES["block_index"], params).fetchall()
        charts, first, step, bars = np.array([row[:4] for row in rows], np.int64).reshape(-1, 4).T
        kinds = {int(row[0]): (row[4], row[5]) for row in rows}
        return cls(stored.id, charts, first, step, bars, kinds)

    @property
    def longest(self) -> int:
        return int(self.bars.max(initial=1))

    def last_closed(
        self, conn: Connection, ids: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> Places:
        """For each row, the place of its chart's last bar closed by its time ((-1, -1)
        when none had).

        That is the last bar opened by then, or the one before it if it was still open:
        a bar closes by the next one's open, so only that candidate needs its close."""
        block = self._block_of(ids, at)
        offset = np.full(len(ids), -1, dtype=np.int64)
        has = np.flatnonzero(block >= 0)
        offset[has], opened = self._last_opened(conn, block[has], at[has])
        still_open = has[self._ends(ids[has], opened) > at[has]]
        block[still_open], offset[still_open] = self._before(block[still_open],
                                                             offset[still_open])  # fmt: skip
        return block, offset

    def _block_of(
        self, ids: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> npt.NDArray[np.int64]:
        """Each row's chart's last block that starts at or before its time, or -1.

        One search over (chart, time) keys: a time stands for its rank among the blocks'
        first bars (how many start at or before it), which orders the pairs as the
        times do and fits an int64 for any times."""
        charts, chart_rank = np.unique(self.chart_id, return_inverse=True)
        if not len(charts):
            return np.full(len(ids), -1, dtype=np.int64)
        firsts = np.sort(self.first)
        width = len(firsts) + 1
        keys = chart_rank * width + np.searchsorted(firsts, self.first, side="right")
        row_chart = np.minimum(np.searchsorted(charts, ids), len(charts) - 1)
        row_keys = row_chart * width + np.searchsorted(firsts, _micros(at), side="right")
        block = np.searchsorted(keys, row_keys, side="right") - 1
        found = (block >= 0) & (self.chart_id[block] == ids)
        return np.where(found, block, -1)

    def _last_opened(
        self, conn: Connection, block: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
        """The place in its block of each row's last bar opened at or before its time (the
        block starts by then), and that bar's open: by arithmetic where the block's bars
        are evenly spaced, by a search in its times where not."""
        first, step, bars = self.first[block], self.step[block], self.bars[block]
        offset = np.zeros(len(block), dtype=np.int64)
        even = step > 0
        offset[even] = (_micros(at[even]) - first[even]) // step[even]
        offset = np.minimum(offset, bars - 1)
        opened = (first + offset * step).astype("M8[us]")  # a block of one bar: its first
        uneven = np.flatnonzero(~even & (bars > 1))
        if len(uneven):
            offset[uneven], opened[uneven] = self._searched(conn, block[uneven], at[uneven])
        return offset, opened

    def _searched(
        self, conn: Connection, block: npt.NDArray[np.int64], at: npt.NDArray[np.datetime64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.datetime64]]:
        """`_last_opened` in blocks of unevenly spaced bars: their times are read (only
        those of the blocks the rows fall in) and searched, block by block."""
        touched, groups = np.unique(block, return_inverse=True)
        order = np.argsort(groups, kind="stable")
        cuts = np.searchsorted(groups[order], np.arange(1, len(touched)))
        offset = np.empty(len(block), dtype=np.int64)
        opened = np.empty(len(block), dtype="M8[us]")
        for rows, times in zip(np.split(order, cuts), self._times(conn, touched), strict=True):
            offset[rows] = np.searchsorted(times, at[rows], side="right") - 1
            opened[rows] = times[offset[rows]]
        return offset, opened

    def _times(self, conn: Connection, blocks: npt.NDArray[np.int64]) -> list[Times]:
        """The bar opens of some blocks, in their order."""
        params = {"set_id": self.set_id, "chart_ids": self.chart_id[blocks].tolist(),
                  "firsts": [moment(t) for t in self.first[blocks].astype("M8[us]")]}  # fmt: skip
        with conn.cursor(binary=True) as cursor:
            rows = cursor.execute(QUERIES["block_times"], params).fetchall()
        return [unpacked_times(row[0]) for row in rows]

    def _ends(
        self, ids: npt.NDArray[np.int64], opened: npt.NDArray[np.datetime64]
    ) -> npt.NDArray[np.datetime64]:
        """The closes of bars opened at the given times, per (timeframe, timezone) at once."""
        ends = np.empty(len(opened), dtype="M8[us]")
        charts_of: dict[tuple[str, str], list[int]] = {}
        for chart_id in np.unique(ids).tolist():
            charts_of.setdefault(self.kinds[chart_id], []).append(chart_id)
        for (timeframe, timezone), charts in charts_of.items():
            rows = np.flatnonzero(np.isin(ids, charts))
            ends[rows] = bar_ends(Timeframe.parse(timeframe), timezone, opened[rows])
        return ends

    def _before(self, block: npt.NDArray[np.int64], offset: npt.NDArray[np.int64]) -> Places:
        """The place of the bar before each one: in the same block, else the last bar of
        the block before it if that is of the same chart, else (-1, -1)."""
        previous = np.maximum(block - 1, 0)
        same_chart = (block > 0) & (self.chart_id[previous] == self.chart_id[block])
        at_start = offset == 0
        block = np.where(at_start, np.where(same_chart, previous, -1), block)
        last = np.where(same_chart, self.bars[previous] - 1, -1)
        return block, np.where(at_start, last, offset - 1)


def _micros(times: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    return times.astype("M8[us]").astype(np.int64)


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
