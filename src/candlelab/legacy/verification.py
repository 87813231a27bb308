"""Verification: the converted rows of the legacy file against what PostgreSQL holds.

The legacy side is summed up from the converted frames; PostgreSQL's side is read back
(in legacy ids, through `legacy_ids`) group by group, as each commits, through one
kept-open ADBC connection. Digests of a table's parts add up to the whole. A chart's
candles come back packed by the server into one value per block of a million, which NumPy
reads without an object per bar.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from psycopg import sql

from candlelab.legacy.checksums import COMPARED, Digest, checksum, combined, hexdigest
from candlelab.legacy.conversion import Converted
from candlelab.legacy.groups import chart_of, tables_of
from candlelab.market.candles import unpacked
from candlelab.store.urls import libpq_url


@dataclass
class TableCheck:
    table: str
    rows_in: int
    rows_out: int
    checksum_in: str
    checksum_out: str

    @property
    def ok(self) -> bool:
        return self.rows_in == self.rows_out and self.checksum_in == self.checksum_out


def legacy_digests(converted: Converted, merged: dict[str, list[int]]) -> dict[str, Digest]:
    """Each table's converted rows, summed up. A type merged into one the target had is that
    one's row now: compared are the rows the import made (and references to the merged
    type, in legacy ids)."""
    digests = {}
    for table in COMPARED:
        sent = _legacy_side(table, converted.tables[table])
        sent = sent.filter(~pl.col("id").is_in(merged.get(table, [])))
        digests[table] = checksum(table, sent)
    return digests


def block_starts(candles: pl.DataFrame) -> dict[int, list[datetime]]:
    """Where a chart of more than BLOCK_ROWS candles is cut into blocks read back one at a
    time: the times of the blocks after the first."""
    sizes = candles.group_by("chart_id").len().filter(pl.col("len") > BLOCK_ROWS)
    starts = {}
    for chart, rows in sizes.iter_rows():
        times = candles.filter(pl.col("chart_id") == chart)["time"].sort()
        starts[chart] = times.gather(list(range(BLOCK_ROWS, rows, BLOCK_ROWS))).to_list()
    return starts


def compared(legacy: dict[str, Digest], stored: list[tuple[str, Digest]]) -> list[TableCheck]:
    """Each table's rows and digest from the legacy side against PostgreSQL's, summed up."""
    checks = []
    for table, sent in legacy.items():
        held = combined([digest for name, digest in stored if name == table])
        checks.append(TableCheck(table, sent[0], held[0], hexdigest(sent), hexdigest(held)))
    return checks


class StoredDigests:
    """PostgreSQL's digest of each table part a group wrote, read through one ADBC
    connection, opened on first use by the (one) thread that checks."""

    def __init__(self, url: str, sha: str, starts: dict[int, list[datetime]]) -> None:
        self.url, self.sha, self.starts = url, sha, starts
        self.reader: Any = None

    def __call__(self, groups: list[str]) -> list[tuple[str, Digest]]:
        cursor = self._cursor()
        if any(chart_of(group) is None for group in groups):
            # legacy_ids was just filled: with the statistics of a handful of rows the
            # planner would join by nested loops (minutes on 50,000 spans).
            cursor.execute("ANALYZE legacy_ids")
        parts = []
        for group in groups:
            chart = chart_of(group)
            if chart is not None:
                parts += [("candles", self._candle_block(cursor, chart, *block))
                          for block in _blocks(self.starts.get(chart, []))]  # fmt: skip
                continue
            for table in tables_of(group):
                parts.append((table, checksum(table, _stored_side(cursor, self.sha, table))))
        return parts

    def _candle_block(self, cursor: Any, chart: int, start: str, end: str) -> Digest:
        query = sql.SQL(CANDLE_BLOCK).format(
            chart=sql.Literal(chart), sha=sql.Literal(self.sha),
            start=sql.Literal(start), end=sql.Literal(end),
        )  # fmt: skip
        cursor.execute(query.as_string())
        rows, packed = cursor.fetchone()
        bars = unpacked(packed, rows, f"chart {chart} (legacy id)")
        frame = pl.DataFrame({"chart_id": pl.repeat(chart, rows, eager=True), **bars})
        return checksum("candles", frame.with_columns(pl.col("time").dt.replace_time_zone("UTC")))

    def close(self) -> None:
        if self.reader is not None:
            self.reader[1].close()
            self.reader[0].close()

    def _cursor(self) -> Any:
        if self.reader is None:
            import adbc_driver_postgresql.dbapi as adbc

            conn = adbc.connect(libpq_url(self.url))
            conn.adbc_connection.set_autocommit(True)
            cursor = conn.cursor()
            # Hash joins fit every size here; the cost that turning nested loops off adds
            # to a plan would otherwise set JIT compiling each query (0.2 s apiece).
            cursor.execute("SET enable_nestloop = off")
            cursor.execute("SET jit = off")
            self.reader = (conn, cursor)
        return self.reader[1]


def _legacy_side(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    if table == "annotations":
        frame = frame.rename({"candle_time": "time", "type_id": "annotation_type_id"})
    return frame


STORED = {
    "charts": "SELECT m.legacy_id AS id, t.name, t.symbol, t.timeframe, t.created_at "
              "FROM charts t JOIN ids m ON m.new_id = t.id AND m.table_name = 'charts'",
    "annotation_types": "SELECT m.legacy_id AS id, t.name, t.color, t.shape, t.is_active, "
                        "t.created_at FROM annotation_types t JOIN made m ON m.new_id = t.id "
                        "AND m.table_name = 'annotation_types'",
    "annotations": "SELECT m.legacy_id AS id, c.legacy_id AS chart_id, t.time, "
                   "y.legacy_id AS annotation_type_id, t.geometry::text AS geometry, t.note, "
                   "t.created_at, t.updated_at FROM annotations t "
                   "JOIN ids m ON m.new_id = t.id AND m.table_name = 'annotations' "
                   "JOIN ids c ON c.new_id = t.chart_id AND c.table_name = 'charts' "
                   "LEFT JOIN ids y ON y.new_id = t.annotation_type_id "
                   "AND y.table_name = 'annotation_types'",
    "span_label_types": "SELECT m.legacy_id AS id, t.name, t.color, t.description, t.is_active, "
                        "t.created_at FROM span_label_types t JOIN made m ON m.new_id = t.id "
                        "AND m.table_name = 'span_label_types'",
    "span_annotations": "SELECT m.legacy_id AS id, c.legacy_id AS chart_id, "
                        "y.legacy_id AS label_type_id, t.start_time, t.end_time, t.source, "
                        "t.status, t.confidence, t.sub_spans::text AS sub_spans, "
                        "t.model_prediction::text AS model_prediction, t.created_at, "
                        "t.updated_at FROM span_annotations t "
                        "JOIN ids m ON m.new_id = t.id AND m.table_name = 'span_annotations' "
                        "JOIN ids c ON c.new_id = t.chart_id AND c.table_name = 'charts' "
                        "JOIN ids y ON y.new_id = t.label_type_id "
                        "AND y.table_name = 'span_label_types'",
}  # fmt: skip


# A block of one chart's candles, found through the candles' own index and packed by the
# server as candles.window packs bars: one value crosses the wire, read without an object
# per bar. In no order: the checksum adds up row hashes.
CANDLE_BLOCK = (
    "SELECT count(*), string_agg(timestamptz_send(time) || float8send(open) "
    "|| float8send(high) || float8send(low) || float8send(close) || float8send(volume), '') "
    "FROM candles WHERE chart_id = (SELECT new_id FROM legacy_ids WHERE file_sha256 = {sha} "
    "AND table_name = 'charts' AND legacy_id = {chart}) AND time >= {start} AND time < {end}"
)
# A block's packed bytes (48 a bar) stay far below the 1 GB a bytea may hold.
BLOCK_ROWS = 1_000_000


def _blocks(starts: list[datetime]) -> list[tuple[str, str]]:
    """The time ranges of a chart's blocks, as timestamptz literals: all of time, cut at
    `starts`."""
    edges = ["-infinity", *(start.isoformat() for start in starts), "infinity"]
    return list(itertools.pairwise(edges))


def _stored_side(cursor: Any, sha: str, table: str) -> pl.DataFrame:
    """What PostgreSQL holds of this file's rows, in legacy ids."""
    query = sql.SQL(
        "WITH ids AS (SELECT * FROM legacy_ids WHERE file_sha256 = {sha}), "
        "made AS (SELECT * FROM ids WHERE NOT merged) "
    ).format(sha=sql.Literal(sha)) + sql.SQL(STORED[table])
    cursor.execute(query.as_string())
    frame = pl.from_arrow(cursor.fetch_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame
