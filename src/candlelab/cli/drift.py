"""`candlelab drift`: do the bars a model version serves look like the ones it learned from?

Exit codes as `diff` and `grep` have them, for cron and scripts: 0 nothing at alert
level, 1 something drifted (named on stdout, worst first), 2 the check could not run
(an unknown model, a version without references, a bad option). What drifted is raised
as an alert (`monitoring/alerts.py`), what no longer does resolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.alerts import alerts_line, notify, record, requests_line
from candlelab.cli.options import window_option
from candlelab.cli.output import emit_json, error, out, table
from candlelab.cli.train import Json
from candlelab.errors import CandlelabError

if TYPE_CHECKING:
    from candlelab.monitoring.drift import DriftReport, Measure, VersionDrift
    from candlelab.monitoring.performance_drift import PerformanceDrift

DRIFTED, FAILED = 1, 2


def drift(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Check only this model (NAME); default: every one.")
    ] = None,
    version: Annotated[
        int | None, typer.Option(help="Check only this version of --model.", min=1)
    ] = None,
    window: Annotated[
        str,
        typer.Option(
            help="The bars compared: this long back from the version's newest signal (m, h, d, w)."
        ),
    ] = "7d",
    psi_warn: Annotated[float, typer.Option(help="PSI from which a feature is 'warn'.")] = 0.1,
    psi_alert: Annotated[
        float, typer.Option(help="PSI from which a feature is 'alert' (drifted: exit 1).")
    ] = 0.25,
    expectancy_margin: Annotated[
        float,
        typer.Option(
            help="R under the walk-forward expectancy from which performance is 'warn' "
            "(twice: 'alert', drifted).",
            min=0.0,
        ),
    ] = 0.25,
    min_trades: Annotated[
        int, typer.Option(help="Judged trades in the window before performance is judged.", min=1)
    ] = 30,
    json: Json = False,
) -> None:
    """Compare each served model version's recent signals with its training data: per
    feature the PSI on the training deciles, the KS statistic and the Wasserstein distance
    in training standard deviations, and the PSI of the predicted classes. Features are
    listed worst first; PSI from 0.1 is 'warn', from 0.25 'alert'. Then the judged trades
    in the window against the training run's walk-forward estimate: expectancy and win
    rate. Exits 1 when something is at alert level, 2 when the check cannot run, 0
    otherwise."""
    from candlelab.monitoring.alerts import drift_found

    try:
        limits = (psi_warn, psi_alert, expectancy_margin, min_trades)
        report = _report(ctx, model, version, window, limits)
    except CandlelabError as exc:
        error(str(exc))
        raise typer.Exit(FAILED) from None
    alerts, requested = record(workspace(ctx), drift_found(report))
    if json:
        emit_json(_summary(report) | {"alerts": alerts.__dict__, "retrains": requested})
    else:
        _print(report)
        out.print(alerts_line(alerts))
        if requested:
            out.print(requests_line(requested), soft_wrap=True)
    notify(workspace(ctx))
    if report.drifted:
        raise typer.Exit(DRIFTED)


def _report(ctx: typer.Context, model: str | None, version: int | None, window: str,
            limits: tuple[float, float, float, int]) -> DriftReport:  # fmt: skip
    from candlelab.errors import ConfigError
    from candlelab.monitoring.drift import Thresholds, drift

    if version is not None and model is None:
        raise ConfigError("--version needs --model")
    length, thresholds = window_option(window), Thresholds(*limits)
    with workspace(ctx).connect() as conn:
        return drift(conn, model, version, length, thresholds)


def _summary(report: DriftReport) -> dict[str, object]:
    return {"drifted": report.drifted, "thresholds": report.thresholds,
            "versions": [{**v.__dict__, "drifted": v.drifted} for v in report.versions],
            "unreferenced": [{"model_name": n, "model_version": v}
                             for n, v in report.unreferenced]}  # fmt: skip


def _print(report: DriftReport) -> None:
    for version in report.versions:
        _print_version(version)
    for name, number in report.unreferenced:
        out.print(f"model {name} version {number}: no drift reference (trained before "
                  "candlelab recorded them), not checked", soft_wrap=True)  # fmt: skip
    if not report.versions and not report.unreferenced:
        out.print("no served signals with features to check (a backtest's carry none)")
    limits = report.thresholds
    out.print(f"PSI thresholds: warn {limits.warn:g}, alert {limits.alert:g}")


def _print_version(version: VersionDrift) -> None:
    rows = [_row(m) for m in version.measures]
    title = (f"{version.model_name} version {version.model_version}: {version.signals:,} "
             f"signals, bars {version.window_start:%Y-%m-%d %H:%M} to "
             f"{version.window_end:%Y-%m-%d %H:%M}")  # fmt: skip
    table(title, ("feature", "PSI", "KS", "W/std", "NaN", "status"), rows)
    if version.without_features:
        out.print(f"skipped {version.without_features:,} signals without features "
                  "(a backtest's)")  # fmt: skip
    if version.performance is not None:
        out.print(performance_line(version.performance), soft_wrap=True)
    drifted = ", ".join(version.drifted)
    out.print(f"drifted: {drifted}" if drifted else "nothing at alert level", soft_wrap=True)


def performance_line(found: PerformanceDrift) -> str:
    """The live record in the window against the walk-forward estimate, and its status."""
    if not found.trades:
        return "performance: no judged trade in the window (candlelab evaluate judges them)"
    live = (
        f"performance: {found.trades:,} judged trades, expectancy {found.expectancy_r:+.3f} R, "
        f"win rate {found.win_rate:.0%} ({found.win_rate_low:.0%}-{found.win_rate_high:.0%})"
    )
    if found.estimate_expectancy_r is None:
        return f"{live}; no walk-forward estimate recorded: {found.status}"
    rate = "" if found.estimate_win_rate is None else f", {found.estimate_win_rate:.0%}"
    return f"{live}; walk-forward {found.estimate_expectancy_r:+.3f} R{rate}: {found.status}"


def _row(measure: Measure) -> tuple[str, ...]:
    name = "(predictions)" if measure.kind == "prediction" else measure.name
    return (name, f"{measure.psi:.3f}", _number(measure.ks), _number(measure.wasserstein),
            f"{measure.nan_share:.0%}", measure.status)  # fmt: skip


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
