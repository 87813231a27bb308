"""MLflow, kept in schema `mlflow` of candlelab's database, behind a small recorder interface.

Training code talks to `Tracking`; only this module imports MLflow. MLflow creates its
tables in the connection's current schema, so its URL carries `search_path=mlflow`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from candlelab.store.database import connect
from candlelab.store.urls import sqlalchemy_url, with_search_path

SCHEMA = "mlflow"


def tracking_uri(url: str) -> str:
    """MLflow's tracking URI for candlelab's database: same server and login, schema mlflow."""
    return with_search_path(sqlalchemy_url(url), SCHEMA)


def upgrade_tracking_schema(url: str, artifact_location: str) -> None:
    """Create or upgrade MLflow's tables in schema mlflow (what `mlflow db upgrade` does)."""
    from mlflow.store.db.utils import _all_tables_exist, _upgrade_db, create_sqlalchemy_engine
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    engine = create_sqlalchemy_engine(tracking_uri(url))
    try:
        if _all_tables_exist(engine):
            _upgrade_db(engine)  # an older MLflow's tables: bring them to this MLflow's head
    finally:
        engine.dispose()
    # On an empty schema the store creates every table and the Default experiment.
    SqlAlchemyStore(tracking_uri(url), artifact_location).engine.dispose()


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str


class Tracking:
    """Runs, params, metrics and artifacts in MLflow, configured for one candlelab database."""

    def __init__(self, url: str, artifact_location: str) -> None:
        from mlflow import MlflowClient

        self.uri = tracking_uri(url)
        self.artifact_location = artifact_location.rstrip("/")
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment(self, name: str) -> str:
        """The id of the experiment `name`, created under candlelab's artifact root if new."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = f"{self.artifact_location}/{_slug(name)}"
        return str(self.client.create_experiment(name, artifact_location=location))

    def start_run(self, experiment: str, params: Mapping[str, Any] | None = None) -> RunRecord:
        experiment_id = self.experiment(experiment)
        run = self.client.create_run(experiment_id)
        for key, value in (params or {}).items():
            self.client.log_param(run.info.run_id, key, value)
        return RunRecord(run.info.run_id, experiment_id)

    def log_metrics(self, run: RunRecord, metrics: Mapping[str, float], step: int = 0) -> None:
        for key, value in metrics.items():
            self.client.log_metric(run.run_id, key, value, step=step)

    def finish(self, run: RunRecord, status: str = "FINISHED") -> None:
        self.client.set_terminated(run.run_id, status=status)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
