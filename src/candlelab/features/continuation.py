"""Continuing a built chart by its new bars alone, for many charts at once.

A full computation of a bar's value may read hundreds of bars before it (the warm-up of
the recursive indicators, `computation.history`). A chart that is built needs far less:
each feature's value at a new bar is a function of its own inputs over its own window,
and those inputs are either candles or other features whose values at the bars already
built are stored. So an increment reads `window(set)` built bars (candles and stored
vectors) before the new ones, and continues:

- a windowed TA-Lib function or an expression is computed over the bars read;
- a recursive TA-Lib function (EMA, Wilder's smoothing) continues from the internal
  state the previous build stored (`recursions`);
- a cumulative one (OBV, AD) adds what came since to its stored value;
- a calendar feature needs the new bars' times only.

Charts of the same shape (bars read, bars new, clock) are one `Batch`: every feature is
computed once for all of them, row by row only where TA-Lib needs one series per call.
A set with a longer-timeframe feature, or with a recursive function whose state is not
carried, is not `continuable`: its increments read the full warm-up instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
import numpy.typing as npt

from candlelab.features import calendar_features, indicators, recursions
from candlelab.features.definitions import Calendar, Feature, FeatureSet
from candlelab.features.expressions import Expression
from candlelab.features.indicators import Indicator
from candlelab.market.timeframes import Timeframe

Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class Slot:
    """Where one recursive feature's state sits in a build's state vector."""

    feature: Feature
    indicator: Indicator
    start: int
    size: int


def slots(feature_set: FeatureSet) -> tuple[Slot, ...]:
    """The carried states of the set, in definition order, packed end to end."""
    found, start = [], 0
    for feature in feature_set.features:
        source = feature.source
        if feature.timeframe is None and _recursive(source):
            size = recursions.state_size(source)
            found.append(Slot(feature, source, start, size))
            start += size
    return tuple(found)


def _recursive(source: object) -> TypeGuard[Indicator]:
    return isinstance(source, Indicator) and indicators.recursive(source)


def continuable(feature_set: FeatureSet) -> bool:
    """Whether the set's increments can continue from stored values and states."""
    return all(_continuable(feature) for feature in feature_set.features)


def _continuable(feature: Feature) -> bool:
    if feature.timeframe is not None:  # its longer chart's bars are read whole
        return False
    source = feature.source
    return not _recursive(source) or recursions.carried(source)


def window(feature_set: FeatureSet) -> int:
    """How many built bars an increment reads before the new ones: the widest window
    any feature reads of its inputs (at least one: the bar a cumulative value or a
    recursion's previous close continues from)."""
    return max([1, *(_own_window(feature) for feature in feature_set.features)])


def _own_window(feature: Feature) -> int:
    source = feature.source
    if isinstance(source, Calendar):
        return 0
    if isinstance(source, Expression):
        return int(source.history(dict.fromkeys(source.names, 0)))
    if indicators.cumulative(source) or indicators.recursive(source):
        return 1
    return int(indicators.history(source) or 0)


def final_state(feature_set: FeatureSet, values: Mapping[str, Floats]) -> Floats | None:
    """The set's carried state after the last of `values` (every column and feature of
    a computation from the chart's first bar, or from far enough back that where it
    started no longer shows); None when a recursion has none to carry (too few bars, or
    a NaN input after the first values)."""
    parts = []
    for slot in slots(feature_set):
        inputs = {source: values[source] for _, source in slot.indicator.inputs}
        state = recursions.final_state(slot.indicator, inputs)
        if state is None:
            return None
        parts.append(np.asarray(state, dtype=np.float64))
    return np.concatenate(parts) if parts else np.empty(0)


@dataclass(frozen=True)
class Batch:
    """Charts continued together: each row is one chart's last `read` built bars and
    then its new bars, with their stored vectors (for the built ones) and states."""

    time: Times  # (charts, read + new) bar opens, UTC
    columns: Mapping[str, Floats]  # candle columns, (charts, read + new)
    stored: Floats  # (charts, read, width)
    state: Floats  # (charts, state size)
    timeframe: Timeframe
    timezone: str = "UTC"
    calendar: str = "24/7"

    @property
    def read(self) -> int:
        return int(self.stored.shape[1])


def continue_batch(feature_set: FeatureSet, batch: Batch) -> tuple[Floats, Floats]:
    """The new bars' vectors, (charts, new, width), and the states after them."""
    values: dict[str, Floats] = dict(batch.columns)
    state = batch.state.copy()
    carried = {slot.feature.name: slot for slot in slots(feature_set)}
    for feature in feature_set.computation_order:
        series = np.empty(batch.time.shape, dtype=np.float64)
        series[:, : batch.read] = batch.stored[:, :, feature_set.columns.index(feature.name)]
        values[feature.name] = series  # stored part first: a cumulative one continues it
        slot = carried.get(feature.name)
        series[:, batch.read :] = _new_values(feature, batch, values, state, slot)
    vectors = np.stack([values[name][:, batch.read :] for name in feature_set.columns], axis=-1)
    return vectors, state


def _new_values(
    feature: Feature, batch: Batch, values: Mapping[str, Floats], state: Floats, slot: Slot | None
) -> Floats:
    source = feature.source
    if isinstance(source, Calendar):
        new = batch.time[:, batch.read :]
        flat = calendar_features.compute_calendar(source.kind, new.ravel(), batch.timeframe,
                                                  batch.timezone, batch.calendar)  # fmt: skip
        return flat.reshape(new.shape)
    if isinstance(source, Expression):
        return np.asarray(source.evaluate(values), dtype=np.float64)[:, batch.read :]
    if slot is not None:
        return _resumed(slot, batch.read, values, state)
    series = np.asarray(indicators.compute(source, values), dtype=np.float64)
    if indicators.cumulative(source):  # the stored value at the last built bar, plus since
        before = batch.read - 1
        return values[feature.name][:, before : before + 1] + (
            series[:, batch.read :] - series[:, before : before + 1]
        )
    return series[:, batch.read :]


def _resumed(slot: Slot, read: int, values: Mapping[str, Floats], state: Floats) -> Floats:
    part = slice(slot.start, slot.start + slot.size)
    inputs = {source: values[source][:, read:] for _, source in slot.indicator.inputs}
    new: Floats
    new, state[:, part] = recursions.resume(slot.indicator, state[:, part], inputs)
    return new
