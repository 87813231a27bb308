"""Estimators: LightGBM fits on one binned Dataset, a subset of it per fit."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.training.estimators import FEW_ROWS, Learner, model_spec

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
