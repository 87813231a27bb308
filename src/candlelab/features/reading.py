"""Reading a materialised feature set: the training matrix, a point-in-time join, and
the newest vector of a chart.

The matrix comes straight from the blocks: one bytea per ~2,048 bars is copied into a
NumPy array allocated once, so no Python object is made per bar or per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from psycopg import sql

from candlelab.features.blocks import datetime64, unpacked_times
from candlelab.features.registry import StoredSet
from candlelab.market.calendars import bar_ends
from candlelab.market.candles import CORE_COLUMNS, candle_arrays, read_candles
from candlelab.market.charts import chart
from candlelab.market.timeframes import Timeframe
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
    keep = _in_range(times, start, end)
    if keep is None:
        return FeatureMatrix(stored.columns, charts, times, values)
    return FeatureMatrix(stored.columns, charts[keep], times[keep], values[keep])


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


def _in_range(
    times: npt.NDArray[np.datetime64], start: datetime | None, end: datetime | None
) -> npt.NDArray[np.bool_] | None:
    if start is None and end is None:
        return None
    keep = np.ones(len(times), dtype=bool)
    if start is not None:
        keep &= times >= datetime64(start)
    if end is not None:
        keep &= times < datetime64(end)
    return None if keep.all() else keep


def _beside(matrix: FeatureMatrix, candles: dict[str, npt.NDArray[Any]]) -> FeatureMatrix:
    """The candles of the matrix's rows, aligned by (chart, time); both come sorted so."""
    index = np.empty(len(matrix), dtype=np.int64)
    for chart_id in np.unique(matrix.chart_id):
        rows = np.flatnonzero(matrix.chart_id == chart_id)
        bars = np.flatnonzero(candles["chart_id"] == chart_id)
        found = np.searchsorted(candles["time"][bars], matrix.time[rows])
        if np.any(found >= len(bars)) or np.any(
            candles["time"][bars][found % max(len(bars), 1)] != matrix.time[rows]
        ):
            raise ValueError(f"chart {chart_id}: feature values for bars that are not stored; "
                             "build the set again")  # fmt: skip
        index[rows] = bars[found]
    aligned = {name: column[index] for name, column in candles.items()}
    return FeatureMatrix(matrix.columns, matrix.chart_id, matrix.time, matrix.values, aligned)


def features_as_of(
    url: str,
    stored: StoredSet,
    chart_ids: Sequence[int],
    times: Sequence[datetime] | npt.NDArray[np.datetime64],
) -> Floats:
    """For each (chart, time) row, the vector of the chart's last bar that had closed by
    that time (NaN where none had): a point-in-time join, like an entity frame's in Feast."""
    ids = np.asarray(chart_ids, dtype=np.int64)
    at = np.asarray(times, dtype="M8[us]")
    out = np.full((len(ids), len(stored.columns)), np.nan)
    with connect(url) as conn:
        for chart_id in np.unique(ids):
            rows = np.flatnonzero(ids == chart_id)
            out[rows] = _as_of_chart(conn, stored, int(chart_id), at[rows])
    return out


def _as_of_chart(
    conn: Connection, stored: StoredSet, chart_id: int, at: npt.NDArray[np.datetime64]
) -> Floats:
    from candlelab.features.blocks import moment

    latest = moment(at.max())
    matrix = _read_blocks(conn, stored, [chart_id], None, latest)
    each = chart(conn, chart_id)
    ends = (
        bar_ends(Timeframe.parse(each.timeframe), each.timezone, matrix.time)
        if len(matrix)
        else matrix.time
    )
    index = np.searchsorted(ends, at, side="right") - 1
    out = np.full((len(at), len(stored.columns)), np.nan)
    known = index >= 0
    out[known] = matrix.values[index[known]]
    return out


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
