"""The legacy file's layout, and opening one read-only with a clear error for anything else.

Nothing beside the legacy file is ever created or changed. A file with no journal beside
it is opened `immutable`: SQLite then takes no lock and makes no -wal or -shm file. A
file with a -wal (rows perhaps not yet checkpointed into the file) or a -journal (a
transaction perhaps cut short) is read through a private copy of it and its journal in a
temporary folder, where SQLite may checkpoint or roll back as it must.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
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


JOURNALS = ("-wal", "-journal")  # what SQLite may keep beside a file, holding its last writes


@dataclass(frozen=True)
class Source:
    """A legacy file as it is read: `path` is the user's file, named in every message;
    `read` is the file opened, `path` itself or a private copy of it and its journal."""

    path: Path
    read: Path
    sha256: str | None = None  # of the file and its journal, when copied (else worked out later)


@dataclass(frozen=True)
class Layout:
    path: Path  # the user's file
    read: Path  # the file opened (see Source)
    extra_columns: dict[str, list[str]]  # table → columns the legacy app did not have
    extra_tables: list[str]


def kind(table: str, column: str) -> str:
    return TABLES[table][column].rstrip("!")


def required(table: str, column: str) -> bool:
    return TABLES[table][column].endswith("!")


def sqlite_uri(path: Path) -> str:
    """An immutable URI: SQLite writes nothing, locks nothing, and makes no file beside it.
    For a file known to have no journal beside it (see `readable`)."""
    return f"file:{path.absolute()}?mode=ro&immutable=1"


@contextmanager
def readable(path: Path) -> Iterator[Source]:
    """The file to read for `path`: itself, or a private copy while a journal is beside it."""
    _check_file(path)
    real = path.resolve()  # SQLite keeps a symlinked file's journal beside the target
    journals = [j for j in (real.with_name(real.name + s) for s in JOURNALS) if j.exists()]
    if not journals:
        yield Source(path, path)
        return
    with tempfile.TemporaryDirectory(prefix="candlelab-legacy-") as scratch:
        yield _private_copy(path, real, journals, Path(scratch))


def open_readonly(path: Path) -> sqlite3.Connection:
    """A file from `readable` (its `read`) opened immutable, once it is known to be SQLite."""
    _check_file(path)
    try:
        return sqlite3.connect(sqlite_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot open as SQLite: {exc}") from None


def _private_copy(path: Path, real: Path, journals: list[Path], scratch: Path) -> Source:
    """The file and its journals copied into `scratch` (hashed on the way), then the copy
    made whole: its WAL checkpointed into it, or its cut-short transaction rolled back."""
    digest = hashlib.sha256()
    copy = scratch / "legacy.db"
    for source in (real, *journals):
        suffix = source.name[len(real.name) :]  # "", "-wal" or "-journal"
        _copy_hashing(source, copy.with_name(copy.name + suffix), digest.update)
    try:
        with closing(sqlite3.connect(copy)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.Error as exc:
        raise InputError(f"{path}: cannot read it with its journal: {exc}") from None
    return Source(path, copy, digest.hexdigest())


def _copy_hashing(source: Path, target: Path, hashed: Callable[[bytes], object]) -> None:
    try:
        with source.open("rb") as reading, target.open("wb") as writing:
            while chunk := reading.read(1 << 20):
                hashed(chunk)
                writing.write(chunk)
    except OSError as exc:
        raise InputError(f"{source}: cannot read it: {exc.strerror}") from None


def check_layout(conn: sqlite3.Connection, source: Source) -> Layout:
    """The layout, or an error naming the first missing table or column."""
    path = source.path
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
    columns = {t: cols for t, cols in extras.items() if cols}
    return Layout(path, source.read, columns, extra_tables)


def _extra_columns(conn: sqlite3.Connection, path: Path, table: str) -> list[str]:
    present = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    missing = [column for column in TABLES[table] if column not in present]
    if missing:
        raise InputError(f"{path}: table {table} lacks column(s) {', '.join(missing)}")
    return [column for column in present if column not in TABLES[table]]


def _check_file(path: Path) -> None:
    """Errors name the file and what it is not; never a byte of what it holds."""
    if path.is_dir():
        raise InputError(f"{path}: a directory, not a SQLite file")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file, so not a SQLite database")
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
