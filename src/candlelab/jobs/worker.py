"""The worker: a loop that rescues stalled jobs, claims one, runs it, and reports.

Each turn of the loop first puts back jobs whose worker died (`rescue_stalled`: every
worker does it, no cron), then claims the most urgent due job. The job's handler runs in
a process of its own (`runner`) while this process keeps the job's heartbeat from a
thread and watches three things: the job's time limit (past it, the process is stopped
and the attempt failed, saying so), its lease (lost to a rescue or a cancel: the process
is stopped and nothing is reported), and the worker's own stop signal. With no job due,
the worker waits for a NOTIFY on the queue's channel, or until the poll interval or the
next backoff ends, whichever comes first (a NOTIFY is lost while disconnected: the poll
is the fallback).

SIGTERM or SIGINT: the worker claims nothing more; the job in hand gets `grace` seconds to
finish, then its process is stopped and the job released back to pending (its attempt
not counted). A second signal ends the grace at once. A job is never left processing by
a worker that stopped on a signal; one that was SIGKILLed is rescued by another worker
after the heartbeat timeout.

Each turn also runs the schedules that are due (`schedules`, `tasks`), before it claims:
scheduled retrains (enqueued, then claimed like any request), and the checks over every
model (evaluate, drift, the policy's decisions), in the worker's own process. A period is
claimed in the database, so it runs once however many workers look; a task that fails is
logged and its error kept on the schedule, and the worker goes on.

`run_workers(config, n)` starts n worker processes (spawned) and passes the signals on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from multiprocessing.process import BaseProcess
from types import FrameType

import psycopg

from candlelab.errors import DatabaseUnavailable, LeaseLost, TemporaryError, cut
from candlelab.jobs import queue, schedules
from candlelab.jobs.heartbeat import Heartbeat
from candlelab.jobs.queue import BACKOFF, Backoff, Job
from candlelab.jobs.retraining import retrain
from candlelab.jobs.runner import SPAWN, Ended, Handler, JobContext, Runner
from candlelab.jobs.tasks import Checks, TaskContext, run_task, spans_retrain
from candlelab.store.database import Connection, connect

log = logging.getLogger("candlelab.worker")
STEP = 0.25  # seconds between two looks at a running job's lease, clock and stop signal
LOST_DATABASE = (DatabaseUnavailable, TemporaryError, psycopg.OperationalError)
SignalHandler = Callable[[int, FrameType | None], None]
ERROR_KEPT = 2000  # characters of a failed task's error kept on its schedule


@dataclass(frozen=True)
class WorkerConfig:
    url: str
    artifact_location: str
    heartbeat_timeout: float = 120.0  # seconds without a beat before a job is rescued
    poll: float = 5.0  # seconds between two looks at the queue when no NOTIFY comes
    grace: float = 30.0  # seconds a job in hand may take to finish once stopping
    once: bool = False  # take at most one job, then stop
    backoff: Backoff = BACKOFF
    challenger_traffic: float = 0.1
    handler: Handler = retrain
    log_level: str = "INFO"
    # The tasks over every model this worker sets up when it starts: (kind, period), a
    # period of None removing the task; empty: leave the schedules as they are.
    tasks: tuple[tuple[str, timedelta | None], ...] = ()
    checks: Checks = field(default_factory=Checks)

    @property
    def beat_every(self) -> float:
        return self.heartbeat_timeout / 4  # three beats may be lost before a rescue


@dataclass
class Tally:
    """What a worker did with the jobs it claimed."""

    completed: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0
    tasks: int = 0  # scheduled runs done (a retrain enqueued, a check run)
    tasks_failed: int = 0

    @property
    def jobs(self) -> int:
        return self.completed + self.failed + self.released + self.lost


@dataclass(frozen=True)
class _Outcome:
    kind: str  # completed, failed, released or lost
    run_id: str | None = None
    message: str = ""


@dataclass
class Worker:
    config: WorkerConfig
    id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    tally: Tally = field(default_factory=Tally)
    runner: Runner = field(default_factory=Runner)
    stopping: threading.Event = field(default_factory=threading.Event)
    hurry: threading.Event = field(default_factory=threading.Event)  # grace cut short
    _stop_asked: float = 0.0
    _tasks_set: bool = False

    def stop(self) -> None:
        """Claim nothing more; a second call ends the job in hand's grace at once."""
        if self.stopping.is_set():
            self.hurry.set()
        self._stop_asked = self._stop_asked or time.monotonic()
        self.stopping.set()

    def run(self) -> Tally:
        """Work until stopped (or, with `once`, until one job is done or none is due)."""
        log.info("worker %s started", self.id)
        try:
            while not self.stopping.is_set() and self._session_survived():
                self.stopping.wait(self.config.poll)
        finally:
            self.runner.stop()  # the job process, idle or not, never outlives its worker
        log.info("worker %s stopped: %s", self.id, self.tally)
        return self.tally

    def _session_survived(self) -> bool:
        """Run a session; True when it ended because the database was lost."""
        try:
            self._session()
        except LOST_DATABASE as exc:
            log.warning("worker %s lost the database (%s); trying again", self.id, exc)
            return True
        return False

    def _session(self) -> None:
        """Turns of the loop on one connection, until the worker is done."""
        with connect(self.config.url) as conn, _Listener(self.config.url) as listener:
            self._set_tasks(conn)
            while not self.stopping.is_set():
                took = self._turn(conn)
                if self.config.once:
                    return
                if not took:
                    listener.wait(self._nap(conn), self.stopping)

    def _set_tasks(self, conn: Connection) -> None:
        """Set up the tasks over every model as configured, once (the first session)."""
        if self._tasks_set:
            return
        for kind, every in self.config.tasks:
            schedules.set_task(conn, kind, every, by=f"worker {self.id}")
            log.info("task %s: %s", kind, f"every {schedules.period(every)}" if every else "off")
        self._tasks_set = True

    def _turn(self, conn: Connection) -> bool:
        """Run the due schedules, rescue, claim and run one job; False when none was due."""
        self._run_schedules(conn)
        for rescued in queue.rescue_stalled(conn, self._timeout, self.config.backoff):
            log.warning("job %s %s: %s", rescued.id, rescued.status, rescued.error_message)
        job = queue.claim(conn, self.id)
        if job is None:
            return False
        log.info("job %s (%s, attempt %s) claimed by %s", job.id, job.model_name,
                 job.attempts, self.id)  # fmt: skip
        self._report_surely(conn, job, self._work(job))
        return True

    def _run_schedules(self, conn: Connection) -> None:
        """Each schedule due now, its period claimed first: at most once a period."""
        context = TaskContext(self.config.url, self.config.artifact_location,
                              self.config.checks)  # fmt: skip
        for fired in schedules.spans_fired(conn, self.id):
            what = f"retrain of {fired.model_name} on spans"
            self._run_task(conn, fired.id, what, partial(spans_retrain, context, fired))
        while not self.stopping.is_set() and (due := schedules.claim(conn, self.id)):
            if due.missed:
                log.warning("schedule %s (%s): %s periods missed, run once", due.id,
                            due.kind, due.missed)  # fmt: skip
            what = due.kind + (f" of {due.model_name}" if due.model_name else "")
            self._run_task(conn, due.id, what, partial(run_task, context, due))

    def _run_task(self, conn: Connection, schedule_id: int, what: str,
                  task: Callable[[], str]) -> None:  # fmt: skip
        """Run a scheduled task and keep its outcome on the schedule. A failure is logged
        and kept, and the worker goes on; a lost database ends the session as ever."""
        try:
            result = task()
        except LOST_DATABASE:
            raise
        except Exception as exc:  # a task's failure is the schedule's, never the worker's
            log.exception("schedule %s (%s) failed", schedule_id, what)
            schedules.finish(conn, schedule_id, None, cut(f"{type(exc).__name__}: {exc}",
                                                          ERROR_KEPT))  # fmt: skip
            self.tally.tasks_failed += 1
            return
        schedules.finish(conn, schedule_id, result)
        self.tally.tasks += 1
        log.info("schedule %s (%s): %s", schedule_id, what, result)

    @property
    def _timeout(self) -> timedelta:
        return timedelta(seconds=self.config.heartbeat_timeout)

    def _nap(self, conn: Connection) -> float:
        """How long to wait for a NOTIFY: the poll interval, or less if a job or a
        schedule falls due."""
        waits = [queue.next_due(conn), schedules.next_due(conn)]
        due = min((wait for wait in waits if wait is not None), default=None)
        return self.config.poll if due is None else min(self.config.poll, max(due, 0.05))

    def _work(self, job: Job) -> _Outcome:
        """Run the job's handler in its own process, watched; how it ended."""
        context = JobContext(self.config.url, self.config.artifact_location, job,
                             self.config.challenger_traffic)  # fmt: skip
        deadline = time.monotonic() + job.timeout_seconds if job.timeout_seconds else None
        with Heartbeat(self.config.url, job, self.config.beat_every) as beat:
            self.runner.start(self.config.handler, context)
            return self._watch(job, beat, deadline)

    def _watch(self, job: Job, beat: Heartbeat, deadline: float | None) -> _Outcome:
        while (ended := self.runner.wait(STEP)) is None:
            if beat.lost.is_set():
                return self._interrupted("lost", str(beat.refusal))
            if deadline is not None and time.monotonic() > deadline:
                return self._interrupted("failed", _overran(job, self.id))
            if self.stopping.is_set() and self._grace_over():
                return self._interrupted("released", f"given back by worker {self.id}, "
                                         "which was stopping, before the job ended")  # fmt: skip
        return _ended(ended)

    def _interrupted(self, kind: str, message: str) -> _Outcome:
        """The job's process stopped before the job ended (a training run in it is marked
        failed as it stops); how the job ended."""
        self.runner.stop()
        return _Outcome(kind, message=message)

    def _grace_over(self) -> bool:
        waited = time.monotonic() - self._stop_asked
        return self.hurry.is_set() or waited > self.config.grace

    def _report_surely(self, conn: Connection, job: Job, outcome: _Outcome) -> None:
        """Report; when the database was lost meanwhile (a restart), again on new
        connections until the heartbeat timeout ends: the job is then another worker's
        to rescue, and the loop's next turn finds the database gone and reconnects."""
        try:
            return self._report(conn, job, outcome)
        except LOST_DATABASE as exc:
            log.warning("job %s: cannot report it %s yet (%s)", job.id, outcome.kind, exc)
        end = time.monotonic() + self.config.heartbeat_timeout
        while time.monotonic() < end:
            time.sleep(min(self.config.poll, 1.0))
            with contextlib.suppress(*LOST_DATABASE), connect(self.config.url) as fresh:
                return self._report(fresh, job, outcome)
        log.warning("job %s: not reported; it is rescued after the heartbeat timeout", job.id)
        return None

    def _report(self, conn: Connection, job: Job, outcome: _Outcome) -> None:
        """Tell the queue how the job ended; a refusal (the lease was lost) is only logged."""
        try:
            if outcome.kind == "completed":
                queue.complete(conn, job, outcome.run_id)
            elif outcome.kind == "failed":
                queue.fail(conn, job, outcome.message, self.config.backoff)
            elif outcome.kind == "released":
                queue.release(conn, job, outcome.message)
        except LeaseLost as refusal:
            outcome = _Outcome("lost", message=str(refusal))
        setattr(self.tally, outcome.kind, getattr(self.tally, outcome.kind) + 1)
        log.info("job %s %s %s", job.id, outcome.kind, outcome.message)


