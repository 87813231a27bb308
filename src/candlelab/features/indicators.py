"""TA-Lib functions as feature definitions: validated, canonical, and honest about history.

An `Indicator` names a TA-Lib function, all of its parameters (defaults filled in), the
column or feature each of its inputs reads, and the one output it yields. `indicator`
checks a definition against the whole TA-Lib catalogue; `compute` runs it; `history`
says how many bars before t influence the value at t, so a value can be computed again
from a window of recent bars alone (incremental equality).

Inputs are named as TA-Lib's C functions name them: a single series is "real" (two are
"real0" and "real1"; MAVP's variable periods are "periods"), price series by their
field ("open", "high", "low", "close", "volume").
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import talib
from talib import _ta_lib
from talib import abstract as _abstract

from candlelab.errors import InvalidFeature, quoted

# TA-Lib ships no type hints: its modules are reached as Any, and checked by the tests.
ta: Any = talib
ta_info: Any = _ta_lib
ta_abstract: Any = _abstract

Values = npt.NDArray[np.float64]
Param = int | float
REAL, INTEGER, MA_TYPE = 0, 2, 3  # TA-Lib's kinds of optional input
# Residual of a recursion's starting state after its tail, relative to its state: 1e-12
# relative to the value, with three orders of magnitude kept for a value far smaller than
# the state it is computed from (a MACD of 0.01 from EMAs of 100).
RESIDUAL = 1e-15
# Adaptive and path-dependent functions have no closed-form decay: bounds measured on 90
# random walks (30 seeds, 0.1% to 5% volatility), with a margin.
# HT_* and MAMA: the Hilbert transform's smoothed period feeds back into its own weights;
# a window of 500 bars always agreed to 1e-9. They never agree to better than about 1e-10
# relative, whatever the window: TA-Lib's running sums leave a roundoff floor.
HILBERT_TAIL = 1000
# SAR, SAREXT, SUPERTREND: a long/short state that two runs share from a common reversal
# on (within 200 bars in every walk); SAR's stop then converges by 1 - its acceleration.
PATH_TAIL = 1000
KAMA_SLOWEST = (2 / 31) ** 2  # TA-Lib's KAMA smooths between 2/3 and 2/31, squared
# Additive running totals: the value at t is a stored value plus what came since.
CUMULATIVE = frozenset({"AD", "OBV", "CUMSUM", "WAD", "PVT"})
# Whole-history values that no additive offset carries: refused.
UNCARRIED = {
    "NVI": "a running product from the series' first bar",
    "PVI": "a running product from the series' first bar",
    "VWAP": "a ratio of running sums from the series' first bar",
}
# Outputs that are positions in the input array: given as bars before t instead, so a
# value does not depend on where the array starts.
INDEX_OUTPUTS = frozenset({"MAXINDEX", "MININDEX", "MINMAXINDEX"})
SINGLE_INPUTS = {"price": "real", "price0": "real0", "price1": "real1", "periods": "periods"}


@dataclass(frozen=True)
class Indicator:
    """One output of one TA-Lib function, with every parameter and input spelled out."""

    function: str
    params: tuple[tuple[str, Param], ...]  # sorted by name, defaults filled in
    inputs: tuple[tuple[str, str], ...]  # TA-Lib input name -> column or feature, TA-Lib order
    output: str


def catalogue() -> list[str]:
    """Every TA-Lib function name, sorted (some are refused by `indicator`: UNCARRIED)."""
    return sorted(ta.get_functions())


def indicator(
    function: str,
    params: Mapping[str, object],
    inputs: Mapping[str, str] | str | None = None,
    output: str | None = None,
) -> Indicator:
    """A checked, canonical `Indicator`; InvalidFeature says what is wrong."""
    name = _known_function(function)
    checked = _checked_params(name, params)
    ind = Indicator(name, checked, _checked_inputs(name, inputs), _checked_output(name, output))
    try:
        history(ind)
    except InvalidFeature as error:  # a smoothing that keeps all of its start (SAR at 0)
        shown = ", ".join(f"{key}={value!r}" for key, value in checked)
        raise InvalidFeature(f"{name} with {shown}: {error}") from None
    return ind


def names(ind: Indicator) -> frozenset[str]:
    """The columns and features the indicator reads."""
    return frozenset(source for _, source in ind.inputs)


def cumulative(ind: Indicator) -> bool:
    """Whether the value is a running total: a stored value plus what came since."""
    return ind.function in CUMULATIVE


def recursive(ind: Indicator) -> bool:
    """Whether the value depends on where the series starts (EMA, Wilder's smoothing and
    the functions built on them): a recursion, not a window."""
    return bool(_decays(ind, dict(ind.params)))


def history(ind: Indicator) -> int | None:
    """Bars before t that influence the value at t, to 1e-12 relative; None if cumulative.

    Non-recursive functions: TA-Lib's lookback. Recursive ones (EMA, Wilder smoothing and
    the functions built on them) also depend on where the computation starts, through a
    starting state that each smoothing stage retains by a factor r per bar (r = 1 - 2/(n+1)
    for an EMA of n, 1 - 1/n for Wilder's): the tail is ceil(ln(RESIDUAL) / ln(r)) bars
    per stage, stages in series adding up. Adaptive and path-dependent functions add the
    measured bounds HILBERT_TAIL, PATH_TAIL (the Hilbert transform's agree to 1e-9 only: a
    roundoff floor); KAMA decays at least as fast as its slowest constant.
    A cumulative function's window gives the value less an offset: `cumulative`.
    """
    if cumulative(ind):
        return None
    params = dict(ind.params)
    return _lookback(ind.function, ind.params) + sum(_tail(r) for r in _decays(ind, params))


def lookback(ind: Indicator) -> int:
    """Bars before the indicator's first value on complete inputs (TA-Lib's lookback)."""
    return _lookback(ind.function, ind.params)


def compute(ind: Indicator, values: Mapping[str, Values]) -> Values:
    """The indicator over each series (time along the last axis); warm-up positions NaN.

    Inputs may start with NaN (another feature's warm-up); a NaN input after that makes
    every later value NaN.
    """
    arrays = [np.asarray(values[source], dtype=np.float64) for _, source in ind.inputs]
    if arrays[0].ndim == 1:
        return _series(ind, arrays)
    if not np.isnan(np.array(arrays)).any():
        return _complete_rows(ind, [a.reshape(-1, a.shape[-1]) for a in arrays]).reshape(
            arrays[0].shape
        )
    rows = [_series(ind, [array[row] for array in arrays]) for row in range(len(arrays[0]))]
    return np.array(rows, dtype=np.float64).reshape(arrays[0].shape)


def _complete_rows(ind: Indicator, arrays: list[Values]) -> Values:
    """Series without a NaN, one per row: TA-Lib on each with none of `_series`' checks,
    which cost more than the computation on the short rows of an increment's batch."""
    function, params = _unwrapped(ind.function), dict(ind.params)
    chosen = _outputs(ind.function).index(ind.output)
    rows, width = arrays[0].shape
    result: Values = np.empty((rows, width), dtype=np.float64)
    for row in range(rows):
        outputs = function(*(np.ascontiguousarray(a[row]) for a in arrays), **params)
        result[row] = outputs[chosen] if isinstance(outputs, tuple) else outputs
    if ind.function in INDEX_OUTPUTS:
        result = np.arange(width) - result
    result[:, : _lookback(ind.function, ind.params)] = np.nan
    return result


def _unwrapped(function: str) -> Callable[..., Any]:
    """TA-Lib's C function without the wrapper that looks for pandas and polars series
    among its arguments: 70 % of a call on a 61-bar row (2.6 µs, 0.7 without)."""
    wrapped = getattr(ta, function)
    return cast(Callable[..., Any], getattr(wrapped, "__wrapped__", wrapped))


def _series(ind: Indicator, arrays: list[Values]) -> Values:
    """One series: TA-Lib's output as float64, NaN where it has no value."""
    complete = ~np.any(np.isnan(np.array(arrays)), axis=0)
    if not complete.any():
        return np.full(len(complete), np.nan)
    outputs = getattr(ta, ind.function)(*arrays, **dict(ind.params))
    chosen = (
        outputs[_outputs(ind.function).index(ind.output)] if isinstance(outputs, tuple) else outputs
    )
    result = np.asarray(chosen, dtype=np.float64)
    if ind.function in INDEX_OUTPUTS:
        result = np.arange(len(result)) - result
    result[_unknown(complete, _lookback(ind.function, ind.params))] = np.nan
    return result


def _unknown(complete: npt.NDArray[np.bool_], lookback: int) -> npt.NDArray[np.bool_]:
    """Where TA-Lib has no value: the warm-up after the leading NaN inputs (the wrapper
    skips them), and everything from a later NaN input on (it poisons running sums). Said
    explicitly, because integer outputs (candle patterns) hold 0 there, not NaN."""
    first = int(np.argmax(complete))
    gaps = np.flatnonzero(~complete[first:])
    end = first + (gaps[0] if len(gaps) else len(complete))
    index = np.arange(len(complete))
    return (index < first + lookback) | (index >= end)


def _known_function(function: str) -> str:
    name = function.upper() if isinstance(function, str) else ""
    if name not in ta.get_functions():
        raise InvalidFeature(
            f"unknown TA-Lib function {quoted(str(function))}; "
            f"closest: {_closest(name, catalogue())}"
        )
    if name in UNCARRIED:
        raise InvalidFeature(
            f"TA-Lib function {name} is not offered: its value is {UNCARRIED[name]}"
        )
    return name


def _closest(name: str, choices: list[str]) -> str:
    found = difflib.get_close_matches(name, choices, n=3, cutoff=0.0)
    return ", ".join(found) if found else "none"


@cache
def _info(name: str) -> dict[str, Any]:
    info: dict[str, Any] = ta_info._ta_getFuncInfo(name.encode())
    return info


@cache
def _param_kinds(name: str) -> dict[str, tuple[int, Param]]:
    """Each optional input's kind (REAL, INTEGER, MA_TYPE) and default, TA-Lib order."""
    kinds = {}
    for index in range(_info(name)["num_opt_inputs"]):
        param = ta_info._ta_getOptInputParameterInfo(name.encode(), index)
        kinds[param["name"]] = (param["type"], param["default_value"])
    return kinds


def _outputs(name: str) -> list[str]:
    count = _info(name)["num_outputs"]
    return [ta_info._ta_getOutputParameterInfo(name.encode(), i)["name"] for i in range(count)]


def _checked_params(name: str, params: Mapping[str, object]) -> tuple[tuple[str, Param], ...]:
    kinds = _param_kinds(name)
    for key in params:
        if key not in kinds:
            known = ", ".join(kinds) or "none"
            raise InvalidFeature(
                f"{name} has no parameter {quoted(str(key))}; "
                f"closest: {_closest(str(key), list(kinds))} (it has: {known})"
            )
    full = {
        key: _typed(name, key, kind, params.get(key, default))
        for key, (kind, default) in kinds.items()
    }
    _check_range(name, full)
    return tuple(sorted(full.items()))


def _typed(name: str, key: str, kind: int, value: object) -> Param:
    """The value as TA-Lib takes it: int for periods and MA types, float for reals."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFeature(f"{name} parameter {key} must be a number, not {quoted(repr(value))}")
    if kind == REAL:
        if not math.isfinite(value):
            raise InvalidFeature(f"{name} parameter {key} must be finite, not {value!r}")
        return float(value)
    if not isinstance(value, int):
        raise InvalidFeature(f"{name} parameter {key} must be an integer, not {value!r}")
    if kind == MA_TYPE and value not in ta.MA_Type._lookup:
        raise InvalidFeature(
            f"{name} parameter {key}: no moving average type {value} "
            f"(0 to {max(ta.MA_Type._lookup)})"
        )
    return value


def _check_range(name: str, params: dict[str, Param]) -> None:
    """TA-Lib itself is the authority on ranges: a call on a short series refuses them."""
    for key, value in params.items():
        if _param_kinds(name)[key][0] != INTEGER:
            continue
        low, high = _integer_range(name, key)
        if not low <= value <= high:
            raise InvalidFeature(
                f"{name} parameter {key} = {value} is outside TA-Lib's range {low} to {high}"
            )
    if not _accepted(name, tuple(sorted(params.items()))):
        shown = ", ".join(f"{key}={value!r}" for key, value in params.items())
        raise InvalidFeature(f"TA-Lib refuses {name} with {shown} (a value outside its range)")


@cache
def _accepted(name: str, params: tuple[tuple[str, Param], ...]) -> bool:
    probe = [np.linspace(1.0, 2.0, 8) for _ in _slots(name)]
    try:
        getattr(ta, name)(*probe, **dict(params))
    except Exception:  # TA-Lib raises a bare Exception for TA_BAD_PARAM
        return False
    return True


@cache
def _integer_range(name: str, key: str) -> tuple[int, int]:
    """The smallest and largest value TA-Lib takes, the others at their defaults."""
    low = next((v for v in range(-1, 1000) if _accepted(name, ((key, v),))), 1000)
    high, beyond = low, 2**31 - 1  # TA-Lib's ranges end at a power-of-ten ceiling below this
    while beyond - high > 1:
        middle = (high + beyond) // 2
        high, beyond = (middle, beyond) if _accepted(name, ((key, middle),)) else (high, middle)
    return low, high


@cache
def _slots(name: str) -> list[tuple[str, str | None]]:
    """TA-Lib's inputs in call order, each with the column it reads by default."""
    slots: list[tuple[str, str | None]] = []
    for given, series in ta_abstract.Function(name).info["input_names"].items():
        if isinstance(series, list):
            slots.extend((field, field) for field in series)
        else:  # MAVP's periods have no default column: a definition must name them
            slots.append((SINGLE_INPUTS[given], None if given == "periods" else series))
    return slots


def _checked_inputs(
    name: str, inputs: Mapping[str, str] | str | None
) -> tuple[tuple[str, str], ...]:
    """Each input slot with the column or feature it reads: defaults, then those given."""
    slots = _slots(name)
    given = _given_inputs(name, [slot for slot, _ in slots], inputs)
    chosen = {slot: given.get(slot, default) for slot, default in slots}
    missing = [slot for slot, source in chosen.items() if source is None]
    if missing:
        raise InvalidFeature(f"{name} input {missing[0]} has no default: name the feature it reads")
    return tuple((slot, str(source)) for slot, source in chosen.items())


def _given_inputs(
    name: str, slots: list[str], inputs: Mapping[str, str] | str | None
) -> dict[str, str]:
    """The inputs a definition names, checked; a single name for a single-input function."""
    if isinstance(inputs, str):
        if len(slots) != 1:
            raise InvalidFeature(f"{name} reads {', '.join(slots)}: give inputs as a mapping")
        return {slots[0]: inputs}
    for key, source in (inputs or {}).items():
        if key not in slots:
            raise InvalidFeature(
                f"{name} has no input {quoted(str(key))}; it reads {', '.join(slots)}"
            )
        if not isinstance(source, str) or not source:
            raise InvalidFeature(
                f"{name} input {key} must name a column or feature, not {quoted(repr(source))}"
            )
    return dict(inputs or {})


def _checked_output(name: str, output: str | None) -> str:
    outputs = _outputs(name)
    if output is None and len(outputs) == 1:
        return outputs[0]
    if output is None:
        raise InvalidFeature(f"{name} has several outputs: choose one of {', '.join(outputs)}")
    if output not in outputs:
        raise InvalidFeature(
            f"{name} has no output {quoted(str(output))}; its outputs: {', '.join(outputs)}"
        )
    return output


@cache
def _lookback(name: str, params: tuple[tuple[str, Param], ...]) -> int:
    """TA-Lib's lookback: bars before the first value, its unstable periods left at 0."""
    function = ta_abstract.Function(name)
    function.set_parameters(dict(params))
    lookback: int = function.lookback
    return lookback


def _tail(retention: float) -> int:
    """Bars after which a starting state retained by `retention` per bar is below RESIDUAL."""
    if retention >= 1:  # checked by `indicator`: such a definition is refused
        raise InvalidFeature("its value never forgets where the series starts")
    return 0 if retention <= 0 else math.ceil(math.log(RESIDUAL) / math.log(retention))


def _ema(period: Param) -> float:
    return 1 - 2 / (float(period) + 1)


def _wilder(period: Param) -> float:
    return 1 - 1 / float(period)


# The measured tails expressed as retentions, so that it adds up like the others.
HILBERT_RETENTION = math.exp(math.log(RESIDUAL) / HILBERT_TAIL)
PATH_RETENTION = math.exp(math.log(RESIDUAL) / PATH_TAIL)

# Per recursive moving-average type: the retention of each stage in series, by period.
MA_DECAYS: dict[int, Callable[[Param], list[float]]] = {
    1: lambda n: [_ema(n)],  # EMA
    3: lambda n: [_ema(n)] * 2,  # DEMA
    4: lambda n: [_ema(n)] * 3,  # TEMA
    6: lambda n: [1 - KAMA_SLOWEST],  # KAMA: its period only sets the efficiency window
    7: lambda n: [HILBERT_RETENTION, 1 - 0.05, 1 - 0.025],  # MAMA at TA-Lib's default limits
    8: lambda n: [_ema(n)] * 6,  # T3
    11: lambda n: [_wilder(n)] * 6,  # the function's own default: as slow as any
    12: lambda n: [_ema(n)],  # ZLEMA
    13: lambda n: [_wilder(n)],  # Wilder's
}


def _ma(params: dict[str, Param], matype: str, period: str) -> list[float]:
    decays = MA_DECAYS.get(int(params[matype]))
    return decays(params[period]) if decays else []


def _slowest(params: dict[str, Param], *periods: str) -> Param:
    return max(params[p] for p in periods)


def _decays(ind: Indicator, p: dict[str, Param]) -> list[float]:
    """The retention of each recursive stage in series (none for a windowed function)."""
    rule = DECAYS.get(ind.function)
    return rule(p) if rule else []


def _sarext_slowest(p: dict[str, Param]) -> float:
    """SAREXT's smallest acceleration factor: where each side's starts, or its step if 0."""
    sides = [
        ("accelerationinitlong", "accelerationlong"),
        ("accelerationinitshort", "accelerationshort"),
    ]
    return min(float(p[init] or p[step]) for init, step in sides)


def _macdext(p: dict[str, Param]) -> list[float]:
    fast = _ma(p, "fastmatype", "fastperiod")
    slow = _ma(p, "slowmatype", "slowperiod")
    # The two averages run side by side: the slower governs; the signal follows in series.
    side = max((fast, slow), key=lambda stages: sum(_tail(r) for r in stages))
    return side + _ma(p, "signalmatype", "signalperiod")


DECAYS: dict[str, Callable[[dict[str, Param]], list[float]]] = {
    "EMA": lambda p: [_ema(p["timeperiod"])],
    "ZLEMA": lambda p: [_ema(p["timeperiod"])],
    "DEMA": lambda p: [_ema(p["timeperiod"])] * 2,
    "TEMA": lambda p: [_ema(p["timeperiod"])] * 3,
    "TRIX": lambda p: [_ema(p["timeperiod"])] * 3,
    "T3": lambda p: [_ema(p["timeperiod"])] * 6,
    "RMA": lambda p: [_wilder(p["timeperiod"])],
    "RSI": lambda p: [_wilder(p["timeperiod"])],
    "CMO": lambda p: [_wilder(p["timeperiod"])],
    "ATR": lambda p: [_wilder(p["timeperiod"])],
    "NATR": lambda p: [_wilder(p["timeperiod"])],
    "PLUS_DM": lambda p: [_wilder(p["timeperiod"])],
    "MINUS_DM": lambda p: [_wilder(p["timeperiod"])],
    "PLUS_DI": lambda p: [_wilder(p["timeperiod"])],
    "MINUS_DI": lambda p: [_wilder(p["timeperiod"])],
    "DX": lambda p: [_wilder(p["timeperiod"])],
    "ADX": lambda p: [_wilder(p["timeperiod"])] * 2,
    "ADXR": lambda p: [_wilder(p["timeperiod"])] * 2,
    "KAMA": lambda p: [1 - KAMA_SLOWEST],
    "MAMA": lambda p: [HILBERT_RETENTION, 1 - p["slowlimit"], 1 - p["slowlimit"] / 2],
    "HT_DCPERIOD": lambda p: [HILBERT_RETENTION],
    "HT_DCPHASE": lambda p: [HILBERT_RETENTION],
    "HT_PHASOR": lambda p: [HILBERT_RETENTION],
    "HT_SINE": lambda p: [HILBERT_RETENTION],
    "HT_TRENDMODE": lambda p: [HILBERT_RETENTION],
    "HT_TRENDLINE": lambda p: [HILBERT_RETENTION],
    "SAR": lambda p: [PATH_RETENTION, 1 - p["acceleration"]],
    "SAREXT": lambda p: [PATH_RETENTION, 1 - _sarext_slowest(p)],
    "SUPERTREND": lambda p: [_wilder(p["timeperiod"]), PATH_RETENTION],
    "HA": lambda p: [0.5],  # the open is the mean of the previous open and close
    "MACD": lambda p: [_ema(_slowest(p, "fastperiod", "slowperiod")), _ema(p["signalperiod"])],
    "MACDFIX": lambda p: [_ema(26), _ema(p["signalperiod"])],
    "MACDEXT": _macdext,
    "APO": lambda p: _ma(p, "matype", "slowperiod") + _ma(p, "matype", "fastperiod"),
    "PPO": lambda p: _ma(p, "matype", "slowperiod") + _ma(p, "matype", "fastperiod"),
    "PVO": lambda p: _ma(p, "matype", "slowperiod") + _ma(p, "matype", "fastperiod"),
    "MA": lambda p: _ma(p, "matype", "timeperiod"),
    "BBANDS": lambda p: _ma(p, "matype", "timeperiod"),
    "MAVP": lambda p: _ma(p, "matype", "maxperiod"),
    "STOCH": lambda p: (
        _ma(p, "slowk_matype", "slowk_period") + _ma(p, "slowd_matype", "slowd_period")
    ),
    "KDJ": lambda p: (
        _ma(p, "slowk_matype", "slowk_period") + _ma(p, "slowd_matype", "slowd_period")
    ),
    "STOCHF": lambda p: _ma(p, "fastd_matype", "fastd_period"),
    "STOCHRSI": lambda p: [_wilder(p["timeperiod"]), *_ma(p, "fastd_matype", "fastd_period")],
    "ADOSC": lambda p: [_ema(_slowest(p, "fastperiod", "slowperiod"))],
    "SMI": lambda p: (
        [_ema(_slowest(p, "fastperiod", "slowperiod"))] * 2 + [_ema(p["signalperiod"])]
    ),
    "TSI": lambda p: [_ema(_slowest(p, "firstperiod", "secondperiod"))] * 2,
    "RVI": lambda p: [_wilder(_slowest(p, "timeperiod", "stddevperiod"))] * 2,
    "ERI": lambda p: [_ema(p["timeperiod"])],
    "KC": lambda p: [_wilder(_slowest(p, "timeperiod", "atrperiod"))],
    "CVI": lambda p: [_ema(p["timeperiod"])],
    "MASSI": lambda p: [_ema(p["fastperiod"])] * 2,
    "EFI": lambda p: [_ema(p["timeperiod"])],
}


def talib_version() -> str:
    """The TA-Lib library's version: part of every feature set's version, since another
    release may compute a function differently."""
    raw = getattr(talib, "__ta_version__", b"")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return text.split(" ")[0] or str(talib.__version__)
