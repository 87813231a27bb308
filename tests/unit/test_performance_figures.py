"""Every performance figure on small results worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candlelab.monitoring.figures import (
    WindowSignals,
    brier,
    daily_curve,
    expectancy,
    figures,
    latency_quantiles,
    max_drawdown,
    profit_factor,
    reliability,
    sharpe,
    sortino,
    sqn,
    wilson_interval,
)

RR = np.array([2.0, -1.0, -1.0, 2.0, 0.5])


def days(*offsets: int) -> np.ndarray:
    return np.datetime64("2026-03-02T10:00", "us") + np.array(offsets) * np.timedelta64(1, "D")


def test_wilson_interval_matches_the_formula_and_stays_inside_0_and_1() -> None:
    low, high = wilson_interval(3, 5)
    # p = 0.6, z = 1.96: (0.6 + 0.3842) / 1.7683 ± 1.96 · sqrt(0.048 + 0.0384) / 1.7683
    assert low == pytest.approx(0.2307, abs=1e-4)
    assert high == pytest.approx(0.8824, abs=1e-4)
    assert wilson_interval(0, 4)[0] == 0.0
    assert wilson_interval(4, 4)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (None, None)


def test_profit_factor_expectancy_and_sqn() -> None:
    assert profit_factor(RR) == pytest.approx(4.5 / 2.0)
    assert profit_factor(np.array([1.0, 0.5])) is None  # no loss
    assert expectancy(RR) == pytest.approx(0.5)
    std = math.sqrt(((RR - 0.5) ** 2).sum() / 4)  # 1.5
    assert sqn(RR) == pytest.approx(math.sqrt(5) * 0.5 / std)
    assert sqn(np.array([1.0])) is None
    assert expectancy(np.zeros(0)) is None


def test_the_daily_curve_sums_each_day_and_puts_zero_on_days_without_a_trade() -> None:
    curve = daily_curve(days(0, 0, 2, 5, 5), RR)
    assert curve.tolist() == [1.0, 0.0, -1.0, 0.0, 0.0, 2.5]


def test_sharpe_and_sortino_of_the_daily_curve_annualised_by_365_days() -> None:
    daily = np.array([1.0, 0.0, -1.0, 0.0, 0.0, 2.5])
    mean = 2.5 / 6
    assert sharpe(daily) == pytest.approx(mean / daily.std(ddof=1) * math.sqrt(365))
    assert sortino(daily) == pytest.approx(mean / math.sqrt(1 / 6) * math.sqrt(365))
    assert sortino(np.array([1.0, 2.0])) is None  # no losing day
    assert sharpe(np.array([1.0])) is None


def test_max_drawdown_is_the_deepest_fall_and_lasts_until_the_peak_is_regained() -> None:
    # cumulative 0 | 1, -1, -2, 1, 2: from the peak 1 (day 1) down 3 to day 3, back on day 4
    assert max_drawdown(np.array([1.0, -2.0, -1.0, 3.0, 1.0])) == (3.0, 3)
    # not regained: the duration runs to the last day; a fall from the start counts from 0
    assert max_drawdown(np.array([-1.0, -1.0, 0.5])) == (2.0, 3)
    assert max_drawdown(np.array([1.0, 2.0])) == (0.0, 0)
    assert max_drawdown(np.zeros(0)) == (None, None)


def test_brier_and_the_reliability_table_by_bucket() -> None:
    proba = np.array([0.55, 0.58, 0.62, 0.91, np.nan])
    wins = np.array([True, False, True, True, False])
    assert brier(proba, wins) == pytest.approx((0.45**2 + 0.58**2 + 0.38**2 + 0.09**2) / 4)
    table = reliability(proba, wins)
    assert [(b["low"], b["count"]) for b in table] == [(0.5, 2), (0.6, 1), (0.9, 1)]
    assert table[0]["mean_proba"] == pytest.approx(0.565)
    assert table[0]["win_rate"] == 0.5
    assert reliability(np.array([1.0]), np.array([True]))[0]["low"] == 0.9  # 1.0: last bucket


def test_latency_quantiles_interpolate_linearly_over_recorded_latencies() -> None:
    latency = np.array([*range(1, 101), np.nan], dtype=np.float64)
    assert latency_quantiles(latency) == pytest.approx((50.5, 95.05, 99.01))
    assert latency_quantiles(np.array([np.nan])) == (None, None, None)


def test_a_window_counts_latency_over_every_signal_and_outcomes_over_its_trades() -> None:
    window = WindowSignals(days(0, 0, 1, 2, 2, 3), np.array([*RR[:4], np.nan, RR[4]]),
                           np.array([0.6] * 6), np.array([10.0, 20, 30, 40, 50, 60]))  # fmt: skip
    found = figures(window)
    assert (found["signals"], found["trades"], found["wins"]) == (6, 5, 3)
    assert found["win_rate"] == 0.6
    assert found["latency_p50_ms"] == 35.0
    assert found["expectancy_r"] == pytest.approx(0.5)
    assert found["max_drawdown_r"] == 1.0  # days: 1, -1, 1, 0.5
