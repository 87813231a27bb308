"""Alerts that ask for a retrain: drift and degradation put a request on the queue.

A newly raised alert of a kind a retrain can answer — features or predictions drifted,
a version losing or short of its walk-forward estimate — and of the configured severity
or worse (`CANDLELAB_RETRAIN_ON_ALERT`: `alert`, the default; `warn`; `off`) enqueues a
retrain of its model. The request's reason names the alert and quotes its message; its
`signal_id` is the version's newest signal, the last one the check saw. An alert that is
only found again (still open) asks nothing more, and a model with an open request
merges the new reason into it (`jobs.queue.enqueue`): one retrain, however many alerts.
Latency and stale data are not answered by retraining and enqueue nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from candlelab.errors import ConfigError
from candlelab.jobs.queue import enqueue
from candlelab.monitoring.alerts import Found, Recorded, record
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
RETRAINING_KINDS = ("feature_drift", "prediction_drift", "performance")
LEVELS = {"off": (), "alert": ("alert",), "warn": ("warn", "alert")}  # severities that ask
PRIORITY = {"alert": 4, "warn": 3}  # 1 low … 5 high: a person's request may still go first


@dataclass(frozen=True)
class Requested:
    alert_id: int
    model_name: str
    job_id: int
    merged: bool  # into the model's open request


def record_alerts(conn: Connection, found: Found, cooldown: timedelta,
                  level: str = "alert") -> tuple[Recorded, list[Requested]]:  # fmt: skip
    """Raise, update and resolve the alerts for what a check found (committed), then
    enqueue the retrains the newly raised ones ask for (`level`: CANDLELAB_RETRAIN_ON_ALERT).
    What `candlelab drift`, `candlelab evaluate --report` and the workers' scheduled
    checks do with what they found."""
    done = record(conn, found, cooldown)
    conn.commit()
    return done, retrain_for_alerts(conn, done.raised, level)


def retrain_for_alerts(conn: Connection, alert_ids: Sequence[int],
                       level: str = "alert") -> list[Requested]:  # fmt: skip
    """Enqueue a retrain for each alert (of those given) that asks for one; committed."""
    if level not in LEVELS:
        raise ConfigError(f"CANDLELAB_RETRAIN_ON_ALERT: {level!r} is not one of "
                          f"{', '.join(LEVELS)}")  # fmt: skip
    if not alert_ids or not LEVELS[level]:
        return []
    params = {"ids": list(alert_ids), "kinds": list(RETRAINING_KINDS),
              "severities": list(LEVELS[level])}  # fmt: skip
    rows = conn.execute(QUERIES["retraining_alerts"], params).fetchall()
    requested = []
    for alert_id, model_name, severity, message, signal_id in rows:
        done = enqueue(conn, model_name, f"alert {alert_id}: {message}", PRIORITY[severity],
                       signal_id)  # fmt: skip
        requested.append(Requested(alert_id, model_name, done.id, done.merged))
    return requested
