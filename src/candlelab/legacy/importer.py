"""The import itself: plan every table group, refuse or write each in one transaction, verify.

Table groups, in the order references need them: the parents (charts, annotation types,
span label types), then each chart's candles, the annotations and the spans. Each group
is written in one transaction together with its row in `legacy_imports`, so a run killed
at any moment leaves each group either absent or whole, and the next run writes only
what is missing. Ids are kept (and sequences moved past them), or with `remap` drawn
anew from the sequences, every reference rewritten through `legacy_ids`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from candlelab.errors import ImportRefused
from candlelab.labels import fields
from candlelab.legacy.checksums import COMPARED, Digest
from candlelab.legacy.conversion import MAX_VALUE, Converted, convert
from candlelab.legacy.groups import (
    PARENTS,
    SIDE_GROUPS,
    chart_of,
    table_groups,
    tables_in,
    tables_of,
)
from candlelab.legacy.layout import Layout, Source, check_layout, open_readonly, readable
from candlelab.legacy.verification import (
    StoredDigests,
    TableCheck,
    block_starts,
    compared,
    legacy_digests,
)
from candlelab.market.candles import copy_new_bars
from candlelab.store.database import Connection, connect, translated

# Each child's references: column → the parent table its ids come from.
REFERENCES = {
    "candles": {"chart_id": "charts"},
    "annotations": {"chart_id": "charts", "annotation_type_id": "annotation_types"},
    "span_annotations": {"chart_id": "charts", "label_type_id": "span_label_types"},
}
SOURCE = "legacy"
NAMED = ("annotation_types", "span_label_types")  # unique names (whatever the case): merged


@dataclass
class ImportOptions:
    dry_run: bool = False
    skip_invalid: bool = False
    remap_ids: bool = False
    max_value: int = MAX_VALUE  # characters of a text, bytes of a blob; longer refuses the row


@dataclass
class ImportReport:
    file: str
    sha256: str
    read: dict[str, int]
    written: dict[str, int] = field(default_factory=dict)
    already_imported: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    time_units: dict[str, str] = field(default_factory=dict)
    null_volumes: int = 0
    placeholders: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    extra_tables: list[str] = field(default_factory=list)
    merged_types: list[dict[str, Any]] = field(default_factory=list)
    checks: list[TableCheck] = field(default_factory=list)
    dry_run: bool = False

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


def import_file(
    conn: Connection,
    url: str,
    path: Path,
    options: ImportOptions,
    on_table: Callable[[str, int], None] = lambda table, rows: None,
) -> tuple[ImportReport, Converted]:
    """Import the legacy file; the report, and the converted tables (for the reject file)."""
    with readable(path) as source:
        layout, converted, sha = _read(source, options)
    report = _report(layout, sha, converted, options)
    if report.problems and not options.skip_invalid:
        return report, converted  # stop before writing anything: the caller lists them
    done = _done_groups(conn, sha)
    groups = table_groups(converted)
    report.already_imported = [g for g in groups if g in done]
    pending = [g for g in groups if g not in done]
    plan = _Plan(conn, sha, converted, options, report)
    plan.check_conflicts(pending)
    if options.dry_run:
        report.written = {t: converted.tables[t].height for t in tables_in(pending)}
        return report, converted
    conn.commit()  # end the reads above: each group below commits on its own
    sent, stored = _write_and_verify(plan, url, pending, report.already_imported, on_table)
    report.checks = compared(sent, stored)
    return report, converted


def _read(source: Source, options: ImportOptions) -> tuple[Layout, Converted, str]:
    """The file's layout, its rows converted, and its SHA-256 (of the file and its journal)."""
    with closing(open_readonly(source.read)) as opened:
        layout = check_layout(opened, source)
    with ThreadPoolExecutor(1, thread_name_prefix="candlelab-sha") as pool:
        # hashlib lets go of the GIL: the file is hashed beside the reads
        hashing = pool.submit(file_sha256, source.path) if source.sha256 is None else None
        converted = convert(layout, options.max_value)
        return layout, converted, hashing.result() if hashing else str(source.sha256)


