"""The FastAPI app: the annotator's pages, its REST API (OpenAPI at /docs), its files.

Each request borrows a connection from a small pool: a window of 10,000 bars is one
indexed range scan, packed by the server into one bytea, with no connection set up per
call. A calendar chart's window also names the bars the calendar expects and it lacks.
Domain errors become HTTP answers in one place: a field that breaks a rule is 422
naming it, a stale version 409 with the current row, a missing row 404. No answer quotes
more than about 100 characters of a value sent (web/params.py), whatever its size.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from candlelab import __version__
from candlelab.errors import (
    AlreadyExists,
    DataError,
    InvalidField,
    NotFound,
    UnknownReference,
    VersionConflict,
    cut,
)
from candlelab.features.blocks import datetime64
from candlelab.market.candles import window
from candlelab.market.charts import Chart, ChartSummary, chart, chart_range, chart_summary
from candlelab.market.quality import missing_bars
from candlelab.market.timeframes import Timeframe
from candlelab.models.prediction import ModelShelf
from candlelab.store.urls import libpq_url
from candlelab.web import access as signing
from candlelab.web import (
    assets,
    features,
    health,
    labels,
    metrics,
    models,
    monitoring,
    pages,
    predictions,
)
from candlelab.web.access import Access, Guard
from candlelab.web.params import NO_SUCH_ROW, Count, Id, Moment, PlainText, echoed
from candlelab.web.pool import Conn
from candlelab.web.windows import CandleWindow, encode

MAX_WINDOW = 50_000  # bars in one response
# A message may name a field and quote a value cut to 100 characters; never more than this.
MESSAGE = 300
Times = npt.NDArray[np.generic]
STATIC = Path(__file__).with_name("static")
# No inline script anywhere, and no inline style but the chart library's attribution
# rules and the sign-in page's.
POLICY = (
    f"default-src 'self'; script-src 'self'; "
    f"style-src 'self' {assets.ATTRIBUTION_STYLE} {signing.SIGN_IN_STYLE_HASH}; "
    "img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class ChartList(BaseModel):
    total: int
    items: list[ChartSummary]


def create_app(url: str, access: Access | None = None, artifact_location: str = "",
               mlflow_ui: str = models.DEFAULT_MLFLOW_UI, *,
               freeze_heap: bool = False) -> FastAPI:  # fmt: skip
    """The app over the database at `url`; every route guarded by `access` if it has tokens.
    `artifact_location` is MLflow's (a model is read from its run's own artifact URI);
    `mlflow_ui` where MLflow's UI runs, for the links to a model version's run.
    `freeze_heap` (a server's process, `candlelab serve`): `freeze` once started and
    after each model version loaded."""
    vendor = assets.installed()  # refuse to start without the browser's libraries
    pool = ConnectionPool(libpq_url(url), min_size=1, max_size=4, open=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        app.state.models.servings.start()  # a moved alias served within seconds
        if freeze_heap:
            freeze()
        yield
        app.state.models.servings.stop()
        pool.close()

    app = FastAPI(title="candlelab", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None)  # fmt: skip  # /docs is pages.api_docs
    app.state.pool = pool
    app.state.models = ModelShelf(url, artifact_location,
                                  freeze if freeze_heap else lambda: None)  # fmt: skip
    app.state.mlflow_ui = mlflow_ui.rstrip("/")
    access = access or Access([])
    app.add_middleware(Guard, access=access)
    app.add_middleware(SecurityHeaders)  # added last: runs first, so a refusal has them too
    _errors(app)
    app.get("/api/charts", response_model=ChartList, summary="List charts", tags=["charts"])(
        list_charts
    )
    app.get("/api/charts/{chart_id}", response_model=ChartSummary, summary="One chart",
            tags=["charts"])(get_chart)  # fmt: skip
    app.get("/api/charts/{chart_id}/candles", response_model=CandleWindow,
            summary="A candle window", tags=["charts"])(get_window)  # fmt: skip
    app.get("/favicon.ico", include_in_schema=False)(favicon)
    app.include_router(signing.router(access))
    app.include_router(labels.router)
    app.include_router(features.router)
    app.include_router(predictions.router)
    app.include_router(models.router)
    app.include_router(metrics.router)
    app.include_router(monitoring.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.include_router(models.pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/vendor", StaticFiles(directory=vendor), name="vendor")
    return app


def freeze() -> None:
    """The objects alive now moved out of the garbage collector's reach (`gc.freeze`): a
    serving process holds MLflow, pandas, scikit-learn and a model, about 400,000 objects,
    and a full collection over them stops every request for 150-210 ms (measured in
    `candlelab serve` as a model loaded, docs/benchmarks.md). They live as long as the
    process; a cycle among them is never freed, a small price for a server's heap."""
    gc.freeze()


def favicon() -> FileResponse:
    """The icon browsers ask for at /favicon.ico whatever the page links: our SVG one."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip


class SecurityHeaders:
    """The security headers on every answer, as plain ASGI middleware (no task of its
    own per request, unlike `@app.middleware`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, with_headers)


def _errors(app: FastAPI) -> None:
    """Domain errors as HTTP answers, shaped like FastAPI's own."""

    def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidField)
        detail = [{"loc": ["body", exc.field], "msg": cut(exc.reason, MESSAGE),
                   "type": "value_error"}]  # fmt: skip
        return JSONResponse({"detail": detail}, status_code=422)

    def unparsed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        gone = [e for e in errors if e["type"] == NO_SUCH_ROW]
        if gone:  # an id past bigint: no such row can exist
            return JSONResponse({"detail": _no_such_row(gone[0])}, status_code=404)
        return JSONResponse({"detail": [_error(e) for e in errors]}, status_code=422)

    def conflict(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VersionConflict)
        current = jsonable_encoder(asdict(exc.current))  # type: ignore[call-overload]
        return JSONResponse({"detail": str(exc), "current": current}, status_code=409)

    def plain(code: int) -> Callable[[Request, Exception], Response]:
        return lambda request, exc: JSONResponse(
            {"detail": cut(str(exc), MESSAGE)}, status_code=code
        )

    app.add_exception_handler(RequestValidationError, unparsed)
    app.add_exception_handler(InvalidField, invalid)
    app.add_exception_handler(VersionConflict, conflict)
    app.add_exception_handler(NotFound, plain(404))
    app.add_exception_handler(AlreadyExists, plain(409))
    app.add_exception_handler(UnknownReference, plain(422))
    app.add_exception_handler(DataError, plain(422))


