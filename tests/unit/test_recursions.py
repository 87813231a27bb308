"""Carried state of TA-Lib's recursive indicators: a build's state, resumed, is TA-Lib's."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from candlelab.errors import InvalidFeature
from candlelab.features import indicators, recursions
from candlelab.features.indicators import Indicator, compute, indicator
from candlelab.features.recursions import carried, final_state, resume, state_size
from tests.fixtures.feature_checks import assert_close  # incremental equality: 1e-9

Values = npt.NDArray[np.float64]
Walk = dict[str, Values]
LONGEST = 3_000
VOLATILITIES = [0.001, 0.005, 0.02, 0.05]
PRICES = [0.01, 1.0, 100.0, 50_000.0]

DEFINITIONS = [
    indicator("EMA", {}),
    indicator("EMA", {"timeperiod": 1}),
    indicator("EMA", {"timeperiod": 2}),
    indicator("RSI", {}),
    *(indicator("RSI", {"timeperiod": n}) for n in (2, 6, 24)),
    indicator("ATR", {}),
    indicator("ATR", {"timeperiod": 1}),
    indicator("NATR", {}),
    indicator("NATR", {"timeperiod": 1}),
    indicator("PLUS_DI", {}),
    indicator("PLUS_DI", {"timeperiod": 1}),
    indicator("MINUS_DI", {}),
    indicator("MINUS_DI", {"timeperiod": 30}),
    indicator("ADX", {}),
    *(indicator("ADX", {"timeperiod": n}) for n in (2, 30)),
    *(indicator("MACD", {}, output=output) for output in ("macd", "macdsignal", "macdhist")),
    *(
        indicator("MACD", {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}, output=output)
        for output in ("macd", "macdsignal", "macdhist")
    ),
    # TA-Lib swaps a fast period slower than the slow one; a signal of 1 is the line itself.
    indicator("MACD", {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1}, output="macdhist"),
    indicator("ADOSC", {}),
    indicator("ADOSC", {"fastperiod": 2, "slowperiod": 20}),
    indicator("ADOSC", {"fastperiod": 20, "slowperiod": 2}),  # "fast" is the slower one
]
DEFAULTS = [
    indicator(name, {}, output="macdhist" if name == "MACD" else None)
    for name in recursions.RECURSIONS
]
# Where TA-Lib's output is the state, a resumed value is TA-Lib's bit for bit.
EXACT = ["EMA", "MACD", "ATR", "NATR"]
BIT_FOR_BIT = [
    indicator("EMA", {}),
    indicator("EMA", {"timeperiod": 7}),
    indicator("MACD", {}, output="macdhist"),
    indicator("MACD", {"fastperiod": 5, "slowperiod": 35, "signalperiod": 5}, output="macd"),
    # 1 - 1/n and (n-1)/n differ for 7 and 19: TA-Lib's Wilder step uses the second.
    indicator("ATR", {"timeperiod": 7}),
    indicator("NATR", {"timeperiod": 19}),
]


def walk(bars: int, seed: int, volatility: float, price: float) -> Walk:
    """A geometric random walk with consistent OHLCV, stretches where the close repeats
    and a stretch where the whole bar stands still (no range, no volume)."""
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0.0, volatility, bars)))
    for start in rng.integers(0, bars, 3):
        close[start : start + 30] = close[start]
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, volatility / 2, (2, bars)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.uniform(1e3, 1e4, bars)
    start = int(rng.integers(0, bars))
    level = close[start]
    for series in (open_, high, low, close):
        series[start : start + 40] = level
    volume[start : start + 40] = 0.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def cut(values: Walk, first: int, last: int) -> Walk:
    return {key: array[first:last] for key, array in values.items()}


def bars(batch: Walk, first: int, last: int) -> Walk:
    """Bars first..last-1 of every chart of a batch."""
    return {key: array[:, first:last] for key, array in batch.items()}


def stacked(walks: list[Walk]) -> Walk:
    """Charts of equal length as one batch, a chart per row."""
    return {key: np.stack([one[key] for one in walks]) for key in walks[0]}


def lookback(ind: Indicator) -> int:
    return indicators._lookback(ind.function, ind.params)


def resumed(ind: Indicator, walks: list[Walk], splits: list[int]) -> tuple[Values, Values]:
    """Each chart's state after its first `split` bars, resumed over the rest in one call
    (the rests are of equal length), and what TA-Lib gives there on the whole chart."""
    states = np.array([final_state(ind, cut(w, 0, p)) for w, p in zip(walks, splits, strict=True)])
    rests = stacked([cut(w, p, len(w["close"])) for w, p in zip(walks, splits, strict=True)])
    values, _ = resume(ind, states, rests)
    whole = [compute(ind, w)[p:] for w, p in zip(walks, splits, strict=True)]
    return values, np.array(whole)


def charts(ind: Indicator, seed: int, new: int, count: int = 16) -> tuple[list[Walk], list[int]]:
    """Charts of every volatility and price, each split at a random bar from just past the
    lookback (the first chart) to LONGEST - new (the second), with `new` bars after it."""
    rng = np.random.default_rng(seed)
    first = lookback(ind) + 1
    last = max(first, LONGEST - new)
    splits = [first, last, *map(int, rng.integers(first, last + 1, max(count - 2, 0)))][:count]
    walks = [
        walk(p + new, seed * 100 + i, VOLATILITIES[i % 4], PRICES[i // 4 % 4])
        for i, p in enumerate(splits)
    ]
    return walks, splits


def named(count: int) -> tuple[str, ...]:
    return tuple(f"chart {i}" for i in range(count))


def label(ind: Indicator) -> str:
    params = ",".join(f"{key}={value}" for key, value in ind.params)
    return f"{ind.function}({params}).{ind.output}"


@pytest.mark.parametrize("ind", DEFINITIONS, ids=label)
def test_a_resumed_state_equals_talib_on_the_whole_series(ind: Indicator) -> None:
    walks, splits = charts(ind, 1, new=40)
    values, expected = resumed(ind, walks, splits)
    assert not np.isnan(expected).all(axis=1).any()
    assert_close(values.T, expected.T, named(len(walks)))


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_a_long_resume_from_just_past_the_lookback(ind: Indicator) -> None:
    walks, splits = charts(ind, 2, new=LONGEST - lookback(ind) - 1, count=1)
    values, expected = resumed(ind, walks, splits)
    assert_close(values.T, expected.T, named(1))


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_a_chain_of_one_bar_resumes_stays_equal(ind: Indicator) -> None:
    walks, splits = charts(ind, 3, new=500)
    state = np.array([final_state(ind, cut(w, 0, p)) for w, p in zip(walks, splits, strict=True)])
    rests = stacked([cut(w, p, p + 500) for w, p in zip(walks, splits, strict=True)])
    chained = np.empty_like(rests["close"])
    for t in range(500):
        chained[:, t : t + 1], state = resume(ind, state, bars(rests, t, t + 1))
    whole = np.array([compute(ind, w)[p:] for w, p in zip(walks, splits, strict=True)])
    assert_close(chained.T, whole.T, named(len(walks)))
    if ind.function in EXACT:
        np.testing.assert_array_equal(chained, whole)


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_several_charts_at_once_give_each_its_own_answer(ind: Indicator) -> None:
    walks, splits = charts(ind, 4, new=25)
    together, _ = resumed(ind, walks, splits)
    for i in range(len(walks)):
        alone, _ = resumed(ind, walks[i : i + 1], splits[i : i + 1])
        np.testing.assert_array_equal(together[i], alone[0])


@pytest.mark.parametrize("ind", BIT_FOR_BIT, ids=label)
def test_where_talib_gives_the_state_a_resume_is_bit_for_bit(ind: Indicator) -> None:
    walks, splits = charts(ind, 5, new=300)
    values, expected = resumed(ind, walks, splits)
    np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_leading_nan_inputs_start_the_series_later(ind: Indicator) -> None:
    prices = walk(400, 6, 0.01, 100.0)
    prices["close"][:17] = np.nan  # another feature's warm-up, say
    prices["high"][:5] = np.nan
    state = final_state(ind, cut(prices, 0, 300))
    assert state is not None
    np.testing.assert_array_equal(state, final_state(ind, cut(prices, 17, 300)))
    values, _ = resume(ind, state[np.newaxis], stacked([cut(prices, 300, 400)]))
    assert_close(values.T, compute(ind, prices)[np.newaxis, 300:].T, named(1))


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_a_later_nan_carries_nothing(ind: Indicator) -> None:
    prices = walk(400, 7, 0.01, 100.0)
    prices["close"][250] = np.nan
    assert final_state(ind, cut(prices, 0, 300)) is None
    assert final_state(ind, cut(prices, 0, 250)) is not None
    assert np.isnan(compute(ind, prices)[250:]).all()  # TA-Lib's values end there too


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_a_nan_while_resuming_ends_that_chart_only(ind: Indicator) -> None:
    walks = [walk(410, seed, 0.01, 100.0) for seed in (8, 9)]
    states = np.array([final_state(ind, cut(w, 0, 300)) for w in walks])
    rests = stacked([cut(w, 300, 400) for w in walks])
    rests["close"][0, 10] = np.nan
    values, after = resume(ind, states, rests)
    assert np.isnan(values[0, 10:]).all()
    assert not np.isnan(values[0, :10]).any()
    assert np.isnan(after[0]).all()
    later, still = resume(ind, after, bars(stacked(walks), 400, 410))
    assert np.isnan(later[0]).all()
    assert np.isnan(still[0]).all()
    expected = compute(ind, walks[1])[np.newaxis, 300:]
    assert_close(np.c_[values[1:], later[1:]].T, expected.T, named(1))


@pytest.mark.parametrize("ind", DEFINITIONS, ids=label)
def test_no_state_before_the_first_value(ind: Indicator) -> None:
    prices = walk(200, 10, 0.01, 100.0)
    assert final_state(ind, cut(prices, 0, lookback(ind))) is None
    state = final_state(ind, cut(prices, 0, lookback(ind) + 1))
    assert state is not None
    assert state.shape == (state_size(ind),)
    assert final_state(ind, cut(prices, 0, 0)) is None
    assert final_state(ind, {key: np.full(50, np.nan) for key in prices}) is None


@pytest.mark.parametrize("ind", DEFINITIONS, ids=label)
def test_no_movement_divides_by_zero_as_talib_does(ind: Indicator) -> None:
    """A chart that stands still for its first 80 bars, then moves: RSI 0, DI 0 and no DX
    while nothing moves, ADOSC without a range."""
    prices = walk(150, 11, 0.01, 100.0)
    for series in (prices["open"], prices["high"], prices["low"], prices["close"]):
        series[:80] = 100.0
    for split in (lookback(ind) + 1, 70, 90):
        values, expected = resumed(ind, [prices], [max(split, lookback(ind) + 1)])
        assert_close(values.T, expected.T, named(1))


DIRECTIONAL = [ind for ind in DEFINITIONS if ind.function in ("PLUS_DI", "MINUS_DI", "ADX")]


@pytest.mark.parametrize("ind", DIRECTIONAL, ids=label)
def test_a_range_without_direction(ind: Indicator) -> None:
    """Bars of one fixed range: no directional movement, so the DIs decay and their sum
    falls under TA-Lib's zero band, where ADX skips the DX and holds."""
    prices = walk(1400, 13, 0.01, 100.0)
    level = prices["close"][99]
    prices["open"][100:1300] = prices["close"][100:1300] = level
    prices["high"][100:1300], prices["low"][100:1300] = level * 1.01, level * 0.99
    splits = [90, 560, 700, 1250, 1310]
    values, expected = resumed(ind, [cut(prices, 0, p + 60) for p in splits], splits)
    assert_close(values.T, expected.T, named(len(splits)))


