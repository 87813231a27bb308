"""Training straight from the database: walk-forward folds, MLflow, the registry, runs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model

import candlelab
from candlelab.errors import DataError, DatasetError, InvalidValue, TrainingFailed
from candlelab.features.blocks import moment
from candlelab.features.definitions import feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet
from candlelab.market.candles import Bars
from candlelab.store.database import Connection
from candlelab.training.artifacts import ArtifactRefused, load_model
from candlelab.training.datasets import DatasetRequest, assemble_dataset
from candlelab.training.folds import FoldPlan
from candlelab.training.proposals import ModelReference, trained_model
from candlelab.training.runs import reap_stale_runs, run_detail
from candlelab.training.targets import TargetDefinition, target_definition
from candlelab.training.tracking import Tracking, tracking_uri
from candlelab.training.trainer import EXAMPLE_ROWS, TrainingRequest, TrainingResult, train
from tests.fixtures.training_data import built_market

BARS = 600
TARGET: TargetDefinition = target_definition({
    "name": "tb", "kind": "triple-barrier", "unit": "fraction", "take_profit": 0.01,
    "stop_loss": 0.01, "horizon": 10,
})  # fmt: skip
RETURNS: TargetDefinition = target_definition(
    {"name": "fr", "kind": "forward-return", "mode": "value", "horizon": 5}
)
QUICK = {"num_boost_round": 15, "min_data_in_leaf": 20}
Market = tuple[StoredSet, list[int], list[Bars]]


@pytest.fixture
def market(conn: Connection) -> tuple[StoredSet, list[int], list[Bars]]:
    return built_market(conn, BARS)


def request(market: Market, **changes: object) -> TrainingRequest:
    stored, charts, _ = market
    base = {"data": DatasetRequest(stored, TARGET, tuple(charts)), "params": dict(QUICK),
            "folds": FoldPlan(folds=3, embargo=2), "experiment": "test"}  # fmt: skip
    return TrainingRequest(**{**base, **changes})  # type: ignore[arg-type]


def runs(conn: Connection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT status, error FROM training_runs").fetchall()


def test_a_run_is_recorded_in_mlflow_training_runs_and_the_registry(
    conn: Connection,
    database_url: str,
    artifact_root: str,
    market: Market,
    tmp_path: Path,
) -> None:
    result = train(database_url, artifact_root, request(market))
    assert [f.number for f in result.folds] == [1, 2, 3]
    assert all(f.purged > 0 for f in result.folds)  # the horizon reached each test block
    assert {"accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc", "hit_rate",
            "profit_factor", "expectancy_r"} <= set(result.folds[0].metrics)  # fmt: skip
    assert set(result.importance["rsi_14"]) == {"gain", "permutation"}

    detail = run_detail(conn, result.run_id[:10])
    assert (detail.status, detail.model_name, detail.model_version) == ("finished", "small-tb", 1)
    assert detail.dataset_version == result.dataset_version
    assert detail.total_samples == result.rows
    assert detail.pipeline_config_hash is not None
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    got = client.get_run(result.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags["candlelab.dataset_version"] == result.dataset_version
    history = client.get_metric_history(result.run_id, "accuracy")
    assert sorted(m.step for m in history) == [0, 1, 2, 3]  # three folds, then all pooled
    assert got.inputs is not None
    assert got.inputs.dataset_inputs[0].dataset.digest == result.dataset_version[:36]
    version = client.get_model_version("small-tb", "1")
    assert version.run_id == result.run_id
    assert version.tags["candlelab.artifact_sha256"] == result.artifact_sha256

    assert_tags_and_fold_report(client, market, result, tmp_path / "folds")

    model_dir = Tracking(database_url, artifact_root).download_model(result.run_id, tmp_path)
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    booster = load_model(model_dir, "lightgbm", result.artifact_sha256)
    assert booster.num_trees() == 15 * 3  # three classes
    assert_signature_and_example(database_url, market, model_dir, booster)
    (model_dir / "model.lgb").write_text((model_dir / "model.lgb").read_text() + "\n")
    with pytest.raises(ArtifactRefused, match="differs from"):
        load_model(model_dir, "lightgbm", result.artifact_sha256)


def assert_tags_and_fold_report(client: MlflowClient, market: Market, result: TrainingResult,
                                scratch: Path) -> None:  # fmt: skip
    """The run's tags name the versions it learned from; its folds.json is the report."""
    stored = market[0]
    tags = client.get_run(result.run_id).data.tags
    assert {k: v for k, v in tags.items() if k.startswith("candlelab.")} == {
        "candlelab.version": candlelab.__version__,
        "candlelab.feature_set": stored.label,
        "candlelab.feature_set_hash": stored.version_hash,
        "candlelab.target": "tb",
        "candlelab.target_hash": TARGET.version_hash,
        "candlelab.dataset_version": result.dataset_version,
    }
    scratch.mkdir()
    path = Path(client.download_artifacts(result.run_id, "folds.json", str(scratch)))
    report = json.loads(path.read_text())
    assert [{**f, "metrics": {}} for f in report] == [
        {**asdict(f), "metrics": {}} for f in result.folds
    ]
    for logged, fold in zip(report, result.folds, strict=True):
        assert logged["metrics"] == pytest.approx(fold.metrics, nan_ok=True)


