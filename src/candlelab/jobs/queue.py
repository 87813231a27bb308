"""The retrain queue on `retrain_queue`: enqueue, claim, heartbeat, complete, fail, rescue.

Every change is one statement whose WHERE clause is the lock (River's and pgqueuer's
way): a claim takes the most urgent due pending job with `FOR UPDATE SKIP LOCKED` and
raises its lease; heartbeat, complete and fail match only `id, lease, status =
'processing'`, so a worker whose job was rescued and taken again (its lease is old)
changes nothing and gets `LeaseLost`. Priority runs 1 = low … 5 = high. A model has at
most one open (pending or processing) request: a second one merges into it.

`rescue_stalled` puts jobs whose heartbeat is older than the timeout, or that ran past
their own time limit, back to pending with backoff (failed after the last attempt);
every worker runs it before claiming, so no cron job is needed.

Each call commits before it returns: a queue change other workers cannot see yet is no
change. Hand in a connection without a transaction of the caller's open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, LiteralString

from candlelab.errors import LeaseLost
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
MAX_ATTEMPTS = 3  # the table's default
BACKOFF_BASE = 30.0  # seconds before the second attempt; doubled for each one after
BACKOFF_CAP = 3600.0  # seconds: the longest wait between two attempts


@dataclass(frozen=True)
class Job:
    """A claimed job as its worker holds it; `lease` is what every report must name."""

    id: int
    model_name: str
    reason: str
    priority: int
    signal_id: int | None
    worker_id: str
    lease: int
    attempts: int
    max_attempts: int
    timeout_seconds: int | None
    started_at: datetime


@dataclass(frozen=True)
class Enqueued:
    id: int
    merged: bool  # True: folded into the model's open request, no new row


@dataclass(frozen=True)
class Rescued:
    id: int
    model_name: str
    status: str  # pending (another attempt to come) or failed (that was the last)
    error_message: str


def enqueue(conn: Connection, model_name: str, reason: str, priority: int = 3,
            signal_id: int | None = None, *, max_attempts: int = MAX_ATTEMPTS,
            timeout_seconds: int | None = None) -> Enqueued:  # fmt: skip
    """Ask for `model_name` to be retrained, or merge into its open request (the higher
    priority wins, the reasons are joined); committed."""
    params = {"model_name": model_name, "reason": reason, "priority": priority,
              "signal_id": signal_id, "max_attempts": max_attempts,
              "timeout_seconds": timeout_seconds}  # fmt: skip
    job_id, merged = _change(conn, QUERIES["enqueue"], params)[0]
    return Enqueued(job_id, merged)


def claim(conn: Connection, worker_id: str) -> Job | None:
    """Take the most urgent due pending job for `worker_id` (committed); None: none is due."""
    rows = _change(conn, QUERIES["claim"], {"worker_id": worker_id})
    return Job(*rows[0]) if rows else None


def heartbeat(conn: Connection, job: Job) -> None:
    """Say the job's holder is alive (committed); LeaseLost when it holds the job no more."""
    _held(conn, "heartbeat", job, {})


def complete(conn: Connection, job: Job, training_run_id: str | None) -> None:
    """Mark the job completed with the run it produced (committed); LeaseLost, writing
    nothing, when the caller holds the job no more."""
    _held(conn, "complete", job, {"training_run_id": training_run_id})


def fail(conn: Connection, job: Job, error: str) -> str:
    """Record a failed attempt (committed): the job goes back to pending after a backoff,
    or to failed after its last attempt; the status it got. LeaseLost as `complete`."""
    row = _held(conn, "fail", job, {"error": error, **_backoff()})
    return str(row[0])


def rescue_stalled(conn: Connection, timeout: timedelta) -> list[Rescued]:
    """Put back (or fail, after their last attempt) the jobs in processing whose heartbeat
    is older than `timeout` or that ran past their time limit; committed."""
    params = {"timeout": timeout.total_seconds(), **_backoff()}
    return [Rescued(*row) for row in _change(conn, QUERIES["rescue_stalled"], params)]


def _held(conn: Connection, name: LiteralString, job: Job,
          params: Mapping[str, object]) -> tuple[Any, ...]:  # fmt: skip
    """Run a change guarded by the job's lease; its row, or LeaseLost when it matched none."""
    rows = _change(conn, QUERIES[name], {"id": job.id, "lease": job.lease, **params})
    if rows:
        return rows[0]
    refused = f"{name} refused, nothing was written: {_standing(conn, job)}"
    raise LeaseLost(job.id, job.lease, refused)


def _standing(conn: Connection, job: Job) -> str:
    """Where the job stands, as a worker that lost it is told."""
    rows = _change(conn, QUERIES["job_state"], {"id": job.id})
    if not rows:
        return "the job no longer exists"
    status, lease, worker = rows[0]
    return f"the job is {status} under lease {lease} (worker {worker})"


def _change(conn: Connection, query: LiteralString,
            params: Mapping[str, object]) -> list[tuple[Any, ...]]:  # fmt: skip
    """Run one queue statement and commit it; on an error, roll it back so the connection
    can go on (a worker keeps its connection from job to job)."""
    with translated():
        try:
            rows = conn.execute(query, params).fetchall()
        except BaseException:
            if not conn.autocommit and not conn.broken:
                conn.rollback()
            raise
        if not conn.autocommit:
            conn.commit()
    return rows


def _backoff() -> dict[str, float]:
    return {"backoff_base": BACKOFF_BASE, "backoff_cap": BACKOFF_CAP}
