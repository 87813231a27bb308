"""A claimed job's heartbeat, kept from a thread of its own on a connection of its own.

The worker (`jobs.worker`) runs the training in a process of its own (`jobs.runner`)
and keeps this beat in its own process, so a fit can never starve it. Used beside a
fit in one process instead, the beat still gets its turn: its thread only sleeps and
writes one UPDATE, and the long parts of a fit (NumPy, LightGBM's C++ training,
scikit-learn's compiled loops) release the GIL; only a compiled call that keeps the GIL
would delay a beat until it returns.

When the queue refuses a beat (the job was rescued and its lease is lost) the thread
stops and sets `lost`: the worker checks it and drops the job without reporting on it.
A beat that cannot reach the database is counted and tried again, on a new connection,
at the next interval; the rescue comes only after the heartbeat timeout.
"""

from __future__ import annotations

import threading
from types import TracebackType

import psycopg

from candlelab.errors import DatabaseUnavailable, LeaseLost, TemporaryError
from candlelab.jobs.queue import Job, heartbeat
from candlelab.store.database import Connection, connect


class Heartbeat:
    """`with Heartbeat(url, job, every_seconds):` beats for `job` until the block ends."""

    def __init__(self, url: str, job: Job, every_seconds: float) -> None:
        self.url, self.job, self.every_seconds = url, job, every_seconds
        self.lost = threading.Event()  # set when the queue refused a beat
        self.refusal: LeaseLost | None = None
        self.missed = 0  # beats that could not reach the database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn: Connection | None = None
        try:
            while not self._stop.wait(self.every_seconds):
                conn = self._beat(conn)
        finally:
            if conn is not None:
                conn.close()

    def _beat(self, conn: Connection | None) -> Connection | None:
        """One beat; the connection to use for the next (None: open a new one)."""
        try:
            conn = conn or connect(self.url, autocommit=True)
            heartbeat(conn, self.job)
        except LeaseLost as refusal:
            self.refusal = refusal
            self.lost.set()
            self._stop.set()
        except (DatabaseUnavailable, TemporaryError, psycopg.Error):
            self.missed += 1
            if conn is not None:
                conn.close()
            return None
        return conn