def assert_signature_and_example(database_url: str, market: Market, model_dir: Path,
                                 booster: Any) -> None:  # fmt: skip
    """The logged model's signature: the feature columns in, a probability per class out
    (the shape the model predicts); its input example: the dataset's last taught rows."""
    dataset = assemble_dataset(database_url, request(market).data)
    columns = list(dataset.matrix.columns)
    logged = Model.load(model_dir / "MLmodel")
    assert logged.signature is not None
    assert logged.signature.inputs.input_names() == columns
    assert {t.name for t in logged.signature.inputs.input_types()} == {"double"}
    [output] = logged.signature.outputs.inputs  # a tensor: a probability per class
    assert output.shape == (-1, len(dataset.values.classes))
    example = logged.load_input_example(str(model_dir))
    assert isinstance(example, pd.DataFrame)
    assert list(example.columns) == columns
    taught = dataset.matrix.values[dataset.taught[-EXAMPLE_ROWS:]]
    np.testing.assert_array_equal(example.to_numpy(), taught)
    assert np.asarray(booster.predict(example.to_numpy())).shape == (EXAMPLE_ROWS, output.shape[1])


@pytest.mark.parametrize("model", ["logistic", "hgb"])
def test_scikit_learn_models_train_and_load_without_running_code(
    database_url: str,
    artifact_root: str,
    market: Market,
    tmp_path: Path,
    model: str,
) -> None:
    params = {"max_iter": 50}
    result = train(database_url, artifact_root, request(market, model=model, params=params))
    model_dir = Tracking(database_url, artifact_root).download_model(result.run_id, tmp_path)
    loaded = load_model(model_dir, model, result.artifact_sha256)
    assert np.allclose(loaded.predict_proba(np.zeros((1, 3))).sum(), 1.0)


@pytest.mark.parametrize("case", [("lightgbm", QUICK), ("hgb", {"max_iter": 20})])
def test_a_forward_return_value_trains_registers_and_loads_a_regressor(
    conn: Connection,
    database_url: str,
    artifact_root: str,
    market: Market,
    case: tuple[str, dict[str, object]],
) -> None:
    (stored, charts, _), (model, params) = market, case
    data = DatasetRequest(stored, RETURNS, tuple(charts))
    result = train(database_url, artifact_root,
                   request(market, data=data, model=model, params=params))  # fmt: skip
    scores = {"rmse", "mae", "r2", "ic"}  # evaluation.regression_metrics
    assert set(result.metrics) == scores
    assert all(set(f.metrics) == scores for f in result.folds)
    assert result.metrics["rmse"] > 0
    detail = run_detail(conn, result.run_id)
    assert (detail.status, detail.model_type, detail.model_version) == ("finished", model, 1)
    assert detail.metrics["rmse"] == pytest.approx(result.metrics["rmse"])
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    assert sorted(m.step for m in client.get_metric_history(result.run_id, "ic")) == [0, 1, 2, 3]

    loaded = trained_model(database_url, artifact_root, ModelReference("small-fr", version=1))
    assert (loaded.run_id, loaded.classes) == (result.run_id, ())
    dataset = assemble_dataset(database_url, data)
    x, y = dataset.matrix.values[dataset.taught], dataset.values.y[dataset.taught]
    predicted = loaded.fitted.predict(x)
    assert predicted.shape == y.shape  # a return per bar, not class probabilities
    # The final model was fit on these rows: it explains part of their returns.
    assert 1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2) > 0


