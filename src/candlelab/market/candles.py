"""Candles: one bar of a chart, keyed by (chart_id, time), time being the bar's open in UTC.

`load_bars` is the one write path. It locks the chart for the transaction, copies
straight into `candles` when no stored bar falls in the batch's time range, and
otherwise goes through a staging table so that a stored bar is never duplicated and a
differing one follows the caller's conflict policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, LiteralString

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from psycopg import sql

from candlelab.errors import ConflictingBars, UnknownReference
from candlelab.store.binary_copy import POSTGRES_EPOCH, CopyColumn, binary_copy_chunks
from candlelab.store.database import Connection, connect, translated
from candlelab.store.queries import load_queries
from candlelab.store.urls import libpq_url

QUERIES = load_queries(__file__)
PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
EXTRA_COLUMNS = ("vwap", "trades", "taker_buy_volume", "quote_volume")
CORE_COLUMNS = ("chart_id", "time", *PRICE_COLUMNS)
ALL_COLUMNS = (*CORE_COLUMNS, *EXTRA_COLUMNS)
LOCK_CLASS = 0x0CA1  # the first key of the per-chart load locks (feature builds take them too)
CONFLICT_EXAMPLES = 5
OnConflict = Literal["update", "skip", "error"]


@dataclass(frozen=True)
class Bars:
    """A run of bars as columns: times (datetime64[us], UTC) and float64 prices and volume."""

    time: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time)

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(*(getattr(self, name)[start:stop] for name in ("time", *PRICE_COLUMNS)))

    def to_frame(self) -> pl.DataFrame:
        """The bars as a frame of the shape `load_bars` takes."""
        columns = {name: getattr(self, name) for name in PRICE_COLUMNS}
        time = pl.Series("time", self.time).dt.replace_time_zone("UTC")
        return pl.DataFrame({"time": time, **columns})


@dataclass(frozen=True)
class LoadCounts:
    """What a load did to each bar it was given; the four add up to the bars given."""

    inserted: int
    updated: int
    unchanged: int  # stored already: identical, or differing and kept under "skip"
    differing: int  # of the unchanged or updated, how many differed from the stored bar


def load_bars(
    conn: Connection, chart_id: int, bars: pl.DataFrame, on_conflict: OnConflict = "skip"
) -> LoadCounts:
    """Write validated bars (sorted, one per time) into a chart, in the caller's transaction."""
    if bars.is_empty():
        return LoadCounts(0, 0, 0, 0)
    with translated():
        if not _overlaps_stored(conn, chart_id, bars):  # the chart has counted them
            _copy(conn, QUERIES["copy_candles"], _copy_columns(chart_id, bars))
            _mark_stale(conn, chart_id, bars["time"].min())
            return LoadCounts(bars.height, 0, 0, 0)
        counts = _load_through_staging(conn, chart_id, bars, on_conflict)
        _note_bars(conn, chart_id, bars, counts.inserted)
        return counts


def copy_new_bars(conn: Connection, chart_id: int, bars: pl.DataFrame) -> None:
    """Binary COPY straight into candles, for bars that cannot collide with stored ones
    (the caller knows: a range checked under the chart's lock, or a chart just made)."""
    _copy(conn, QUERIES["copy_candles"], _copy_columns(chart_id, bars))
    _note_bars(conn, chart_id, bars, bars.height)
    _mark_stale(conn, chart_id, bars["time"].min())


def _mark_stale(conn: Connection, chart_id: int, first: object) -> None:
    """Bars were added from `first` on: feature builds of the chart that reach past it
    recompute from there, and the judgements of signals that read past it are made again
    (`candlelab evaluate`), a rule of the same transaction."""
    if first is not None:
        conn.execute(QUERIES["mark_stale"], {"chart_id": chart_id, "first": first})


def _note_bars(conn: Connection, chart_id: int, bars: pl.DataFrame, added: int) -> None:
    """Keep the chart's bar count, first and last bar with the bars just written."""
    if added:
        conn.execute(QUERIES["note_bars"], {**_batch_range(chart_id, bars), "bars": added})


