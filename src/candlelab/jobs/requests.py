"""Retrain requests as people see them: listed, shown, cancelled, retried.

A cancel ends an open request as `failed`, its error saying who cancelled it and why
(the queue keeps the spec's four statuses). A pending request is simply never claimed.
A running one loses its lease: its worker's next heartbeat is refused, and the worker
stops the training process and writes nothing more. A fenced write already under way
(a version being registered, an alias moved) finishes first, since the cancel waits for
the row's lock; whatever the job had not written by then, it never writes.

A retry puts a failed request back to pending with its attempts counted from zero, or
makes a pending one that waits out its backoff due now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from candlelab.errors import AlreadyExists, DataError, NotFound
from candlelab.jobs.queue import CHANNEL, change
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
STATUSES = ("pending", "processing", "completed", "failed")


class RequestRefused(DataError):
    """The retrain request cannot be changed so; nothing was written."""


@dataclass(frozen=True)
class Request:
    """One row of `retrain_queue`."""

    id: int
    model_name: str
    status: str
    priority: int
    reason: str
    attempts: int
    max_attempts: int
    worker_id: str | None
    lease: int
    inserted_at: datetime
    run_after: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    completed_at: datetime | None
    timeout_seconds: int | None
    signal_id: int | None
    training_run_id: str | None
    error_message: str | None


def requests(conn: Connection, status: str | None = None, model_name: str | None = None,
             limit: int = 50) -> list[Request]:  # fmt: skip
    """Requests, newest first, of `status` and `model_name` when given."""
    if status is not None and status not in STATUSES:
        raise RequestRefused(f"--status {status!r}: choose one of {', '.join(STATUSES)}")
    params = {"status": status, "model_name": model_name, "limit": limit}
    return [Request(*row) for row in change(conn, QUERIES["requests"], params)]


def request(conn: Connection, request_id: int) -> Request:
    """One request by its id; NotFound when there is none."""
    rows = change(conn, QUERIES["request"], {"id": request_id})
    if not rows:
        raise NotFound(f"no retrain request {request_id}; `candlelab retrain list` shows them")
    return Request(*rows[0])


def cancel(conn: Connection, request_id: int, who: str, reason: str | None = None) -> str:
    """End an open request as failed (committed); the status it had (pending or
    processing). Refused when it is not open."""
    why = f"cancelled by {who}" + (f": {reason}" if reason else "")
    rows = change(conn, QUERIES["cancel"], {"id": request_id, "why": why})
    if not rows:
        found = request(conn, request_id)
        raise RequestRefused(f"retrain request {request_id} is {found.status}: only a "
                             "pending or processing one can be cancelled")  # fmt: skip
    return str(rows[0][0])


def retry(conn: Connection, request_id: int) -> Request:
    """Put a failed request back to pending (attempts from zero), or make a pending one
    due now (committed); the request as it is then."""
    try:
        rows = change(conn, QUERIES["retry"], {"id": request_id, "channel": CHANNEL})
    except AlreadyExists as exc:  # the model's one open request is another one
        raise _open_already(conn, request_id) from exc
    if not rows:
        found = request(conn, request_id)
        raise RequestRefused(f"retrain request {request_id} is {found.status}: only a "
                             "failed or pending one can be retried")  # fmt: skip
    return request(conn, request_id)


def _open_already(conn: Connection, request_id: int) -> RequestRefused:
    found = request(conn, request_id)
    return RequestRefused(f"model {found.model_name} has an open retrain request already; "
                          f"request {request_id} stays failed (`candlelab retrain "
                          f"{found.model_name} --reason ...` joins the open one)")  # fmt: skip
