"""One pooled connection per request: no connection set up per call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from candlelab.store.database import Connection


def connection(request: Request) -> Iterator[Connection]:
    """A pooled connection for one request; what it did not commit is rolled back."""
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        try:
            yield conn
        finally:
            conn.rollback()


Conn = Annotated[Connection, Depends(connection)]
