"""The annotator's pages, rendered on the server: charts (with upload), one chart, types.

Templates escape everything they print (Jinja's autoescape), and carry no inline script
or style: the page's data rides in `data-` attributes, read by /static/annotator.js.
An upload is written to a file whose name the server makes (only the suffix is kept
from the user's name) and goes through `ingest_jobs`, like `candlelab ingest`. Its symbol
follows the one rule for symbols, its timezone must be a known zone, and whatever is
wrong is a 422 naming the field or the uploaded file, never the server's own path.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from candlelab.errors import CandlelabError, UnknownReference, cut
from candlelab.market.charts import ChartSummary, chart, chart_range, chart_summaries
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_jobs
from candlelab.market.timeframes import Timeframe
from candlelab.web.params import Id, PlainText
from candlelab.web.pool import Conn
from candlelab.web.rendering import templates

router = APIRouter(include_in_schema=False)
SUFFIXES = (".csv", ".csv.gz", ".parquet", ".tsv", ".txt")
UPLOAD_LIMIT = 200 * 1024 * 1024  # bytes
EXPANDED_LIMIT = 5 * UPLOAD_LIMIT  # what a .gz or .zip upload may expand to
CHUNK = 1 << 20
PAGE = 100  # charts a page shows; /api/charts pages by the same default
MESSAGE = 300  # characters of an upload's error shown at most


@dataclass
class UploadResult:
    file_name: str
    reports: list[IngestReport] | None = None  # one per candle table in the file
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(report.ok for report in self.reports or [])


@router.get("/", response_class=HTMLResponse)
def charts_page(
    request: Request, conn: Conn, q: PlainText | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:  # fmt: skip
    return _charts(request, conn, q, page=page)


@router.post("/charts/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    conn: Conn,
    file: UploadFile,
    symbol: Annotated[str, Form(min_length=1, max_length=200)],
    timeframe: Annotated[str, Form(min_length=2, max_length=8)],
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
) -> HTMLResponse:
    """A CSV or Parquet file of candles into a chart, through ingest's path and checks."""
    name = cut(file.filename or "upload")
    try:
        result = UploadResult(name, reports=_ingest(file, name, symbol, timeframe, timezone, conn))
    except CandlelabError as exc:
        result = UploadResult(name, error=cut(str(exc), MESSAGE))
    except ValueError as exc:  # a timeframe that does not parse
        result = UploadResult(name, error=cut(f"timeframe {timeframe!r}: {exc}", MESSAGE))
    return _charts(request, conn, None, result, 200 if result.ok else 422)


@router.get("/charts/{chart_id}", response_class=HTMLResponse)
def chart_page(request: Request, chart_id: Id, conn: Conn) -> HTMLResponse:
    """The chart view: what it needs of the chart is found through indexes, never by
    counting its bars, so a chart of millions of bars opens as fast as a small one."""
    try:
        found = chart(conn, chart_id)
    except UnknownReference:
        raise HTTPException(404, detail=f"chart {chart_id} does not exist") from None
    first, last = chart_range(conn, chart_id)
    step = Timeframe.parse(found.timeframe).micros
    context = {"chart": found, "first": first, "last": last,
               "bar_seconds": (step or 0) // 1_000_000}  # fmt: skip
    return templates.TemplateResponse(request, "chart.html", context)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The REST API's pages (Swagger UI, served from the installed package)."""
    return templates.TemplateResponse(request, "docs.html", {})


@router.get("/types", response_class=HTMLResponse)
def types_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "types.html", {})


def _charts(request: Request, conn: Conn, q: str | None, result: UploadResult | None = None,
            status: int = 200, page: int = 1) -> HTMLResponse:  # fmt: skip
    """The charts page: PAGE charts at a time, so a thousand charts list as fast as ten."""
    charts = matching_charts(conn, q)
    first = (page - 1) * PAGE
    context: dict[str, Any] = {
        "charts": charts[first : first + PAGE], "total": len(charts), "first": first,
        "page": page, "pages": max(1, -(-len(charts) // PAGE)), "q": q or "", "upload": result,
    }  # fmt: skip
    return templates.TemplateResponse(request, "charts.html", context, status_code=status)


def _ingest(file: UploadFile, name: str, symbol: str, timeframe: str, timezone: str,
            conn: Conn) -> list[IngestReport]:  # fmt: skip
    suffix = next((s for s in SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        raise CandlelabError(f"{name}: not a candle file (expected {', '.join(SUFFIXES)})")
    # IngestOptions holds the symbol, zone and offset rules every entry point shares.
    options = IngestOptions(symbol, Timeframe.parse(timeframe), source="upload",
                            timezone=timezone, chart_timezone=timezone,
                            max_expanded=EXPANDED_LIMIT)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="candlelab-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"  # the user's name is never a path
        _save(file, path, name)
        return ingest_jobs(conn, [(path, options)], names={path: name})


def matching_charts(conn: Conn, q: str | None) -> list[ChartSummary]:
    """Every chart whose symbol, name or source holds `q` (every chart without one)."""
    return [c for c in chart_summaries(conn) if q is None or q.lower() in
            f"{c.symbol} {c.name} {c.source}".lower()]  # fmt: skip


def _save(file: UploadFile, path: Path, name: str) -> None:
    size = 0
    with path.open("wb") as out:
        while chunk := file.file.read(CHUNK):
            size += len(chunk)
            if size > UPLOAD_LIMIT:
                raise CandlelabError(f"{name}: larger than {UPLOAD_LIMIT // 2**20} MB")
            out.write(chunk)
    if size == 0:
        raise CandlelabError(f"{name}: the file is empty")
