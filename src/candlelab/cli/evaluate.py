"""`candlelab evaluate`: every matured signal judged under its model's target definition."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.alerts import alerts_line, notify, requests_line
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Charts, Json

if TYPE_CHECKING:
    from candlelab.monitoring.comparison import Comparison
    from candlelab.monitoring.outcomes import EvaluationReport
    from candlelab.monitoring.performance import VersionReport
    from candlelab.workspace import Workspace


class Window(StrEnum):
    day = "day"
    week = "week"
    month = "month"


NEWEST = 4  # windows shown per version


def evaluate(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Judge only this model's signals (NAME); default: all.")
    ] = None,
    chart: Charts = None,
    with_report: Annotated[
        bool, typer.Option("--report", help="Then update and print each version's performance.")
    ] = False,
    window: Annotated[
        Window, typer.Option(help="The windows --report shows beside the whole record.")
    ] = Window.week,
    json: Json = False,
) -> None:
    """Judge the signals whose horizon has passed: the outcome (win, loss, timeout,
    ambiguous), the result in R with fees and slippage, bars held and excursions, as the
    model's target definition judges them. A signal whose horizon lacks a bar is skipped
    until a backfill brings it; a corrected bar makes the signals that read it judged
    again. Safe to run again at any time: what is judged stays as it is.

    With --report, model_performance is brought up to date (only the windows whose
    signals changed) and each model version's figures are printed: its whole record and
    its newest windows, and where a model has a champion and a challenger, the difference
    and the verdict; then alerts are raised for a version whose last week loses or falls
    short of its walk-forward estimate, a p99 latency over the limit, a served chart whose
    bars are overdue (`candlelab alerts`), and resolved when that no longer holds."""
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
    performance = performance_report(space, model, window.value, NEWEST) if with_report else None
    if json:
        emit_json(report.summary() | (performance or {}))
    else:
        _print(report)
    if performance is not None and not json:
        _print_performance(performance["performance"], performance["comparisons"])
        out.print(alerts_line(performance["alerts"]))
        if performance["retrains"]:
            out.print(requests_line(performance["retrains"]), soft_wrap=True)
    if performance is not None:
        notify(space)


def performance_report(space: Workspace, model: str | None, window_kind: str,
                       newest: int) -> dict[str, Any]:  # fmt: skip
    """model_performance brought up to date, the alerts it raises recorded; each version's
    record with its `newest` windows of a kind, and champion against challenger."""
    from candlelab.cli.alerts import record, rules
    from candlelab.monitoring.alerts import evaluation_found
    from candlelab.monitoring.comparison import comparisons
    from candlelab.monitoring.performance import report, update

    with space.connect() as conn:
        update(conn, model)
        conn.commit()
        found = evaluation_found(conn, model, rules(space.settings))
        shown = {"performance": report(conn, model, window_kind, newest),
                 "comparisons": comparisons(conn, model)}  # fmt: skip
    recorded, requested = record(space, found)
    return shown | {"alerts": recorded, "retrains": requested}


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


COLUMNS = ("window", "signals", "trades", "win % (CI)", "PF", "E[R]", "SQN", "Sharpe",
           "Sortino", "DD R (d)", "Brier", "ms p50/95/99")  # fmt: skip


def _print_performance(versions: list[VersionReport], compared: list[Comparison]) -> None:
    for version in versions:
        rows = [_row("all", version.overall)] if version.overall else []
        rows += [_row(w["window_start"].date().isoformat(), w) for w in version.windows]
        title = (f"{version.model_name} v{version.model_version}: all its signals, newest "
                 "windows (win rate: 95 % Wilson CI)")  # fmt: skip
        table(title, COLUMNS, rows)
    for found in compared:
        out.print(_comparison_line(found), soft_wrap=True)


def _row(name: str, w: dict[str, Any]) -> list[object]:
    low, high = (round(100 * (w[k] or 0)) for k in ("win_rate_low", "win_rate_high"))
    rate = "" if w["win_rate"] is None else f"{100 * w['win_rate']:.0f} ({low}-{high})"
    drawdown = "" if w["max_drawdown_r"] is None else (
        f"{w['max_drawdown_r']:.1f} ({w['max_drawdown_days']})")  # fmt: skip
    latency = "/".join(_number(w[f"latency_p{q}_ms"], 0) for q in (50, 95, 99))
    return [name, w["signals"], w["trades"], rate, _number(w["profit_factor"]),
            _number(w["expectancy_r"], 3), _number(w["sqn"]), _number(w["sharpe"], 1),
            _number(w["sortino"], 1), drawdown, _number(w["brier"], 3), latency]  # fmt: skip


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _comparison_line(c: Comparison) -> str:
    line = (f"{c.model_name}: challenger v{c.challenger} against champion v{c.champion} "
            f"({c.n_challenger:,} and {c.n_champion:,} trades): {c.verdict}")  # fmt: skip
    if c.expectancy_diff is None or c.expectancy_interval is None or c.win_rate_diff is None:
        return line
    low, high = c.expectancy_interval
    return (f"{line}; expectancy {c.expectancy_diff:+.3f} R (95 % block bootstrap "
            f"{low:+.3f} to {high:+.3f}), win rate {c.win_rate_diff:+.1%}")  # fmt: skip
