"""MLflow, kept in schema `mlflow` of candlelab's database, behind a small recorder interface.

Training code talks to `Tracking`; only this module imports MLflow. MLflow creates its
tables in the connection's current schema, so its URL carries `search_path=mlflow`.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from candlelab.errors import InvalidValue, NotFound
from candlelab.store.database import connect
from candlelab.store.urls import sqlalchemy_url, with_search_path
from candlelab.training.artifacts import file_sha256, model_file

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
        # MLflow's own loaders refuse pickled models in this process unless a person
        # deliberately allowed them; candlelab's models never need them (`artifacts`).
        os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
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
        """A new run, its params logged in one batch (one call each cost a transaction)."""
        from mlflow.entities import Param

        experiment_id = self.experiment(experiment)
        run = self.client.create_run(experiment_id)
        batch = [Param(key, str(value)) for key, value in (params or {}).items()]
        self.client.log_batch(run.info.run_id, params=batch)
        return RunRecord(run.info.run_id, experiment_id)

    def log_metrics(self, run: RunRecord, metrics: Mapping[str, float], step: int = 0) -> None:
        self._log_metrics(run, metrics.items(), step)

    def log_step_metrics(self, run: RunRecord, metrics: Mapping[str, float], step: int) -> None:
        """Metrics at one step (a fold) in one call; NaN and infinities are skipped, as
        MLflow's store refuses them."""
        finite = ((key, value) for key, value in metrics.items() if math.isfinite(value))
        self._log_metrics(run, finite, step)

    def _log_metrics(self, run: RunRecord, metrics: Iterable[tuple[str, float]],
                     step: int) -> None:  # fmt: skip
        """The metrics at one step, in one call (one transaction) however many."""
        from mlflow.entities import Metric

        now = _now_ms()
        batch = [Metric(key, float(value), now, step) for key, value in metrics]
        self.client.log_batch(run.run_id, metrics=batch)

    def set_tags(self, run: RunRecord, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(key, str(value)) for key, value in tags.items()]
        self.client.log_batch(run.run_id, tags=batch)

    def log_json(self, run: RunRecord, data: Any, name: str) -> None:
        """A JSON document among the run's artifacts (the per-fold report, importances)."""
        self.client.log_dict(run.run_id, data, name)

    def log_dataset(self, run: RunRecord, dataset: DatasetDescription) -> None:
        """The run's training data as an MLflow dataset input, with candlelab's digest of
        its whole content (MLflow's own digest of a frame samples its first rows)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        # MLflow keeps 36 characters of a digest; the whole version is in `source`.
        entity = Dataset(
            name=dataset.name, digest=dataset.version[:36], source_type="candlelab",
            source=json.dumps(dataset.source), schema=json.dumps(dataset.schema),
            profile=json.dumps(dataset.profile),
        )  # fmt: skip
        tags = [InputTag("mlflow.data.context", "training")]
        self.client.log_inputs(run.run_id, datasets=[DatasetInput(entity, tags)])

    def log_model(self, run: RunRecord, model: LoggedModel) -> str:
        """The model under the run's artifact path `model`, in a format whose loading runs
        no code (LightGBM's text, or skops), with its signature and an input example; the
        sha256 of the model file as saved."""
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch) / "model"
            _save_model(model, directory)
            digest = file_sha256(directory / model_file(model.kind))
            self.client.log_artifacts(run.run_id, str(directory), "model")
        return digest

    def register(self, name: str, run: RunRecord, description: str = "",
                 tags: Mapping[str, str] | None = None) -> int:  # fmt: skip
        """A new version of registered model `name` from the run's `model` artifacts."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{self.client.get_run(run.run_id).info.artifact_uri}/model"
        made = self.client.create_model_version(
            name, source, run.run_id, tags=dict(tags or {}), description=description
        )
        return int(made.version)

    def model_version(self, name: str, alias: str | None = None,
                      version: int | None = None) -> tuple[int, str]:  # fmt: skip
        """(version, run id) of a registered model's version: by number, by alias, or
        its newest."""
        from mlflow.exceptions import MlflowException

        found: Any
        try:
            if version is not None:
                found = self.client.get_model_version(name, str(version))
            elif alias is not None:
                found = self.client.get_model_version_by_alias(name, alias)
            else:
                found = max(self.client.search_model_versions(f"name = '{_quoted(name)}'"),
                            key=lambda v: int(v.version), default=None)  # fmt: skip
        except MlflowException as exc:
            raise NotFound(f"model {name}: {exc.message}") from None
        if found is None:
            raise NotFound(f"no registered model {name!r}; `candlelab runs` lists trainings")
        return int(found.version), str(found.run_id)

    def unregister(self, name: str, version: int) -> None:
        """Take back a version registered by a run that then failed."""
        self.client.delete_model_version(name, str(version))

    def download_model(self, run_id: str, destination: Path) -> Path:
        """The run's `model` artifacts copied under `destination`; their directory."""
        return Path(self.client.download_artifacts(run_id, "model", str(destination)))

    def experiment_of(self, run_id: str) -> str:
        """The id of the experiment holding the run (MLflow's UI addresses a run by both)."""
        return str(self.client.get_run(run_id).info.experiment_id)

    def step_metrics(self, run_id: str) -> dict[int, dict[str, float]]:
        """The run's metrics by step, as the trainer logs them: each walk-forward fold at
        its number (1, 2, …), the folds pooled at step 0."""
        steps: dict[int, dict[str, float]] = {}
        for key in sorted(self.client.get_run(run_id).data.metrics):
            for metric in self.client.get_metric_history(run_id, key):
                steps.setdefault(int(metric.step), {})[key] = float(metric.value)
        return dict(sorted(steps.items()))

    def finish(self, run: RunRecord, status: str = "FINISHED") -> None:
        self.client.set_terminated(run.run_id, status=status)

    def registered_names(self) -> list[str]:
        """Every registered model's name, sorted."""
        names, token = [], None
        while True:
            page = self.client.search_registered_models(max_results=1000, page_token=token)
            names += [str(model.name) for model in page]
            token = page.token
            if not token:
                return sorted(names)

    def registered_versions(self, name: str) -> list[RegisteredVersion]:
        """The versions of registered model `name`, oldest first (none: no such model)."""
        found = self.client.search_model_versions(f"name = '{_quoted(name)}'")
        # A search leaves the versions' aliases out: they come from the model.
        held = self.aliases(name) if found else {}
        versions = [_registered(v, held) for v in found]
        return sorted(versions, key=lambda v: v.version)

    def registered_version(self, name: str, version: int) -> RegisteredVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return _registered(self.client.get_model_version(name, str(version)))
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def aliases(self, name: str) -> dict[str, int]:
        """Each alias of registered model `name` and the version it names (MLflow's truth
        of what serves); empty when the model is not registered."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
        return {str(alias): int(version) for alias, version in model.aliases.items()}

    def set_alias(self, name: str, alias: str, version: int | None) -> None:
        """Point `alias` at `version`, or take it away (None); MLflow's refusals (an alias
        it reserves, such as `latest` or `v2`) become InvalidValue."""
        from mlflow.exceptions import MlflowException

        try:
            if version is None:
                self.client.delete_registered_model_alias(name, alias)
            else:
                self.client.set_registered_model_alias(name, alias, str(version))
        except MlflowException as exc:
            raise InvalidValue(f"model {name} alias {alias!r}: {exc.message}") from None


@dataclass(frozen=True)
class RegisteredVersion:
    """A version of a registered model as MLflow's registry holds it."""

    name: str
    version: int
    run_id: str
    tags: dict[str, str]
    aliases: tuple[str, ...]
    created_at: datetime


