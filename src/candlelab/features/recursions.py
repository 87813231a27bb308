"""Carried state for TA-Lib's recursive indicators: an increment continues the recursion.

A recursive indicator (an EMA, Wilder's smoothing) depends on its whole past, so the value
at a new bar either comes from re-reading a long warm-up (`indicators.history`) or from
the indicator's internal state after the bar before. This module gives that state:
`final_state` after the last bar of a whole series (stored with every build, a float
vector of `state_size` per chart) and `resume`, which continues it over new bars for many
charts at once.

Both follow TA-Lib 0.8.1 as installed (its C source, default compatibility, unstable
periods 0), and the tests hold them to it (a release that computes differently changes
every feature set's version anyway: `indicators.talib_version`):
- `final_state` reads the state off TA-Lib's own output where an output is the state
  (EMA; ATR's and NATR's average; MACD's signal line, and its two averages through
  TA-Lib's EMA, which computes them as MACD does): bit for bit. Where it is not
  (RSI's averages, the directional movement sums, ADOSC's averages) the recursion runs in
  scipy's lfilter from TA-Lib's exact seed; lfilter rounds differently, by about one part
  in 1e16 per bar.
- `resume` repeats TA-Lib's arithmetic operation for operation, its fused multiply-adds
  included, so from an exact state its values are TA-Lib's bit for bit.

Inputs are read as `indicators.compute` reads them: leading NaN inputs are skipped (the
series starts at the first bar where every input is known) and a later NaN ends the
values, so `final_state` carries nothing and `resume` turns that chart's values and state
NaN (the caller then computes the chart again in full).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidFeature
from candlelab.features import indicators
from candlelab.features.indicators import Indicator, Param, Values, ta

Params = dict[str, Param]
Bars = dict[str, Values]  # TA-Lib input slot -> a whole series, or one bar of every chart
Outputs = dict[str, Values]  # TA-Lib output name -> one bar of every chart
Step = Callable[[Params, Values, Bars], tuple[Outputs, Values]]
# ADX still skips a DX whose DIs sum to within TA-Lib's TA_IS_ZERO band of zero.
DI_ZERO = 1e-14
SPLITTER = 2.0**27 + 1  # Veltkamp's constant: splits a double into two halves of 26 bits


@dataclass(frozen=True)
class Recursion:
    """How one TA-Lib function's state is found after a whole series and carried on."""

    size: int  # the state's length
    final: Callable[[Params, Bars], Values]  # from a complete series longer than the lookback
    step: Step  # one bar of every chart: the outputs and the state after it


def carried(ind: Indicator) -> bool:
    """Whether the indicator's state can be carried from one build to the next."""
    return ind.function in RECURSIONS


def state_size(ind: Indicator) -> int:
    """The length of the indicator's state vector."""
    return _recursion(ind).size


def final_state(ind: Indicator, inputs: Mapping[str, Values]) -> Values | None:
    """The state after the last bar of a series that starts at the chart's first bar; None
    before the indicator's first value or when a NaN input follows a known one."""
    recursion = _recursion(ind)
    series = _complete(
        {slot: np.ascontiguousarray(inputs[source], np.float64) for slot, source in ind.inputs}
    )
    if series is None or len(series[ind.inputs[0][0]]) <= _lookback(ind):
        return None
    return recursion.final(dict(ind.params), series)


def resume(ind: Indicator, state: Values, inputs: Mapping[str, Values]) -> tuple[Values, Values]:
    """The indicator over k new bars of many charts (inputs of shape (charts, k)) from each
    chart's state (charts, state_size), and the states after them."""
    step, params = _recursion(ind).step, dict(ind.params)
    series = [np.asarray(inputs[source], np.float64) for _, source in ind.inputs]
    carried_state = np.array(state, dtype=np.float64)
    values = np.empty_like(series[0])
    with np.errstate(divide="ignore", invalid="ignore"):  # TA-Lib tests before it uses these
        for t in range(values.shape[1]):
            bar = {slot: array[:, t] for (slot, _), array in zip(ind.inputs, series, strict=True)}
            before = np.isnan(carried_state).any(axis=1)
            outputs, carried_state = step(params, carried_state, bar)
            lost = before | np.isnan(carried_state).any(axis=1) | _unknown(bar)
            carried_state[lost] = np.nan
            values[:, t] = np.where(lost, np.nan, outputs[ind.output])
    return values, carried_state


