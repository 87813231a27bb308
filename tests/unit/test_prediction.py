"""The pure parts of prediction: references, complete vectors, signal rows, --bars."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from candlelab.cli.predict import _bars
from candlelab.errors import ConfigError, InvalidValue, NotPredictable
from candlelab.features.registry import StoredSet
from candlelab.features.warmup import Warmups
from candlelab.models.prediction import check_in_range, check_warm, served_reference
from candlelab.models.signals import SignalBatch, feature_values
from candlelab.store.binary_copy import binary_copy_buffer
from candlelab.training.estimators import Fitted, ModelSpec
from candlelab.training.proposals import ModelReference, TrainedModel

BAR = datetime(2025, 1, 6, 10, tzinfo=UTC)
STORED = StoredSet(1, "small", 1, "h", ("rsi_14", "ret_5", "range_1"), {}, BAR)


def test_a_bare_name_means_its_champion() -> None:
    assert served_reference("tb") == ModelReference("tb", "champion", None)
    assert served_reference("tb@challenger") == ModelReference("tb", "challenger", None)
    assert served_reference("tb/3") == ModelReference("tb", None, 3)
    with pytest.raises(InvalidValue):
        served_reference("tb@a/3")


def test_a_bar_is_refused_while_a_column_is_warming_up_and_named() -> None:
    warm = Warmups({"rsi_14": 14, "ret_5": 5, "range_1": 0}, {c: {} for c in STORED.columns})
    refusal = r"small@1: rsi_14, ret_5 have no value yet \(bar 1 of the chart; the set's warm-up "
    with pytest.raises(NotPredictable, match=refusal + r"is 14 bars\)") as refused:
        check_warm(7, BAR, STORED, warm, index=0)
    assert (refused.value.chart_id, refused.value.time) == (7, BAR.isoformat())
    with pytest.raises(NotPredictable, match="small@1: rsi_14 has no value yet"):
        check_warm(7, BAR, STORED, warm, index=13)
    check_warm(7, BAR, STORED, warm, index=14)  # past it: a NaN there is a missing value


def test_a_value_beyond_float32_is_refused_by_a_float32_model_by_name() -> None:
    def model(input_dtype: str) -> TrainedModel:
        spec = ModelSpec("lightgbm", {}, 2, input_dtype)
        return TrainedModel("tb", 1, "run", STORED, ("none", "up"), Fitted(spec, None))

    vector = np.array([55.0, -4e38, np.inf])
    with pytest.raises(NotPredictable, match=r"ret_5' is -4e\+38, beyond the float32 range"):
        check_in_range(model("float32"), 7, BAR, vector)
    check_in_range(model("float64"), 7, BAR, vector)  # a model trained on float64 takes it
    check_in_range(model("float32"), 7, BAR, np.array([55.0, -3e38, np.nan]))


def test_a_column_reading_a_longer_chart_waits_for_its_warm_up_there() -> None:
    warm = Warmups({"rsi_14": 14, "ret_5": 0, "range_1": 0},
                   {"rsi_14": {}, "ret_5": {"1d": 3}, "range_1": {"1d": 1}})  # fmt: skip
    assert warm.longer_most == {"1d": 3}
    with pytest.raises(NotPredictable, match=r"ret_5, range_1 have no value yet .* warm-up is "
                       r"14 bars, and 3 bars of its 1d chart\)"):  # fmt: skip
        check_warm(7, BAR, STORED, warm, index=20)
    check_warm(7, BAR, STORED, warm, index=20, warm_longer=frozenset({"1d"}))


def test_features_are_kept_by_name_with_nan_as_null() -> None:
    values = feature_values(STORED.columns, np.array([55.5, np.nan, 0.25]))
    assert values == {"rsi_14": 55.5, "ret_5": None, "range_1": 0.25}


def test_a_batch_copies_five_columns_and_no_features() -> None:
    rows = 3
    batch = SignalBatch(np.arange(rows, dtype=np.int64), np.full(rows, np.datetime64(
        "2025-01-06T10:00", "us")), np.zeros(rows, np.int64), np.full(rows, 0.5))  # fmt: skip
    columns = batch.columns(np.array([0, -1, 1]))
    assert [c.pg_type for c in columns] == ["bigint", "timestamptz", "bigint",
                                            "double precision", "bigint"]  # fmt: skip
    header, trailer, per_row, unlabelled = 19, 2, 2 + 5 * 12, 8  # a NULL label has no value
    assert len(binary_copy_buffer(columns)) == header + rows * per_row - unlabelled + trailer


def test_bars_is_latest_or_a_count() -> None:
    assert (_bars("latest"), _bars("20")) == (1, 20)
    for bad in ("0", "-1", "x", "10001", ""):
        with pytest.raises(ConfigError, match="--bars"):
            _bars(bad)
