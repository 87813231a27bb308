"""One pooled connection per request: no connection set up per call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from psycopg_pool import ConnectionPool

from candlelab.store.database import Connection


@contextmanager
def pooled(app: FastAPI, *, autocommit: bool = False) -> Iterator[Connection]:
    """A connection of the app's pool; what it did not commit is rolled back.
    `autocommit`: each statement its own transaction while the block runs, committed as
    it ends (as durable as a COMMIT): no BEGIN, COMMIT or ROLLBACK round trips, for work
    whose one write commits at once; given back to the pool as the others are."""
    pool: ConnectionPool = app.state.pool
    with pool.connection() as conn:
        conn.autocommit = autocommit  # the pool hands out idle connections
        try:
            yield conn
        finally:
            conn.rollback()
            if not conn.closed:
                conn.autocommit = False


def connection(request: Request) -> Iterator[Connection]:
    """A pooled connection for one request (`pooled`)."""
    with pooled(request.app) as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection)]
