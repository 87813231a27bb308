"""Training: a dataset, walk-forward folds, a final fit, and the run recorded everywhere.

Everything a request can get wrong (the model, its parameters, the data, the folds) is
checked before a run starts. Once started, the run is one row in `training_runs` and one
MLflow run; it ends `finished` with a registered model version, or `failed` with the
error, and no model version left registered. A caller that may lose the right to
register (a queue worker whose lease can be lost) hands in a `guard`: the registration
runs inside it, and whatever it raises fails the run before anything is registered. Per
fold the metrics are logged as MLflow steps; the final model is fit on every taught row,
and the distributions of the features and of its predictions on those rows are recorded
for drift (`references`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import candlelab
from candlelab.errors import CandlelabError, DatasetError, TrainingFailed
from candlelab.store.database import connect
from candlelab.training import evaluation
from candlelab.training.datasets import (
    Dataset,
    DatasetRequest,
    assemble_dataset,
    record_dataset,
)
from candlelab.training.estimators import Fitted, Floats, Learner, ModelSpec, Values, model_spec
from candlelab.training.folds import Fold, FoldPlan, Ints, walk_forward
from candlelab.training.references import (
    feature_references,
    prediction_reference,
    record_references,
    sample_rows,
)
from candlelab.training.runs import Heartbeat, NewRun, Outcome, close_run, record_run
from candlelab.training.tracking import DatasetDescription, LoggedModel, RunRecord, Tracking

PERMUTATION_ROWS = 20_000  # test rows a permutation importance is measured on
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainingRequest:
    data: DatasetRequest
    model: str = "lightgbm"
    params: dict[str, object] = field(default_factory=dict)
    folds: FoldPlan = field(default_factory=FoldPlan)
    threshold: float = 0.5  # the probability a signal needs to be acted on
    experiment: str = "candlelab"
    model_name: str | None = None  # registered model; default: <features>-<target>
    created_by: str | None = None

    @property
    def registered_name(self) -> str:
        return self.model_name or f"{self.data.features.name}-{self.data.target.name}"


@dataclass(frozen=True)
class FoldReport:
    number: int
    test_start: str
    test_end: str
    train_rows: int
    test_rows: int
    purged: int
    embargoed: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    model_name: str
    model_version: int
    dataset_version: str
    rows: int
    folds: list[FoldReport]
    metrics: dict[str, float]
    importance: dict[str, dict[str, float]]
    artifact_sha256: str

    def outcome(self) -> Outcome:
        return Outcome("finished", self.metrics, self.rows, None, self.model_name,
                       self.model_version, self.artifact_sha256)  # fmt: skip


@dataclass(frozen=True)
class _Evaluation:
    folds: list[FoldReport]
    metrics: dict[str, float]
    importance: dict[str, dict[str, float]]


Progress = Callable[[str], None]
Guard = Callable[[], AbstractContextManager[object]]  # held while a version is registered


@dataclass
class _Plan:
    """What a checked request trains on."""

    request: TrainingRequest
    dataset: Dataset
    spec: ModelSpec
    folds: list[Fold]

    @property
    def x(self) -> Values:
        return self.dataset.matrix.values

    @property
    def y(self) -> Floats:
        return self.dataset.values.y


def train(url: str, artifact_location: str, request: TrainingRequest,
          progress: Progress | None = None, *,
          guard: Guard = nullcontext) -> TrainingResult:  # fmt: skip
    """Train, evaluate and register a model (inside `guard`); see the module's docstring."""
    plan = checked_plan(url, request)
    tracking = Tracking(url, artifact_location)
    run = tracking.start_run(request.experiment, _params(plan))
    _record(url, plan, run)
    registered: int | None = None
    try:
        with Heartbeat(url, run.run_id):
            result = _trained(url, plan, tracking, run, progress or (lambda _: None), guard=guard)
            registered = result.model_version
            _close(url, run, result.outcome())
        tracking.finish(run)
        return result
    except BaseException as exc:  # a failed run says why, even when interrupted
        _fail(url, tracking, run, plan, registered=registered, exc=exc)
        if isinstance(exc, Exception) and not isinstance(exc, CandlelabError):
            raise TrainingFailed(f"run {run.run_id} failed: {_described(exc)}") from exc
        raise