def _recursion(ind: Indicator) -> Recursion:
    if not carried(ind):
        raise InvalidFeature(
            f"{ind.function} has no carried state; carried: {', '.join(RECURSIONS)}"
        )
    return RECURSIONS[ind.function]


def _lookback(ind: Indicator) -> int:
    return indicators._lookback(ind.function, ind.params)


def _complete(series: Bars) -> Bars | None:
    """The series from the first bar where every input is known; None if a NaN follows."""
    known = ~np.isnan(np.array(list(series.values()))).any(axis=0)
    first = int(np.argmax(known)) if known.any() else len(known)
    if not known[first:].all():
        return None
    return {slot: array[first:] for slot, array in series.items()}


def _unknown(bar: Bars) -> npt.NDArray[np.bool_]:
    unknown: npt.NDArray[np.bool_] = np.isnan(np.array(list(bar.values()))).any(axis=0)
    return unknown


def _fma(a: Values | float, b: Values | float, c: Values) -> Values:
    """a*b + c rounded once, as TA-Lib's fused steps round it (numpy has no fused
    multiply-add): Dekker's exact product and Knuth's exact sum. Adding their two error
    terms rounds once more, which can only matter a hair from a tie between two doubles."""
    product = np.multiply(a, b)
    a_high, a_low = _halves(a)
    b_high, b_low = _halves(b)
    error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
    total = product + c
    shift = total - product
    residue = (product - (total - shift)) + (c - shift)
    fused: Values = total + (residue + error)
    return fused


def _halves(a: Values | float) -> tuple[Values, Values]:
    """Two doubles of 26 significant bits that add up to a exactly (Veltkamp)."""
    scaled = np.multiply(SPLITTER, a)
    high = scaled - (scaled - a)
    return high, a - high


def _total(x: Values) -> float:
    """The sum from 0.0 in input order, as TA-Lib seeds (numpy's sum is pairwise)."""
    return float(np.cumsum(np.r_[0.0, x])[-1])


def _smoothed(start: float, retain: float, gain: float, x: Values) -> Values:
    """y[t] = retain * y[t-1] + gain * x[t] for every t of x, from y = start before it."""
    from scipy.signal import lfilter  # imported late: it takes most of a second to import

    y: Values = lfilter([gain], [1.0, -retain], x, zi=[retain * start])[0]
    return y


def _last(start: float, retain: float, gain: float, x: Values) -> float:
    return float(_smoothed(start, retain, gain, x)[-1]) if len(x) else start


def _k(period: Param) -> float:
    """An EMA's weight of the new value, as TA-Lib computes it."""
    return 2.0 / (float(period) + 1.0)


def _ema(average: Values, x: Values, k: float) -> Values:
    return _fma(x - average, k, average)


def _ema_final(p: Params, x: Bars) -> Values:
    return np.array([ta.EMA(x["real"], p["timeperiod"])[-1]])


def _ema_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    average = _ema(state[:, 0], bar["real"], _k(p["timeperiod"]))
    return {"real": average}, average[:, np.newaxis]


def _macd_periods(p: Params) -> tuple[int, int, int]:
    """The fast, slow and signal periods: TA-Lib swaps fast and slow if given the other way."""
    fast, slow = sorted((int(p["fastperiod"]), int(p["slowperiod"])))
    return fast, slow, int(p["signalperiod"])


def _macd_final(p: Params, x: Bars) -> Values:
    fast, slow, period = _macd_periods(p)
    real = x["real"]
    # TA-Lib seeds the fast average on the last `fast` bars of the slow one's seed.
    averages = [ta.EMA(real[slow - fast :], fast)[-1], ta.EMA(real, slow)[-1]]
    return np.array([*averages, ta.MACD(real, fast, slow, period)[1][-1]])


