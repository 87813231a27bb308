"""Barriers: a position opened at a bar's close, judged on the bars after it only."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.training.barriers import Prices, chart_ends, first_touch, risk_unit, trades
from candlelab.training.targets import Judgement

NO_COST = {"fees_bps": 0.0, "slippage_bps": 0.0}


def prices(close: list[float], high: list[float] | None = None, low: list[float] | None = None,
           open_: list[float] | None = None, chart: list[int] | None = None) -> Prices:  # fmt: skip
    c = np.array(close, dtype=np.float64)
    ids = np.array(chart or [1] * len(c), dtype=np.int64)
    return Prices.of(ids, np.array(open_ or close, dtype=np.float64),
                     np.array(high or close, dtype=np.float64),
                     np.array(low or close, dtype=np.float64), c)  # fmt: skip


def fraction(tp: float = 0.02, sl: float = 0.01, horizon: int = 3, **kw: float) -> Judgement:
    return Judgement(horizon=horizon, take_profit=tp, stop_loss=sl, unit="fraction",
                     **{**NO_COST, **kw})  # type: ignore[arg-type]  # fmt: skip


def test_chart_ends_give_each_row_its_charts_end() -> None:
    ends = chart_ends(np.array([3, 3, 3, 5, 5, 9], dtype=np.int64))
    assert ends.tolist() == [3, 3, 3, 5, 5, 6]


def test_first_touch_matches_a_row_by_row_search_and_never_crosses_charts() -> None:
    rng = np.random.default_rng(7)
    chart = np.repeat(np.arange(5), rng.integers(1, 40, 5)).astype(np.int64)
    series, level = rng.normal(size=len(chart)), rng.normal(size=len(chart))
    ends = chart_ends(chart)
    for above in (True, False):
        found = first_touch(series, level, ends, 6, above)
        for t in range(len(chart)):
            touched = series >= level[t] if above else series <= level[t]
            later = [k for k in range(1, 7) if t + k < ends[t] and touched[t + k]]
            assert found[t] == (later[0] if later else 0), (t, above)


def test_a_long_take_profit_touched_first_wins_its_multiple_of_the_risk() -> None:
    p = prices([100, 100.5, 101, 101], high=[100, 101, 102.5, 101], low=[100, 100, 100.5, 100])
    long = trades(p, risk_unit(p, fraction()), fraction(), side=1)
    assert (long.held[0], long.exit[0]) == (2, 1)
    assert long.result[0] == pytest.approx(2.0)  # tp 2 % over a risk of 1 %


def test_costs_come_off_the_result_in_units_of_the_risk() -> None:
    p = prices([100, 100.5, 101, 101], high=[100, 101, 102.5, 101], low=[100, 100, 100.5, 100])
    judged = fraction(fees_bps=10, slippage_bps=5)  # 30 bps round trip, risk 1 %
    assert trades(p, risk_unit(p, judged), judged, 1).result[0] == pytest.approx(2.0 - 0.3)


def test_a_candle_touching_both_barriers_is_a_stop_and_ambiguous() -> None:
    p = prices([100, 100, 100, 100], high=[100, 103, 100, 100], low=[100, 98, 100, 100])
    long = trades(p, risk_unit(p, fraction()), fraction(), 1)
    short = trades(p, risk_unit(p, fraction()), fraction(), -1)
    assert (long.exit[0], long.ambiguous[0]) == (-1, True)
    assert (short.exit[0], short.ambiguous[0]) == (-1, True)
    assert long.result[0] == pytest.approx(-1.0)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    p = prices([100, 97, 97, 97], open_=[100, 97, 97, 97], low=[100, 96.5, 97, 97])
    long = trades(p, risk_unit(p, fraction()), fraction(), 1)
    assert long.result[0] == pytest.approx(-3.0)  # opened 3 % below: three times the risk


def test_no_touch_closes_at_the_horizon_bar() -> None:
    p = prices([100, 100.2, 100.4, 100.6, 110])
    long = trades(p, risk_unit(p, fraction()), fraction(horizon=3), 1)
    assert (long.held[0], long.exit[0]) == (3, 0)
    assert long.result[0] == pytest.approx(0.6)  # 0.6 % over a risk of 1 %


def test_a_horizon_past_the_charts_end_is_unknown_unless_a_barrier_was_touched() -> None:
    p = prices([100, 100, 100, 103, 100, 100], chart=[1, 1, 1, 1, 2, 2])
    long = trades(p, risk_unit(p, fraction()), fraction(horizon=3), 1)
    assert long.known.tolist() == [True, True, True, False, False, False]
    assert long.held[2] == 1
    assert long.exit[2] == 1
    assert long.exit[1] == 1  # the next chart's 100 is never read as row 1's future


def test_nothing_after_the_horizon_changes_a_rows_result() -> None:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    high, low = close * 1.004, close * 0.996
    judged = Judgement(horizon=10)
    base = Prices.of(np.ones(200, np.int64), close, high, low, close)
    changed = [a.copy() for a in (close, high, low)]
    for a in changed:
        a[111:] *= 1.5  # every bar after row 100's horizon
    other = Prices.of(np.ones(200, np.int64), changed[0], changed[1], changed[2], changed[0])
    for side in (1, -1):
        a = trades(base, risk_unit(base, judged), judged, side).result[:101]
        b = trades(other, risk_unit(other, judged), judged, side).result[:101]
        np.testing.assert_array_equal(a, b)


def test_atr_units_are_warming_up_and_unknown_at_first() -> None:
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 1, 60))
    p = Prices.of(np.ones(60, np.int64), close, close + 1, close - 1, close)
    judged = Judgement(atr_period=14)
    unit = risk_unit(p, judged)
    assert np.isnan(unit[:14]).all()
    assert np.isfinite(unit[14:]).all()
    assert not trades(p, unit, judged, 1).known[:14].any()
