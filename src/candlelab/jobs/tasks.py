"""What a due schedule runs: a model's retrain enqueued, or a check over every model.

- `retrain`: a request on the queue (`queue.enqueue`, so it merges into the model's open
  one), its reason the schedule's or "schedule: every 1d", at the schedule's priority;
- `evaluate`: every matured signal judged, model_performance brought up to date, then the
  performance, latency and stale-data alerts recorded (`candlelab evaluate --report`);
- `drift`: every served version checked and its drift alerts recorded (`candlelab drift`);
- `decide`: the policy applied to each model whose challenger alias names a version
  (`candlelab models decide`); one model's failure does not hold back the others.

A newly raised alert asks for a retrain as CANDLELAB_RETRAIN_ON_ALERT says
(`triggers.record_alerts`), and is POSTed to the webhook when one is configured. Each
task returns one line saying what it did, kept on the schedule's row; a task that fails
raises, and the worker keeps the error there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from candlelab.errors import CandlelabError, cut
from candlelab.jobs.policy import decide
from candlelab.jobs.queue import enqueue
from candlelab.jobs.schedules import Due, SpansFired, period
from candlelab.jobs.triggers import record_alerts
from candlelab.monitoring.alerts import Found, Rules, deliver, drift_found, evaluation_found
from candlelab.monitoring.drift import WINDOW, Thresholds, drift
from candlelab.monitoring.outcomes import judge_all
from candlelab.monitoring.performance import update
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.tracking import Tracking

QUERIES = load_queries(__file__)


class TaskFailed(CandlelabError):
    """A scheduled task failed."""


@dataclass(frozen=True)
class Checks:
    """How the scheduled checks judge, and what follows what they find: the alert rules,
    the drift window and thresholds, CANDLELAB_RETRAIN_ON_ALERT and the webhook."""

    rules: Rules = field(default_factory=Rules)
    retrain_on_alert: str = "alert"
    drift_window: timedelta = WINDOW
    thresholds: Thresholds = field(default_factory=Thresholds)
    webhook: str | None = None
    webhook_retry: float = 1.0  # seconds before the webhook's second try, doubled after


@dataclass(frozen=True)
class TaskContext:
    url: str
    artifact_location: str
    checks: Checks = field(default_factory=Checks)


Task = Callable[[TaskContext, Due], str]


def run_task(context: TaskContext, due: Due) -> str:
    """Run the schedule's task; one line saying what it did."""
    return TASKS[due.kind](context, due)


def scheduled_retrain(context: TaskContext, due: Due) -> str:
    assert due.model_name is not None  # a retrain schedule names its model (a check says so)
    reason = due.reason or f"schedule: every {period(due.every)}"
    return _enqueued(context.url, due.model_name, reason, due.priority)


def spans_retrain(context: TaskContext, fired: SpansFired) -> str:
    """The retrain a schedule's spans trigger asks for."""
    reason = (f"spans: {fired.spans} accepted spans changed since the last training run "
              f"(threshold {fired.threshold})")  # fmt: skip
    return _enqueued(context.url, fired.model_name, reason, fired.priority)


def _enqueued(url: str, model_name: str, reason: str, priority: int) -> str:
    with connect(url) as conn:
        done = enqueue(conn, model_name, reason, priority)
    return f"{'joined' if done.merged else 'made'} retrain request {done.id}: {reason}"


def evaluate_all(context: TaskContext, due: Due) -> str:
    """Judge every matured signal, update performance, record what the checks find."""
    report = judge_all(context.url)
    with connect(context.url) as conn:
        windows = update(conn)
        conn.commit()
        found = evaluation_found(conn, None, context.checks.rules)
        alerted = _alerted(conn, context.checks, found)
    return f"{report.judged} signals judged, {windows} performance windows updated; {alerted}"


def drift_all(context: TaskContext, due: Due) -> str:
    """Check every served version's drift; record the alerts."""
    checks = context.checks
    with connect(context.url) as conn:
        report = drift(conn, None, None, checks.drift_window, checks.thresholds)
        conn.rollback()  # read only
        alerted = _alerted(conn, checks, drift_found(report))
    drifted = sum(1 for version in report.versions if version.drifted)
    return f"{len(report.versions)} versions checked, {drifted} drifted; {alerted}"


def decide_all(context: TaskContext, due: Due) -> str:
    """Apply the policy to every model with a challenger, each move committed as made."""
    tracking = Tracking(context.url, context.artifact_location)
    decided, failed = [], []
    with connect(context.url) as conn:
        names = [str(name) for (name,) in conn.execute(QUERIES["challenged_models"])]
        conn.rollback()
        for name in names:
            try:
                decided.append(f"{name}: {decide(conn, tracking, name).action}")
                conn.commit()
            except Exception as exc:  # kept as the task's error; the other models go on
                conn.rollback()
                failed.append(f"{name}: {type(exc).__name__}: {cut(str(exc), 300)}")
    if failed:
        raise TaskFailed("; ".join(failed + decided))
    return "; ".join(decided) or "no model has a challenger to judge"


def _alerted(conn: Connection, checks: Checks, found: Found) -> str:
    """Record the alerts, deliver them, and say what was raised and asked for."""
    recorded, requested = record_alerts(conn, found, checks.rules.cooldown,
                                        checks.retrain_on_alert)  # fmt: skip
    if checks.webhook is not None:
        deliver(conn, checks.webhook, checks.webhook_retry)
    line = (f"alerts: {len(recorded.raised)} raised, {len(recorded.updated)} still open, "
            f"{len(recorded.resolved)} resolved")  # fmt: skip
    jobs = sorted({r.job_id for r in requested})
    return line + (f"; retrain requested: {', '.join(map(str, jobs))}" if jobs else "")


TASKS: dict[str, Task] = {
    "retrain": scheduled_retrain,
    "evaluate": evaluate_all,
    "drift": drift_all,
    "decide": decide_all,
}
