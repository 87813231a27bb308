"""`candlelab import-sqlite PATH`: a legacy annotator file into PostgreSQL, verified."""

from __future__ import annotations

import json as jsonlib
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out, table
from candlelab.errors import ImportRefused, OperationalError

if TYPE_CHECKING:
    from candlelab.legacy.conversion import Converted
    from candlelab.legacy.importer import ImportReport

PROBLEMS_SHOWN = 20


def import_sqlite(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="The legacy annotator's SQLite file (data/candles.db).")
    ],
    dry_run: Annotated[
        bool, typer.Option(help="Read, convert and check everything; write nothing.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid rows; write the others to the reject file.")
    ] = False,
    reject_file: Annotated[
        Path | None,
        typer.Option(help="Where rejected rows go (JSON Lines).  [default: PATH.rejects.jsonl]"),
    ] = None,
    remap_ids: Annotated[
        bool, typer.Option(help="Give imported rows new ids where the target has them already.")
    ] = False,
    write_sample_file: Annotated[
        bool,
        typer.Option("--write-sample", help="Write a sample legacy file at PATH to try this on."),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import a legacy candle annotator database (SQLite), then verify it row for row.

    The file is opened read-only. Each table group (charts and candles, annotation types and
    annotations, label types and spans) is one transaction; a re-run finishes an interrupted
    import and changes nothing after a complete one. Problems stop the import before
    anything is written, unless --skip-invalid. Every run ends by comparing row counts and
    checksums of the converted values from both sides; exit code 1 if any differ.
    """
    from candlelab.legacy.importer import ImportOptions, import_file
    from candlelab.legacy.layout import TABLES
    from candlelab.legacy.sample import SampleSpec, write_sample

    if write_sample_file:
        write_sample(path, SampleSpec(problems=frozenset()))
        out.print(f"wrote a sample legacy file: {path}; try: candlelab import-sqlite {path}")
        return
    options = ImportOptions(dry_run=dry_run, skip_invalid=skip_invalid, remap_ids=remap_ids)
    ws = workspace(ctx)
    with ws.connect() as conn, _progress(quiet=json) as progress:
        task = progress.add_task("importing", total=len(TABLES))

        def written(name: str, rows: int) -> None:
            progress.update(task, advance=1, description=f"{name}: {rows:,} rows")

        report, converted = import_file(conn, ws.database_url, path, options, written)
    rejects = None
    if report.problems and skip_invalid and not dry_run:
        rejects = reject_file or path.with_name(path.name + ".rejects.jsonl")
        try:
            write_rejects(path, rejects, converted)
        except OSError as exc:  # e.g. beside a file in a folder nobody may write
            raise OperationalError(
                f"{rejects}: cannot write the reject file ({exc.strerror}); the valid rows are "
                "imported; run again with --reject-file elsewhere to list the rejected ones"
            ) from None
    _show(report, rejects, json)
    if report.problems and not skip_invalid:
        raise ImportRefused(_refusal(path, report))
    if report.checks and not report.verified:
        raise ImportRefused(f"{path}: written, but verification found differences (above)")


def _refusal(path: Path, report: ImportReport) -> str:
    """The one line a refused import ends with, on stderr: the report is on stdout."""
    first = sorted(report.problems, key=lambda p: p["code"] == "orphan")[0]
    verb = "would be written" if report.dry_run else "written"
    return (
        f"{path}: {len(report.problems)} row(s) refused, nothing {verb}; first: "
        f"{first['table']} {first['id']} {first['field']}: {first['value']}; "
        "fix them, or import the rest with --skip-invalid"
    )


def write_rejects(path: Path, rejects: Path, converted: Converted) -> None:
    """Every rejected row, whole, as the legacy file has it, with its reasons (a value too
    long to import is not copied either: its size stands in for it)."""
    from candlelab.legacy.layout import open_readonly, readable

    reasons: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for problem in converted.problems.iter_rows(named=True):
        reasons.setdefault((problem["table"], problem["id"]), []).append(
            {k: problem[k] for k in ("code", "field", "value")}
        )
    with (
        readable(path) as source,
        closing(open_readonly(source.read)) as legacy,
        rejects.open("w") as handle,
    ):
        legacy.row_factory = sqlite3.Row
        for (name, row_id), why in sorted(reasons.items(), key=lambda r: (r[0][0], r[0][1] or 0)):
            line = {"table": name, "id": row_id, "problems": why,
                    "row": _legacy_row(legacy, name, row_id)}  # fmt: skip
            handle.write(jsonlib.dumps(line, default=str) + "\n")


def _legacy_row(legacy: sqlite3.Connection, table: str, row_id: int | None) -> dict[str, Any]:
    """The row as the file has it, each value longer than MAX_VALUE replaced by its size."""
    columns = [row[1] for row in legacy.execute(f"PRAGMA table_info({table})")]
    picked = ", ".join(_at_most(column) for column in columns)
    # Column names come from the file: quoted as identifiers; the table's name from TABLES.
    row = legacy.execute(f"SELECT {picked} FROM {table} WHERE id = ?", (row_id,)).fetchone()  # noqa: S608
    return dict(row) if row is not None else {}


def _at_most(column: str) -> str:
    from candlelab.legacy.conversion import MAX_VALUE

    name = '"' + column.replace('"', '""') + '"'
    size = f"'a ' || typeof({name}) || ' of ' || length({name}) || ', not copied'"
    return f"CASE WHEN length({name}) > {MAX_VALUE} THEN {size} ELSE {name} END AS {name}"


def _show(report: ImportReport, rejects: Path | None, json: bool) -> None:
    if json:
        emit_json({**report.__dict__, "verified": report.verified,
                   "reject_file": str(rejects) if rejects else None})  # fmt: skip
        return
    _notes(report)
    if report.problems:
        _problems(report, rejects)
    if report.dry_run:
        out.print("dry run, nothing written; would write: " + ", ".join(
            f"{rows:,} {name}" for name, rows in report.written.items()) or "nothing")  # fmt: skip
        return
    if report.already_imported and not report.written:
        out.print("already imported: nothing to write")
    rows = [
        (c.table, report.read.get(c.table, 0), report.written.get(c.table, 0), c.rows_in,
         c.rows_out, c.checksum_in[:16], c.checksum_out[:16], "ok" if c.ok else "DIFFERS")
        for c in report.checks
    ]  # fmt: skip
    columns = ("table", "read", "written", "rows in", "rows out", "checksum in", "checksum out", "")
    table("import-sqlite: verification", columns, rows)


def _notes(report: ImportReport) -> None:
    units = ", ".join(f"{column} {unit}" for column, unit in report.time_units.items())
    out.print(f"{escape(report.file)}: times read as {units}", soft_wrap=True)
    if report.null_volumes:
        out.print(f"{report.null_volumes:,} candle(s) without volume: stored with volume 0")
    for placed in report.placeholders:
        given = ", ".join(f"{k} {v}" for k, v in placed.items() if k in ("symbol", "timeframe"))
        name = escape(repr(placed["name"]))  # a name from the file: text, not markup
        out.print(f"chart {placed['chart']} ({name}): placeholder {given}", soft_wrap=True)
    for name, columns in report.extra_columns.items():
        shown = escape(", ".join(columns))  # names from the file: text, not markup
        out.print(f"table {name} has column(s) candlelab does not import: {shown}")
    if report.extra_tables:
        out.print(f"tables not imported: {escape(', '.join(report.extra_tables))}")
    for merged in report.merged_types:
        name = escape(repr(merged["name"]))
        out.print(f"{merged['table']} {name} (legacy id {merged['legacy_id']}) "
                  f"merged into the existing id {merged['id']}")  # fmt: skip


def _problems(report: ImportReport, rejects: Path | None) -> None:
    # The causes first: a refused chart's many candles are orphans, shown after it.
    shown = sorted(report.problems, key=lambda p: p["code"] == "orphan")[:PROBLEMS_SHOWN]
    # Values from the file are text, not markup.
    rows = [(p["table"], p["id"], p["code"], p["field"], escape(p["value"] or ""))
            for p in shown]  # fmt: skip
    table(f"{len(report.problems)} problem(s)", ("table", "id", "problem", "field", "value"), rows)
    if rejects is not None:
        out.print(f"rejected rows, whole, with their reasons: {rejects}")


def _progress(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description:<32}"), BarColumn())
    return Progress(*columns, console=out, transient=True, disable=quiet)