def _macd_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    fast_period, slow_period, signal_period = _macd_periods(p)
    fast = _ema(state[:, 0], bar["real"], _k(fast_period))
    slow = _ema(state[:, 1], bar["real"], _k(slow_period))
    line = fast - slow
    line_signal = _ema(state[:, 2], line, _k(signal_period))
    outputs = {"macd": line, "macdsignal": line_signal, "macdhist": line - line_signal}
    return outputs, np.column_stack([fast, slow, line_signal])


def _rsi_final(p: Params, x: Bars) -> Values:
    """The last close and Wilder's averages of gains and losses: each seeded with the sum
    of its first n times 1/n, then (average * (n-1) + change) * 1/n."""
    n, real = int(p["timeperiod"]), x["real"]
    change = np.diff(real)
    gain = np.where(change > 0, change, 0.0)
    averages = [
        _last(_total(part[:n]) * (1.0 / n), (n - 1) / n, 1.0 / n, part[n:])
        for part in (gain, gain - change)
    ]
    return np.array([real[-1], *averages])


def _rsi_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    n, real = p["timeperiod"], bar["real"]
    change = real - state[:, 0]
    gain = np.where(change > 0, change, 0.0)
    up = (state[:, 1] * (n - 1) + gain) * (1.0 / n)
    down = (state[:, 2] * (n - 1) + (gain - change)) * (1.0 / n)
    total = up + down
    value = np.where(total > 0, 100.0 * (up / total), 0.0)  # no movement at all: 0
    return {"real": value}, np.column_stack([real, up, down])


def _true_range(high: Values, low: Values, previous_close: Values) -> Values:
    return np.maximum(high - low, np.maximum(abs(previous_close - high), abs(previous_close - low)))


def _atr_final(p: Params, x: Bars) -> Values:
    average = ta.ATR(x["high"], x["low"], x["close"], p["timeperiod"])[-1]
    return np.array([x["close"][-1], average])


def _atr_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    """TA-Lib's two-coefficient Wilder step, fused; exactly the true range at period 1."""
    retain = (p["timeperiod"] - 1) / p["timeperiod"]
    true_range = _true_range(bar["high"], bar["low"], state[:, 0])
    average = _fma(retain, state[:, 1], (1.0 - retain) * true_range)
    return {"real": average}, np.column_stack([bar["close"], average])


def _natr_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    outputs, state = _atr_step(p, state, bar)
    close = bar["close"]
    value = np.where(close != 0, outputs["real"] / close * 100.0, 0.0)
    # At period 1 TA-Lib's NATR gives the true range itself, not normalised.
    return {"real": outputs["real"] if p["timeperiod"] == 1 else value}, state


def _movements(high: Values, low: Values, previous: Values) -> tuple[Values, Values, Values]:
    """+DM, -DM and the true range of bars given the bar before each (high, low, close)."""
    up, down = high - previous[0], previous[1] - low
    plus = np.where((up > 0) & (up > down), up, 0.0)
    minus = np.where((down > 0) & (down > up), down, 0.0)
    return plus, minus, _true_range(high, low, previous[2])


def _directional(n: int, x: Bars) -> list[Values]:
    """Wilder's sums of +DM, -DM and true range after each bar from bar n on: the sum of
    bars 1..n-1, then sum - sum/n + the bar's."""
    high, low, close = x["high"], x["low"], x["close"]
    bars = _movements(high[1:], low[1:], np.array([high[:-1], low[:-1], close[:-1]]))
    return [_smoothed(_total(part[: n - 1]), 1 - 1 / n, 1.0, part[n - 1 :]) for part in bars]


def _directional_final(p: Params, x: Bars) -> Values:
    return _directional_state(x, _directional(int(p["timeperiod"]), x))


def _directional_state(x: Bars, sums: list[Values]) -> Values:
    return np.array([x["high"][-1], x["low"][-1], x["close"][-1], *(s[-1] for s in sums)])


def _directional_step(n: Param, state: Values, bar: Bars) -> Values:
    """The state after one bar: its high, low and close, then the three sums."""
    moves = _movements(bar["high"], bar["low"], state[:, :3].T)
    sums = [total - total / n + move for total, move in zip(state[:, 3:6].T, moves, strict=True)]
    return np.column_stack([bar["high"], bar["low"], bar["close"], *sums])