def _batch_range(chart_id: int, bars: pl.DataFrame) -> dict[str, Any]:
    return {"chart_id": chart_id, "first": bars["time"].min(), "last": bars["time"].max()}


def _overlaps_stored(conn: Connection, chart_id: int, bars: pl.DataFrame) -> bool:
    """Whether stored bars fall in the batch's range, asked once the chart's lock is held;
    a missing chart is refused here. When none do, the chart counts the batch as stored."""
    params = {**_batch_range(chart_id, bars), "bars": bars.height}
    with conn.pipeline():  # both statements in one round trip, run in order
        conn.execute(QUERIES["lock_chart"], {"lock_class": LOCK_CLASS, "chart_id": chart_id})
        cursor = conn.execute(QUERIES["stored_in_range"], params)
    row = cursor.fetchone()
    if not row or not row[0]:
        raise UnknownReference(f"chart {chart_id} does not exist; create it with upsert_chart")
    return bool(row[1])


def _load_through_staging(
    conn: Connection, chart_id: int, bars: pl.DataFrame, on_conflict: OnConflict
) -> LoadCounts:
    conn.execute(QUERIES["create_staging"])
    _copy(conn, QUERIES["copy_staging"], _copy_columns(chart_id, bars, with_lines=True))
    conn.execute(QUERIES["hash_joins_only"])
    span = _batch_range(chart_id, bars)
    row = conn.execute(QUERIES["compare_staging"], span).fetchone()
    stored, differing = (int(row[0]), int(row[1])) if row else (0, 0)
    if on_conflict == "error" and differing:
        examples = conn.execute(
            QUERIES["differing_examples"], {**span, "examples": CONFLICT_EXAMPLES}
        ).fetchall()
        raise ConflictingBars(_describe_conflicts(examples, differing))
    counts = _write_staged(
        conn, chart_id, on_conflict, staged=bars.height, stored=stored, differing=differing
    )
    conn.execute(QUERIES["drop_staging"])
    return counts


def _write_staged(
    conn: Connection, chart_id: int, on_conflict: OnConflict, *, staged: int, stored: int,
    differing: int,
) -> LoadCounts:  # fmt: skip
    if stored == staged and (differing == 0 or on_conflict != "update"):
        return LoadCounts(0, 0, staged, differing)  # a re-load: nothing to write
    if on_conflict == "update":
        inserted, written, first = conn.execute(QUERIES["upsert_bars"]).fetchone() or (0, 0, None)
        _mark_stale(conn, chart_id, first)
        return LoadCounts(inserted, written - inserted, staged - written, differing)
    inserted, first = conn.execute(QUERIES["insert_new_bars"]).fetchone() or (0, None)
    _mark_stale(conn, chart_id, first)
    return LoadCounts(inserted, 0, staged - inserted, differing)


def _describe_conflicts(rows: list[tuple[object, ...]], total: int) -> str:
    examples = "; ".join(
        f"line {row[0]} at {row[1]}: stored OHLCV {row[2:7]}, input {row[7:12]}" for row in rows
    )
    return (
        f"{total} bar(s) differ from bars already stored (--on-conflict error): {examples}; "
        "use --on-conflict update to replace them or skip to keep the stored ones"
    )


def _copy_columns(
    chart_id: int, bars: pl.DataFrame, with_lines: bool = False
) -> dict[str, CopyColumn]:
    """The columns to COPY, by name: the key, prices, and whichever extras the bars have."""
    times = bars["time"].dt.replace_time_zone(None).dt.cast_time_unit("us").to_numpy()
    columns = {
        "chart_id": CopyColumn("bigint", np.full(bars.height, chart_id, dtype=np.int64)),
        "time": CopyColumn("timestamptz", times),
    }
    for name in PRICE_COLUMNS:
        columns[name] = CopyColumn("double precision", bars[name].to_numpy())
    for name in EXTRA_COLUMNS:
        if name in bars.columns:  # an absent column is left out: the server fills NULL
            columns[name] = _optional_column(bars[name])
    if with_lines:
        lines = bars["line"] if "line" in bars.columns else pl.int_range(bars.height, eager=True)
        columns["line"] = CopyColumn("bigint", lines.cast(pl.Int64).to_numpy())
    return columns