def checked_plan(url: str, request: TrainingRequest) -> _Plan:
    """The dataset, model spec and folds, or the error that stops the request first."""
    model_spec(request.model, request.params, 2)  # the model and parameters first: cheap
    dataset = assemble_dataset(url, request.data)
    spec = model_spec(request.model, request.params, len(dataset.values.classes))
    matrix, values = dataset.matrix, dataset.values
    until = matrix.time[values.judged_to]
    folds = walk_forward(matrix.time, matrix.chart_id, until, values.known, request.folds)
    for fold in folds:
        _check_fold(fold, values.y, len(values.classes))
    return _Plan(request, dataset, spec, folds)


def _check_fold(fold: Fold, y: Floats, classes: int) -> None:
    """A fold trains on rows of two classes at least (or any rows, for regression)."""
    if len(fold.train) and (classes == 0 or _two_classes(y, fold.train)):
        return
    kinds = int(np.count_nonzero(np.bincount(y[fold.train].astype(np.int64)))) if classes else 0
    left = f"{len(fold.train)} rows of {kinds} class{'es' if kinds != 1 else ''}"
    raise DatasetError(f"fold {fold.number} would train on {left} (after purging "
                       f"{fold.purged} and an embargo of {fold.embargoed} rows): ask for "
                       "fewer folds, a smaller embargo, or more labelled data")  # fmt: skip


def _two_classes(y: Floats, rows: Ints) -> bool:
    """Whether the rows hold two classes: told by their first rows almost always, which
    spares gathering millions of rows for each fold."""
    for some in (rows[:4096], rows):
        taken = y[some]
        if np.any(taken != taken[0]):
            return True
    return False


def _trained(url: str, plan: _Plan, tracking: Tracking, run: RunRecord,
             progress: Progress, *, guard: Guard) -> TrainingResult:  # fmt: skip
    tracking.log_dataset(run, _description(plan.dataset))
    tracking.set_tags(run, _tags(plan))
    learner = Learner(plan.spec, plan.x, plan.y)
    reports, pooled, last = [], [], None
    for fold in plan.folds:
        progress(f"fold {fold.number}/{len(plan.folds)}: {len(fold.train):,} rows to train")
        fitted = learner.fit(fold.train)
        predicted = fitted.predict(plan.x[fold.test])
        metrics = _metrics(plan, fold.test, predicted)
        tracking.log_step_metrics(run, metrics, step=fold.number)
        reports.append(_report(fold, metrics))
        pooled.append((fold.test, predicted))
        last = (fold, fitted)
    progress(f"final fit on {len(plan.dataset.taught):,} rows")
    final = learner.fit(plan.dataset.taught)
    _record_references(url, run, plan, final)
    summary = _pooled_metrics(plan, pooled)
    evaluation_ = _Evaluation(reports, summary, _importance(plan, final, last))
    return _registered(plan, tracking, run, final, evaluation_, guard=guard)


def _registered(plan: _Plan, tracking: Tracking, run: RunRecord, final: Fitted,
                done: _Evaluation, *, guard: Guard) -> TrainingResult:  # fmt: skip
    tracking.log_metrics(run, {k: v for k, v in done.metrics.items() if np.isfinite(v)})
    tracking.log_json(run, [asdict(r) for r in done.folds], "folds.json")
    tracking.log_json(run, done.importance, "importance.json")
    sha = tracking.log_model(run, _logged(plan, final))
    name = plan.request.registered_name
    tags = {"candlelab.artifact_sha256": sha, "candlelab.dataset_version": plan.dataset.version}
    with guard():
        version = tracking.register(name, run, f"dataset {plan.dataset.version[:12]}", tags)
    return TrainingResult(run.run_id, name, version, plan.dataset.version,
                          len(plan.dataset.taught), done.folds, done.metrics, done.importance,
                          sha)  # fmt: skip


