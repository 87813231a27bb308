"""TA-Lib indicators: every function point in time and equal from a window of its history."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pytest

from candlelab.errors import InvalidFeature
from candlelab.features import indicators
from candlelab.features.indicators import Indicator, compute, history, indicator

Values = npt.NDArray[np.float64]
BARS = 3_000


def _walk(bars: int, seed: int) -> dict[str, Values]:
    """A geometric random walk with consistent OHLCV, and variable periods for MAVP."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, bars)))
    volume = rng.uniform(1e3, 1e4, bars)
    periods = rng.integers(2, 30, bars).astype(np.float64)
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "periods": periods,
    }


SERIES = _walk(BARS, 7)
OFFERED = [name for name in indicators.catalogue() if name not in indicators.UNCARRIED]


def _defined(name: str) -> list[Indicator]:
    """Each output of the function at its defaults (MAVP's periods read the 'periods' column)."""
    inputs = {"periods": "periods"} if name == "MAVP" else None
    return [indicator(name, {}, inputs, output) for output in indicators._outputs(name)]


def _close(a: Values, b: Values, relative: float) -> bool:
    both_nan = np.isnan(a) & np.isnan(b)
    near = np.abs(a - b) <= relative * np.maximum(np.abs(a), np.abs(b))
    return bool(np.all(both_nan | near))


def _window(values: dict[str, Values], first: int, last: int) -> dict[str, Values]:
    return {key: array[first : last + 1] for key, array in values.items()}


@pytest.mark.parametrize("name", OFFERED)
def test_every_function_is_point_in_time(name: str) -> None:
    rng = np.random.default_rng(sum(map(ord, name)))
    for ind in _defined(name):
        full = compute(ind, SERIES)
        for t in rng.integers(0, BARS, 3):
            part = compute(ind, _window(SERIES, 0, int(t)))
            assert _close(part, full[: t + 1], 1e-12), (ind, t)


@pytest.mark.parametrize("name", OFFERED)
def test_every_function_is_equal_from_its_history(name: str) -> None:
    rng = np.random.default_rng(sum(map(ord, name)))
    for ind in _defined(name):
        first_t = min(history(ind) or 0, BARS - 1)
        _assert_equal_from_history(ind, [BARS - 1, *rng.integers(first_t, BARS, 2)])


def _assert_equal_from_history(ind: Indicator, times: list[int]) -> None:
    full, bars = compute(ind, SERIES), history(ind)
    for t in map(int, times):
        start = max(0, t - (bars if bars is not None else 50))
        window = compute(ind, _window(SERIES, start, t))
        # A cumulative value is carried: the stored value at the window's start plus what
        # the window adds since.
        offset = full[start] - window[0] if bars is None else 0.0
        assert not np.isnan(full[t]) or ind.function in ("ACOS", "ASIN"), (ind, t)
        carried = window[-1:] + offset
        assert _close(carried, full[t : t + 1], 1e-9), (ind, t, carried, full[t])


def _with_every_ma_type() -> list[tuple[str, int]]:
    """Each function with a moving-average type parameter, with each type."""
    chosen = [
        name
        for name in OFFERED
        if indicators.MA_TYPE in dict(indicators._param_kinds(name).values())
    ]
    return [(name, matype) for name in chosen for matype in range(14)]


