"""The serving sets of the models a process predicts with, kept in the process and
dropped as soon as an alias moves.

A bare model name is routed among the versions serving it (`routing`), so every request
needs the model's serving set: read once with SQL (`deployments.serving_set`) and kept.
While the process watches (`start`), a thread with its own connection LISTENs on channel
model_deployments and drops a model's set when its name is heard; as NOTIFY is lost
behind transaction poolers and while the connection is down, it also reads a cheap
fingerprint of the moves and of MLflow's alias table every `poll_seconds` and drops every
set when it changes (an alias moved in MLflow's UI notifies nothing). A request after the
drop reads the new set, so every process serves a moved alias within about
`poll_seconds`, and no request waits or fails for it. A set read while a drop happened is
not kept: it may be the old one. Not watching, nothing is kept (each request reads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from candlelab.models.deployments import serving_set
from candlelab.models.routing import Serving
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
POLL_SECONDS = 1.0
# How long a listening watcher may go without looking whether it is asked to stop: `stop`
# returns within about this, not a whole `poll_seconds` (an app's shutdown waits on it).
STOP_SECONDS = 0.05
log = logging.getLogger(__name__)


class ServingSets:
    """Each model's serving set, kept while a watcher thread can tell when it moves."""

    def __init__(self, url: str, *, poll_seconds: float = POLL_SECONDS,
                 listen: bool = True) -> None:  # fmt: skip
        self.url, self.poll_seconds, self.listen = url, poll_seconds, listen
        self._sets: dict[str, list[Serving]] = {}
        self._drops = 0  # how many drops so far: a set read across one is not kept
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.drops: Counter[str] = Counter()  # by cause: notify, fingerprint, connect, stop

    def serving(self, conn: Connection, name: str) -> list[Serving]:
        """The model's serving set: the kept one, else read on `conn` (and kept)."""
        with self._lock:
            found, drops = self._sets.get(name), self._drops
        if found is not None:
            return found
        read = serving_set(conn, name)
        with self._lock:
            if drops == self._drops and self.watching:
                self._sets[name] = read
        return read

    def drop(self, name: str | None = None, *, cause: str = "asked") -> None:
        """Forget the model's set (None: every set); the next request reads it."""
        with self._lock:
            self._drops += 1
            self.drops[cause] += 1
            if name is None:
                self._sets.clear()
            else:
                self._sets.pop(name, None)

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Watch for moves in a daemon thread, until `stop`."""
        if self.watching:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._watch, name="serving-sets", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10 * self.poll_seconds + 10)
        self._thread = None
        self.drop(cause="stop")

    def _watch(self) -> None:
        """Listen and poll; on a lost connection, drop everything and connect again."""
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:  # the watcher outlives a lost database; requests read it meanwhile
                log.warning("watching model deployments failed; again in %ss", self.poll_seconds,
                            exc_info=True)  # fmt: skip
                self.drop(cause="connect")
                self._stopping.wait(self.poll_seconds)

    def _listen(self) -> None:
        with connect(self.url, autocommit=True) as conn:
            if self.listen:
                conn.execute(QUERIES["listen"])
            seen = fingerprint(conn)
            self.drop(cause="connect")  # whatever moved while nobody listened
            while not self._stopping.is_set():
                self._hear(conn)
                now = fingerprint(conn)
                if now != seen:
                    seen = now
                    self.drop(cause="fingerprint")

    def _hear(self, conn: Connection) -> None:
        """Drop the set of each model named on the channel for up to `poll_seconds`, or
        until `stop`."""
        if not self.listen:
            self._stopping.wait(self.poll_seconds)
            return
        deadline = time.monotonic() + self.poll_seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stopping.is_set():
            for note in conn.notifies(timeout=min(left, STOP_SECONDS)):
                self.drop(note.payload, cause="notify")


def fingerprint(conn: Connection) -> tuple[Any, ...]:
    """What changes whenever any model's serving set may have changed."""
    row = conn.execute(QUERIES["fingerprint"], prepare=True).fetchone()
    return tuple(row or ())
