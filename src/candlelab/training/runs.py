"""Training runs: candlelab's record of each MLflow run, joinable with its data and labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


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
    params = {"run_id": run_id, "status": status, "metrics": Jsonb(metrics)}
    with translated():
        conn.execute(
            QUERIES["finish_run"], {**params, "total_samples": total_samples, "error": error}
        )


def newest_runs(conn: Connection, limit: int = 50) -> list[Run]:
    """Training runs, newest first."""
    return [Run(*row) for row in conn.execute(QUERIES["newest_runs"], {"limit": limit})]
