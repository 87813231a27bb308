"""`candlelab quality`: gaps against each chart's calendar, bad jumps, duplicates, streaks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID
from candlelab.cli.output import emit_json, out, table
from candlelab.market.quality_rules import QualityRules

if TYPE_CHECKING:
    from candlelab.market.charts import Chart
    from candlelab.market.quality import ChartQuality

SHOWN_PER_CHART = 20


def quality(
    ctx: typer.Context,
    chart_ids: Annotated[
        list[int] | None,
        typer.Option("--chart", help="A chart id (repeat); default: all.", min=1, max=LARGEST_ID),
    ] = None,
    jump_threshold: Annotated[
        float, typer.Option(help="A price jump: a move this many robust deviations wide.", min=1)
    ] = QualityRules.jump_threshold,
    zero_volume_bars: Annotated[
        int, typer.Option(help="Report runs of this many bars without volume.", min=1)
    ] = QualityRules.zero_volume_bars,
    stale_bars: Annotated[
        int, typer.Option(help="Report runs of this many flat bars at one price.", min=2)
    ] = QualityRules.stale_bars,
    json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Check stored bars: gaps and bars off the chart's calendar, duplicate bars, price,
    unit (100x) and split-like jumps, zero-volume and stale streaks.

    Each finding has a code, the time range it covers and its values. Gaps are measured
    against the chart's calendar (24/7, 24/5 or an exchange's sessions and holidays).
    Exit code 1 when anything was found.
    """
    from candlelab.market.charts import all_charts, chart

    rules = QualityRules(
        jump_threshold=jump_threshold, zero_volume_bars=zero_volume_bars, stale_bars=stale_bars
    )
    ws = workspace(ctx)
    with ws.connect() as conn:
        charts = [chart(conn, i) for i in chart_ids] if chart_ids else all_charts(conn)
    results = _checked(ws.database_url, charts, rules, quiet=json)
    if json:
        emit_json([_as_json(result) for result in results])
    else:
        _print(results)
    if any(result.findings for result in results):
        raise typer.Exit(1)


def _checked(url: str, charts: list[Chart], rules: QualityRules, quiet: bool) -> list[ChartQuality]:
    from candlelab.market.quality import check_charts

    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=out, transient=True, disable=quiet) as progress:
        task = progress.add_task("checking charts", total=len(charts))
        results = []
        for result in check_charts(url, charts, rules):
            results.append(result)
            progress.update(task, advance=1, description=result.chart.symbol)
    return results


def _as_json(result: ChartQuality) -> dict[str, object]:
    findings = [{**f.__dict__, "message": f.message} for f in result.findings]
    return {"chart": result.chart, "bars": result.bars, "findings": findings}


def _print(results: list[ChartQuality]) -> None:
    for result in results:
        c = result.chart
        name = f"chart {c.id}: {c.symbol} {c.timeframe} ({c.source}), calendar {c.calendar}"
        if not result.findings:
            out.print(f"{name}: {result.bars:,} bars, no findings", soft_wrap=True)
            continue
        rows = [
            (f.code, f.start, f.end, f.bars, f.message) for f in result.findings[:SHOWN_PER_CHART]
        ]
        table(f"{name}: {result.bars:,} bars", ("code", "start", "end", "bars", "values"), rows)
        hidden = len(result.findings) - SHOWN_PER_CHART
        if hidden > 0:
            out.print(f"  … and {hidden:,} more (--json lists all)")
    found = sum(len(r.findings) for r in results)
    out.print(f"{len(results)} chart(s), {found:,} finding(s)")
