"""Which revision a database is at, and which this candlelab ships, read without Alembic.

Every command checks the database's revision before it works: importing Alembic (and
SQLAlchemy with it) for that would cost each command about a quarter of a second.
"""

from __future__ import annotations

from pathlib import Path

from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
VERSIONS = Path(__file__).with_name("versions")


def current(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with connect(url) as conn:
        return revision(conn)


def revision(conn: Connection) -> str | None:
    """`current` on a connection already open (the web app's pooled ones)."""
    table = conn.execute(QUERIES["version_table"]).fetchone()
    if table is None or table[0] is None:
        return None
    row = conn.execute(QUERIES["current"]).fetchone()
    return None if row is None else str(row[0])


def head() -> str:
    """The newest revision this candlelab ships. Revision files are named by their
    revision, numbered in order (`0007_what.py` holds revision 0007), so it is the
    highest number."""
    numbers = [path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9]*_*.py")]
    assert numbers, "the migrations folder has no revisions"
    return max(numbers)