@pytest.mark.parametrize("ind", [indicator("NATR", {}), indicator("NATR", {"timeperiod": 7})])
def test_a_zero_close_gives_natr_zero(ind: Indicator) -> None:
    prices = walk(300, 14, 0.01, 100.0)
    prices["close"][200:203] = prices["low"][200:203] = 0.0
    values, expected = resumed(ind, [prices], [150])
    assert (expected[0, 50:53] == 0).all()
    assert_close(values.T, expected.T, named(1))


@pytest.mark.parametrize("ind", DEFAULTS, ids=label)
def test_a_perturbed_state_is_caught(ind: Indicator) -> None:
    """The comparison above is sharp: a state off by one part in 1e7 fails it."""
    walks, splits = charts(ind, 12, new=10)
    states = np.array([final_state(ind, cut(w, 0, p)) for w, p in zip(walks, splits, strict=True)])
    rests = stacked([cut(w, p, p + 10) for w, p in zip(walks, splits, strict=True)])
    values, _ = resume(ind, states * (1 + 1e-7), rests)
    whole = np.array([compute(ind, w)[p:] for w, p in zip(walks, splits, strict=True)])
    with pytest.raises(AssertionError):
        assert_close(values.T, whole.T, named(len(walks)))


def test_inputs_are_read_by_the_names_a_definition_gives() -> None:
    ind = indicator("RSI", {}, "spread")
    spread = walk(300, 15, 0.01, 100.0)["close"] - 100.0
    state = final_state(ind, {"spread": spread[:200]})
    assert state is not None
    values, _ = resume(ind, state[np.newaxis], {"spread": spread[np.newaxis, 200:]})
    assert_close(values.T, compute(ind, {"spread": spread})[np.newaxis, 200:].T, named(1))


def test_which_indicators_are_carried() -> None:
    assert all(carried(ind) for ind in DEFINITIONS)
    sizes = {ind.function: state_size(ind) for ind in DEFAULTS}
    assert sizes == {
        "EMA": 1,
        "MACD": 3,
        "RSI": 3,
        "ATR": 2,
        "NATR": 2,
        "PLUS_DI": 6,
        "MINUS_DI": 6,
        "ADX": 7,
        "ADOSC": 3,
    }
    others = [
        indicator("DEMA", {}),
        indicator("KAMA", {}),
        indicator("SMA", {}),
        indicator("BBANDS", {}, output="upperband"),
        indicator("MA", {"matype": 1}),  # an EMA, but not under that name
        indicator("ADXR", {}),
    ]
    for ind in others:
        assert not carried(ind)
        with pytest.raises(InvalidFeature, match=f"^{ind.function} has no carried state"):
            state_size(ind)
