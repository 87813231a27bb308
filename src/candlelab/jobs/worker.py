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
from multiprocessing.process import BaseProcess
from types import FrameType

import psycopg

from candlelab.errors import DatabaseUnavailable, LeaseLost, TemporaryError
from candlelab.jobs import queue
from candlelab.jobs.heartbeat import Heartbeat
from candlelab.jobs.queue import BACKOFF, Backoff, Job
from candlelab.jobs.retraining import retrain
from candlelab.jobs.runner import SPAWN, Ended, Handler, JobContext, Runner
from candlelab.store.database import Connection, connect

log = logging.getLogger("candlelab.worker")
STEP = 0.25  # seconds between two looks at a running job's lease, clock and stop signal
LOST_DATABASE = (DatabaseUnavailable, TemporaryError, psycopg.OperationalError)
SignalHandler = Callable[[int, FrameType | None], None]


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
            while not self.stopping.is_set():
                took = self._turn(conn)
                if self.config.once:
                    return
                if not took:
                    listener.wait(self._nap(conn), self.stopping)

    def _turn(self, conn: Connection) -> bool:
        """Rescue, claim and run one job; False when none was due."""
        for rescued in queue.rescue_stalled(conn, self._timeout, self.config.backoff):
            log.warning("job %s %s: %s", rescued.id, rescued.status, rescued.error_message)
        job = queue.claim(conn, self.id)
        if job is None:
            return False
        log.info("job %s (%s, attempt %s) claimed by %s", job.id, job.model_name,
                 job.attempts, self.id)  # fmt: skip
        self._report_surely(conn, job, self._work(job))
        return True

    @property
    def _timeout(self) -> timedelta:
        return timedelta(seconds=self.config.heartbeat_timeout)

    def _nap(self, conn: Connection) -> float:
        """How long to wait for a NOTIFY: the poll interval, or less if a job falls due."""
        due = queue.next_due(conn)
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
