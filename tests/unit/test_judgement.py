"""A signal's judgement on small charts of backdated hourly bars: training's barriers,
the outcome words, excursions, and what is skipped."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from candlelab.monitoring.judgement import VERDICTS, ChartBars, Verdicts, judge
from candlelab.training.barriers import Prices
from candlelab.training.target_values import target_values
from candlelab.training.targets import Judgement, target_definition

START = np.datetime64("2024-03-04T00:00", "us")
HOUR = np.timedelta64(1, "h")
NO_COST = {"fees_bps": 0.0, "slippage_bps": 0.0}


def hourly(close: list[float], high: list[float] | None = None, low: list[float] | None = None,
           open_: list[float] | None = None, missing: Sequence[int] = ()) -> ChartBars:  # fmt: skip
    """Bars at START + i hours, except the hours in `missing` (the calendar expects them)."""
    hours = [h for h in range(len(close) + len(missing)) if h not in missing]

    def column(values: list[float] | None) -> npt.NDArray[np.float64]:
        return np.array((values or close)[: len(hours)], dtype=np.float64)

    gaps = START + np.array(sorted(missing), dtype=np.int64) * HOUR
    return ChartBars(START + np.array(hours) * HOUR, column(open_), column(high), column(low),
                     column(close), gaps)  # fmt: skip


def fraction(tp: float | None = 0.02, sl: float | None = 0.01, horizon: int = 3,
             **kw: float) -> Judgement:  # fmt: skip
    return Judgement(horizon=horizon, take_profit=tp, stop_loss=sl, unit="fraction",
                     **{**NO_COST, **kw})  # type: ignore[arg-type]  # fmt: skip


def judged(bars: ChartBars, hours: list[int], sides: list[int], judgement: Judgement) -> Verdicts:
    times = START + np.array(hours, dtype=np.int64) * HOUR
    return judge(bars, times, np.array(sides, dtype=np.int64), judgement)


def words(verdicts: Verdicts) -> list[str]:
    return [VERDICTS[v] for v in verdicts.verdict.tolist()]


RISING = hourly([100, 100.5, 101, 101, 101], high=[100, 101, 102.5, 101, 101],
                low=[100, 99.6, 100.5, 100, 100])  # fmt: skip


def test_a_long_take_profit_touched_first_is_a_win_of_its_multiple_of_the_risk() -> None:
    v = judged(RISING, [0], [1], fraction())
    assert words(v) == ["win"]
    assert (v.realized_rr[0], v.held[0]) == (pytest.approx(2.0), 2)
    # Over the two bars held: up to 102.5 (2.5 % = 2.5 R), down to 99.6 (0.4 R).
    assert (v.mfe[0], v.mae[0]) == (pytest.approx(2.5), pytest.approx(0.4))
    assert v.judged_to[0] == START + 3 * HOUR  # the horizon's bar


def test_a_short_signal_on_the_same_bars_is_a_loss_with_mirrored_excursions() -> None:
    v = judged(RISING, [0], [-1], fraction())
    assert words(v) == ["loss"]
    assert (v.realized_rr[0], v.held[0]) == (pytest.approx(-1.0), 1)  # 101 is the stop
    assert (v.mae[0], v.mfe[0]) == (pytest.approx(1.0), pytest.approx(0.4))


def test_no_touch_is_a_timeout_at_the_horizon_close_and_fees_come_off_in_r() -> None:
    bars = hourly([100, 100.2, 100.4, 100.6, 110])
    v = judged(bars, [0], [1], fraction(horizon=3))
    assert words(v) == ["timeout"]
    assert (v.realized_rr[0], v.held[0]) == (pytest.approx(0.6), 3)
    costly = judged(bars, [0], [1], fraction(horizon=3, fees_bps=10, slippage_bps=5))
    assert costly.realized_rr[0] == pytest.approx(0.6 - 0.3)  # 30 bps round trip, risk 1 %


def test_a_candle_touching_both_barriers_is_ambiguous_and_judged_stop_first() -> None:
    bars = hourly([100, 100, 100, 100], high=[100, 103, 100, 100], low=[100, 98, 100, 100])
    v = judged(bars, [0, 0], [1, -1], fraction())
    assert words(v) == ["ambiguous", "ambiguous"]
    assert v.realized_rr.tolist() == pytest.approx([-1.0, -1.0])
    assert v.mae.tolist() == pytest.approx([2.0, 3.0])  # down 2 % for the long, up 3 %
    assert v.mfe.tolist() == pytest.approx([3.0, 2.0])


def test_without_barriers_the_result_is_the_return_at_the_horizon() -> None:
    bars = hourly([100, 90, 120, 105])
    v = judged(bars, [0], [1], fraction(tp=None, sl=None, horizon=3))
    assert words(v) == ["timeout"]
    assert v.realized_rr[0] == pytest.approx(0.05 / 1)  # one unit (the close) is the risk
    assert (v.mae[0], v.mfe[0]) == (pytest.approx(0.1), pytest.approx(0.2))


def test_what_cannot_be_judged_yet_or_ever_is_said_and_carries_no_figures() -> None:
    bars = hourly([100] * 6)
    v = judged(bars, [0, 3, 2, 7], [0, 1, 1, 1], fraction())
    assert words(v) == ["not traded", "not matured", "timeout", "no bar"]
    assert np.isnan(v.realized_rr[[0, 1, 3]]).all()
    assert np.isnat(v.judged_to[[0, 1, 3]]).all()
    assert v.held.tolist() == [-1, -1, 3, -1]


def test_a_gap_inside_the_horizon_is_skipped_and_judged_once_a_backfill_fills_it() -> None:
    closes = [100, 100.5, 103, 101, 101, 101, 101]
    gapped = hourly(closes[:2] + closes[3:], missing=[2])
    v = judged(gapped, [0, 3], [1, 1], fraction())
    assert words(v) == ["gap", "timeout"]  # the second's horizon starts after the gap
    filled = judged(hourly(closes), [0, 3], [1, 1], fraction())
    assert words(filled) == ["win", "timeout"]


def test_a_corrected_bar_gives_the_judgement_the_corrected_bars_give() -> None:
    v = judged(hourly([100, 100, 100, 100]), [0], [1], fraction())
    corrected = judged(hourly([100, 100, 97, 100], low=[100, 100, 97, 100]), [0], [1], fraction())
    assert (words(v), words(corrected)) == (["timeout"], ["loss"])


def test_the_atr_warm_up_is_judged_without_a_trade() -> None:
    bars = hourly([100.0, 101.0] * 15)  # every true range 1: the ATR is 1 from bar 14 on
    atr = Judgement(horizon=3, atr_period=14, **NO_COST)  # type: ignore[arg-type]
    v = judged(bars, [5, 20], [1, 1], atr)
    assert words(v) == ["no risk unit", "timeout"]
    assert v.judged_to[0] == START + 5 * HOUR  # it read the bars up to its own


def test_every_judgement_is_the_result_training_gave_the_same_bar() -> None:
    """On a random chart with ATR barriers, each bar's long and short judgement is the
    result and class of training's target values there: the two cannot disagree."""
    rng = np.random.default_rng(17)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    high = close * np.exp(np.abs(rng.normal(0, 0.006, 400)))
    low = close * np.exp(-np.abs(rng.normal(0, 0.006, 400)))
    open_ = np.clip(np.r_[close[0], close[:-1]], low, high)
    bars = hourly(close.tolist(), high.tolist(), low.tolist(), open_.tolist())
    definition = target_definition({"name": "tb", "kind": "triple-barrier", "horizon": 12})
    ends = np.full(400, 400, dtype=np.int64)
    values = target_values(definition, Prices(open_, high, low, close, ends))
    hours = list(range(400 - 12))
    for side, results in ((1, values.long), (-1, values.short)):
        v = judged(bars, hours, [side] * len(hours), definition.judgement)
        known = np.isfinite(results[: len(hours)])
        assert (np.array(words(v))[~known] == "no risk unit").all()
        assert v.realized_rr[known] == pytest.approx(results[: len(hours)][known], abs=1e-12)
    won = np.array(words(judged(bars, hours, [1] * len(hours), definition.judgement))) == "win"
    assert won.sum() > 20
    assert (values.y[: len(hours)][won] == 2).all()  # a long win is class long there
