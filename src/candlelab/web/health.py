"""`GET /health`: whether this server can do its work, for a load balancer or a container's
health check. It needs no token (access.PUBLIC) and tells nothing but the database's state.

200 when the database answers and its schema is at the revision this candlelab ships;
503 otherwise, saying which: a server restarted or gone, or a schema that another
candlelab migrated (or none did) — the cases where the other routes fail.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from candlelab.store.migrations.revisions import head, revision

router = APIRouter(tags=["operations"])
PATH = "/health"
# Seconds to wait for a pooled connection: a check must answer before its caller gives up.
WAIT = 3.0
Schema = Literal["current", "missing", "out of date", "unknown"]


class Health(BaseModel):
    database: Literal["ok", "unreachable"]
    # `schema` would shadow an attribute of BaseModel; it is the name on the wire.
    schema_: Schema = Field(alias="schema")


@router.get(PATH, response_model=Health, responses={503: {"model": Health}},
            summary="Health check")  # fmt: skip
def health(request: Request) -> JSONResponse:
    """200 {"database": "ok", "schema": "current"} when the database answers and is migrated
    to this candlelab's head revision; 503 with what is wrong otherwise. No token needed."""
    found = check(request.app.state.pool)
    code = 200 if found.schema_ == "current" else 503
    return JSONResponse(found.model_dump(by_alias=True), status_code=code)


def check(pool: ConnectionPool) -> Health:
    """The database's state, read on one of the app's pooled connections."""
    try:
        with pool.connection(timeout=WAIT) as conn:
            at = revision(conn)
    except psycopg.Error:  # the pool's timeout, a dropped connection, a server gone
        return Health(database="unreachable", schema="unknown")
    state: Schema = "current" if at == head() else "missing" if at is None else "out of date"
    return Health(database="ok", schema=state)