def _record_references(url: str, run: RunRecord, plan: _Plan, final: Fitted) -> None:
    """The features' and predictions' distributions in the rows the final model was fit
    on, recorded for drift (`references`: on a sample of them)."""
    x = plan.x[sample_rows(plan.dataset.taught)].astype(np.float64)  # statistics in float64
    found = feature_references(plan.dataset.matrix.columns, x)
    classes = plan.dataset.values.classes
    if classes:  # a regression's signals carry no class to compare
        found.append(prediction_reference(classes, final.predict(x)))
    with connect(url) as conn:
        record_references(conn, run.run_id, found)
        conn.commit()


def _metrics(plan: _Plan, rows: Any, predicted: Floats) -> dict[str, float]:
    """A test block's scores, and its trading results when the target has classes."""
    values, y = plan.dataset.values, plan.y[rows]
    if not values.classes:
        return evaluation.regression_metrics(y, predicted)
    acted = evaluation.acted_results(predicted, values.directions, values.long[rows],
                                     values.short[rows], plan.request.threshold)  # fmt: skip
    return {**evaluation.classification_metrics(y, predicted),
            **evaluation.trading_metrics(acted)}  # fmt: skip


def _pooled_metrics(plan: _Plan, pooled: list[tuple[Any, Floats]]) -> dict[str, float]:
    """Every test block's predictions scored together (the run's headline)."""
    if not pooled:
        return {}
    rows = np.concatenate([r for r, _ in pooled])
    return _metrics(plan, rows, np.concatenate([p for _, p in pooled]))


