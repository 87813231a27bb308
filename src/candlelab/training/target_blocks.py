"""Target blocks: a target's values kept beside the feature blocks, computed by the first
training set that needs them and read with the features and candles by the next ones.

A triple-barrier or forward-return value at a bar depends on the chart's bars alone: those
after it up to the horizon, and through the ATR every bar before it. The bars a training
set reads are those stored beside its feature blocks (`feature_blocks.candles`), so the
values are kept per feature block and target version in `target_blocks`, and a trigger on
`feature_blocks` deletes the kept values that a block written, changed or deleted could
change (store/schema.py: from its first bar on, those that looked at its bars, those
whose horizon ran past the chart's end). Bars corrected, backfilled or appended reach the
blocks only through a build, which writes blocks: until then the build is stale or behind,
and training refuses it.

Values of a spans target depend on the labels and are not kept; nor are those of a time
range (its first bar starts the ATR, its end cuts the horizons). A chart with a block not
kept is computed whole, and its missing blocks written under the chart's build lock, only
if its blocks are still those read: a build that ran in between voided the values before
they were written, so its trigger could not.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np

from candlelab.features.blocks import moment, unpacked_times
from candlelab.features.reading import CANDLE_COLUMNS, FeatureMatrix, put_vectors
from candlelab.features.registry import LOCK_CLASS, StoredSet
from candlelab.store.binary_copy import (
    CopyColumn,
    Field,
    binary_copy_buffer,
    copied_rows,
    not_null,
)
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.barriers import Flags, Floats, Ints, Prices, chart_ends
from candlelab.training.candle_digests import candles_digest
from candlelab.training.estimators import MATRIX
from candlelab.training.target_values import TargetValues, market_classes, target_values
from candlelab.training.targets import TargetDefinition

QUERIES = load_queries(__file__)
# The version of what barriers.py and target_values.py compute: raised when a change
# changes a value, so that values kept before are not read again.
FORMULA = 1
# Per bar: y, the long and the short result (float64), judged_to as bars after the bar
# (int32), ambiguous (uint8); a block packs each column after the other.
PACKED_BYTES = 29
# Charts written per transaction: each holds its chart's advisory lock until it commits,
# and the server's lock table is shared (64 locks per connection by default).
WRITE_CHARTS = 200


def kept_for(target: TargetDefinition, start: datetime | None, end: datetime | None) -> bool:
    """Whether the target's values over the range are kept: a target of the market (not
    spans) over whole charts."""
    return target.kind != "spans" and start is None and end is None


@dataclass(frozen=True)
class KeptSet:
    """A training set read with its target's values: the matrix (as `read_features` gives
    it, without candles), the values, and the digest of the bars' candles."""

    matrix: FeatureMatrix
    values: TargetValues
    candles_digest: str


def kept_training_set(
    url: str, stored: StoredSet, chart_ids: Sequence[int], target: TargetDefinition
) -> KeptSet | None:
    """The set's values on the charts, the target's values there (those kept, the others
    computed and kept) and the digest of their candles, from the blocks' hash sums. None
    when a block has no candles (its build went stale)."""
    read = _read(url, stored, chart_ids, target)
    if read is None:
        return None
    missing = np.unique([b.chart_id for b in read.blocks if not b.kept])
    if len(missing):
        _compute_and_keep(url, stored, target, read, missing)
    blocks = read.blocks
    digest = candles_digest(np.array([b.chart_id for b in blocks], dtype=np.int64),
                            np.array([b.bars for b in blocks], dtype=np.int64),
                            [b.hash for b in blocks])  # fmt: skip
    return KeptSet(read.matrix, read.bars.values(target), digest)


def _compute_and_keep(url: str, stored: StoredSet, target: TargetDefinition, read: _Read,
                      charts: Ints) -> None:  # fmt: skip
    """The charts' values, WRITE_CHARTS charts at a time, each batch kept by a thread
    while the next is computed (the server takes it in on the other core)."""
    with connect(url) as conn, ThreadPoolExecutor(max_workers=1) as writer:
        writing: Future[None] | None = None
        for start in range(0, len(charts), WRITE_CHARTS):
            batch = charts[start : start + WRITE_CHARTS]
            read.compute(target, batch)
            if writing is not None:
                writing.result()
            writing = writer.submit(_keep, conn, stored, target, read, batch)
        if writing is not None:
            writing.result()


