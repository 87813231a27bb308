"""`candlelab evaluate`: every matured signal judged under its model's target definition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out
from candlelab.cli.train import Charts, Json

if TYPE_CHECKING:
    from candlelab.monitoring.outcomes import EvaluationReport


def evaluate(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Judge only this model's signals (NAME); default: all.")
    ] = None,
    chart: Charts = None,
    json: Json = False,
) -> None:
    """Judge the signals whose horizon has passed: the outcome (win, loss, timeout,
    ambiguous), the result in R with fees and slippage, bars held and excursions, as the
    model's target definition judges them. A signal whose horizon lacks a bar is skipped
    until a backfill brings it; a corrected bar makes the signals that read it judged
    again. Safe to run again at any time: what is judged stays as it is."""
    from candlelab.monitoring.outcomes import evaluate, plan

    space = workspace(ctx)
    with space.connect() as conn:
        planned = plan(conn, model, chart or [])
    report = planned.waiting
    with _progress(quiet=json) as progress:
        task = progress.add_task("judging signals", total=len(planned.charts))
        for done in evaluate(space.database_url, planned.charts, model):
            report += done
            progress.update(task, advance=done.charts)
    if json:
        emit_json(report.summary())
    else:
        _print(report)


def _progress(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    return Progress(*columns, console=out, transient=True, disable=quiet)


def _print(report: EvaluationReport) -> None:
    summary = report.summary()
    outcomes = ", ".join(f"{n:,} {word}" for word, n in summary["outcomes"].items())
    out.print(f"{report.charts:,} charts, {report.judged:,} signals judged: {outcomes} "
              "(ambiguous: both barriers in one candle, judged stop first)",
              soft_wrap=True)  # fmt: skip
    for title, key in (("judged without a trade", "without_trade"), ("skipped", "skipped")):
        counts = {word: n for word, n in summary[key].items() if n}
        if counts:
            listed = ", ".join(f"{n:,} {word}" for word, n in counts.items())
            out.print(f"{title}: {listed}", soft_wrap=True)