def test_a_threshold_no_signal_reaches_finishes_with_null_trading_metrics(
    conn: Connection, database_url: str, artifact_root: str, market: Market
) -> None:
    result = train(database_url, artifact_root, request(market, threshold=1.0))
    assert result.metrics["signals"] == 0
    assert run_detail(conn, result.run_id).metrics["hit_rate"] is None


def test_bad_requests_are_refused_before_a_run_starts(
    conn: Connection,
    database_url: str,
    artifact_root: str,
    market: Market,
) -> None:
    with pytest.raises(InvalidValue, match="unknown model 'xgboost'"):
        train(database_url, artifact_root, request(market, model="xgboost"))
    with pytest.raises(
        InvalidValue, match="unknown lightgbm parameter 'num_leafs'; did you mean num_leaves"
    ):
        train(database_url, artifact_root, request(market, params={"num_leafs": 3}))
    with pytest.raises(InvalidValue, match="learning_rate: 'fast' is not a float"):
        train(database_url, artifact_root, request(market, params={"learning_rate": "fast"}))
    with pytest.raises(DatasetError, match="cannot make 2000 folds"):
        train(database_url, artifact_root, request(market, folds=FoldPlan(folds=2000)))
    assert runs(conn) == []


def test_the_matrix_is_float32_and_models_trained_on_float64_still_load_as_such(
    conn: Connection, database_url: str, artifact_root: str, market: Market
) -> None:
    stored, charts, _ = market
    dataset = assemble_dataset(database_url, DatasetRequest(stored, TARGET, tuple(charts)))
    stored_values = read_features(database_url, stored, charts).values
    assert dataset.matrix.values.dtype.name == "float32"
    assert stored_values.dtype.name == "float64"
    np.testing.assert_array_equal(dataset.matrix.values, stored_values.astype(np.float32))
    result = train(database_url, artifact_root, request(market))
    assert run_detail(conn, result.run_id).params["input_dtype"] == "float32"
    model = trained_model(database_url, artifact_root, ModelReference.parse("small-tb"))
    assert model.fitted.spec.input_dtype == "float32"
    # A run recorded before the float32 matrix has no input_dtype: its model takes float64.
    conn.execute("UPDATE training_runs SET params = params - 'input_dtype'")
    conn.commit()
    model = trained_model(database_url, artifact_root, ModelReference.parse("small-tb"))
    assert model.fitted.spec.input_dtype == "float64"


def test_a_feature_value_beyond_float32_is_refused_by_name_chart_and_bar(
    conn: Connection, database_url: str, market: Market
) -> None:
    _, charts, _ = market
    huge = feature_set({"name": "huge", "features": [
        {"name": "range_1", "expr": "(high - low) / close"},
        {"name": "far", "expr": "close * 1e37"},
    ]})  # fmt: skip
    stored = build_features(conn, huge, charts[:1]).feature_set
    assert read_features(database_url, stored, charts[:1]).values[:, 1].min() > 1e38  # stored
    with pytest.raises(DataError) as refused:
        assemble_dataset(database_url, DatasetRequest(stored, TARGET, (charts[0],)))
    first = read_features(database_url, stored, charts[:1]).time[0]
    assert str(refused.value).startswith(
        f"feature 'far' of chart {charts[0]} at {moment(first).isoformat()} is "
    )
    assert "beyond float32's range" in str(refused.value)


def test_a_run_that_fails_says_why_and_registers_nothing(
    conn: Connection,
    database_url: str,
    artifact_root: str,
    market: Market,
) -> None:
    bad = request(market, params={**QUICK, "num_leaves": 1})  # LightGBM refuses it at fit time
    with pytest.raises(TrainingFailed, match=r"failed: LightGBMError: .*num_leaves"):
        train(database_url, artifact_root, bad)
    [(status, error)] = runs(conn)
    assert status == "failed"
    assert "num_leaves" in str(error)
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    assert client.search_model_versions("name = 'small-tb'") == []


def test_a_run_whose_process_died_is_marked_failed_by_the_next_look(conn: Connection) -> None:
    conn.execute("INSERT INTO training_runs (run_id, model_type, experiment_name, heartbeat_at)"
                 " VALUES ('dead', 'lightgbm', 'x', now() - interval '11 minutes'),"
                 " ('alive', 'lightgbm', 'x', now() - interval '1 minute')")  # fmt: skip
    assert reap_stale_runs(conn, timedelta(minutes=10)) == ["dead"]
    assert run_detail(conn, "dead").status == "failed"
    assert "no heartbeat since" in str(run_detail(conn, "dead").error)
    assert run_detail(conn, "alive").status == "running"