class _Block(NamedTuple):
    """A block read: its chart, first row and bars in the read, row version (xmin),
    whether its values were kept, and its candles' hash sums."""

    chart_id: int
    first: int
    bars: int
    version: int
    kept: bool
    hash: bytes

    @property
    def rows(self) -> slice:
        return slice(self.first, self.first + self.bars)


@dataclass(frozen=True)
class _Bars:
    """The target's values on every bar read, filled block by block."""

    y: Floats
    long: Floats
    short: Floats
    judged_to: Ints
    ambiguous: Flags

    @classmethod
    def empty(cls, total: int) -> _Bars:
        return cls(np.empty(total), np.empty(total), np.empty(total),
                   np.empty(total, dtype=np.int64), np.empty(total, dtype=bool))  # fmt: skip

    def unpack(self, rows: slice, packed: Field) -> bool:
        """A block's kept values into its rows; False when there are none to take."""
        n = rows.stop - rows.start
        if packed is None or len(packed) != PACKED_BYTES * n:
            return False
        for i, column in enumerate((self.y, self.long, self.short)):
            column[rows] = np.frombuffer(packed, "<f8", n, 8 * n * i)
        after = np.frombuffer(packed, "<i4", n, 24 * n)
        self.judged_to[rows] = after + np.arange(rows.start, rows.stop)
        self.ambiguous[rows] = np.frombuffer(packed, np.uint8, n, 28 * n) != 0
        return True

    def packed(self, rows: slice) -> bytes:
        after = self.judged_to[rows] - np.arange(rows.start, rows.stop)
        parts = [self.y[rows].astype("<f8"), self.long[rows].astype("<f8"),
                 self.short[rows].astype("<f8"), after.astype("<i4"),
                 self.ambiguous[rows].astype(np.uint8)]  # fmt: skip
        return b"".join(part.tobytes() for part in parts)

    def fill(self, rows: Ints, values: TargetValues) -> None:
        """Values computed on the given rows alone (their charts' rows, in order)."""
        self.y[rows], self.long[rows], self.short[rows] = values.y, values.long, values.short
        self.ambiguous[rows] = values.ambiguous
        self.judged_to[rows] = values.judged_to - np.arange(len(rows)) + rows

    def values(self, target: TargetDefinition) -> TargetValues:
        classes, directions = market_classes(target)
        return TargetValues(classes, directions, self.y, self.judged_to, self.ambiguous,
                            self.long, self.short)  # fmt: skip


@dataclass(frozen=True)
class _Read:
    """What one snapshot held: the blocks' values, the target's values kept, the candles
    of the charts whose values are not all kept, and the blocks."""

    matrix: FeatureMatrix
    ohlcv: Floats  # (bars, 5), bar by bar as the blocks pack them; filled where read
    bars: _Bars
    blocks: list[_Block]

    def compute(self, target: TargetDefinition, charts: Ints) -> None:
        """The values on the charts' bars, each chart computed whole (its ATR starts at
        its first bar)."""
        chart_id = self.matrix.chart_id  # sorted
        starts, ends = (np.searchsorted(chart_id, charts, side) for side in ("left", "right"))
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
        whole = slice(starts[0], ends[-1]) if len(rows) == ends[-1] - starts[0] else rows
        ohlc = [np.ascontiguousarray(self.ohlcv[whole, j]) for j in range(4)]
        prices = Prices.of(np.ascontiguousarray(chart_id[whole]), *ohlc)
        self.bars.fill(rows, target_values(target, prices))

    def reaches(self, block: _Block, horizon: int, ends: Ints) -> datetime | None:
        """The last bar the block's values looked at; None when a horizon ran past the
        chart's last bar (bars to come decide those values)."""
        last = block.first + block.bars - 1 + horizon
        return moment(self.matrix.time[last]) if last < ends[block.first] else None


def _read(
    url: str, stored: StoredSet, chart_ids: Sequence[int], target: TargetDefinition
) -> _Read | None:
    """The blocks' values, kept target values and hash sums, and the candles of the
    charts to compute, by one COPY in one snapshot (three reads on two connections took
    longer: their threads' first touches of fresh memory wait on each other); None when
    a block has no candles. The COPY is read to its end either way (a connection leaves
    a COPY only once the server has finished)."""
    params = {**_keys(stored, target), "chart_ids": list(chart_ids)}
    with connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(QUERIES["count_bars"], params).fetchone()
        read = _empty(stored, int(row[0]) if row and row[0] is not None else 0)
        whole = True
        with conn.cursor().copy(QUERIES["copy_training_blocks"], params) as copy:
            for fields in copied_rows(copy):
                whole = _take(read, fields) and whole
    return read if whole else None