@pytest.mark.parametrize(("name", "matype"), _with_every_ma_type())
def test_every_moving_average_type_is_equal_from_its_history(name: str, matype: int) -> None:
    kinds = indicators._param_kinds(name)
    params = {key: matype for key, (kind, _) in kinds.items() if kind == indicators.MA_TYPE}
    inputs = {"periods": "periods"} if name == "MAVP" else None
    for output in indicators._outputs(name):
        ind = indicator(name, params, inputs, output)
        _assert_equal_from_history(ind, [BARS - 1, BARS // 2])


@pytest.mark.parametrize("period", [2, 3, 9, 50])
def test_other_periods_are_equal_from_their_history(period: int) -> None:
    for name in OFFERED:
        kinds = indicators._param_kinds(name)
        if "timeperiod" not in kinds or period < indicators._integer_range(name, "timeperiod")[0]:
            continue
        for output in indicators._outputs(name):
            inputs = {"periods": "periods"} if name == "MAVP" else None
            ind = indicator(name, {"timeperiod": period}, inputs, output)
            _assert_equal_from_history(ind, [BARS - 1])


def test_cumulative_functions_have_no_history() -> None:
    obv = indicator("OBV", {})
    assert indicators.cumulative(obv)
    assert history(obv) is None
    assert not indicators.cumulative(indicator("RSI", {}))
    assert history(indicator("SMA", {"timeperiod": 5})) == 4


def test_recursive_history_follows_the_decay_rule() -> None:
    # EMA(30) retains 29/31 per bar: 34.54 / 0.0667 bars until 1e-15, after its lookback 29.
    assert history(indicator("EMA", {"timeperiod": 30})) == 29 + 518
    # Wilder's RSI(14) retains 13/14: ceil(34.54 / 0.0741) = 467, after its lookback 14.
    assert history(indicator("RSI", {})) == 14 + 467
    # ADX smooths twice in series.
    assert history(indicator("ADX", {})) == 27 + 2 * 467
    sma, ema = indicator("MA", {"matype": 0}), indicator("MA", {"matype": 1})
    assert history(sma) == 29
    assert history(ema) == 29 + 518


def test_a_definition_is_canonical() -> None:
    given = indicator("rsi", {}, "close")
    assert given == indicator("RSI", {"timeperiod": 14}, {"real": "close"})
    assert hash(given) == hash(indicator("RSI", {"timeperiod": 14}))
    bands = indicator("BBANDS", {"nbdevup": 2}, output="upperband")
    assert dict(bands.params)["nbdevup"] == 2.0
    assert isinstance(dict(bands.params)["nbdevup"], float)
    assert [key for key, _ in bands.params] == sorted(key for key, _ in bands.params)


def test_inputs_and_names() -> None:
    atr = indicator("ATR", {})
    assert dict(atr.inputs) == {"high": "high", "low": "low", "close": "close"}
    assert indicators.names(atr) == {"high", "low", "close"}
    on_feature = indicator("RSI", {}, "my_spread")
    assert indicators.names(on_feature) == {"my_spread"}
    beta = indicator("BETA", {}, {"real1": "close"})
    assert dict(beta.inputs) == {"real0": "high", "real1": "close"}


def test_candle_patterns_are_float_with_a_nan_warm_up() -> None:
    doji = indicator("CDLDOJI", {})
    values = compute(doji, SERIES)
    lookback = indicators._lookback("CDLDOJI", doji.params)
    assert values.dtype == np.float64
    assert np.isnan(values[:lookback]).all()
    assert set(np.unique(values[lookback:])) <= {-100.0, 0.0, 100.0}


def test_index_outputs_are_bars_before_t() -> None:
    since_max = compute(
        indicator("MAXINDEX", {"timeperiod": 5}), {"close": np.array([1, 5, 2, 3, 4, 1, 0.0])}
    )
    assert np.isnan(since_max[:4]).all()
    assert since_max[4:].tolist() == [3.0, 4.0, 2.0]


def test_leading_nan_inputs_shift_the_warm_up() -> None:
    close = SERIES["close"][:100].copy()
    close[:10] = np.nan
    values = compute(indicator("SMA", {"timeperiod": 5}), {"close": close})
    assert np.isnan(values[:14]).all()
    assert not np.isnan(values[14:]).any()
    pattern = compute(
        indicator("CDLDOJI", {}), {key: np.r_[np.nan, a[:99]] for key, a in SERIES.items()}
    )
    assert np.isnan(pattern[:11]).all()
    assert not np.isnan(pattern[11:]).any()


def test_a_gap_in_the_inputs_ends_the_values() -> None:
    prices = {key: array[:60].copy() for key, array in SERIES.items()}
    prices["close"][40] = np.nan
    for name in ("SMA", "CDLDOJI"):
        values = compute(indicator(name, {}), prices)
        assert np.isnan(values[40:]).all()
        assert not np.isnan(values[30:40]).any()
    assert np.isnan(compute(indicator("SMA", {}), {"close": np.full(5, np.nan)})).all()


def test_two_dimensional_inputs_compute_each_row() -> None:
    rows = np.stack([SERIES["close"][:200], SERIES["close"][200:400]])
    rsi = indicator("RSI", {})
    both = compute(rsi, {"close": rows})
    assert both.shape == (2, 200)
    assert _close(both[1], compute(rsi, {"close": rows[1]}), 0.0)


@pytest.mark.parametrize("name", OFFERED)
def test_every_function_computes_a_batch_of_rows_as_it_computes_each_series(name: str) -> None:
    batch = {key: np.stack([array[:300], array[300:600]]) for key, array in SERIES.items()}
    gapped = {key: rows.copy() for key, rows in batch.items()}
    gapped["close"][1, 250] = np.nan  # a row with a gap: that batch is computed row by row
    for ind in _defined(name):
        for rows in (batch, gapped):
            both = compute(ind, rows)
            for row in range(2):
                alone = compute(ind, {key: array[row] for key, array in rows.items()})
                np.testing.assert_array_equal(both[row], alone, err_msg=f"{ind.output} {row}")


REFUSALS = [
    (("RSX", {}), "unknown TA-Lib function 'RSX'; closest: RSI"),
    (("NVI", {}), "TA-Lib function NVI is not offered: its value is a running product"),
    (("RSI", {"period": 14}), "RSI has no parameter 'period'; closest: timeperiod"),
    (("RSI", {"timeperiod": 14.0}), "RSI parameter timeperiod must be an integer, not 14.0"),
    (("RSI", {"timeperiod": True}), "RSI parameter timeperiod must be a number, not 'True'"),
    (("RSI", {"timeperiod": "14"}), "RSI parameter timeperiod must be a number, not \"'14'\""),
    (
        ("RSI", {"timeperiod": 1}),
        "RSI parameter timeperiod = 1 is outside TA-Lib's range 2 to 100000",
    ),
    (
        ("SMA", {"timeperiod": 0}),
        "SMA parameter timeperiod = 0 is outside TA-Lib's range 1 to 100000",
    ),
    (
        ("RSI", {"timeperiod": -(2**31)}),  # TA-Lib's own "default" marker
        "RSI parameter timeperiod = -2147483648 is outside TA-Lib's range 2 to 100000",
    ),
    (
        ("RSI", {"timeperiod": 10**12}),
        "RSI parameter timeperiod = 1000000000000 is outside TA-Lib's range 2 to 100000",
    ),
    (("SAR", {"acceleration": 0}), "SAR with acceleration=0.0, maximum=0.2: its value never"),
    (("MA", {"matype": 99}), "MA parameter matype: no moving average type 99 (0 to 13)"),
    (("BBANDS", {"nbdevup": float("nan")}), "BBANDS parameter nbdevup must be finite, not nan"),
    (("T3", {"vfactor": 5.0}), "TA-Lib refuses T3 with timeperiod=5, vfactor=5.0"),
]


@pytest.mark.parametrize(("definition", "message"), REFUSALS)
def test_refusals(definition: tuple[str, dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidFeature, match="^" + re.escape(message)):
        indicator(*definition, output="upperband" if definition[0] == "BBANDS" else None)


def test_output_and_input_refusals() -> None:
    with pytest.raises(
        InvalidFeature,
        match=_exactly("MACD has several outputs: choose one of macd, macdsignal, macdhist"),
    ):
        indicator("MACD", {})
    with pytest.raises(
        InvalidFeature,
        match=_exactly("MACD has no output 'signal'; its outputs: macd, macdsignal, macdhist"),
    ):
        indicator("MACD", {}, output="signal")
    with pytest.raises(
        InvalidFeature, match=_exactly("ATR reads high, low, close: give inputs as a mapping")
    ):
        indicator("ATR", {}, "close")
    with pytest.raises(
        InvalidFeature, match=_exactly("ATR has no input 'open'; it reads high, low, close")
    ):
        indicator("ATR", {}, {"open": "open"})
    with pytest.raises(InvalidFeature, match=r"^RSI input real must name a column or feature, not"):
        indicator("RSI", {}, {"real": ""})
    with pytest.raises(
        InvalidFeature,
        match=_exactly("MAVP input periods has no default: name the feature it reads"),
    ):
        indicator("MAVP", {})


def _exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"
