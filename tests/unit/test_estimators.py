"""Estimators: LightGBM fits on one binned Dataset, a subset of it per fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from candlelab.errors import DataError
from candlelab.training.estimators import FEW_ROWS, Learner, model_spec
from candlelab.training.folds import FoldPlan, walk_forward

ROWS = 600


def matrix(untaught: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features of few distinct values (so the bins are one per value, whatever the rows)
    and three classes that depend on them; `untaught` rows with no label at the end."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 8, size=(ROWS + 100, 4)).astype(np.float64)
    y = np.clip(x[:, 0] // 3 + (rng.random(len(x)) < 0.1), 0, 2)
    y[ROWS:] = np.nan
    return x[: ROWS + untaught], y[: ROWS + untaught]


@pytest.mark.parametrize("weighting", ["balanced", "none"])
def test_a_fit_on_every_row_equals_the_same_rows_taken_as_a_subset(weighting: str) -> None:
    spec = model_spec("lightgbm", {"num_boost_round": 5, "num_threads": 1,
                                   "class_weight": weighting}, 3)  # fmt: skip
    x, y = matrix()
    whole = Learner(spec, x, y).fit(np.arange(ROWS))  # the binned Dataset itself
    x_more, y_more = matrix(untaught=50)  # the same rows, and untaught ones binned beside
    part = Learner(spec, x_more, y_more).fit(np.arange(ROWS))  # a subset of it
    # Balanced: the subset's weights reach its fit (LightGBM drops them if set too early).
    np.testing.assert_allclose(whole.predict(x), part.predict(x))


def test_weights_of_a_fit_on_every_row_do_not_reach_a_later_fit_on_fewer() -> None:
    spec = model_spec("lightgbm", {"num_boost_round": 5, "num_threads": 1}, 3)
    x, y = matrix()
    first = np.arange(ROWS // 2)
    learner = Learner(spec, x, y)
    learner.fit(np.arange(ROWS))
    after = learner.fit(first).predict(x)
    np.testing.assert_allclose(after, Learner(spec, x, y).fit(first).predict(x))


def test_a_few_rows_predicted_on_one_thread_equal_the_same_rows_of_a_batch() -> None:
    spec = model_spec("lightgbm", {"num_boost_round": 5, "num_threads": 2}, 3)
    x, y = matrix()
    fitted = Learner(spec, x, y).fit(np.arange(ROWS))
    batch = fitted.predict(x)  # FEW_ROWS and more: LightGBM's threads
    for rows in (slice(0, 1), slice(7, 8), slice(0, FEW_ROWS - 1)):  # one thread
        np.testing.assert_array_equal(fitted.predict(x[rows]), batch[rows])


def drifting_bars() -> tuple[np.ndarray, ...]:
    """One hourly chart whose features drift upwards (a later block's mean is higher),
    with gaps for the imputer; two classes; labels judged three bars later."""
    rng = np.random.default_rng(5)
    step = np.arange(ROWS)
    time = np.datetime64("2024-01-01T00:00", "us") + step * np.timedelta64(1, "h")
    x = np.column_stack([step / 100 + rng.normal(size=ROWS), rng.normal(step / 50, 1 + step / 300)])
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (rng.random(ROWS) < 0.5).astype(np.float64)
    until = time[np.minimum(step + 3, ROWS - 1)]
    return time, np.zeros(ROWS, dtype=np.int64), until, x, y


def test_the_logistic_imputer_and_scaler_of_a_fold_see_its_training_rows_only() -> None:
    time, chart, until, x, y = drifting_bars()
    taught = np.ones(ROWS, dtype=bool)
    folds = walk_forward(time, chart, until, taught, FoldPlan(folds=3, embargo=5))
    learner = Learner(model_spec("logistic", {}, 2), x, y)
    for fold in folds:  # what the trainer does per fold: fit on fold.train, test on the rest
        assert fold.purged > 0  # rows before the test block, left out of its training
        assert fold.embargoed > 0
        pipeline = learner.fit(fold.train).model
        imputer, scaler = pipeline.named_steps["impute"], pipeline.named_steps["scale"]
        medians = np.nanmedian(x[fold.train], axis=0)
        np.testing.assert_allclose(imputer.statistics_, medians)
        filled = np.where(np.isnan(x[fold.train]), medians, x[fold.train])
        np.testing.assert_allclose(scaler.mean_, filled.mean(axis=0))
        np.testing.assert_allclose(scaler.scale_, filled.std(axis=0))
        # Any row beyond them (the purged and embargoed ones, the test block) moves both.
        seen = np.arange(fold.test.max() + 1)
        assert not np.allclose(imputer.statistics_, np.nanmedian(x[seen], axis=0))
        assert not np.allclose(scaler.mean_, np.nanmean(x[seen], axis=0))
        before = np.arange(fold.test.min())  # the training part, purged rows kept
        assert not np.allclose(scaler.mean_, np.nanmean(x[before], axis=0))


def test_a_value_between_two_float32s_is_predicted_as_it_was_trained() -> None:
    """The matrix is float32, so a bar's stored float64 value is learnt rounded: one
    exactly between two float32s rounds (ties to even) up to the upper one here, which
    LightGBM's split leaves on its right. Fed as float64 it would fall on the split's left
    (the threshold sits just past the midpoint); predict rounds it as training did."""
    lower = np.nextafter(np.float32(1), np.float32(2))  # odd last bit
    upper = np.nextafter(lower, np.float32(2))  # even
    midpoint = (np.float64(lower) + np.float64(upper)) / 2  # exact in float64
    assert np.float32(midpoint) == upper
    x = np.repeat([[np.float64(lower)], [midpoint]], 50, axis=0)
    y = np.repeat([0.0, 1.0], 50)
    spec = model_spec("lightgbm", {"num_boost_round": 5, "num_threads": 1,
                                   "min_data_in_leaf": 1}, 2)  # fmt: skip
    fitted = Learner(spec, x, y).fit(np.arange(len(x)))
    assert fitted.spec.input_dtype == "float32"
    proba = fitted.predict(np.array([[midpoint]]))
    assert proba[0, 1] > 0.5  # as the training row of that value: class 1
    unrounded = fitted.model.predict(np.array([[midpoint]]))
    assert unrounded[0] < 0.5  # what float64 straight into the trees would give


def test_a_model_trained_on_float64_predicts_float64() -> None:
    """Models trained before the float32 matrix predict on the values as stored."""
    x, y = matrix()
    spec = model_spec("lightgbm", {"num_boost_round": 5, "num_threads": 1}, 3)
    old = replace(spec, input_dtype="float64")
    learner = Learner(old, x, y)
    assert learner.x.dtype == np.float64
    fitted = learner.fit(np.arange(ROWS))
    np.testing.assert_array_equal(fitted.predict(x), fitted.model.predict(x))


def test_a_value_beyond_float32_is_refused_by_a_float32_model() -> None:
    x, y = matrix()
    fitted = Learner(model_spec("lightgbm", {"num_boost_round": 2}, 3), x, y).fit(np.arange(ROWS))
    beyond = x[:2].copy()
    beyond[1, 2] = -1e39
    with pytest.raises(DataError, match=r"row 1, feature 3: -1e\+39 is beyond the float32"):
        fitted.predict(beyond)
    with pytest.raises(DataError, match="beyond the float32 range"):
        Learner(fitted.spec, beyond, y[:2])
