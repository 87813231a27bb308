"""One pooled connection per request: no connection set up per call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from psycopg_pool import ConnectionPool

from candlelab.store.database import Connection


@contextmanager
def pooled(app: FastAPI) -> Iterator[Connection]:
    """A connection of the app's pool; what it did not commit is rolled back."""
    pool: ConnectionPool = app.state.pool
    with pool.connection() as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def connection(request: Request) -> Iterator[Connection]:
    """A pooled connection for one request (`pooled`)."""
    with pooled(request.app) as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection)]