def _write_and_verify(
    plan: _Plan,
    url: str,
    pending: list[str],
    done: list[str],
    on_table: Callable[[str, int], None],
) -> tuple[dict[str, Digest], list[tuple[str, Digest]]]:
    """Write the pending groups and read each back: the legacy side's digest of each table,
    and PostgreSQL's digests per part of a table.

    The parents go first; then each chart's candles on this connection while annotations
    and spans go on a second one, so the server inserts into both at once. Each group is
    read back, on a third connection, as soon as it is committed, while the next is
    written: what is left after the last write is the check of the last group."""
    stored_digests = StoredDigests(url, plan.sha, block_starts(plan.converted.tables["candles"]))
    with ThreadPoolExecutor(1, thread_name_prefix="candlelab-check") as checker:
        checking = [checker.submit(stored_digests, done)] if done else []

        def write(writer: _Plan, groups: list[str]) -> None:
            for group in (g for g in groups if g in pending):
                with _values_refused(group), translated(), writer.conn.transaction():
                    writer.write_group(group, on_table)
                checking.append(checker.submit(stored_digests, [group]))

        try:
            write(plan, ["parents"])
            # Worked out while the server takes the rows in: only the parents' merges matter.
            merged = _merged(plan.conn, plan.sha)
            legacy = checker.submit(legacy_digests, plan.converted, merged)
            with (
                connect(url) as other,
                ThreadPoolExecutor(1, thread_name_prefix="candlelab-write") as pool,
            ):
                beside = pool.submit(write, plan.on(other), list(SIDE_GROUPS))
                write(plan, [g for g in pending if chart_of(g) is not None])
                beside.result()
            return legacy.result(), [part for future in checking for part in future.result()]
        finally:
            checker.submit(stored_digests.close).result()


@contextmanager
def _values_refused(group: str) -> Iterator[None]:
    """A value PostgreSQL refuses (the conversion's checks should have found it first) as
    one line naming the group, never a driver's traceback."""
    try:
        yield
    except psycopg.errors.DataError as refused:
        first = str(refused).splitlines()[0] if str(refused) else type(refused).__name__
        raise ImportRefused(
            f"table group {group} was not written: PostgreSQL refused a value ({first}); "
            "the groups before it stay imported"
        ) from None


def _merged(conn: Connection, sha: str) -> dict[str, list[int]]:
    """The legacy ids of types merged into ones the target had, by table."""
    rows = conn.execute(
        "SELECT table_name, legacy_id FROM legacy_ids WHERE file_sha256 = %s AND merged", (sha,)
    ).fetchall()
    conn.commit()  # the groups that follow each commit on their own
    merged: dict[str, list[int]] = {}
    for name, legacy_id in rows:
        merged.setdefault(name, []).append(legacy_id)
    return merged


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _report(layout: Layout, sha: str, converted: Converted, options: ImportOptions) -> ImportReport:
    return ImportReport(
        file=str(layout.path), sha256=sha, read=converted.read,
        problems=converted.problems.sort("table", "id").to_dicts(),
        time_units=converted.time_units, null_volumes=converted.null_volumes,
        placeholders=converted.placeholders, extra_columns=layout.extra_columns,
        extra_tables=layout.extra_tables, dry_run=options.dry_run,
    )  # fmt: skip


def _done_groups(conn: Connection, sha: str) -> set[str]:
    rows = conn.execute(
        "SELECT table_group FROM legacy_imports WHERE file_sha256 = %s", (sha,)
    ).fetchall()
    return {row[0] for row in rows}