def _optional_column(series: pl.Series) -> CopyColumn:
    count = series.name == "trades"
    values = series.fill_null(0).to_numpy().astype(np.int64 if count else np.float64)
    nulls = series.is_null().to_numpy() if series.null_count() else None
    return CopyColumn("bigint" if count else "double precision", values, nulls)


def _copy(conn: Connection, statement: LiteralString, columns: dict[str, CopyColumn]) -> None:
    names = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    with conn.cursor().copy(sql.SQL(statement).format(columns=names)) as copy:
        for piece in binary_copy_chunks(list(columns.values())):  # the server takes one
            copy.write(piece)  # piece in while the next is built


def read_candles(
    url: str,
    chart_ids: Sequence[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    columns: Sequence[str] = CORE_COLUMNS,
) -> pa.Table:
    """Bars in [start, end) of the charts (every chart if None), by chart then time, as
    Arrow: OHLCV by default, `columns=ALL_COLUMNS` for the extras too.

    Read through ADBC, whose C client streams COPY output into Arrow columns: bulk reads
    run at the server's pace instead of one Python object per row.
    """
    import adbc_driver_postgresql.dbapi as adbc

    unknown = set(columns) - set(ALL_COLUMNS)
    if unknown:
        raise ValueError(f"read_candles: no such candle column {sorted(unknown)}")
    # The key always comes first: the result is checked and sorted by it.
    selected = ("chart_id", "time", *(c for c in columns if c not in ("chart_id", "time")))
    query = sql.SQL(QUERIES["read_candles"]).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in selected),
        where=_read_filter(chart_ids, start, end),
    )
    with adbc.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        cursor.execute(query.as_string())
        return _in_chart_time_order(cursor.fetch_arrow_table())


def _read_filter(
    chart_ids: Sequence[int] | None, start: datetime | None, end: datetime | None
) -> sql.Composable:
    """Only the conditions asked for: each costs a test per row on a full read."""
    conditions: list[sql.Composable] = []
    if chart_ids is not None:
        # Cast: psycopg writes small ints as int2[], and bigint = ANY(int2[]) is not hashed.
        ids = sql.Literal(list(chart_ids))
        conditions.append(sql.SQL("chart_id = ANY({}::bigint[])").format(ids))
    if start is not None:
        conditions.append(sql.SQL("time >= {}").format(sql.Literal(start)))
    if end is not None:
        conditions.append(sql.SQL("time < {}").format(sql.Literal(end)))
    return sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")


def _in_chart_time_order(table: pa.Table) -> pa.Table:
    """The table sorted by (chart_id, time); bars stored by COPY usually are already."""
    chart = table.column("chart_id").to_numpy()
    time = table.column("time").to_numpy().view(np.int64)
    if _sorted(chart) and bool(np.all((time[1:] > time[:-1]) | (chart[1:] != chart[:-1]))):
        return table
    return table.sort_by([("chart_id", "ascending"), ("time", "ascending")])


def candle_arrays(table: pa.Table) -> dict[str, npt.NDArray[Any]]:
    """An Arrow table of candles as NumPy columns (time as datetime64[us], UTC; NULL as NaN)."""
    # One copy per column: a UTC timestamp column converts straight to datetime64[us].
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _sorted(values: npt.NDArray[np.int64]) -> bool:
    return bool(np.all(values[1:] >= values[:-1]))


