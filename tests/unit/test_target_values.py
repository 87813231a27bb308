"""Target values over several charts: classes from barriers, returns and spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from candlelab.training.barriers import Prices
from candlelab.training.span_labels import LabelledSpan
from candlelab.training.target_values import ChartSpans, target_values
from candlelab.training.targets import target_definition


def walk(charts: int, bars: int, seed: int = 1) -> Prices:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, charts * bars)))
    wick = np.abs(rng.normal(0, 0.006, (2, charts * bars)))
    ids = np.repeat(np.arange(charts), bars).astype(np.int64)
    return Prices.of(ids, close, close * (1 + wick[0]), close * (1 - wick[1]), close)


def brute_barrier_class(p: Prices, t: int, tp: float, sl: float, h: int) -> float:
    """Which side's position wins first, bar by bar, stop first inside a candle."""
    entry, end = p.close[t], int(p.ends[t])
    long_done = short_done = False
    for k in range(1, h + 1):
        if t + k >= end:
            return np.nan
        hi, lo = p.high[t + k], p.low[t + k]
        long_done |= lo <= entry * (1 - sl)
        short_done |= hi >= entry * (1 + sl)
        long_wins = not long_done and hi >= entry * (1 + tp)
        short_wins = not short_done and lo <= entry * (1 - tp)
        if long_wins and not short_wins:
            return 2.0
        if short_wins and not long_wins:
            return 0.0
        if (long_wins and short_wins) or (long_done and short_done):
            return 1.0  # both win in one candle, or both stopped: neither side won
    return 1.0


def test_triple_barrier_classes_match_a_bar_by_bar_judgement() -> None:
    p = walk(3, 300)
    for tp, sl in ((0.02, 0.01), (0.01, 0.02), (0.015, 0.015)):
        target = target_definition({"name": "t", "kind": "triple-barrier", "unit": "fraction",
                                    "take_profit": tp, "stop_loss": sl, "horizon": 8})  # fmt: skip
        values = target_values(target, p)
        expected = [brute_barrier_class(p, t, tp, sl, 8) for t in range(len(p))]
        np.testing.assert_array_equal(values.y, np.array(expected), err_msg=f"{tp} {sl}")
    assert values.classes == ("short", "none", "long")
    assert values.directions == (-1, 0, 1)


def test_forward_returns_in_a_band_as_signs_and_as_values() -> None:
    p = walk(2, 50)
    value = target_definition({"name": "r", "kind": "forward-return", "mode": "value",
                               "horizon": 3})  # fmt: skip
    got = target_values(value, p)
    assert got.classes == ()
    assert got.y[0] == p.close[3] / p.close[0] - 1
    assert np.isnan(got.y[47:50]).all()
    assert np.isfinite(got.y[50:97]).all()
    band = target_values(target_definition({"name": "b", "kind": "forward-return",
                                            "threshold": 0.005, "horizon": 3}), p)  # fmt: skip
    known = np.isfinite(got.y)
    expected = np.where(got.y > 0.005, 2, np.where(got.y < -0.005, 0, 1))[known]
    np.testing.assert_array_equal(band.y[known], expected)
    assert band.judged_to[0] == 3
    assert band.judged_to[49] == 49


def test_span_targets_concatenate_charts_and_purge_to_a_spans_end() -> None:
    p = walk(2, 30)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = np.array([np.datetime64("2024-01-01", "us") + np.timedelta64(d, "D")
                      for d in range(30)])  # fmt: skip
    up = LabelledSpan(1, 1, "up", start + timedelta(days=2), start + timedelta(days=12),
                      "accepted", start)  # fmt: skip
    down = LabelledSpan(2, 1, "down", start + timedelta(days=5), start + timedelta(days=9),
                        "accepted", start)  # fmt: skip
    target = target_definition({"name": "s", "kind": "spans", "horizon": 2})
    values = target_values(target, p, [ChartSpans(times, [up]), ChartSpans(times, [down])],
                           {"up": 1, "down": -1})  # fmt: skip
    assert values.classes == ("none", "down", "up")
    assert values.directions == (0, -1, 1)
    assert values.class_counts() == {"none": 0, "down": 5, "up": 11}
    assert values.judged_to[2] == 12
    assert values.judged_to[35] == 39
    assert values.judged_to[13] == 15  # outside spans: the judgement's horizon
