"""The retrain queue on real PostgreSQL, its clock moved by backdating timestamps."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from candlelab.errors import InvalidValue, LeaseLost
from candlelab.jobs import queue
from candlelab.jobs.heartbeat import Heartbeat
from candlelab.jobs.queue import Job, claim, complete, enqueue, fail, heartbeat, rescue_stalled
from candlelab.store import migrations
from candlelab.store.database import Connection, connect

MINUTE = timedelta(minutes=1)


def backdate(conn: Connection, job_id: int, column: str, seconds: float) -> None:
    statement = sql.SQL("UPDATE retrain_queue SET {} = now() - make_interval(secs => %s) "
                        "WHERE id = %s").format(sql.Identifier(column))  # fmt: skip
    conn.execute(statement, (seconds, job_id))
    conn.commit()


def state(conn: Connection, job_id: int) -> dict[str, object]:
    cursor = conn.execute(
        "SELECT status, priority, reason, attempts, lease, worker_id, error_message,"
        " completed_at IS NOT NULL AS ended,"
        " round(extract(epoch FROM run_after - now())) AS wait FROM retrain_queue WHERE id = %s",
        (job_id,),
    )
    row = cursor.fetchone()
    conn.commit()
    assert row is not None
    assert cursor.description is not None
    return dict(zip([column.name for column in cursor.description], row, strict=True))


def assert_row(conn: Connection, job_id: int, **expected: object) -> None:
    row = state(conn, job_id)
    assert {column: row[column] for column in expected} == expected


def claimed(conn: Connection, worker: str) -> Job:
    job = claim(conn, worker)
    assert job is not None
    return job


def test_a_second_request_for_a_model_merges_into_its_open_one(conn: Connection) -> None:
    first = enqueue(conn, "m", "drift", priority=2)
    assert enqueue(conn, "m", "schedule", priority=4) == queue.Enqueued(first.id, merged=True)
    assert enqueue(conn, "m", "by hand", priority=1).merged
    assert_row(conn, first.id, priority=4, reason="drift; schedule; by hand")
    assert conn.execute("SELECT count(*) FROM retrain_queue").fetchone() == (1,)

    complete(conn, claimed(conn, "w1"), None)
    assert not enqueue(conn, "m", "again").merged  # the finished one is not open any more
    with pytest.raises(InvalidValue):
        enqueue(conn, "n", "too urgent", priority=6)
    assert not enqueue(conn, "n", "urgent", priority=5).merged  # the connection goes on


def test_workers_claim_the_highest_priority_first_then_the_oldest(conn: Connection) -> None:
    ids = {name: enqueue(conn, name, "r", priority=p).id
           for name, p in [("low", 1), ("new high", 5), ("old high", 5), ("mid", 3)]}  # fmt: skip
    backdate(conn, ids["old high"], "inserted_at", 60)
    backdate(conn, enqueue(conn, "later", "r", priority=5).id, "run_after", -60)  # not due
    order = [claimed(conn, "w").model_name for _ in range(4)]
    assert order == ["old high", "new high", "mid", "low"]
    assert claim(conn, "w") is None


def test_two_connections_claiming_at_once_take_different_jobs(
    conn: Connection, database_url: str
) -> None:
    first, second = enqueue(conn, "a", "r", priority=5), enqueue(conn, "b", "r")
    with connect(database_url) as holder:
        holder.execute(queue.QUERIES["claim"], {"worker_id": "w1"})  # locked, not committed
        conn.execute("SET lock_timeout = '5s'")  # a claim that waited would fail, not hang
        assert claimed(conn, "w2").id == second.id
        holder.commit()
    assert state(conn, first.id)["worker_id"] == "w1"
    assert state(conn, second.id)["worker_id"] == "w2"


def test_a_worker_whose_lease_was_lost_is_refused_and_writes_nothing(conn: Connection) -> None:
    job_id = enqueue(conn, "m", "r").id
    stale = claimed(conn, "w1")
    backdate(conn, job_id, "heartbeat_at", 600)
    (rescued,) = rescue_stalled(conn, MINUTE)
    assert rescued.status == "pending"
    assert rescued.error_message.startswith("worker w1 stopped heartbeating at 20")
    assert "UTC (attempt 1 of 3)" in rescued.error_message
    backdate(conn, job_id, "run_after", 0)  # past its backoff
    fresh = claimed(conn, "w2")
    assert (fresh.id, fresh.lease, fresh.attempts) == (job_id, 2, 2)

    for report in (lambda: complete(conn, stale, None), lambda: heartbeat(conn, stale),
                   lambda: fail(conn, stale, "late")):  # fmt: skip
        with pytest.raises(LeaseLost, match="processing under lease 2 \\(worker w2\\)"):
            report()
    assert_row(conn, job_id, status="processing", worker_id="w2", ended=False)
    complete(conn, fresh, None)
    assert state(conn, job_id)["status"] == "completed"


def test_a_failed_attempt_waits_twice_as_long_each_time_then_fails_for_good(
    conn: Connection,
) -> None:
    job_id = enqueue(conn, "m", "r").id
    for attempt, wait in [(1, 30), (2, 60)]:
        assert fail(conn, claimed(conn, "w"), f"boom {attempt}") == "pending"
        assert_row(conn, job_id, status="pending", wait=wait, attempts=attempt)
        assert claim(conn, "w") is None  # not due before its backoff ends
        backdate(conn, job_id, "run_after", 0)
    assert fail(conn, claimed(conn, "w"), "boom 3") == "failed"
    assert_row(conn, job_id, status="failed", error_message="boom 3", ended=True)
    assert claim(conn, "w") is None


def test_a_job_past_its_time_limit_is_retried_then_failed_with_why(conn: Connection) -> None:
    job_id = enqueue(conn, "m", "r", max_attempts=2, timeout_seconds=60).id
    enqueue(conn, "young", "r", timeout_seconds=60)
    claimed(conn, "w1"), claimed(conn, "w2")
    backdate(conn, job_id, "started_at", 120)  # beating all along, but for too long
    (rescued,) = rescue_stalled(conn, timedelta(hours=1))
    assert rescued.error_message == "ran past its time limit of 60 s (worker w1, attempt 1 of 2)"
    assert rescued.status == "pending"

    backdate(conn, job_id, "run_after", 0)
    hung = claimed(conn, "w3")
    backdate(conn, job_id, "started_at", 120)
    assert [r.status for r in rescue_stalled(conn, timedelta(hours=1))] == ["failed"]
    with pytest.raises(LeaseLost, match="the job is failed"):
        complete(conn, hung, None)


def test_a_stalled_job_on_its_last_attempt_fails(conn: Connection) -> None:
    job_id = enqueue(conn, "m", "r", max_attempts=1).id
    claimed(conn, "w1")
    backdate(conn, job_id, "heartbeat_at", 120)
    assert rescue_stalled(conn, 10 * MINUTE) == []  # not stale yet under this timeout
    assert [r.status for r in rescue_stalled(conn, MINUTE)] == ["failed"]
    assert state(conn, job_id)["ended"] is True


def test_two_threads_complete_each_of_100_jobs_exactly_once(
    conn: Connection, database_url: str
) -> None:
    for n in range(100):
        enqueue(conn, f"model {n}", "r")
    done: dict[str, list[int]] = {"w1": [], "w2": []}

    def work(worker: str) -> None:
        with connect(database_url) as own:
            while (job := claim(own, worker)) is not None:
                complete(own, job, None)
                done[worker].append(job.id)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in done]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = done["w1"] + done["w2"]
    assert len(ids) == len(set(ids)) == 100
    rows = conn.execute("SELECT status, count(*), max(attempts) FROM retrain_queue GROUP BY 1")
    assert rows.fetchall() == [("completed", 100, 1)]


def test_the_heartbeat_thread_beats_and_notices_a_lost_lease(
    conn: Connection, database_url: str
) -> None:
    job_id = enqueue(conn, "m", "r").id
    job = claimed(conn, "w1")
    backdate(conn, job_id, "heartbeat_at", 600)
    with Heartbeat(database_url, job, every_seconds=0.02) as beat:
        wait_until(lambda: fresh_beat(conn, job_id))
        assert rescue_stalled(conn, MINUTE) == []
        assert not beat.lost.is_set()
        # Any beat is too old now: taken from w1; unless a beat committed after the rescue's
        # statement began (its now()) on a loaded machine: then the next rescue takes it.
        wait_until(lambda: rescue_stalled(conn, timedelta(0)) != [])
        backdate(conn, job_id, "run_after", 0)
        claimed(conn, "w2")
        assert beat.lost.wait(10)
    # A beat may fall between the rescue and w2's claim: the refusal says where it stood.
    standing = ("the job is pending under lease 1 (worker w1)",
                "the job is processing under lease 2 (worker w2)")  # fmt: skip
    assert str(beat.refusal).endswith(standing)


def fresh_beat(conn: Connection, job_id: int) -> bool:
    row = conn.execute("SELECT heartbeat_at > now() - interval '1 minute' FROM retrain_queue"
                       " WHERE id = %s", (job_id,)).fetchone()  # fmt: skip
    conn.commit()
    return row == (True,)


def wait_until(condition: object, seconds: float = 10) -> None:
    """Wait for a condition another thread brings about (no timing is asserted)."""
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def test_the_migration_folds_open_duplicates_stored_before_it(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url, "0024")
    with psycopg.connect(empty_database_url) as db:
        db.execute("INSERT INTO retrain_queue (model_name, reason, priority) VALUES "
                   "('m', 'a', 2), ('m', 'b', 4), ('m', 'c', 1), ('n', 'd', 3)")  # fmt: skip
    migrations.upgrade(empty_database_url)
    with psycopg.connect(empty_database_url) as db:
        rows = db.execute("SELECT id, model_name, status, priority, reason, error_message"
                          " FROM retrain_queue ORDER BY id").fetchall()  # fmt: skip
    assert rows == [
        (1, "m", "pending", 4, "a; b; c", None),
        (2, "m", "failed", 4, "b", "merged into request 1 by migration 0026"),
        (3, "m", "failed", 1, "c", "merged into request 1 by migration 0026"),
        (4, "n", "pending", 3, "d", None),
    ]
