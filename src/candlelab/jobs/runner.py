"""A claimed job's handler run in a process of its own, which its worker can stop.

The worker keeps the job's heartbeat and watches the clock, its lease and its stop
signal; the handler (a retrain: minutes of CPU-bound fitting) runs in a child process
started with `spawn`, never `fork` (a fork of a process holding Polars' or LightGBM's
thread pools can deadlock). So a job past its time limit, a cancelled one, or one a
stopping worker gives back, is ended by stopping its process, whatever it is doing; and
the heartbeat never waits for the fit.

Stopping sends SIGTERM first: the child turns it into `Stopped`, so a training run in
progress is marked failed and a version it registered is taken back; SIGKILL follows
after a few seconds. The child dies with its worker (Linux's parent-death signal, or a
thread watching the parent elsewhere): a killed worker leaves no training behind that
could still register a version.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from candlelab.jobs.queue import Job

SPAWN = multiprocessing.get_context("spawn")
TERMINATE_GRACE = 5.0  # seconds a stopped child has to mark its run failed before SIGKILL
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: where the data is, and the job it works for (its lease)."""

    url: str
    artifact_location: str
    job: Job
    challenger_traffic: float  # the share of requests a retrained challenger serves


Handler = Callable[[JobContext], str | None]  # the training run it produced, if any


@dataclass(frozen=True)
class Ended:
    """How the handler's process ended: the run it produced, or the error that stopped it."""

    run_id: str | None = None
    error: str | None = None


class Stopped(BaseException):  # not an Exception: nothing in the handler may swallow it
    """The job's process was told to stop (SIGTERM)."""


class Runner:
    """A process (spawned on first use) that runs one job's handler at a time. It is kept
    from job to job, so short jobs do not pay for a new interpreter each; once stopped,
    the next job starts a new one."""

    def __init__(self) -> None:
        self.process: BaseProcess | None = None
        self._tasks: Pipe | None = None
        self._results: Pipe | None = None

    def start(self, handler: Handler, context: JobContext) -> None:
        """Hand the job to the process (started now if there is none)."""
        if self.process is None or not self.process.is_alive():
            self._spawn()
        assert self._tasks is not None
        self._tasks.send((handler, context))

    def wait(self, seconds: float) -> Ended | None:
        """The job's end, waiting up to `seconds` for it; None: still running."""
        assert self.process is not None, "no job was started"
        assert self._results is not None, "no job was started"
        if not wait([self._results, self.process.sentinel], seconds):
            return None
        try:
            ended: Ended = self._results.recv()
        except EOFError:  # the process died without a word
            self.stop()
            return Ended(error=_death(self.process.exitcode))
        return ended

    def stop(self, grace: float = TERMINATE_GRACE) -> None:
        """End the process: SIGTERM, then SIGKILL after `grace` seconds."""
        process, self.process = self.process, None
        if process is not None and process.is_alive():
            process.terminate()
            process.join(grace)
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            process.join()
            self.process = process  # kept for its exit code until the next start
        for pipe in (self._tasks, self._results):
            if pipe is not None:
                pipe.close()
        self._tasks = self._results = None

    def _spawn(self) -> None:
        tasks, self._tasks = SPAWN.Pipe(duplex=False)
        self._results, results = SPAWN.Pipe(duplex=False)
        self.process = SPAWN.Process(target=_serve, args=(tasks, results, os.getpid()),
                                     name="candlelab-job")  # fmt: skip
        self.process.start()
        tasks.close()  # the child holds these ends now: its death is an EOF here
        results.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the job's process was killed by {signal.Signals(-code).name}"
    return f"the job's process exited with code {code} before reporting"


def _serve(tasks: Pipe, results: Pipe, parent: int) -> None:
    """The job process: run each handler sent, and send how it ended."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the worker to handle
    signal.signal(signal.SIGTERM, _stopped)
    try:
        while True:
            handler, context = tasks.recv()
            results.send(_ran(handler, context))
    except (EOFError, Stopped):  # the worker is gone, done with this process, or stopped it
        return


def _ran(handler: Handler, context: JobContext) -> Ended:
    try:
        return Ended(run_id=handler(context))
    except Exception as exc:
        return Ended(error=described(exc))


def _stopped(number: int, frame: FrameType | None) -> None:
    raise Stopped()


def described(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _die_with(parent: int) -> None:
    """Make this process end when its worker does, however the worker ended."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
            if os.getppid() != parent:  # the worker died before the signal was asked for
                os._exit(1)
            return
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)
