"""The FastAPI app: charts and candle windows from the database, OpenAPI at /docs.

Each request borrows a connection from a small pool: a window of 10,000 bars is one
indexed range scan read through a binary cursor, with no connection set up per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from candlelab import __version__
from candlelab.candles import window
from candlelab.charts import ChartSummary, chart, chart_summaries, chart_summary
from candlelab.database import Connection
from candlelab.errors import UnknownReference
from candlelab.urls import libpq_url
from candlelab.web.access import Access
from candlelab.web.windows import CandleWindow, encode

MAX_WINDOW = 50_000  # bars in one response


class ChartList(BaseModel):
    total: int
    items: list[ChartSummary]


def create_app(url: str, access: Access | None = None) -> FastAPI:
    """The app over the database at `url`; every route guarded by `access` if it has tokens."""
    pool = ConnectionPool(libpq_url(url), min_size=1, max_size=4, open=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        yield
        pool.close()

    app = FastAPI(title="candlelab", version=__version__, lifespan=lifespan)
    app.state.pool = pool
    app.middleware("http")((access or Access([])).middleware)
    app.get("/api/charts", response_model=ChartList, summary="List charts")(list_charts)
    app.get("/api/charts/{chart_id}", response_model=ChartSummary, summary="One chart")(get_chart)
    app.get(
        "/api/charts/{chart_id}/candles", response_model=CandleWindow, summary="A candle window"
    )(get_window)
    return app


def connection(request: Request) -> Iterator[Connection]:
    """A pooled connection for one request."""
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection)]


def list_charts(
    conn: Conn,
    q: Annotated[str | None, Query(description="Part of the symbol or name.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ChartList:
    """Every chart with its bar count and first and last bar; filtered by `q`, paged."""
    charts = [c for c in chart_summaries(conn) if _matches(c, q)]
    return ChartList(total=len(charts), items=charts[offset : offset + limit])


def get_chart(chart_id: int, conn: Conn) -> ChartSummary:
    summary = chart_summary(conn, chart_id)
    if summary is None:
        raise _no_such_chart(chart_id)
    return summary


def get_window(
    chart_id: int,
    conn: Conn,
    start: Annotated[
        datetime | None, Query(description="First bar time; default: the newest bars.")
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Bars before this time; default: all.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_WINDOW)] = 10_000,
) -> CandleWindow:
    """Bars of a chart oldest first: from `start`, or the newest `limit` before `end`."""
    try:
        chart(conn, chart_id)
    except UnknownReference:
        raise _no_such_chart(chart_id) from None
    rows = window(conn, chart_id, _utc(start), _utc(end) or datetime.max.replace(tzinfo=UTC), limit)
    return encode(chart_id, rows)


def _no_such_chart(chart_id: int) -> HTTPException:
    return HTTPException(404, detail=f"chart {chart_id} does not exist")


def _matches(chart: ChartSummary, q: str | None) -> bool:
    return q is None or q.lower() in f"{chart.symbol} {chart.name}".lower()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
