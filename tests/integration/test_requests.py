"""Retrain requests as people handle them (list, cancel, retry), and the NOTIFY that wakes
workers whenever a job becomes claimable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from candlelab.errors import LeaseLost
from candlelab.jobs import queue
from candlelab.jobs.queue import claim, complete, enqueue, fail, release, rescue_stalled
from candlelab.jobs.requests import RequestRefused, cancel, request, requests, retry
from candlelab.store.database import Connection, connect
from tests.integration.test_queue import backdate, claimed


def test_requests_are_listed_newest_first_by_status_and_model(conn: Connection) -> None:
    first, second = enqueue(conn, "a", "r").id, enqueue(conn, "b", "r").id
    complete(conn, claimed(conn, "w"), None)  # a: the older
    assert [r.id for r in requests(conn)] == [second, first]
    assert [r.id for r in requests(conn, status="completed")] == [first]
    assert [r.id for r in requests(conn, model_name="b")] == [second]
    with pytest.raises(RequestRefused, match="--status 'done': choose one of pending"):
        requests(conn, status="done")


def test_a_cancelled_running_job_loses_its_lease_and_an_ended_one_cannot_be_cancelled(
    conn: Connection,
) -> None:
    job_id = enqueue(conn, "m", "r").id
    running = claimed(conn, "w1")
    assert cancel(conn, job_id, "ann", "wrong window") == "processing"
    found = request(conn, job_id)
    assert (found.status, found.error_message) == ("failed", "cancelled by ann: wrong window")
    assert found.completed_at is not None
    with pytest.raises(LeaseLost, match="the job is failed"):
        queue.heartbeat(conn, running)  # its worker's next beat is refused
    with pytest.raises(RequestRefused, match=f"retrain request {job_id} is failed"):
        cancel(conn, job_id, "ann")
    assert enqueue(conn, "m", "again").id != job_id  # no longer the model's open request


def test_retry_puts_a_failed_request_back_unless_the_model_has_another_open(
    conn: Connection,
) -> None:
    job_id = enqueue(conn, "m", "r", max_attempts=1).id
    fail(conn, claimed(conn, "w"), "boom")
    other = enqueue(conn, "m", "newer").id
    with pytest.raises(RequestRefused, match="model m has an open retrain request already"):
        retry(conn, job_id)
    cancel(conn, other, "ann")
    again = retry(conn, job_id)
    assert (again.status, again.attempts, again.error_message) == ("pending", 0, "boom")
    assert claimed(conn, "w").id == job_id
    with pytest.raises(RequestRefused, match="only a failed or pending one can be retried"):
        retry(conn, job_id)  # processing


def test_every_change_that_makes_a_job_claimable_is_notified(
    conn: Connection, database_url: str
) -> None:
    with connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {queue.CHANNEL}")
        job_id = enqueue(conn, "m", "r").id
        assert heard(listener) == [str(job_id)]
        fail(conn, claimed(conn, "w"), "boom")
        assert heard(listener) == [str(job_id)]
        backdate(conn, job_id, "run_after", 0)
        release(conn, claimed(conn, "w"), "stopping")
        assert heard(listener) == [str(job_id)]
        claimed(conn, "w")
        backdate(conn, job_id, "heartbeat_at", 600)
        rescue_stalled(conn, timedelta(minutes=1))
        assert heard(listener) == [str(job_id)]
        assert claim(conn, "w") is None  # not due yet: a 30 s backoff
        retry(conn, job_id)
        assert heard(listener) == [str(job_id)]


def heard(listener: Connection) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=0.5)]
