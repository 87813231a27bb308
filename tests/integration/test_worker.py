"""The worker on real PostgreSQL: jobs run in processes of their own, stopped on a time
limit, a lost lease or a signal; workers killed, stopped and racing. Waits are for a
condition another process brings about; nothing asserts a duration."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from candlelab.errors import DatabaseUnavailable
from candlelab.jobs.queue import Backoff, enqueue
from candlelab.jobs.requests import cancel, request
from candlelab.jobs.runner import SPAWN
from candlelab.jobs.worker import Worker, WorkerConfig, run_worker
from candlelab.store import migrations
from candlelab.store.database import Connection, connect
from candlelab.store.embedded import EmbeddedServer
from tests.fixtures.jobs import job_runs_table, scripted
from tests.integration.test_queue import wait_until

NOW = Backoff(0, 0)  # a failed or rescued job is due again at once


@pytest.fixture
def config(conn: Connection, database_url: str, artifact_root: str) -> WorkerConfig:
    """A worker of short timeouts running the scripted test handler."""
    job_runs_table(conn)
    return WorkerConfig(database_url, artifact_root, heartbeat_timeout=2.0, poll=0.5,
                        grace=30.0, backoff=NOW, handler=scripted)  # fmt: skip


@contextmanager
def worker_thread(config: WorkerConfig) -> Iterator[Worker]:
    """A worker running in a thread of the test (its jobs in processes of their own)."""
    worker = Worker(config)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        worker.hurry.set()
        thread.join()


def worker_process(config: WorkerConfig) -> BaseProcess:
    process = SPAWN.Process(target=run_worker, args=(config,))
    process.start()
    return process


def status(conn: Connection, job_id: int) -> str:
    found = request(conn, job_id)
    return found.status


def runs_of(conn: Connection, job_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM job_runs WHERE job_id = %s", (job_id,)).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def test_a_job_past_its_time_limit_is_failed_and_the_worker_takes_the_next(
    conn: Connection, config: WorkerConfig
) -> None:
    hung = enqueue(conn, "a", "hang", priority=5, max_attempts=1, timeout_seconds=1).id
    after = enqueue(conn, "b", "ok", priority=1).id
    with worker_thread(config) as worker:
        wait_until(lambda: status(conn, after) == "completed", 60)
    found = request(conn, hung)
    assert found.status == "failed"
    assert found.error_message == (f"ran past its time limit of 1 s (worker {worker.id}, "
                                   "attempt 1 of 1); its process was stopped")  # fmt: skip
    assert (runs_of(conn, hung), runs_of(conn, after)) == (0, 1)
    assert (worker.tally.failed, worker.tally.completed) == (1, 1)


def test_a_failing_handler_fails_its_attempt_with_its_error_and_the_job_is_tried_again(
    conn: Connection, config: WorkerConfig
) -> None:
    job_id = enqueue(conn, "a", "fail", max_attempts=2).id
    with worker_thread(config) as worker:
        wait_until(lambda: status(conn, job_id) == "failed", 60)
    found = request(conn, job_id)
    assert (found.attempts, found.error_message) == (2, "DataError: the job's data is broken")
    assert worker.tally.failed == 2


def test_a_cancelled_running_job_is_stopped_and_its_worker_goes_on(
    conn: Connection, config: WorkerConfig
) -> None:
    hung = enqueue(conn, "a", "hang", priority=5).id
    with worker_thread(config) as worker:
        wait_until(lambda: status(conn, hung) == "processing", 60)
        assert cancel(conn, hung, "tester", "wrong model") == "processing"
        wait_until(lambda: worker.tally.lost == 1, 60)  # its heartbeat was refused
        after = enqueue(conn, "b", "ok").id
        wait_until(lambda: status(conn, after) == "completed", 60)
    found = request(conn, hung)
    assert (found.status, found.error_message) == ("failed", "cancelled by tester: wrong model")
    assert runs_of(conn, hung) == 0


def test_a_waiting_worker_is_woken_by_the_notify_of_a_new_job(
    conn: Connection, config: WorkerConfig
) -> None:
    with worker_thread(replace(config, poll=3600)) as worker:  # it would never poll in time
        wait_until(lambda: listening(conn) == 1, 60)
        job_id = enqueue(conn, "a", "ok").id
        wait_until(lambda: status(conn, job_id) == "completed", 60)
    assert worker.tally.completed == 1


def listening(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND query LIKE 'LISTEN%%'").fetchone()  # fmt: skip
    conn.commit()
    assert row is not None
    return int(row[0])


@pytest.mark.slow
def test_sigterm_lets_the_job_in_hand_finish_within_the_grace(
    conn: Connection, config: WorkerConfig
) -> None:
    job_id = enqueue(conn, "a", "sleep 2").id
    process = worker_process(config)
    wait_until(lambda: status(conn, job_id) == "processing", 60)
    os.kill(process.pid or 0, signal.SIGTERM)
    process.join(60)
    assert process.exitcode == 0
    assert (status(conn, job_id), runs_of(conn, job_id)) == ("completed", 1)


@pytest.mark.slow
def test_sigterm_past_the_grace_releases_the_job_back_to_pending_untried(
    conn: Connection, config: WorkerConfig
) -> None:
    job_id = enqueue(conn, "a", "hang").id
    process = worker_process(replace(config, grace=0.5))
    wait_until(lambda: status(conn, job_id) == "processing", 60)
    os.kill(process.pid or 0, signal.SIGTERM)
    process.join(60)
    assert process.exitcode == 0
    found = request(conn, job_id)
    assert (found.status, found.attempts) == ("pending", 0)
    assert found.error_message is not None
    assert "which was stopping, before the job ended" in found.error_message


@pytest.mark.slow
def test_four_worker_processes_complete_each_of_200_jobs_exactly_once(
    conn: Connection, config: WorkerConfig
) -> None:
    for n in range(200):
        enqueue(conn, f"model {n}", "ok")
    processes = [worker_process(config) for _ in range(4)]
    wait_until(lambda: completed(conn) == 200, 600)
    for process in processes:
        os.kill(process.pid or 0, signal.SIGTERM)
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    runs = conn.execute("SELECT job_id, count(*) FROM job_runs GROUP BY 1").fetchall()
    assert len(runs) == 200
    assert {count for _, count in runs} == {1}
    rows = conn.execute("SELECT status, count(*), max(attempts) FROM retrain_queue GROUP BY 1")
    assert rows.fetchall() == [("completed", 200, 1)]


def completed(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM retrain_queue WHERE status = 'completed'").fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


@pytest.mark.embedded
@pytest.mark.slow
def test_a_database_restart_under_a_running_job_leaves_it_completed_or_pending(
    embedded_home: Path, artifact_root: str
) -> None:
    server = EmbeddedServer(embedded_home)
    url = server.start()
    migrations.upgrade(url)
    with connect(url) as conn:
        job_runs_table(conn)
        job_id = enqueue(conn, "a", "sleep 3").id
    config = WorkerConfig(url, artifact_root, heartbeat_timeout=30.0, poll=0.5, backoff=NOW,
                          handler=scripted)  # fmt: skip
    with worker_thread(config) as worker:
        wait_until(lambda: status_at(url, job_id) == "processing", 60)
        server.stop(immediate=True)  # as a crash would
        server.start()
        wait_until(lambda: status_at(url, job_id) == "completed", 120)
    assert worker.tally.completed == 1  # its report waited for the server, or a retry ran


def status_at(url: str, job_id: int) -> str | None:
    """The request's status, on a connection of its own; None while the server is down."""
    try:
        with connect(url) as conn:
            return status(conn, job_id)
    except DatabaseUnavailable:
        return None