def _di(state: Values, column: int, n: Param) -> Values:
    """+DI (column 3) or -DI (4): 0 without range; a fraction, not a percentage, at period 1."""
    scale = 100.0 if n > 1 else 1.0
    return np.where(state[:, 5] > 0, scale * (state[:, column] / state[:, 5]), 0.0)


def _plus_di_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    state = _directional_step(p["timeperiod"], state, bar)
    return {"real": _di(state, 3, p["timeperiod"])}, state


def _minus_di_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    state = _directional_step(p["timeperiod"], state, bar)
    return {"real": _di(state, 4, p["timeperiod"])}, state


def _dx(plus: Values, minus: Values, true_range: Values) -> tuple[Values, npt.NDArray[np.bool_]]:
    """DX from the three sums, and where TA-Lib counts it: some range, DIs not both zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        minus_di, plus_di = 100.0 * (minus / true_range), 100.0 * (plus / true_range)
        both = minus_di + plus_di
        dx = 100.0 * (abs(minus_di - plus_di) / both)
    return dx, (true_range > 0) & ((both <= -DI_ZERO) | (both >= DI_ZERO))


def _adx_final(p: Params, x: Bars) -> Values:
    """ADX is the mean of the first n DX (bars n..2n-1), then (adx * (n-1) + dx) / n; a
    bar without a DX leaves it as it is, as if the bar were not there."""
    n = int(p["timeperiod"])
    sums = _directional(n, x)
    dx, counted = _dx(*sums)
    first = _total(np.where(counted[:n], dx[:n], 0.0)) / n
    adx = _last(first, (n - 1) / n, 1.0 / n, dx[n:][counted[n:]])
    return np.append(_directional_state(x, sums), adx)


def _adx_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    n = p["timeperiod"]
    moved = _directional_step(n, state, bar)
    dx, counted = _dx(moved[:, 3], moved[:, 4], moved[:, 5])
    adx = np.where(counted, (state[:, 6] * (n - 1) + dx) / n, state[:, 6])
    return {"real": adx}, np.column_stack([moved, adx])


def _money_flow(x: Bars) -> Values:
    """Each bar's accumulation/distribution: its close location times its volume."""
    spread = x["high"] - x["low"]
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = (x["close"] - x["low"] - (x["high"] - x["close"])) / spread * x["volume"]
    flows: Values = np.where(spread > 0, flow, 0.0)
    return flows


def _adosc_final(p: Params, x: Bars) -> Values:
    """The A/D line and its two EMAs, both seeded with its first value."""
    line = np.cumsum(_money_flow(x))
    weights = (_k(p["fastperiod"]), _k(p["slowperiod"]))
    return np.array([line[-1], *(_last(line[0], 1.0 - k, k, line[1:]) for k in weights)])


def _adosc_step(p: Params, state: Values, bar: Bars) -> tuple[Outputs, Values]:
    line = state[:, 0] + _money_flow(bar)
    fast_k, slow_k = _k(p["fastperiod"]), _k(p["slowperiod"])
    fast = _fma(1.0 - fast_k, state[:, 1], fast_k * line)
    slow = _fma(1.0 - slow_k, state[:, 2], slow_k * line)
    return {"real": fast - slow}, np.column_stack([line, fast, slow])


RECURSIONS: dict[str, Recursion] = {
    "EMA": Recursion(1, _ema_final, _ema_step),  # the average
    "MACD": Recursion(3, _macd_final, _macd_step),  # the fast, slow and signal averages
    "RSI": Recursion(3, _rsi_final, _rsi_step),  # the close, average gain and loss
    "ATR": Recursion(2, _atr_final, _atr_step),  # the close, the average true range
    "NATR": Recursion(2, _atr_final, _natr_step),  # the same
    # The high, low and close, the sums of +DM, -DM and true range (and the ADX).
    "PLUS_DI": Recursion(6, _directional_final, _plus_di_step),
    "MINUS_DI": Recursion(6, _directional_final, _minus_di_step),
    "ADX": Recursion(7, _adx_final, _adx_step),
    "ADOSC": Recursion(3, _adosc_final, _adosc_step),  # the A/D line, its fast and slow EMA
}
