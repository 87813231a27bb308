"""The database a benchmark runs on: the server BENCH_DATABASE_URL names, or a fresh
embedded one in the run's scratch folder, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from candlelab.store import migrations
from candlelab.store.database import Connection, ensure_database
from candlelab.store.embedded import EmbeddedServer
from candlelab.store.urls import with_database


@contextmanager
def bench_database(name: str, scratch: Path) -> Iterator[str]:
    """The URL of database `name`, created if need be and migrated."""
    given = os.environ.get("BENCH_DATABASE_URL")
    server = None if given else EmbeddedServer(scratch / "home")
    url = with_database(server.start() if server else str(given), name)
    try:
        ensure_database(url)
        migrations.upgrade(url)
        yield url
    finally:
        if server:
            server.stop()


def vacuum(conn: Connection, *tables: str) -> None:
    """The tables vacuumed and analysed before they are read: no read pays for hint bits,
    and the planner knows their sizes."""
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    finally:
        conn.autocommit = False