class _Plan:
    """Where each legacy row goes: its new id, its references rewritten."""

    def __init__(self, conn: Connection, sha: str, converted: Converted, options: ImportOptions,
                 report: ImportReport) -> None:  # fmt: skip
        self.conn, self.sha, self.converted = conn, sha, converted
        self.options, self.report = options, report
        self.ids: dict[str, dict[int, int]] = {t: self._stored_map(t) for t in PARENTS}
        self.candles: dict[Any, pl.DataFrame] | None = None  # by chart, made on first use

    def _stored_map(self, table: str) -> dict[int, int]:
        rows = self.conn.execute(
            "SELECT legacy_id, new_id FROM legacy_ids WHERE file_sha256 = %s AND table_name = %s",
            (self.sha, table),
        ).fetchall()
        return dict(rows)

    def check_conflicts(self, groups: list[str]) -> None:
        """Refuse ids (and type names) the target already holds, unless ids are remapped."""
        clashes = []
        tables = [t for t in tables_in(groups) if t != "candles"]  # candles have no id
        for table in tables:
            legacy = self.converted.tables[table]["id"].to_list()
            taken = self._taken(table, "id", legacy)
            if taken and not self.options.remap_ids:
                clashes.append(f"{table} ids {_listed(taken)}")
            if table in NAMED:
                names = sorted(self._held_names(table, self.converted.tables[table]))
                if names and not self.options.remap_ids:
                    clashes.append(f"{table} names {_listed(names)}")
        if clashes:
            raise ImportRefused(
                "the target database already holds "
                + "; ".join(clashes)
                + ": nothing was written; use --remap-ids to give the imported rows new ids"
                " (types with a name already there are then merged into it)"
            )

    def _taken(self, table: str, column: str, values: list[Any]) -> list[Any]:
        query = sql.SQL("SELECT {c} FROM {t} WHERE {c} = ANY(%s) ORDER BY {c}").format(
            c=sql.Identifier(column), t=sql.Identifier(table)
        )
        return [row[0] for row in self.conn.execute(query, (values,)).fetchall()]

    def on(self, conn: Connection) -> _Plan:
        """The same plan (ids, report) writing through another connection."""
        twin = copy.copy(self)
        twin.conn = conn
        return twin

    def write_group(self, group: str, on_table: Callable[[str, int], None]) -> None:
        written = {}
        chart = chart_of(group)
        for table in tables_of(group):
            if chart is not None:
                rows = self._write_candles(chart)
            elif table in PARENTS:
                rows = self._write_parent(table)
            else:
                rows = self._write_child(table)
            written[table] = rows
            self.report.written[table] = self.report.written.get(table, 0) + rows
            on_table(table, rows)
        self.conn.execute(
            "INSERT INTO legacy_imports (file_sha256, table_group, file_name, remapped, report)"
            " VALUES (%s, %s, %s, %s, %s)",
            (self.sha, group, Path(self.report.file).name, self.options.remap_ids,
             json.dumps({"written": written})),
        )  # fmt: skip

    def _write_parent(self, table: str) -> int:
        frame = self.converted.tables[table]
        mapping = self._new_ids(table, frame)
        self.ids[table] = mapping
        fresh = frame.with_columns(pl.col("id").replace_strict(mapping)).filter(
            ~pl.col("id").is_in(self._merged_ids(table))
        )
        if table == "charts":
            fresh = self._chart_sources(fresh)
        _copy_rows(self.conn, table, fresh.select(TARGET_COLUMNS[table]))
        self._record_ids(table, mapping)
        return frame.height

    def _record_ids(self, table: str, mapping: dict[int, int]) -> None:
        """Where each row went, and the table's sequence moved past every id it now holds."""
        merged = {m["legacy_id"] for m in self.report.merged_types if m["table"] == table}
        _copy_rows(self.conn, "legacy_ids", pl.DataFrame({
            "file_sha256": self.sha, "table_name": table, "legacy_id": list(mapping),
            "new_id": list(mapping.values()), "merged": [i in merged for i in mapping],
        }))  # fmt: skip
        self.conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'id'), (SELECT max(id) FROM {i}))")
            .format(t=sql.Literal(table), i=sql.Identifier(table))
        )  # fmt: skip

    def _new_ids(self, table: str, frame: pl.DataFrame) -> dict[int, int]:
        legacy = frame["id"].to_list()
        if not self.options.remap_ids:
            return {i: i for i in legacy}
        existing = self._existing_by_name(table, frame) if table in NAMED else {}
        fresh = [i for i in legacy if i not in existing]
        drawn = self.conn.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            (table, len(fresh)),
        ).fetchall()
        return {**existing, **{old: int(new[0]) for old, new in zip(fresh, drawn, strict=True)}}

    def _held_names(self, table: str, frame: pl.DataFrame) -> dict[str, int]:
        """The file's type names the target holds already, regardless of case (as the API
        compares names): each with the target's id of it."""
        query = sql.SQL("SELECT name, id FROM {t}").format(t=sql.Identifier(table))
        held = {fields.name_key(name): id_ for name, id_ in self.conn.execute(query).fetchall()}
        return {name: held[fields.name_key(name)] for name in frame["name"]
                if fields.name_key(name) in held}  # fmt: skip

    def _existing_by_name(self, table: str, frame: pl.DataFrame) -> dict[int, int]:
        by_name = self._held_names(table, frame)
        merged = {}
        for legacy_id, name in frame.select("id", "name").iter_rows():
            if name in by_name:
                merged[legacy_id] = by_name[name]
                self.report.merged_types.append(
                    {"table": table, "name": name, "legacy_id": legacy_id, "id": by_name[name]}
                )
        return merged

    def _merged_ids(self, table: str) -> list[int]:
        return [m["id"] for m in self.report.merged_types if m["table"] == table]

    def _chart_sources(self, charts: pl.DataFrame) -> pl.DataFrame:
        """Source "legacy", or "legacy:<new id>" where the key is taken (in file or target)."""
        query = "SELECT symbol, timeframe FROM charts WHERE source = %s"
        taken = set(self.conn.execute(query, (SOURCE,)).fetchall())
        sources = []
        for symbol, timeframe, legacy in charts.select("symbol", "timeframe", "id").iter_rows():
            key = (symbol, timeframe)
            sources.append(SOURCE if key not in taken else f"{SOURCE}:{legacy}")
            taken.add(key)
        return charts.with_columns(source=pl.Series(sources))

    def _write_candles(self, chart: int) -> int:
        """One chart's candles, by binary COPY, their chart id as candlelab knows it."""
        if self.candles is None:
            self.candles = self.converted.tables["candles"].partition_by("chart_id", as_dict=True)
        frame = self.candles.get((chart,))
        if frame is None:
            return 0
        copy_new_bars(self.conn, self.ids["charts"][chart], frame)
        return frame.height

    def _write_child(self, table: str) -> int:
        frame = self.converted.tables[table]
        if table == "annotations":
            frame = frame.rename({"candle_time": "time", "type_id": "annotation_type_id"})
        for column, parent in REFERENCES[table].items():
            frame = frame.with_columns(
                pl.col(column).replace_strict(self.ids[parent], default=None)
            )
        mapping = self._new_ids(table, frame)
        frame = frame.with_columns(pl.col("id").replace_strict(mapping))
        _copy_rows(self.conn, table, frame.select(TARGET_COLUMNS[table]))
        self._record_ids(table, mapping)
        return frame.height


# The columns each table is written with: the ones compared, and a chart's source.
TARGET_COLUMNS = {**COMPARED, "charts": [*COMPARED["charts"], "source"]}


def _copy_rows(conn: Connection, table: str, frame: pl.DataFrame) -> None:
    """Rows by CSV COPY, written by Polars: every text quoted, so only an unquoted \\N is
    NULL; jsonb columns parse their JSON text."""
    statement = sql.SQL("COPY {t} ({c}) FROM STDIN (FORMAT csv, NULL '\\N')").format(
        t=sql.Identifier(table), c=sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    text = frame.write_csv(include_header=False, null_value="\\N", quote_style="non_numeric")
    with conn.cursor().copy(statement) as copy:
        copy.write(text.encode())


def _listed(values: list[Any], shown: int = 5) -> str:
    head = ", ".join(map(str, values[:shown]))
    return head + (f" and {len(values) - shown} more" if len(values) > shown else "")