def _ended(ended: Ended) -> _Outcome:
    if ended.error is not None:
        return _Outcome("failed", message=ended.error)
    return _Outcome("completed", run_id=ended.run_id)


def _overran(job: Job, worker_id: str) -> str:
    return (
        f"ran past its time limit of {job.timeout_seconds} s (worker {worker_id}, attempt "
        f"{job.attempts} of {job.max_attempts}); its process was stopped"
    )


class _Listener:
    """LISTEN on the queue's channel from a connection of its own; waits end at a NOTIFY.
    A listener that cannot reach the database just sleeps: the poll is the fallback."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Connection | None = None

    def __enter__(self) -> _Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()

    def wait(self, seconds: float, stopping: threading.Event) -> None:
        """Until a NOTIFY, `seconds` pass, or `stopping` is set (looked at every second)."""
        end = time.monotonic() + seconds
        while not stopping.is_set() and (left := end - time.monotonic()) > 0:
            if self._notified(min(left, 1.0)):
                return

    def _notified(self, seconds: float) -> bool:
        try:
            conn = self.conn = self.conn or self._listening()
            return any(True for _ in conn.notifies(timeout=seconds, stop_after=1))
        except LOST_DATABASE:
            self.conn = None
            time.sleep(seconds)
            return False

    def _listening(self) -> Connection:
        conn = connect(self.url, autocommit=True)
        conn.execute(f"LISTEN {queue.CHANNEL}")
        return conn


def run_worker(config: WorkerConfig) -> Tally:
    """One worker in this process, stopped by SIGTERM or SIGINT (a second one: at once)."""
    _log_to_stderr(config.log_level)
    worker = Worker(config)
    _on_stop_signals(lambda number, frame: worker.stop())
    return worker.run()


def run_workers(config: WorkerConfig, count: int) -> int:
    """`count` workers: in this process when one, else in spawned processes, each signal
    this process gets passed on to them as SIGTERM; the number that failed."""
    if count == 1:
        run_worker(config)
        return 0
    processes = [SPAWN.Process(target=_run_child, args=(replace(config),), name=f"worker-{n}")
                 for n in range(count)]  # fmt: skip
    for process in processes:
        process.start()
    _on_stop_signals(lambda number, frame: _pass_on(processes))
    for process in processes:
        process.join()
    return sum(1 for process in processes if process.exitcode != 0)


def _run_child(config: WorkerConfig) -> None:
    """A worker process of `run_workers`. A Ctrl-C reaches every process of the terminal's
    group: it ignores SIGINT, so one Ctrl-C stops it once (passed on by its parent)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _log_to_stderr(config.log_level)
    worker = Worker(config)
    signal.signal(signal.SIGTERM, lambda number, frame: worker.stop())
    worker.run()


def _pass_on(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)


def _on_stop_signals(handler: SignalHandler) -> None:
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, handler)


def _log_to_stderr(level: str) -> None:
    """Log lines on stderr; the worker's own (a line per job) at INFO at least."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(min(logging.getLevelName(level), logging.INFO))