def _error(error: Any) -> dict[str, Any]:
    """One of FastAPI's validation errors, its `input` cut short and JSON-safe."""
    shown = {"type": error["type"], "loc": list(error["loc"]), "msg": cut(error["msg"], MESSAGE)}
    return shown | ({"input": echoed(error["input"])} if "input" in error else {})


def _no_such_row(error: Any) -> str:
    what = str(error["loc"][-1]).removesuffix("_id").replace("_", " ")
    return f"{what} {echoed(error['input'])} does not exist"


def list_charts(
    conn: Conn,
    q: Annotated[PlainText | None, Query(description="Part of the symbol or name.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = pages.PAGE,
    offset: Annotated[Count, Query()] = 0,
) -> ChartList:
    """Every chart with its bar, span and annotation counts and first and last bar;
    filtered by `q`, paged."""
    charts = pages.matching_charts(conn, q)
    return ChartList(total=len(charts), items=charts[offset : offset + limit])


def get_chart(chart_id: Id, conn: Conn) -> ChartSummary:
    summary = chart_summary(conn, chart_id)
    if summary is None:
        raise no_such_chart(chart_id)
    return summary


def get_window(
    chart_id: Id,
    conn: Conn,
    start: Annotated[
        Moment | None, Query(description="First bar time; default: the newest bars.")
    ] = None,
    end: Annotated[Moment | None, Query(description="Bars before this time; default: all.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_WINDOW)] = 10_000,
) -> CandleWindow:
    """Bars of a chart oldest first: from `start`, or the newest `limit` before `end`; with
    the bars its calendar expects there and it lacks."""
    try:
        found = chart(conn, chart_id)
    except UnknownReference:
        raise no_such_chart(chart_id) from None
    bars = window(conn, chart_id, start, end or datetime.max.replace(tzinfo=UTC), limit)
    if found.calendar == "24/7" or not len(bars["time"]):
        # A 24/7 chart's gaps the browser sees from the bar step: spared the work.
        return encode(chart_id, bars, bars["time"][:0])
    low, high = _lacking_range(bars["time"], start, end, limit)
    return encode(chart_id, bars, _missing(conn, found, bars["time"], low, high))


def _lacking_range(times: Times, start: datetime | None, end: datetime | None,
                   limit: int) -> tuple[np.datetime64, np.datetime64]:  # fmt: skip
    """The range a window's missing bars are looked for in: from `start` (or its first
    bar) to its last bar, or on to `end` when it reached no limit or was read back from
    `end`, so the gap up to bars the browser holds shows too."""
    low = datetime64(start) if start else times[0]
    high = times[-1]
    if end is not None and not (len(times) == limit and start is not None):
        high = min(datetime64(end) - np.timedelta64(1, "us"), datetime64(datetime.now(UTC)))
    return low, high


def _missing(conn: Conn, chart: Chart, times: Times, low: np.datetime64,
             high: np.datetime64) -> Times:  # fmt: skip
    """What a calendar chart lacks in [low, high], looked for only between its own first
    and last bar and over at most MAX_WINDOW bar steps, so a `start` in the year 2 costs
    no more than one in the chart's range."""
    first, last = chart_range(conn, chart.id)
    if first is None or last is None:
        return times[:0]
    low, high = max(low, datetime64(first)), min(high, datetime64(last))
    step = Timeframe.parse(chart.timeframe).micros
    if step is not None:  # a calendar expects at most one bar a step
        high = min(high, low + np.timedelta64(step * MAX_WINDOW, "us"))
    if high < low:
        return times[:0]
    return missing_bars(chart, times, low, high)[:MAX_WINDOW]


def no_such_chart(chart_id: int) -> HTTPException:
    return HTTPException(404, detail=f"chart {chart_id} does not exist")