def last_bars(conn: Connection, chart_id: int, count: int) -> list[tuple[Any, ...]]:
    """The newest `count` bars of a chart, oldest first: what a chart page opens on.

    A binary cursor on the caller's kept-open connection: no connection set-up per call.
    """
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(
            QUERIES["last_bars"], {"chart_id": chart_id, "count": count}
        ).fetchall()
    rows.reverse()
    return rows


WINDOW_COLUMNS = ("time", "open", "high", "low", "close", "volume")
# A bar as candles.sql's window queries pack it: µs since 2000, then five float64s.
PACKED_BAR = np.dtype([("time", ">i8")] + [(name, ">f8") for name in WINDOW_COLUMNS[1:]])


def window(
    conn: Connection, chart_id: int, start: datetime | None, end: datetime, count: int
) -> dict[str, npt.NDArray[np.generic]]:
    """Up to `count` bars of a chart before `end`, oldest first: from `start` on, or the
    newest ones when there is no start (a chart opening, a scroll to the left). Columns
    named by WINDOW_COLUMNS, time as datetime64[us] UTC, the rest float64; the server packs
    the bars into one bytea, so no Python object is made per bar."""
    params = {"chart_id": chart_id, "start": start, "end": end, "count": count}
    query = QUERIES["window_from" if start is not None else "window_before"]
    with conn.cursor(binary=True) as cursor:
        bars, packed = cursor.execute(query, params).fetchone() or (0, None)
    return unpacked(packed, bars, f"chart {chart_id}")


def unpacked(packed: bytes | None, bars: int, what: str) -> dict[str, npt.NDArray[np.generic]]:
    """Bars packed by the server (PACKED_BAR rows) as columns named by WINDOW_COLUMNS: time
    as datetime64[us] UTC, the rest float64. `bars` is the count the query gave alongside."""
    rows = np.frombuffer(packed or b"", dtype=PACKED_BAR)
    if len(rows) != bars:
        raise ValueError(f"{what}: {bars} bars counted, {len(rows)} packed")
    micros = rows["time"].astype(np.int64).astype("timedelta64[us]")
    columns: dict[str, npt.NDArray[np.generic]] = {"time": POSTGRES_EPOCH + micros}
    for name in WINDOW_COLUMNS[1:]:
        columns[name] = rows[name].astype(np.float64)
    return columns


def packed_candles(
    url: str, chart_ids: Sequence[int], start: datetime | None = None, end: datetime | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Bars in [start, end) of the charts as `candle_arrays(read_candles(...))` gives them
    (CORE_COLUMNS, by chart then time), for bulk reads of the core columns.

    The server packs each chart's bars into one bytea as `window` does: ADBC's COPY cost
    the client about 0.6 µs per bar, as much CPU as the server's side (0.87 s against
    0.25 s here for 1.5M bars). Read in two halves on two connections, this was faster
    alone (0.45 s against 0.75 s) but slower beside a feature read (1.6 s against 1.5 s
    for a training set: the two cores were already busy)."""
    params = {"chart_ids": list(chart_ids), "start": start, "end": end}
    ids, charts = [np.empty(0, np.int64)], [unpacked(None, 0, "no chart")]
    with connect(url) as conn, conn.cursor(binary=True) as cursor:
        for chart_id, bars, packed in cursor.stream(QUERIES["packed_bars"], params):
            ids.append(np.full(bars, chart_id, dtype=np.int64))
            charts.append(unpacked(packed, bars, f"chart {chart_id}"))
    columns = {name: np.concatenate([c[name] for c in charts]) for name in WINDOW_COLUMNS}
    return {"chart_id": np.concatenate(ids), **columns}


def chart_candles(conn: Connection, chart_id: int) -> list[tuple[object, ...]]:
    """A chart's candles, oldest first, as (time, open, high, low, close, volume) rows."""
    return conn.execute(QUERIES["chart_candles"], {"chart_id": chart_id}).fetchall()


def count_candles(conn: Connection) -> int:
    row = conn.execute(QUERIES["count_candles"]).fetchone()
    return int(row[0]) if row else 0
