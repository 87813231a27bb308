"""Champion against challenger: the block bootstrap, the boundary, and repeated looks that
do not inflate false verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.monitoring.comparison import bootstrap_means, boundary_constant, compare


def test_the_boundary_is_the_brownian_motion_s_two_sided_crossing_level() -> None:
    # P(sup |W| >= c) = alpha on [0, 1]: 2.2414 at 5 % (close to the 4·(1 - Φ(c)) bound)
    assert boundary_constant(0.05) == pytest.approx(2.2414, abs=1e-4)
    assert boundary_constant(0.01) > boundary_constant(0.05)


def test_block_resamples_keep_neighbours_together_and_are_reproducible() -> None:
    values = np.arange(100, dtype=np.float64)
    means = bootstrap_means(values, 50, np.random.default_rng(1))
    assert np.array_equal(means, bootstrap_means(values, 50, np.random.default_rng(1)))
    assert means.mean() == pytest.approx(49.5, abs=3)


def test_too_few_trades_is_not_enough_evidence_and_says_n() -> None:
    found = compare(np.ones(50), np.ones(12))
    assert found.verdict == "not enough evidence yet (n = 12)"


def test_a_clearly_better_or_worse_challenger_is_named_so() -> None:
    rng = np.random.default_rng(3)
    champion = rng.normal(0.0, 1.0, 2000)
    better = compare(champion, rng.normal(0.5, 1.0, 2000))
    assert better.verdict == "challenger better at 95 %"
    assert better.expectancy_repeated is not None
    assert better.expectancy_interval is not None
    assert better.expectancy_repeated[0] < better.expectancy_interval[0]  # wider: looks paid
    assert compare(champion, rng.normal(-0.5, 1.0, 2000)).verdict == "challenger worse at 95 %"


def test_repeated_looks_at_identical_results_rarely_give_a_verdict() -> None:
    """120 comparisons of two samples of one distribution, each looked at 5 times as it
    grows to n_max: a verdict at any look is a false one. The sequential boundary keeps
    their share at or under alpha; the one-look interval read at every look does not."""
    rng = np.random.default_rng(5)
    false, naive = 0, 0
    for trial in range(120):
        a, b = rng.normal(0, 1, 400), rng.normal(0, 1, 400)
        looks = [compare(a[:n], b[:n], n_max=400, draws=200, seed=trial)
                 for n in range(80, 401, 80)]  # fmt: skip
        false += any(look.verdict.startswith("challenger") for look in looks)
        naive += any(_excludes_zero(look.expectancy_interval) for look in looks)
    assert false / 120 <= 0.05
    assert naive / 120 > 0.1


def _excludes_zero(interval: tuple[float, float] | None) -> bool:
    return interval is not None and (interval[0] > 0 or interval[1] < 0)
