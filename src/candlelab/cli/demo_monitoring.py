"""The demo's monitoring step: the champion and the challenger backtested on the last
weeks of every hourly chart, each signal judged under the model's target, each
version's record, and the verdict of the one against the other."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from candlelab.cli.demo_loop import MODEL
from candlelab.cli.output import out, table

if TYPE_CHECKING:
    from candlelab.monitoring.comparison import Comparison
    from candlelab.monitoring.outcomes import EvaluationReport
    from candlelab.monitoring.performance import VersionReport
    from candlelab.workspace import Workspace

# Weeks of history both versions predict: enough trades for a record, seconds to judge.
BACKTEST = timedelta(days=60)
ALERTS_SHOWN = 5


def monitoring_step(ws: Workspace, versions: dict[int, str]) -> None:
    """Backtest each version (by its alias) on the hourly charts, judge, report."""
    with out.status("backtesting champion and challenger", spinner="dots") as status:
        charts = _backtest(ws, versions)
        status.update("judging every signal whose horizon has passed")
        judged = _judge(ws, charts)
        status.update("their performance, and the alerts it raises")
        reports, compared = _performance(ws)
        opened = _open_alerts(ws)
    out.print(f"judged:    {judged.judged:,} signals of the last {BACKTEST.days} days on "
              f"{len(charts)} hourly charts, under the spans target's barriers",
              soft_wrap=True)  # fmt: skip
    _print_versions(reports, versions)
    for found in compared:
        out.print(f"verdict:   challenger v{found.challenger} against champion v{found.champion}"
                  f": {found.verdict}", soft_wrap=True)  # fmt: skip
    _print_alerts(opened)
    out.print(f"monitor:   candlelab evaluate --report; candlelab drift --model {MODEL}; "
              "candlelab alerts",
              soft_wrap=True)  # fmt: skip


def _backtest(ws: Workspace, versions: dict[int, str]) -> tuple[int, ...]:
    from candlelab.market.charts import all_charts
    from candlelab.models.prediction import ModelShelf, backtest

    shelf = ModelShelf(ws.database_url, ws.settings.artifact_location)
    with ws.connect() as conn:
        charts = tuple(c.id for c in all_charts(conn) if c.timeframe == "1h")
        row = conn.execute("SELECT max(time) FROM candles").fetchone()
    start = row[0] - BACKTEST if row and row[0] else None
    for version, alias in versions.items():
        backtest(ws.database_url, shelf.version(MODEL, version, alias), charts, start=start)
    return charts


def _judge(ws: Workspace, charts: tuple[int, ...]) -> EvaluationReport:
    from candlelab.monitoring.outcomes import judge_all

    return judge_all(ws.database_url, MODEL, charts)


def _performance(ws: Workspace) -> tuple[list[VersionReport], list[Comparison]]:
    """Each version's record, the verdict, and the alerts they raise recorded."""
    from candlelab.cli.evaluate import performance_report

    shown = performance_report(ws, MODEL, "week", 0)
    return shown["performance"], shown["comparisons"]


def _open_alerts(ws: Workspace) -> list[dict[str, Any]]:
    from candlelab.monitoring.alerts import alerts

    with ws.connect() as conn:
        return alerts(conn)


def _print_alerts(opened: list[dict[str, Any]]) -> None:
    out.print(f"alerts:    {len(opened)} open", soft_wrap=True)
    # The drift alerts first: every synthetic chart is stale, and would hide them.
    for alert in sorted(opened, key=lambda a: a["kind"] == "stale_data")[:ALERTS_SHOWN]:
        out.print(f"           {alert['severity']} {alert['kind']}: {alert['message']}",
                  soft_wrap=True)  # fmt: skip
    if len(opened) > ALERTS_SHOWN:
        out.print(f"           … and {len(opened) - ALERTS_SHOWN} more", soft_wrap=True)


def _print_versions(reports: list[VersionReport], aliases: dict[int, str]) -> None:
    """Each version's whole record on one row: the table fits a terminal's 80 columns."""
    rows = []
    for version in reports:
        w = version.overall
        if not w or version.model_version not in aliases:
            continue
        rate = "-" if w["win_rate"] is None else (
            f"{w['win_rate']:.0%} ({w['win_rate_low']:.0%}-{w['win_rate_high']:.0%})")  # fmt: skip
        rows.append([f"v{version.model_version}", aliases[version.model_version],
                     f"{w['trades']:,}", rate, _figure(w["profit_factor"]),
                     _figure(w["expectancy_r"], 3), _figure(w["max_drawdown_r"], 1)])  # fmt: skip
    columns = ("version", "alias", "trades", "win rate (95 % CI)", "PF", "E[R]", "max DD R")
    table("backtests judged (R: multiples of the risk taken)", columns, rows)


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
