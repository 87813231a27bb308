"""A model trained on spans proposes spans for review; reviews change the next dataset."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.errors import DataError, NotFound
from candlelab.features.blocks import datetime64
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet
from candlelab.labels.spans import review_span
from candlelab.market.candles import Bars
from candlelab.store.database import Connection
from candlelab.training.datasets import DatasetRequest, assemble_dataset
from candlelab.training.folds import FoldPlan
from candlelab.training.proposals import (
    ModelReference,
    TrainedModel,
    proposals,
    propose,
    trained_model,
)
from candlelab.training.targets import ready_target, target_definition
from candlelab.training.trainer import TrainingRequest, train
from tests.fixtures.training_data import built_market, label_strong_rsi

Market = tuple[StoredSet, list[int], list[Bars]]


@pytest.fixture
def market(conn: Connection) -> Market:
    return built_market(conn, 800)


def spans_model(database_url: str, artifact_root: str, stored: StoredSet, chart_id: int) -> str:
    data = DatasetRequest(stored, ready_target("spans"), (chart_id,))
    request = TrainingRequest(data, params={"num_boost_round": 30, "min_data_in_leaf": 10},
                              folds=FoldPlan(folds=2), model_name="upper")  # fmt: skip
    return train(database_url, artifact_root, request).run_id


def proposed(conn: Connection, chart_id: int) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT id, version, status, training_run_id, confidence, model_prediction->>'class'"
        " FROM span_annotations WHERE chart_id = %s AND source = 'model' ORDER BY start_time",
        (chart_id,),
    ).fetchall()


def assert_predictions_recorded(conn: Connection, database_url: str, model: TrainedModel,
                                chart_id: int) -> None:  # fmt: skip
    """Each proposed span's `model_prediction` and confidence are the model's probabilities
    on the span's bars (docs/training.md, Proposals): mean and lowest of its class, the
    mean of every class, and how many bars."""
    matrix = read_features(database_url, model.features, [chart_id])
    proba = model.fitted.predict(matrix.values)
    found = conn.execute(
        "SELECT start_time, end_time, confidence, model_prediction FROM span_annotations"
        " WHERE chart_id = %s AND source = 'model'", (chart_id,)
    ).fetchall()  # fmt: skip
    assert found
    for start, end, confidence, prediction in found:
        inside = (matrix.time >= datetime64(start)) & (matrix.time <= datetime64(end))
        bars = proba[inside]
        assert (bars.argmax(axis=1) == 1).all()  # every bar's most probable class: up
        assert prediction == {
            "model": "upper", "version": 1, "class": "up", "bars": int(inside.sum()),
            "mean_probability": round(float(bars[:, 1].mean()), 4),
            "lowest_probability": round(float(bars[:, 1].min()), 4),
            "class_means": {"none": round(float(bars[:, 0].mean()), 4),
                            "up": round(float(bars[:, 1].mean()), 4)},
        }  # fmt: skip
        assert float(confidence) == prediction["mean_probability"]


def test_proposals_are_runs_of_a_label_with_their_mean_probability() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]])
    [found] = proposals(proba, ("none", "up"), min_bars=3)
    assert (found.first, found.last, found.label) == (1, 3, 1)
    assert found.confidence == pytest.approx(0.7)
    assert found.lowest == pytest.approx(0.6)
    assert proposals(proba, ("none", "up"), min_bars=3, min_confidence=0.75) == []
    assert len(proposals(proba, ("none", "up"), min_bars=1)) == 2


def test_a_spans_model_proposes_on_another_chart_once_and_reviews_feed_the_next_dataset(
    conn: Connection, database_url: str, artifact_root: str, market: Market
) -> None:
    stored, (labelled, other), _ = market
    label_strong_rsi(conn, database_url, stored, labelled)
    run_id = spans_model(database_url, artifact_root, stored, labelled)
    model = trained_model(database_url, artifact_root, ModelReference.parse("upper/1"))
    assert (model.run_id, model.classes) == (run_id, ("none", "up"))

    [report] = propose(database_url, model, [other])
    assert report.written == report.proposed > 0
    rows = proposed(conn, other)
    assert {(r[2], r[3], r[5]) for r in rows} == {("proposed", run_id, "up")}
    assert_predictions_recorded(conn, database_url, model, other)
    [again] = propose(database_url, model, [other])
    assert again.written == 0  # the same run never proposes the same span twice
    assert len(proposed(conn, other)) == len(rows)

    request = DatasetRequest(stored, ready_target("spans"), (labelled, other))
    before = assemble_dataset(database_url, request).version
    for span_id, version, *_ in rows[:2]:
        review_span(conn, int(span_id), int(version), "accepted", "ann")  # type: ignore[call-overload]
    conn.commit()
    assert assemble_dataset(database_url, request).version != before


def test_bars_a_person_decided_get_no_proposal(
    conn: Connection, database_url: str, artifact_root: str, market: Market
) -> None:
    stored, (labelled, _), _ = market
    label_strong_rsi(conn, database_url, stored, labelled)
    spans_model(database_url, artifact_root, stored, labelled)
    model = trained_model(database_url, artifact_root, ModelReference.parse("upper"))
    [report] = propose(database_url, model, [labelled])
    assert report.proposed > 0
    overlapping = conn.execute(
        "SELECT count(*) FROM span_annotations p JOIN span_annotations m"
        " ON m.chart_id = p.chart_id AND m.source = 'manual'"
        " AND m.start_time <= p.end_time AND m.end_time >= p.start_time"
        " WHERE p.source = 'model'"
    ).fetchone()
    assert overlapping == (0,)


def test_a_model_whose_classes_are_no_labels_or_that_does_not_exist_is_refused(
    database_url: str, artifact_root: str, market: Market
) -> None:
    stored, charts, _ = market
    target = target_definition({"name": "tb", "kind": "triple-barrier", "unit": "fraction",
                                "take_profit": 0.01, "stop_loss": 0.01, "horizon": 8})  # fmt: skip
    data = DatasetRequest(stored, target, tuple(charts))
    train(database_url, artifact_root, TrainingRequest(data, params={"num_boost_round": 5},
                                                       folds=FoldPlan(folds=2)))  # fmt: skip
    model = trained_model(database_url, artifact_root, ModelReference.parse("small-tb"))
    with pytest.raises(DataError, match="predicts 'short', which is no span label type"):
        propose(database_url, model, charts)
    with pytest.raises(NotFound, match="small-tb"):
        trained_model(database_url, artifact_root, ModelReference.parse("small-tb@champion"))
    with pytest.raises(NotFound, match="no registered model 'nope'"):
        trained_model(database_url, artifact_root, ModelReference.parse("nope"))
