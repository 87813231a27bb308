"""The legacy file's layout, and opening one read-only with a clear error for anything else."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from candlelab.errors import InputError

SQLITE_MAGIC = b"SQLite format 3\x00"
# Each legacy table's columns and what they hold: id, int, time (epoch s or ms), real,
# text, bool (0/1), json (text); a trailing "!" marks NOT NULL.
TABLES: dict[str, dict[str, str]] = {
    "charts": {"id": "id", "name": "text!", "symbol": "text", "timeframe": "text",
               "created_at": "time!"},
    "candles": {"id": "id", "chart_id": "int!", "time": "time!", "open": "real!",
                "high": "real!", "low": "real!", "close": "real!", "volume": "real"},
    "annotation_types": {"id": "id", "name": "text!", "color": "text!", "icon": "text",
                         "is_active": "bool!", "created_at": "time!"},
    "annotations": {"id": "id", "chart_id": "int!", "candle_time": "time!", "type_id": "int",
                    "geometry": "json", "note": "text", "created_at": "time!",
                    "updated_at": "time"},
    "span_label_types": {"id": "id", "name": "text!", "color": "text!", "description": "text",
                         "is_active": "bool!", "created_at": "time!"},
    "span_annotations": {"id": "id", "chart_id": "int!", "label_type_id": "int!",
                         "start_time": "time!", "end_time": "time!", "source": "text!",
                         "confidence": "real", "sub_spans": "json", "model_prediction": "json",
                         "created_at": "time!", "updated_at": "time"},
}  # fmt: skip
IGNORED_TABLES = {"__drizzle_migrations", "sqlite_sequence"}


@dataclass(frozen=True)
class Layout:
    path: Path
    extra_columns: dict[str, list[str]]  # table → columns the legacy app did not have
    extra_tables: list[str]


def kind(table: str, column: str) -> str:
    return TABLES[table][column].rstrip("!")


def required(table: str, column: str) -> bool:
    return TABLES[table][column].endswith("!")


def sqlite_uri(path: Path) -> str:
    """A read-only URI: SQLite will not write the file, its journal or its WAL."""
    return f"file:{path.absolute()}?mode=ro"


def open_readonly(path: Path) -> sqlite3.Connection:
    """The file opened read-only, once it is known to be a SQLite file."""
    _check_file(path)
    try:
        return sqlite3.connect(sqlite_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot open as SQLite: {exc}") from None


def check_layout(conn: sqlite3.Connection, path: Path) -> Layout:
    """The layout, or an error naming the first missing table or column."""
    try:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a readable SQLite database: {exc}") from None
    if not names & {"charts", "candles"}:
        raise InputError(
            f"{path}: a SQLite database, but not a candle annotator's (no charts or candles "
            f"table; it has {', '.join(sorted(names)) or 'no tables'})"
        )
    missing = [table for table in TABLES if table not in names]
    if missing:
        raise InputError(f"{path}: missing table(s) {', '.join(missing)}")
    extras = {table: _extra_columns(conn, path, table) for table in TABLES}
    extra_tables = sorted(names - set(TABLES) - IGNORED_TABLES)
    return Layout(path, {t: cols for t, cols in extras.items() if cols}, extra_tables)


def _extra_columns(conn: sqlite3.Connection, path: Path, table: str) -> list[str]:
    present = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    missing = [column for column in TABLES[table] if column not in present]
    if missing:
        raise InputError(f"{path}: table {table} lacks column(s) {', '.join(missing)}")
    return [column for column in present if column not in TABLES[table]]


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror}") from None
    if not head:
        raise InputError(f"{path}: the file is empty")
    if head != SQLITE_MAGIC:
        raise InputError(
            f"{path}: not a SQLite database (it does not start with the SQLite header)"
        )
