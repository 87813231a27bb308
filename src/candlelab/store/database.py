"""Connections to candlelab's PostgreSQL database, and the one place driver errors become ours."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, LiteralString, TypeGuard

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow

from candlelab import errors
from candlelab.store.urls import database_name, describe, libpq_url, sqlalchemy_url, with_database

if TYPE_CHECKING:
    import sqlalchemy

Connection = psycopg.Connection[TupleRow]

# Named constraints, each mapped to the domain error a caller can act on.
CONSTRAINT_ERRORS: dict[str, type[errors.DataError]] = {
    "uq_charts_symbol_timeframe_source": errors.ChartExists,
    "pk_candles": errors.DuplicateCandle,
    "ck_candles_ohlc": errors.InvalidCandle,
    "ck_candles_volume": errors.InvalidCandle,
    "uq_annotation_types_name": errors.LabelExists,
    "uq_span_label_types_name": errors.LabelExists,
    "uq_span_label_types_hotkey": errors.LabelExists,
    "ck_span_annotations_time_order": errors.InvalidSpan,
    "ck_span_annotations_source": errors.InvalidSpan,
    "ck_span_annotations_status": errors.InvalidSpan,
    "ck_span_annotations_confidence": errors.InvalidSpan,
    "pk_training_runs": errors.RunExists,
}
SQLSTATE_ERRORS: dict[type[Exception], type[errors.DataError]] = {
    pg_errors.UniqueViolation: errors.AlreadyExists,
    pg_errors.ForeignKeyViolation: errors.UnknownReference,
    pg_errors.CheckViolation: errors.InvalidValue,
    pg_errors.NotNullViolation: errors.InvalidValue,
}
RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def connect(url: str, *, autocommit: bool = False) -> Connection:
    """Open one connection; an unreachable server or bad credentials become DatabaseUnavailable."""
    try:
        return psycopg.connect(libpq_url(url), autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise errors.DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {describe(url)}: {first_line(exc)}"
        ) from None


def engine(url: str) -> sqlalchemy.Engine:
    """A SQLAlchemy engine for Alembic and metadata work; no pool, as each use is short.

    It connects through `connect`, so connection failures read the same everywhere.
    SQLAlchemy is imported here, not by every command that only connects.
    """
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    return sqlalchemy.create_engine(
        sqlalchemy_url(url), poolclass=NullPool, creator=lambda: connect(url)
    )


@contextmanager
def translated() -> Iterator[None]:
    """Turn driver errors raised inside the block into candlelab's domain errors."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise domain_error(exc) from exc
    except RETRYABLE as exc:
        raise errors.TemporaryError(first_line(exc)) from exc
    except psycopg.OperationalError as exc:
        if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
            raise
        raise errors.DatabaseUnavailable(f"lost the database: {first_line(exc)}") from exc
    except Exception as exc:
        if _sqlalchemy_integrity_error(exc) and isinstance(exc.orig, psycopg.Error):
            raise domain_error(exc.orig) from exc
        raise


def returned_id(conn: Connection, query: LiteralString, params: Mapping[str, object]) -> int:
    """Run an INSERT ... RETURNING id, with its constraint errors translated; the id."""
    with translated():
        row = conn.execute(query, params).fetchone()
    assert row is not None, "the statement returned no row"
    return int(row[0])


def domain_error(exc: psycopg.Error) -> errors.DataError:
    """The domain error for a constraint violation, keyed on the constraint's name."""
    name = exc.diag.constraint_name or ""
    cls = CONSTRAINT_ERRORS.get(name) or SQLSTATE_ERRORS.get(type(exc), errors.DataError)
    detail = exc.diag.message_detail or first_line(exc)
    return cls(f"{(cls.__doc__ or '').strip()} ({name or exc.sqlstate}: {detail})")


@contextmanager
def advisory_lock(url: str, name: str) -> Iterator[None]:
    """Hold a server-wide lock named `name` (e.g. to serialise schema upgrades across processes)."""
    key = zlib.crc32(name.encode())
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%(key)s)", {"key": key})
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": key})


def ensure_database(url: str) -> bool:
    """Create the database `url` names if it is missing; True when this call created it."""
    name = database_name(url)
    with connect(with_database(url, "postgres"), autocommit=True) as conn:
        if conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
        ).fetchone():
            return False
        try:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        except (pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
            return False  # another process created it a moment ago
    return True


def _sqlalchemy_integrity_error(exc: Exception) -> TypeGuard[sqlalchemy.exc.IntegrityError]:
    """SQLAlchemy's wrapper of a constraint violation; none can be raised (and SQLAlchemy
    need not be imported to tell) while nothing has imported it."""
    module = sys.modules.get("sqlalchemy.exc")
    return module is not None and isinstance(exc, module.IntegrityError)


def first_line(exc: BaseException) -> str:
    """The exception's message's first line (a server error's detail and hint follow),
    or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
