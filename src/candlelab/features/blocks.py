"""Feature values packed by runs of bars (`feature_blocks`), written and cut per chart.

A block holds up to FULL_BLOCK bars: their opens as little-endian int64 microseconds
since 1970 and their vectors as little-endian float64, bar-major. When the opens are
evenly spaced its `step_us` says by how much, so that a reader finds a bar's place by
arithmetic instead of reading and searching the times. A full build writes
full blocks; an incremental one appends a short block, and once a chart has more than
MAX_TAIL short blocks the newest of them are merged, so reads stay one value per
~FULL_BLOCK bars while a new bar costs one small row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
FULL_BLOCK = 2048
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
MAX_TAIL = 16
UNIX_EPOCH = np.datetime64(0, "us")
Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class Run:
    """Consecutive bars of one chart with their feature vectors (bars by width)."""

    time: Times
    vectors: Floats

    def __len__(self) -> int:
        return len(self.time)

    def from_index(self, start: int) -> Run:
        return Run(self.time[start:], self.vectors[start:])

    def pieces(self, size: int = FULL_BLOCK) -> Iterator[Run]:
        for start in range(0, len(self), size):
            yield Run(self.time[start : start + size], self.vectors[start : start + size])


def moment(time: np.datetime64) -> datetime:
    """A datetime64[us] (UTC) as an aware datetime."""
    micros = int((time - UNIX_EPOCH) // np.timedelta64(1, "us"))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def datetime64(moment: datetime) -> np.datetime64:
    """An aware datetime as datetime64[us] in UTC."""
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def packed_times(time: Times) -> bytes:
    return (time.astype("M8[us]") - UNIX_EPOCH).astype("<i8").tobytes()


def unpacked_times(packed: bytes | memoryview) -> Times:
    return UNIX_EPOCH + np.frombuffer(packed, dtype="<i8").astype("m8[us]")


def step_us(time: Times) -> int | None:
    """The microseconds from each open to the next when they are all equal; None when
    they are not (a gap, a weekend, months or days across a clock change) or when there
    is only one bar."""
    gaps = np.diff(time.astype("M8[us]").astype(np.int64))
    return int(gaps[0]) if len(gaps) and bool((gaps == gaps[0]).all()) else None


def write_run(conn: Connection, set_id: int, chart_id: int, run: Run) -> None:
    """Store a run of bars as blocks of at most FULL_BLOCK bars."""
    with conn.cursor() as cursor:
        cursor.executemany(QUERIES["insert_block"], [_block(set_id, chart_id, piece)
                                                     for piece in run.pieces()])  # fmt: skip


def _block(set_id: int, chart_id: int, run: Run) -> dict[str, object]:
    vectors = np.ascontiguousarray(run.vectors, dtype="<f8")
    return {
        "set_id": set_id, "chart_id": chart_id, "first": moment(run.time[0]),
        "last": moment(run.time[-1]), "bars": len(run), "width": vectors.shape[1],
        "times": packed_times(run.time), "step": step_us(run.time),
        "vectors": vectors.tobytes(), "nans": np.isnan(vectors).sum(axis=0).tolist(),
    }  # fmt: skip


def cut_from(conn: Connection, set_id: int, chart_id: int, start: datetime, width: int) -> None:
    """Remove the chart's values for bars at or after `start`; a block across it keeps
    its bars before."""
    params = {"set_id": set_id, "chart_id": chart_id, "start": start}
    across = conn.execute(QUERIES["block_across"], params).fetchone()
    conn.execute(QUERIES["delete_blocks_from"], params)
    if across is None:
        return
    first, times, vectors = across
    run = Run(unpacked_times(times), np.frombuffer(vectors, "<f8").reshape(-1, width))
    conn.execute(QUERIES["delete_block"], {**params, "first": first})
    kept = int(np.searchsorted(run.time, datetime64(start)))
    write_run(conn, set_id, chart_id, Run(run.time[:kept], run.vectors[:kept]))


def merge_tail(conn: Connection, set_id: int, chart_id: int, width: int) -> None:
    """Merge the newest of the chart's short blocks (those after its last full one) once
    there are more than MAX_TAIL: see `merged_from`."""
    params = {"set_id": set_id, "chart_id": chart_id, "full": FULL_BLOCK}
    tail = conn.execute(QUERIES["tail_blocks"], params).fetchall()
    if len(tail) <= MAX_TAIL:
        return
    start = merged_from([(first, int(bars)) for first, bars in tail])
    run = read_from(conn, set_id, chart_id, start, width)
    conn.execute(QUERIES["delete_blocks_from"], {**params, "start": start})
    write_run(conn, set_id, chart_id, run)


def merged_from(tail: list[tuple[datetime, int]]) -> datetime:
    """Where a merge of the tail's blocks (first bar, bars; at least two) starts: at the
    newest two, then at each older block while it holds at most twice the bars of those
    after it. A big block (a build's last, partial one) is rewritten only once as many
    bars came after it, not at every merge: a few bars rewritten per new bar, where
    merging the whole tail rewrote ~1,000 bars every 17th one."""
    first, bars = tail[-2][0], tail[-2][1] + tail[-1][1]
    for older, size in reversed(tail[:-2]):
        if size > 2 * bars:
            break
        first, bars = older, bars + size
    return first


def read_from(conn: Connection, set_id: int, chart_id: int, start: datetime, width: int) -> Run:
    """The chart's stored bars from the block starting at `start` on."""
    params = {"set_id": set_id, "chart_id": chart_id, "start": start}
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(QUERIES["blocks_from"], params).fetchall()
    times = np.concatenate([unpacked_times(row[0]) for row in rows]) if rows else _no_times()
    vectors = b"".join(row[1] for row in rows)
    return Run(times, np.frombuffer(vectors, "<f8").reshape(-1, width))


def _no_times() -> Times:
    return np.empty(0, dtype="M8[us]")


def vector_at(
    conn: Connection, set_id: int, chart_id: int, time: datetime, width: int
) -> Floats | None:
    """The stored vector of the chart's bar at `time`, or None when there is none."""
    params = {"set_id": set_id, "chart_id": chart_id, "time": time}
    row = conn.execute(QUERIES["block_at"], params).fetchone()
    if row is None:
        return None
    times = unpacked_times(row[1])
    index = int(np.searchsorted(times, datetime64(time)))
    if index == len(times) or times[index] != datetime64(time):
        return None
    sliced = {**params, "block": row[0], "first": index, "count": 1}
    packed = conn.execute(QUERIES["vectors_slice"], sliced).fetchone()
    return np.frombuffer(packed[0], "<f8").copy() if packed else None
