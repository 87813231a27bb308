"""Proposals: a registered model's per-bar predictions back on the charts, as spans a
labeller reviews (the active-learning loop).

Runs of bars whose most probable class is one label (not `none`), at least `min_bars`
long, become spans with `source='model'`, `status='proposed'`, the run that trained the
model, and the prediction (`model_prediction`: model, version, mean and lowest
probability, per-class means); their confidence is the run's mean probability. A span
that the same run already proposed is not written again, and nothing is proposed over a
span a person drew or reviewed: those bars have been decided. Accepting or rejecting a
proposal changes the next dataset's version (`datasets`).

A model is loaded only through `artifacts.load_model`: its file's sha256 must be the one
recorded at training.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from candlelab.errors import DataError, InvalidValue, NotFound
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet, stored_set
from candlelab.labels.fields import name_key
from candlelab.labels.spans import label_types
from candlelab.market.quality import runs, utc_datetime
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.artifacts import load_model
from candlelab.training.datasets import recorded_dataset
from candlelab.training.estimators import Fitted, Floats, ModelSpec
from candlelab.training.runs import run_detail
from candlelab.training.targets import NONE
from candlelab.training.tracking import Tracking

QUERIES = load_queries(__file__)
REFERENCE = re.compile(r"^(?P<name>[^@/]+)(?:@(?P<alias>[A-Za-z0-9_-]+)|/(?P<version>\d+))?$")
PROPOSER = "candlelab propose"


@dataclass(frozen=True)
class ModelReference:
    """NAME (its newest version), NAME@ALIAS, or NAME/VERSION."""

    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> ModelReference:
        found = REFERENCE.match(text.strip())
        if not found:
            raise InvalidValue(f"--model {text!r}: write NAME, NAME@ALIAS or NAME/VERSION")
        version = found["version"]
        return cls(found["name"], found["alias"], int(version) if version else None)


@dataclass(frozen=True)
class TrainedModel:
    name: str
    version: int
    run_id: str
    features: StoredSet
    classes: tuple[str, ...]
    fitted: Fitted


@dataclass(frozen=True)
class Proposal:
    first: int  # bar index of the first and last bar
    last: int
    label: int  # class index
    confidence: float  # mean probability of the class over the bars
    lowest: float
    means: tuple[float, ...]  # each class's mean probability over the bars


@dataclass(frozen=True)
class ProposalReport:
    chart_id: int
    proposed: int  # runs found
    written: int  # new spans (the others were already proposed, or over decided bars)


def trained_model(url: str, artifact_location: str, reference: ModelReference) -> TrainedModel:
    """A registered model version, loaded after its artifact's hash was checked."""
    tracking = Tracking(url, artifact_location)
    version, run_id = tracking.model_version(reference.name, reference.alias, reference.version)
    with connect(url) as conn:
        detail = run_detail(conn, run_id)
        dataset = recorded_dataset(conn, detail.dataset_version or "")
        if dataset is None or detail.artifact_sha256 is None:
            raise NotFound(f"model {reference.name} version {version}: its run {run_id} has no "
                           "recorded dataset or artifact hash in training_runs")  # fmt: skip
        features = stored_set(conn, dataset.definition["features"]["set"])
    with tempfile.TemporaryDirectory() as scratch:
        model = load_model(tracking.download_model(run_id, Path(scratch)), detail.model_type,
                           detail.artifact_sha256)  # fmt: skip
    # Models trained before the float32 matrix recorded no input_dtype: float64.
    spec = ModelSpec(detail.model_type, {}, len(dataset.classes),
                     str(detail.params.get("input_dtype", "float64")))  # fmt: skip
    return TrainedModel(reference.name, version, run_id, features, tuple(dataset.classes),
                        Fitted(spec, model))  # fmt: skip


def proposals(proba: Floats, classes: Sequence[str], min_bars: int = 3,
              min_confidence: float = 0.0) -> list[Proposal]:  # fmt: skip
    """Runs of bars whose most probable class is a label (not `none`), long and sure
    enough, in time order."""
    best = proba.argmax(axis=1)
    found = []
    for k, name in enumerate(classes):
        if name == NONE:
            continue
        for first, last in runs(best == k, minimum=min_bars):
            chosen = proba[first : last + 1]
            means = tuple(chosen.mean(axis=0).tolist())
            proposal = Proposal(first, last, k, means[k], float(chosen[:, k].min()), means)
            if proposal.confidence >= min_confidence:
                found.append(proposal)
    return sorted(found, key=lambda p: p.first)


def propose(url: str, model: TrainedModel, chart_ids: Sequence[int], min_bars: int = 3,
            min_confidence: float = 0.0) -> list[ProposalReport]:  # fmt: skip
    """The model's proposals on each chart, each chart written in its own transaction."""
    reports = []
    with connect(url) as conn:
        labels = _label_ids(conn, model)
        for chart_id in chart_ids:
            matrix = read_features(url, model.features, [chart_id])
            found = proposals(model.fitted.predict(matrix.values), model.classes, min_bars,
                              min_confidence)  # fmt: skip
            written = _write(conn, model, chart_id, [(p, matrix.time) for p in found], labels)
            conn.commit()
            reports.append(ProposalReport(chart_id, len(found), written))
    return reports


def _label_ids(conn: Connection, model: TrainedModel) -> dict[int, int]:
    """The span label type of each class the model proposes (all but `none`)."""
    by_name = {name_key(t.name): t.id for t in label_types(conn)}
    ids = {}
    for k, name in enumerate(model.classes):
        if name == NONE:
            continue
        if name_key(name) not in by_name:
            raise DataError(f"model {model.name} version {model.version} predicts {name!r}, "
                            "which is no span label type: train on a spans target, or "
                            f"create the label type {name!r}")  # fmt: skip
        ids[k] = by_name[name_key(name)]
    return ids


def _write(conn: Connection, model: TrainedModel, chart_id: int,
           found: list[tuple[Proposal, Any]], labels: dict[int, int]) -> int:  # fmt: skip
    written = 0
    for proposal, times in found:
        params = {"chart_id": chart_id, "label_type_id": labels[proposal.label],
                  "start_time": utc_datetime(times[proposal.first]),
                  "end_time": utc_datetime(times[proposal.last]),
                  "confidence": round(proposal.confidence, 4), "run_id": model.run_id,
                  "prediction": Jsonb(_prediction(model, proposal)),
                  "created_by": PROPOSER}  # fmt: skip
        written += conn.execute(QUERIES["add_proposal"], params).rowcount
    return written


def _prediction(model: TrainedModel, proposal: Proposal) -> dict[str, Any]:
    return {"model": model.name, "version": model.version, "class": model.classes[proposal.label],
            "mean_probability": round(proposal.confidence, 4),
            "lowest_probability": round(proposal.lowest, 4),
            "bars": proposal.last - proposal.first + 1,
            "class_means": {name: round(p, 4) for name, p in zip(model.classes, proposal.means,
                                                                   strict=True)}}  # fmt: skip
