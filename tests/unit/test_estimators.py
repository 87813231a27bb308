"""Estimators: LightGBM fits on one binned Dataset, a subset of it per fit."""

from __future__ import annotations

import numpy as np
import pytest

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
