"""Verification: the converted rows of the legacy file against what PostgreSQL holds.

The legacy side is summed up from the converted frames; PostgreSQL's side is read back
(in legacy ids, through `legacy_ids`) group by group, as each commits, through one
kept-open ADBC connection. Digests of a table's parts add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from psycopg import sql

from candlelab.legacy.checksums import COMPARED, Digest, checksum, combined, hexdigest
from candlelab.legacy.conversion import Converted
from candlelab.legacy.groups import chart_of, tables_of
from candlelab.urls import libpq_url


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
        sent = sent.filter(~pl.col(KEYS[table]).is_in(merged.get(table, [])))
        digests[table] = checksum(table, sent)
    return digests


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

    def __init__(self, url: str, sha: str) -> None:
        self.url, self.sha = url, sha
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
            for table in tables_of(group):
                parts.append((table, checksum(table, _stored_side(cursor, self.sha, table, chart))))
        return parts

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


KEYS = {table: "chart_id" if table == "candles" else "id" for table in COMPARED}


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


# One chart's candles, found through the candles' own index (a join would scan them all).
CHART_CANDLES = (
    "SELECT {chart} AS chart_id, time, open, high, low, close, volume FROM candles "
    "WHERE chart_id = (SELECT new_id FROM legacy_ids WHERE file_sha256 = {sha} "
    "AND table_name = 'charts' AND legacy_id = {chart})"
)


def _stored_side(cursor: Any, sha: str, table: str, chart: int | None = None) -> pl.DataFrame:
    """What PostgreSQL holds of this file's rows (of one chart's candles), in legacy ids."""
    if table == "candles":
        query = sql.SQL(CHART_CANDLES).format(chart=sql.Literal(chart), sha=sql.Literal(sha))
    else:
        query = sql.SQL(
            "WITH ids AS (SELECT * FROM legacy_ids WHERE file_sha256 = {sha}), "
            "made AS (SELECT * FROM ids WHERE NOT merged) "
        ).format(sha=sql.Literal(sha)) + sql.SQL(STORED[table])
    cursor.execute(query.as_string())
    frame = pl.from_arrow(cursor.fetch_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame
