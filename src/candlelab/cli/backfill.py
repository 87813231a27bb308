"""`candlelab backfill`: fetch the bars `quality` finds missing from a market data vendor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID, symbol_option
from candlelab.cli.output import emit_json, out, table
from candlelab.errors import ConfigError, InvalidField

if TYPE_CHECKING:
    from candlelab.market.backfill import BackfillReport, Span
    from candlelab.market.charts import Chart
    from candlelab.store.database import Connection


def backfill(
    ctx: typer.Context,
    chart_ids: Annotated[
        list[int] | None,
        typer.Option(
            "--chart",
            help="A chart id (repeat); default: every chart whose source "
            "is a provider (binance, yahoo).",
            min=1,
            max=LARGEST_ID,
        ),
    ] = None,
    provider_name: Annotated[
        str | None,
        typer.Option("--provider", help="binance or yahoo; default: the chart's source."),
    ] = None,
    vendor_symbol: Annotated[
        str | None, typer.Option("--vendor-symbol", help="The vendor's name for the symbol.")
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(help="Also fetch history from here (UTC unless an offset).")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="Also fetch up to here.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="The vendor API's root URL (a mirror, a testnet).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Fill the gaps in charts from a vendor: Binance klines or Yahoo Finance charts.

    The gaps are those `candlelab quality` reports against each chart's calendar, over its
    stored range (widened by --start and --end). Fetched bars are validated like a file and
    never replace stored ones. Interrupt it at any time: the next run fetches what is still
    missing. Exit code 1 when a fetched page was refused.
    """
    from candlelab.market.backfill import backfill_chart
    from candlelab.market.providers import provider

    vendor = symbol_option(vendor_symbol, "--vendor-symbol") if vendor_symbol is not None else None
    span = _span(start, end, vendor)
    ws = workspace(ctx)
    reports = []
    with ws.connect() as conn, _progress(quiet=json) as progress:
        for target in _targets(conn, chart_ids, provider_name):
            task = progress.add_task(f"{target.symbol} {target.timeframe}", total=None)
            source = provider(provider_name or target.source, base_url)

            def advance(report: BackfillReport, task: TaskID = task) -> None:
                progress.update(task, description=f"{report.chart}: {report.loaded:,} bars stored")

            reports.append(backfill_chart(conn, ws.database_url, target, source, span=span,
                                          on_page=advance))  # fmt: skip
    _show(reports, json)
    if any(report.refused for report in reports):
        raise typer.Exit(1)


def _span(start: datetime | None, end: datetime | None, vendor: str | None) -> Span:
    """What to fill (a time without an offset is UTC); a bad bound names its option."""
    from candlelab.market.backfill import Span

    try:
        return Span(start, end, vendor)
    except InvalidField as exc:
        raise ConfigError(f"--{exc.field}: {exc.reason}") from None


def _targets(
    conn: Connection, chart_ids: list[int] | None, provider_name: str | None
) -> list[Chart]:
    from candlelab.market.charts import all_charts, chart
    from candlelab.market.providers import provider_names

    if chart_ids:
        charts = [chart(conn, i) for i in chart_ids]
    else:
        charts = [c for c in all_charts(conn) if c.source in provider_names()]
    vendorless = [c for c in charts if provider_name is None and c.source not in provider_names()]
    if vendorless:
        c = vendorless[0]
        raise ConfigError(
            f"chart {c.id} ({c.symbol} {c.timeframe}) has source {c.source!r}, not a provider: "
            f"say --provider ({', '.join(provider_names())})"
        )
    return charts


def _show(reports: list[BackfillReport], json: bool) -> None:
    if json:
        emit_json(reports)
        return
    columns = (
        "chart",
        "provider",
        "gaps",
        "missing",
        "fetched",
        "new",
        "rejected",
        "still missing",
    )
    rows = [
        (r.chart, r.provider, r.gaps, r.missing, r.fetched, r.loaded, r.rejected, r.still_missing)
        for r in reports
    ]
    table("backfill", columns, rows)
    for report in reports:
        for line in [*report.refused, *report.notes]:
            out.print(f"  {report.chart}: {line}", soft_wrap=True)


def _progress(quiet: bool) -> Progress:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    return Progress(*columns, console=out, transient=True, disable=quiet)