def _registered(found: Any, held: Mapping[str, int] | None = None) -> RegisteredVersion:
    """A version from MLflow's entity; its aliases from `held` (the model's) when given."""
    created = datetime.fromtimestamp(int(found.creation_timestamp) / 1000, UTC)
    number = int(found.version)
    aliases = found.aliases if held is None else [a for a, v in held.items() if v == number]
    return RegisteredVersion(str(found.name), number, str(found.run_id), dict(found.tags),
                             tuple(sorted(aliases)), created)  # fmt: skip


@dataclass(frozen=True)
class DatasetDescription:
    name: str
    version: str
    source: dict[str, Any]
    schema: dict[str, Any]
    profile: dict[str, Any]


@dataclass(frozen=True)
class LoggedModel:
    """A fitted model to log: `kind` lightgbm (a Booster) or a scikit-learn estimator,
    an input example (a frame of feature columns) and its predictions for the signature."""

    kind: str
    model: Any
    example: Any
    predictions: Any
    trusted: tuple[str, ...] = ()


def _save_model(model: LoggedModel, directory: Path) -> None:
    from mlflow.models import infer_signature

    signature = infer_signature(model.example, model.predictions)
    common = {"signature": signature, "input_example": model.example,
              "pip_requirements": _requirements(model.kind)}  # fmt: skip
    if model.kind == "lightgbm":
        import mlflow.lightgbm

        mlflow.lightgbm.save_model(model.model, str(directory), **common)
    else:
        import mlflow.sklearn

        mlflow.sklearn.save_model(model.model, str(directory), serialization_format="skops",
                                  skops_trusted_types=list(model.trusted), **common)  # fmt: skip


def _requirements(kind: str) -> list[str]:
    """What loading the model needs (given, so MLflow does not inspect the environment)."""
    from importlib.metadata import version

    packages = ["lightgbm"] if kind == "lightgbm" else ["scikit-learn", "skops"]
    return [f"{name}=={version(name)}" for name in ("numpy", *packages)]


def _quoted(text: str) -> str:
    """A value inside a single-quoted MLflow search string."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
