"""`candlelab alerts`: the open alerts (or every one), and acknowledging one; and how
`candlelab drift` and `candlelab evaluate --report` record what they found and tell the
webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, error, out, table
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.jobs.triggers import Requested
    from candlelab.monitoring.alerts import Found, Recorded, Rules
    from candlelab.settings import Settings
    from candlelab.workspace import Workspace

app = typer.Typer(
    help="Alerts raised by `candlelab drift` and `candlelab evaluate --report`: list, acknowledge.",
    invoke_without_command=True,
)


@app.callback()
def list_alerts(
    ctx: typer.Context,
    everything: Annotated[
        bool, typer.Option("--all", help="Resolved alerts too, not only the open ones.")
    ] = False,
    json: Json = False,
) -> None:
    """The open alerts, newest seen first: kind, model version or chart, severity, what
    was found, first and last seen, who acknowledged it."""
    if ctx.invoked_subcommand is not None:
        return
    from candlelab.monitoring.alerts import alerts

    with workspace(ctx).connect() as conn:
        found = alerts(conn, everything)
    if json:
        emit_json(found)
        return
    title = "alerts" if everything else "open alerts"
    table(title, ("id", "kind", "subject", "severity", "first seen", "last seen", "state",
                  "message"), [_row(a) for a in found])  # fmt: skip


def _row(alert: dict[str, Any]) -> list[object]:
    subject = (f"{alert['model_name']} v{alert['model_version']}" if alert["model_name"]
               else f"chart {alert['chart_id']}")  # fmt: skip
    state = "resolved" if alert["resolved_at"] else "open"
    if alert["acknowledged_by"]:
        state += f", ack {alert['acknowledged_by']}"
    return [alert["id"], alert["kind"], subject, alert["severity"],
            f"{alert['first_seen']:%Y-%m-%d %H:%M}", f"{alert['last_seen']:%Y-%m-%d %H:%M}",
            state, alert["message"]]  # fmt: skip


@app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert's id.", min=1)],
    by: Annotated[str, typer.Option("--by", help="Who has seen it.")],
) -> None:
    """Acknowledge an alert: who has seen it, and when. It stays open while its condition
    holds, and acknowledged."""
    from candlelab.errors import NotFound
    from candlelab.monitoring.alerts import acknowledge

    with workspace(ctx).connect() as conn:
        try:
            acknowledge(conn, alert_id, by)
        except NotFound as exc:
            error(str(exc))
            raise typer.Exit(1) from None
        conn.commit()
    out.print(f"alert {alert_id} acknowledged by {by}")


def alerts_line(recorded: Recorded) -> str:
    return (f"alerts: {len(recorded.raised)} raised, {len(recorded.updated)} still open, "
            f"{len(recorded.resolved)} resolved (candlelab alerts)")  # fmt: skip


def rules(settings: Settings) -> Rules:
    """The alert rules, with the thresholds the settings configure."""
    from candlelab.monitoring.alerts import Rules

    return Rules(cooldown=timedelta(minutes=settings.alert_cooldown_minutes),
                 min_expectancy=settings.alert_min_expectancy,
                 latency_p99_ms=settings.alert_latency_ms,
                 stale_bars=settings.alert_stale_bars)  # fmt: skip


def record(space: Workspace, found: Found) -> tuple[Recorded, list[Requested]]:
    """Raise, update and resolve the alerts for what a check found (committed), and
    enqueue the retrains the newly raised ones ask for (CANDLELAB_RETRAIN_ON_ALERT)."""
    from candlelab.jobs.triggers import record_alerts

    with space.connect() as conn:
        cooldown = rules(space.settings).cooldown
        return record_alerts(conn, found, cooldown, space.settings.retrain_on_alert)


def requests_line(requested: list[Requested]) -> str:
    """What the alerts asked of the retrain queue, for a person reading the output."""
    by_job: dict[tuple[str, int], list[int]] = {}
    for r in requested:  # several alerts of a model merge into one request
        by_job.setdefault((r.model_name, r.job_id), []).append(r.alert_id)
    asked = [f"{name} (job {job}, from alert {', '.join(map(str, alerts))})"
             for (name, job), alerts in by_job.items()]  # fmt: skip
    return "retrain requested: " + "; ".join(asked) + " (candlelab worker takes it)"


def notify(space: Workspace) -> None:
    """POST the alerts the webhook has not received, if one is configured. Called once
    the check's results are committed and printed; a failure is logged and recorded on
    the alert, never the command's."""
    url = space.settings.alert_webhook
    if url is None:
        return
    from candlelab.monitoring.alerts import deliver

    with space.connect() as conn:
        _, failed = deliver(conn, url, space.settings.alert_retry_seconds)
    if failed:
        error(f"webhook: {failed} alert(s) not delivered (see `candlelab alerts --json`)")
