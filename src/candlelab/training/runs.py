"""Training runs: candlelab's record of each MLflow run, joinable with its data and labels.

A run is `running` while its process works and touches `heartbeat_at` (every
HEARTBEAT seconds, from a thread of its own, so a long fit cannot starve it). A running
run whose heartbeat is older than STALE_AFTER was left by a process that died: the next
command that lists or starts runs marks it failed, saying so.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from psycopg.types.json import Jsonb

from candlelab.errors import NotFound
from candlelab.store.database import Connection, connect, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
HEARTBEAT = 30.0  # seconds between a running run's heartbeats
STALE_AFTER = timedelta(minutes=10)  # no heartbeat for this long: the process is gone


@dataclass(frozen=True)
class NewRun:
    run_id: str
    model_type: str
    experiment_name: str
    params: dict[str, Any] = field(default_factory=dict)
    chart_ids: list[int] = field(default_factory=list)
    data_start: datetime | None = None
    data_end: datetime | None = None
    created_by: str | None = None
    pipeline_config_hash: str | None = None
    dataset_version: str | None = None


@dataclass(frozen=True)
class Run:
    run_id: str
    model_type: str
    experiment_name: str
    status: str
    metrics: dict[str, Any]
    total_samples: int | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class RunDetail:
    """Every column of a run."""

    run_id: str
    model_type: str
    experiment_name: str
    pipeline_config_hash: str | None
    dataset_version: str | None
    metrics: dict[str, Any]
    params: dict[str, Any]
    status: str
    error: str | None
    chart_ids: list[int]
    data_start: datetime | None
    data_end: datetime | None
    total_samples: int | None
    created_by: str | None
    created_at: datetime
    completed_at: datetime | None
    heartbeat_at: datetime
    model_name: str | None
    model_version: int | None
    artifact_sha256: str | None


@dataclass(frozen=True)
class Outcome:
    """How a run ended: status, metrics, and the model version it registered."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    total_samples: int | None = None
    error: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    artifact_sha256: str | None = None


def record_run(conn: Connection, run: NewRun) -> None:
    params = {**run.__dict__, "params": Jsonb(run.params)}
    with translated():
        conn.execute(QUERIES["record_run"], params)


def finish_run(
    conn: Connection,
    run_id: str,
    *,
    status: str,
    metrics: dict[str, float],
    total_samples: int | None = None,
    error: str | None = None,
) -> None:
    close_run(conn, run_id, Outcome(status, metrics, total_samples, error))


def close_run(conn: Connection, run_id: str, outcome: Outcome) -> None:
    metrics = Jsonb(_finite(outcome.metrics))
    params = {**outcome.__dict__, "run_id": run_id, "metrics": metrics}
    with translated():
        conn.execute(QUERIES["finish_run"], params)


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a metric that could not be computed (no signal acted on) is null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in metrics.items()}  # fmt: skip


def newest_runs(conn: Connection, limit: int = 50) -> list[Run]:
    """Training runs, newest first."""
    return [Run(*row) for row in conn.execute(QUERIES["newest_runs"], {"limit": limit})]


def run_detail(conn: Connection, run_id: str) -> RunDetail:
    """One run by its id, or by a unique prefix of it."""
    rows = conn.execute(QUERIES["run_detail"], {"run_id": run_id}).fetchall()
    if len(rows) != 1:
        found = "no training run" if not rows else "more than one training run"
        raise NotFound(f"{found} with an id starting {run_id!r}")
    return RunDetail(*rows[0])


def reap_stale_runs(conn: Connection, stale_after: timedelta = STALE_AFTER) -> list[str]:
    """Mark failed the running runs whose heartbeat stopped; their ids."""
    rows = conn.execute(QUERIES["reap_stale_runs"], {"stale_after": stale_after}).fetchall()
    return [row[0] for row in rows]


class Heartbeat:
    """Touches a running run's heartbeat every `every` seconds from its own thread and
    connection, until the `with` block ends."""

    def __init__(self, url: str, run_id: str, every: float = HEARTBEAT) -> None:
        self.url, self.run_id, self.every = url, run_id, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat {run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        with connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.every):
                conn.execute(QUERIES["heartbeat"], {"run_id": self.run_id})
