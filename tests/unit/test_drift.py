"""Drift's statistics on arrays small enough to check by hand, and against SciPy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from candlelab.errors import InvalidValue
from candlelab.monitoring.drift import (
    EPSILON,
    Thresholds,
    feature_measure,
    ks_statistic,
    prediction_measure,
    psi,
    wasserstein,
)
from candlelab.training.references import (
    LEVELS,
    bin_counts,
    feature_references,
    prediction_reference,
    sample_rows,
)

UNIFORM = LEVELS.copy()  # the percentiles of the uniform distribution on [0, 1]


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi(np.array([50.0, 50.0]), np.array([25.0, 75.0])) == pytest.approx(expected)
    assert psi(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(0)


def test_an_empty_bin_counts_as_epsilon_not_as_infinity() -> None:
    found = psi(np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    by_hand = 0.5 * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert found == pytest.approx(by_hand)
    assert math.isfinite(found)


def test_bins_are_closed_on_the_left_and_open_at_both_ends_with_nan_apart() -> None:
    values = np.array([-5.0, 1.0, 1.5, 2.0, 9.0, np.nan])
    counts, missing = bin_counts(values, np.array([1.0, 2.0]))
    assert counts.tolist() == [1, 2, 2]  # (-inf, 1) [1, 2) [2, inf)
    assert missing == 1


def test_ks_against_the_reference_percentiles() -> None:
    shifted = np.linspace(0.5, 1.5, 1001)  # uniform on [0.5, 1.5] against [0, 1]
    assert ks_statistic(UNIFORM, shifted) == pytest.approx(0.5, abs=1e-3)
    assert ks_statistic(UNIFORM, np.linspace(0, 1, 1001)) == pytest.approx(0, abs=2e-3)
    assert ks_statistic(UNIFORM, np.array([2.0, 3.0])) == 1  # wholly beyond the reference
    assert ks_statistic(UNIFORM, np.array([np.nan])) is None


def test_ks_matches_scipy_within_the_percentile_grid() -> None:
    rng = np.random.default_rng(1)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(0.3, 1.2, 5_000)
    exact = stats.ks_2samp(reference, current).statistic
    found = ks_statistic(np.quantile(reference, LEVELS), current)
    assert found == pytest.approx(exact, abs=0.01)


def test_wasserstein_of_a_shift_is_the_shift() -> None:
    assert wasserstein(UNIFORM, np.linspace(0.5, 1.5, 1001)) == pytest.approx(0.5)
    assert wasserstein(UNIFORM, np.linspace(0, 1, 1001)) == pytest.approx(0)
    rng = np.random.default_rng(2)
    reference, current = rng.normal(0, 1, 50_000), rng.normal(0.5, 2, 5_000)
    exact = stats.wasserstein_distance(reference, current)
    assert wasserstein(np.quantile(reference, LEVELS), current) == pytest.approx(exact, rel=0.03)


def test_a_feature_measure_from_its_reference() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(0, 1, (20_000, 2))
    train[:100, 1] = np.nan
    same, moved = feature_references(["same", "moved"], train)
    assert len(same.edges) == 9
    assert sum(same.counts) == 20_000
    assert same.missing == 0
    assert moved.missing == 100
    assert moved.nan_share == pytest.approx(0.005)
    assert same.mean == pytest.approx(0, abs=0.05)
    assert same.std == pytest.approx(1, abs=0.05)
    limits = Thresholds()
    ok = feature_measure(same, rng.normal(0, 1, 5_000), limits)
    assert ok.status == "ok"
    assert ok.psi < 0.02
    shifted = feature_measure(moved, rng.normal(1, 1, 5_000), limits)
    assert shifted.status == "alert"
    assert shifted.psi > 0.5
    assert shifted.wasserstein == pytest.approx(1, abs=0.1)  # one reference std
    assert shifted.ks == pytest.approx(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5), abs=0.03)


def test_a_constant_feature_keeps_one_edge_and_an_all_nan_one_none() -> None:
    x = np.column_stack([np.full(100, 3.0), np.full(100, np.nan)])
    constant, empty = feature_references(["c", "n"], x)
    assert constant.edges == [3.0]
    assert constant.counts == [0, 100]
    assert empty.edges == []
    assert empty.counts == [0]
    assert empty.missing == 100
    assert empty.mean is None
    assert empty.quantiles == []
    turned = feature_measure(empty, np.array([1.0, 2.0]), Thresholds())
    assert turned.status == "alert"
    assert turned.ks is None
    assert turned.wasserstein is None


def test_prediction_drift_over_classes_with_a_new_word_as_its_own_bin() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    ref = prediction_reference(["none", "long"], proba)
    assert ref.counts == [2, 2]
    assert ref.categories == ["none", "long"]
    same = prediction_measure(ref, {"none": 10, "long": 10}, Thresholds())
    assert same.psi == pytest.approx(0)
    assert same.status == "ok"
    tilted = prediction_measure(ref, {"none": 5, "long": 15}, Thresholds())
    assert tilted.psi == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert tilted.status == "alert"
    new = prediction_measure(ref, {"none": 10, "long": 10, "short": 0}, Thresholds())
    assert new.psi == pytest.approx(0)


def test_thresholds_state_the_conventions_and_refuse_nonsense() -> None:
    limits = Thresholds()
    assert (limits.warn, limits.alert) == (0.1, 0.25)
    assert [limits.status(v) for v in (0.05, 0.1, 0.2, 0.25)] == ["ok", "warn", "warn", "alert"]
    with pytest.raises(InvalidValue):
        Thresholds(0.3, 0.2)


def test_a_sample_is_at_most_the_limit_and_in_order() -> None:
    rows = np.arange(1000, dtype=np.int64)
    taken = sample_rows(rows, limit=100)
    assert len(taken) == 100
    assert np.all(np.diff(taken) > 0)
    assert sample_rows(rows, limit=5000) is rows


def test_a_feature_measure_bins_its_sorted_window_as_bin_counts_does() -> None:
    # Ties on the edges, NaN and a constant run: the one-sort path counts as bin_counts.
    rng = np.random.default_rng(5)
    train = np.round(rng.normal(0, 1, (5_000, 1)), 1)
    [ref] = feature_references(["x"], train)
    window = np.round(rng.normal(0.3, 1.2, 3_000), 1)
    window[:50], window[50:90] = np.nan, ref.edges[4]
    counts, missing = bin_counts(window, np.asarray(ref.edges))
    expected = psi(np.asarray([*ref.counts, ref.missing], float),
                   np.asarray([*counts, missing], float))  # fmt: skip
    measured = feature_measure(ref, window, Thresholds())
    assert measured.psi == pytest.approx(expected, rel=1e-12)
    known = window[~np.isnan(window)]
    by_numpy = np.trapezoid(np.abs(np.asarray(ref.quantiles) - np.quantile(known, LEVELS)),
                            LEVELS)  # fmt: skip
    assert wasserstein(np.asarray(ref.quantiles), window) == pytest.approx(by_numpy, rel=1e-12)
    assert ref.std is not None
    assert measured.wasserstein == pytest.approx(by_numpy / ref.std, rel=1e-12)
