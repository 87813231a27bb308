"""The retrain job: a registered model trained again as it was last trained, on the data
there is now, and put in as `challenger`.

The configuration is the model's newest finished training run: its model type and
parameters, folds and threshold (`training_runs.params`), and the definition of the
dataset it was trained on (`datasets.definition`: the feature-set version, the target
definition, the charts, the start). Only the end changes: none, so the new version sees
every bar and label there is now. The feature set is brought up to date on those charts
first (only their new bars are computed).

Fencing: the version is registered inside `queue.fenced` (the trainer's guard), and the
challenger is promoted, with the run recorded on the request, inside another; a worker
whose lease was lost gets `LeaseLost` before either write and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from candlelab.errors import NotFound
from candlelab.features.materialisation import build_features
from candlelab.features.registry import StoredSet, stored_set
from candlelab.jobs.queue import Job, attach_run, fenced
from candlelab.jobs.runner import JobContext
from candlelab.models.deployments import promote
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.targets import TargetDefinition, target_definition
from candlelab.training.tracking import Tracking
from candlelab.training.trainer import Guard, TrainingRequest, train

QUERIES = load_queries(__file__)
CHALLENGER = "challenger"
MODEL_PREFIX = "model."  # how the trainer names the model's settings in a run's params


@dataclass(frozen=True)
class LastTraining:
    """The configuration of a model's newest finished training run."""

    run_id: str
    model_type: str
    experiment: str
    params: dict[str, Any]
    definition: dict[str, Any]  # the dataset's, as `DatasetRequest.definition` wrote it


def retrain(context: JobContext) -> str:
    """Retrain the job's model, register it and promote it as challenger; the run id."""
    job = context.job
    with connect(context.url) as conn:
        request = retraining_request(conn, job)
        conn.commit()
        _bring_features_up_to_date(conn, request.data)
    guard = _guard(context.url, job)
    result = train(context.url, context.artifact_location, request, guard=guard)
    promote_challenger(context, result.run_id, result.model_version)
    return result.run_id


def last_training(conn: Connection, model_name: str) -> LastTraining:
    """The newest finished run that registered a version of `model_name`."""
    row = conn.execute(QUERIES["last_training"], {"model_name": model_name}).fetchone()
    if row is None:
        raise NotFound(f"model {model_name!r} has no finished training run to repeat; "
                       "train it once with `candlelab train --name ...`")  # fmt: skip
    return LastTraining(*row)


def retraining_request(conn: Connection, job: Job) -> TrainingRequest:
    """The model's last training request, with its data running up to now."""
    last = last_training(conn, job.model_name)
    definition, params = last.definition, last.params
    data = DatasetRequest(_features(conn, definition), _target(definition),
                          tuple(definition["charts"]), _moment(definition["start"]))  # fmt: skip
    return TrainingRequest(data, model=last.model_type, params=_model_params(params),
                           folds=_folds(params), threshold=float(params["threshold"]),
                           experiment=last.experiment, model_name=job.model_name,
                           created_by=f"retrain request {job.id} ({job.worker_id})")  # fmt: skip


def _features(conn: Connection, definition: dict[str, Any]) -> StoredSet:
    """The very feature-set version the model was trained on."""
    name = str(definition["features"]["set"]).partition("@")[0]
    return stored_set(conn, f"{name}@{definition['features']['hash']}")


def _target(definition: dict[str, Any]) -> TargetDefinition:
    stored = dict(definition["target"])
    wanted = stored.pop("hash")
    target = target_definition(stored, "the last training's target")
    if target.version_hash != wanted:  # the definition's reading changed since: refuse
        raise NotFound(f"target {target.name!r} of the last training reads differently now "
                       f"(version {target.version_hash[:12]}, was {wanted[:12]})")  # fmt: skip
    return target


def _model_params(params: dict[str, Any]) -> dict[str, object]:
    return {k[len(MODEL_PREFIX) :]: v for k, v in params.items() if k.startswith(MODEL_PREFIX)}


def _folds(params: dict[str, Any]) -> FoldPlan:
    default = FoldPlan()  # runs recorded before train_blocks was: the default's
    return FoldPlan(folds=int(params["folds"]), window=str(params["window"]),
                    train_blocks=int(params.get("train_blocks", default.train_blocks)),
                    embargo=int(params["embargo"]))  # fmt: skip


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _bring_features_up_to_date(conn: Connection, data: DatasetRequest) -> None:
    """Compute the feature set on the charts' bars that came since its last build."""
    build_features(conn, data.features.feature_set(), data.chart_ids)


def _guard(url: str, job: Job) -> Guard:
    """The trainer's guard: the job's row held, fenced, while the version is registered."""

    @contextmanager
    def held() -> Iterator[None]:
        with connect(url) as conn, fenced(conn, job):
            yield

    return held


def promote_challenger(context: JobContext, run_id: str, version: int) -> None:
    """The run recorded on the request and the version promoted as challenger, in one
    transaction fenced by the job's lease (committed); LeaseLost, writing nothing, when
    the lease is lost."""
    job = context.job
    tracking = Tracking(context.url, context.artifact_location)
    reason = f"retrain request {job.id}: {job.reason}"
    with connect(context.url) as conn, fenced(conn, job):
        attach_run(conn, job, run_id)
        promote(conn, tracking, job.model_name, version, CHALLENGER,
                traffic=context.challenger_traffic, reason=reason,
                who=f"worker {job.worker_id}")  # fmt: skip