def _empty(stored: StoredSet, total: int) -> _Read:
    """A read of `total` bars, to be filled: the values as a training matrix holds them
    (estimators.MATRIX), the target's values, and the candles. The candles are one array,
    bar by bar as the blocks pack them (a block's go in by one copy); its pages are only
    touched where candles are read."""
    chart_id, time = np.empty(total, np.int64), np.empty(total, "M8[us]")
    values = np.empty((total, len(stored.columns)), dtype=MATRIX)
    return _Read(FeatureMatrix(stored.columns, chart_id, time, values),
                 np.empty((total, len(CANDLE_COLUMNS))), _Bars.empty(total), [])  # fmt: skip


def _take(read: _Read, fields: list[Field]) -> bool:
    """One block's row into the read; False when it has no candles (no hash sums), or
    none were sent where its values are to be computed."""
    chart_id, times, vectors, version = not_null(fields[:3] + fields[4:5])
    hashed, packed, packed_candles = fields[3], fields[5], fields[6]
    first = read.blocks[-1].rows.stop if read.blocks else 0
    rows = slice(first, first + len(times) // 8)
    read.matrix.time[rows] = unpacked_times(times)
    chart = int.from_bytes(chart_id, "big", signed=True)
    read.matrix.chart_id[rows] = chart
    put_vectors(read.matrix, rows, vectors)
    if packed_candles is not None:
        read.ohlcv[rows] = np.frombuffer(packed_candles, ">f8").reshape(-1, len(CANDLE_COLUMNS))
    kept = read.bars.unpack(rows, packed)
    number = int.from_bytes(version, "big", signed=True)
    read.blocks.append(_Block(chart, first, rows.stop - first, number, kept, bytes(hashed or b"")))
    return hashed is not None and (kept or packed_candles is not None)


def _keys(stored: StoredSet, target: TargetDefinition) -> dict[str, object]:
    return {"set_id": stored.id, "target_hash": target.version_hash, "formula": FORMULA}


def _keep(conn: Connection, stored: StoredSet, target: TargetDefinition, read: _Read,
          charts: Ints) -> None:  # fmt: skip
    """In one transaction, under their build locks, the values of the charts' blocks not
    kept yet, on the charts whose blocks are still those read (a chart being built is
    left out)."""
    with conn.transaction():
        _keep_locked(conn, stored, target, read, charts)


def _keep_locked(conn: Connection, stored: StoredSet, target: TargetDefinition, read: _Read,
                 charts: Ints) -> None:  # fmt: skip
    params = {**_keys(stored, target), "chart_ids": charts.tolist(), "lock_class": LOCK_CLASS}
    locked = {int(row[0]) for row in conn.execute(QUERIES["lock_charts"], params)}
    numbers = [n for n, block in enumerate(read.blocks) if block.chart_id in locked]
    if not numbers:
        return
    blocks = [read.blocks[n] for n in numbers]
    chart_id, first, version = np.array([(b.chart_id, b.first, b.version) for b in blocks]).T
    columns = [CopyColumn("bigint", np.array(numbers, dtype=np.int64)),
               CopyColumn("bigint", chart_id),
               CopyColumn("timestamptz", read.matrix.time[first]),
               CopyColumn("bigint", version)]  # fmt: skip
    conn.execute(QUERIES["create_read_blocks"])
    with conn.cursor().copy(QUERIES["copy_read_blocks"]) as copy:
        copy.write(binary_copy_buffer(columns))
    unwritten = [int(row[0]) for row in conn.execute(QUERIES["unwritten_blocks"], params)]
    _write(conn, stored, target, read, [read.blocks[n] for n in unwritten])


TARGET_BLOCK_TYPES = ("bigint", "bigint", "timestamptz", "text", "smallint", "integer",
                      "timestamptz", "bytea")  # fmt: skip


def _write(conn: Connection, stored: StoredSet, target: TargetDefinition, read: _Read,
           blocks: list[_Block]) -> None:  # fmt: skip
    ends, horizon = chart_ends(read.matrix.chart_id), target.judgement.horizon
    with conn.cursor().copy(QUERIES["copy_target_blocks"]) as copy:
        copy.set_types(list(TARGET_BLOCK_TYPES))
        for block in blocks:
            first = moment(read.matrix.time[block.first])
            copy.write_row((stored.id, block.chart_id, first, target.version_hash, FORMULA,
                            block.bars, read.reaches(block, horizon, ends),
                            read.bars.packed(block.rows)))  # fmt: skip