def _importance(plan: _Plan, final: Fitted,
                last: tuple[Fold, Fitted] | None) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per feature: LightGBM's gain in the final model, and the permutation importance on
    the last test block (the rise of its loss when the feature's column is shuffled)."""
    columns, gain = plan.dataset.matrix.columns, final.gain()
    out = {name: {"gain": float(gain[j])} if gain is not None else {}
           for j, name in enumerate(columns)}  # fmt: skip
    if last is not None:
        fold, fitted = last
        for name, rise in zip(columns, _permutation(plan, fold, fitted), strict=True):
            out[name]["permutation"] = rise
    return out


def _permutation(plan: _Plan, fold: Fold, fitted: Fitted) -> list[float]:
    rng = np.random.default_rng(7)
    rows = fold.test if len(fold.test) <= PERMUTATION_ROWS else np.sort(
        rng.choice(fold.test, PERMUTATION_ROWS, replace=False))  # fmt: skip
    x, y = plan.x[rows].copy(), plan.y[rows]
    base = _loss(plan, y, fitted.predict(x))
    rises = []
    for j in range(x.shape[1]):
        kept = x[:, j].copy()
        x[:, j] = rng.permutation(kept)
        rises.append(_loss(plan, y, fitted.predict(x)) - base)
        x[:, j] = kept
    return rises


def _loss(plan: _Plan, y: Floats, predicted: Floats) -> float:
    if plan.dataset.values.classes:
        chosen = predicted[np.arange(len(y)), y.astype(np.int64)]
        return float(-np.mean(np.log(np.clip(chosen, 1e-15, 1))))
    return float(np.sqrt(np.mean((predicted - y) ** 2)))


def _logged(plan: _Plan, final: Fitted) -> LoggedModel:
    import pandas as pd

    from candlelab.training.artifacts import TRUSTED

    rows = plan.dataset.taught[-EXAMPLE_ROWS:]
    # The signature's inputs are the stored float64 values: the model rounds them itself.
    example = pd.DataFrame(plan.x[rows].astype(np.float64),
                           columns=list(plan.dataset.matrix.columns))  # fmt: skip
    return LoggedModel(plan.spec.kind, final.model, example, final.predict(plan.x[rows]),
                       TRUSTED)  # fmt: skip


def _report(fold: Fold, metrics: dict[str, float]) -> FoldReport:
    return FoldReport(fold.number, str(fold.test_start), str(fold.test_end), len(fold.train),
                      len(fold.test), fold.purged, fold.embargoed, metrics)  # fmt: skip


def _params(plan: _Plan) -> dict[str, Any]:
    """What MLflow records of the run: the pipeline's settings and the data's versions."""
    request = plan.request
    return {
        "model": plan.spec.kind, **{f"model.{k}": v for k, v in plan.spec.settings.items()},
        "input_dtype": plan.spec.input_dtype,
        "features": request.data.features.label, "target": request.data.target.name,
        "target.hash": request.data.target.version_hash[:12],
        "folds": request.folds.folds, "window": request.folds.window,
        "train_blocks": request.folds.train_blocks, "embargo": request.folds.embargo,
        "threshold": request.threshold,
        "charts": len(request.data.chart_ids), "dataset": plan.dataset.version[:12],
        "pipeline_config_hash": _pipeline_hash(plan),
    }  # fmt: skip


def _tags(plan: _Plan) -> dict[str, str]:
    data = plan.request.data
    return {"candlelab.version": candlelab.__version__,
            "candlelab.feature_set": data.features.label,
            "candlelab.feature_set_hash": data.features.version_hash,
            "candlelab.target": data.target.name,
            "candlelab.target_hash": data.target.version_hash,
            "candlelab.dataset_version": plan.dataset.version}  # fmt: skip


def _pipeline_hash(plan: _Plan) -> str:
    """The hash of how the data is turned into a model (not of the data itself)."""
    request = plan.request
    config = {"model": plan.spec.kind, "settings": plan.spec.settings,
              "input_dtype": plan.spec.input_dtype,
              "folds": asdict(request.folds), "threshold": request.threshold,
              "features": request.data.features.version_hash,
              "target": request.data.target.version_hash}  # fmt: skip
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(url: str, plan: _Plan, run: RunRecord) -> None:
    data, dataset = plan.request.data, plan.dataset
    new = NewRun(run.run_id, plan.spec.kind, plan.request.experiment, _params(plan),
                 sorted(data.chart_ids), *dataset.span,
                 plan.request.created_by, _pipeline_hash(plan), dataset.version)  # fmt: skip
    with connect(url) as conn:
        record_dataset(conn, dataset)
        record_run(conn, new)
        conn.commit()


def _close(url: str, run: RunRecord, outcome: Outcome) -> None:
    with connect(url) as conn:
        close_run(conn, run.run_id, outcome)
        conn.commit()


def _fail(url: str, tracking: Tracking, run: RunRecord, plan: _Plan, *,
          registered: int | None, exc: BaseException) -> None:  # fmt: skip
    """The run marked failed with its error; a version it registered is taken back."""
    if registered is not None:
        tracking.unregister(plan.request.registered_name, registered)
    _close(url, run, Outcome("failed", error=_described(exc)))
    tracking.finish(run, "FAILED")


def _described(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _description(dataset: Dataset) -> DatasetDescription:
    request = dataset.request
    return DatasetDescription(
        name=f"{request.features.label} x {request.target.name}", version=dataset.version,
        source={"database": "candlelab", "table": "datasets", "version": dataset.version,
                "charts": sorted(request.chart_ids)},
        schema={"features": list(dataset.matrix.columns), "classes": list(dataset.values.classes)},
        profile={"rows": len(dataset.taught), "class_counts": dataset.values.class_counts()
                 if dataset.values.classes else {}, "candles_digest": dataset.candles_digest,
                 "label_digest": dataset.label_digest},
    )  # fmt: skip
