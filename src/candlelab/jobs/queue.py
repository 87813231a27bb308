"""The retrain queue on `retrain_queue`: enqueue, claim, heartbeat, complete, fail, rescue.

Every change is one statement whose WHERE clause is the lock (River's and pgqueuer's
way): a claim takes the most urgent due pending job with `FOR UPDATE SKIP LOCKED` and
raises its lease; heartbeat, complete and fail match only `id, lease, status =
'processing'`, so a worker whose job was rescued and taken again (its lease is old)
changes nothing and gets `LeaseLost`. Priority runs 1 = low … 5 = high. A model has at
most one open (pending or processing) request: a second one merges into it.

`rescue_stalled` puts jobs whose heartbeat is older than the timeout, or that ran past
their own time limit, back to pending with backoff (failed after the last attempt);
every worker runs it before claiming, so no cron job is needed. A job that becomes
claimable is announced on the CHANNEL (NOTIFY, sent at commit), which waiting workers
LISTEN to; they poll as well, since a NOTIFY is lost while a listener is disconnected.

`fenced` holds a job's row locked while its holder writes elsewhere (registers a model
version, moves an alias): no rescuer can take the job meanwhile, and a holder whose
lease is already lost gets `LeaseLost` before it writes anything.

Each call commits before it returns: a queue change other workers cannot see yet is no
change. Hand in a connection without a transaction of the caller's open.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
CHANNEL = "candlelab_retrain_queue"  # NOTIFY'd when a job becomes claimable


@dataclass(frozen=True)
class Backoff:
    """How long a failed or rescued job waits: `base` seconds before its second attempt,
    doubled for each one after, `cap` at most."""

    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP


BACKOFF = Backoff()


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
              "timeout_seconds": timeout_seconds, "channel": CHANNEL}  # fmt: skip
    job_id, merged = change(conn, QUERIES["enqueue"], params)[0]
    return Enqueued(job_id, merged)


def claim(conn: Connection, worker_id: str) -> Job | None:
    """Take the most urgent due pending job for `worker_id` (committed); None: none is due."""
    rows = change(conn, QUERIES["claim"], {"worker_id": worker_id})
    return Job(*rows[0]) if rows else None


def heartbeat(conn: Connection, job: Job) -> None:
    """Say the job's holder is alive (committed); LeaseLost when it holds the job no more."""
    _held(conn, "heartbeat", job, {})


def complete(conn: Connection, job: Job, training_run_id: str | None) -> None:
    """Mark the job completed with the run it produced (committed); LeaseLost, writing
    nothing, when the caller holds the job no more."""
    _held(conn, "complete", job, {"training_run_id": training_run_id})


def fail(conn: Connection, job: Job, error: str, backoff: Backoff = BACKOFF) -> str:
    """Record a failed attempt (committed): the job goes back to pending after a backoff,
    or to failed after its last attempt; the status it got. LeaseLost as `complete`."""
    row = _held(conn, "fail", job, {"error": error, **_backoff(backoff)})
    return str(row[0])


def release(conn: Connection, job: Job, why: str) -> None:
    """Give the job back untried (committed): pending, due now, the attempt not counted;
    `why` is kept as its error message. LeaseLost as `complete`."""
    _held(conn, "release", job, {"why": why, "channel": CHANNEL})


def rescue_stalled(conn: Connection, timeout: timedelta,
                   backoff: Backoff = BACKOFF) -> list[Rescued]:  # fmt: skip
    """Put back (or fail, after their last attempt) the jobs in processing whose heartbeat
    is older than `timeout` or that ran past their time limit; committed."""
    params = {"timeout": timeout.total_seconds(), **_backoff(backoff)}
    return [Rescued(*row) for row in change(conn, QUERIES["rescue_stalled"], params)]


def next_due(conn: Connection) -> float | None:
    """Seconds until the earliest pending job is due (0: now); None when none is pending."""
    (seconds,) = change(conn, QUERIES["next_due"], {})[0]
    return None if seconds is None else float(seconds)


@contextmanager
def fenced(conn: Connection, job: Job) -> Iterator[None]:
    """Hold the job's row locked for the block, which writes under a lease still the
    caller's; LeaseLost, before the block runs, when it is not. The block's writes on
    `conn` commit with the lock's release (a block that commits releases it there)."""
    with translated():
        held = conn.execute(QUERIES["fence"], {"id": job.id, "lease": job.lease}).fetchall()
    if not held:
        conn.rollback()
        raise LeaseLost(job.id, job.lease, f"fenced write refused: {_standing(conn, job)}")
    try:
        yield
    except BaseException:
        if not conn.broken:
            conn.rollback()
        raise
    conn.commit()


def attach_run(conn: Connection, job: Job, training_run_id: str) -> None:
    """Record the run the job produced, in the caller's transaction (inside `fenced`)."""
    params = {"id": job.id, "lease": job.lease, "training_run_id": training_run_id}
    with translated():
        conn.execute(QUERIES["attach_run"], params)


def _held(conn: Connection, name: LiteralString, job: Job,
          params: Mapping[str, object]) -> tuple[Any, ...]:  # fmt: skip
    """Run a change guarded by the job's lease; its row, or LeaseLost when it matched none."""
    rows = change(conn, QUERIES[name], {"id": job.id, "lease": job.lease, **params})
    if rows:
        return rows[0]
    refused = f"{name} refused, nothing was written: {_standing(conn, job)}"
    raise LeaseLost(job.id, job.lease, refused)


def _standing(conn: Connection, job: Job) -> str:
    """Where the job stands, as a worker that lost it is told."""
    rows = change(conn, QUERIES["job_state"], {"id": job.id})
    if not rows:
        return "the job no longer exists"
    status, lease, worker = rows[0]
    return f"the job is {status} under lease {lease} (worker {worker})"


def change(conn: Connection, query: LiteralString,
           params: Mapping[str, object]) -> list[tuple[Any, ...]]:  # fmt: skip
    """Run one statement on the queue (this module's or `requests`') and commit it; on an
    error, roll it back so the connection can go on (a worker keeps its connection from
    job to job)."""
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


def _backoff(backoff: Backoff) -> dict[str, object]:
    return {"backoff_base": backoff.base, "backoff_cap": backoff.cap, "channel": CHANNEL}
