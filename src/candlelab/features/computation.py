"""Computing a feature set on one chart's bars: a pure function of (chart, bars) → values.

The value at bar t reads only bars whose close is at or before t's close: TA-Lib
functions and the expression operators look back only; a longer-timeframe feature joins
the last bar of the longer chart that had closed by t's close.

A build need not start from the chart's first bar: `history` says how many bars before
the first bar to compute must be read so that every value equals a full computation's.
Cumulative functions (OBV, AD) depend on the whole history by an offset: the build passes
the stored value at the first bar read (`anchors`) and the computed series is shifted onto it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from candlelab.features import calendar_features, indicators
from candlelab.features.definitions import Calendar, Feature, FeatureSet
from candlelab.features.expressions import Expression
from candlelab.features.indicators import Indicator
from candlelab.market.calendars import bar_ends
from candlelab.market.timeframes import Timeframe

Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class ChartBars:
    """A run of one chart's bars, oldest first: bar opens (datetime64[us], UTC) and the
    candle columns the chart has, as float64 (NaN where a bar lacks an optional one).
    `longer` holds the bars of the same symbol's longer-timeframe charts, by timeframe."""

    time: Times
    columns: Mapping[str, Floats]
    timeframe: Timeframe
    timezone: str = "UTC"
    calendar: str = "24/7"
    longer: Mapping[str, ChartBars] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.time)

    def ends(self) -> Times:
        """When each bar closes (months and days in the chart's timezone)."""
        if self.timeframe.micros is not None and not _calendar_unit(self.timeframe):
            return self.time + np.timedelta64(self.timeframe.micros, "us")
        return bar_ends(self.timeframe, self.timezone, self.time)

    def tail(self, start: int) -> ChartBars:
        """The bars from index `start` on (longer charts are kept whole)."""
        columns = {name: values[start:] for name, values in self.columns.items()}
        return ChartBars(self.time[start:], columns, self.timeframe, self.timezone,
                         self.calendar, self.longer)  # fmt: skip


def _calendar_unit(timeframe: Timeframe) -> bool:
    return timeframe.unit in ("d", "w", "M")


def compute(
    feature_set: FeatureSet, bars: ChartBars, anchors: Mapping[str, float] | None = None
) -> Floats:
    """The set's values on `bars`: a (bars, columns) float64 matrix, NaN where a feature
    has no value yet. `anchors` gives cumulative features their stored value at the
    first bar (see the module's docstring)."""
    return matrix(feature_set, computed(feature_set, bars, anchors))


def computed(
    feature_set: FeatureSet, bars: ChartBars, anchors: Mapping[str, float] | None = None
) -> dict[str, Floats]:
    """Every candle column and feature of the set on `bars`, by name."""
    values: dict[str, Floats] = dict(bars.columns)
    for feature in feature_set.computation_order:
        values[feature.name] = _feature_values(feature, bars, values, anchors or {})
    return values


def matrix(feature_set: FeatureSet, values: Mapping[str, Floats]) -> Floats:
    """The set's features from `computed`, as a (bars, columns) matrix in definition order."""
    first = values[feature_set.columns[0]] if feature_set.columns else np.empty(0)
    result = np.empty((len(first), len(feature_set.columns)), dtype=np.float64)
    for j, name in enumerate(feature_set.columns):
        result[:, j] = values[name]
    return result


def _feature_values(
    feature: Feature, bars: ChartBars, values: Mapping[str, Floats], anchors: Mapping[str, float]
) -> Floats:
    if feature.timeframe is not None:
        return _longer(feature, bars)
    source = feature.source
    if isinstance(source, Calendar):
        return calendar_features.compute_calendar(source.kind, bars.time, bars.timeframe,
                                                  bars.timezone, bars.calendar)  # fmt: skip
    result = _source_values(source, values)
    anchor = anchors.get(feature.name)
    if isinstance(source, Indicator) and indicators.cumulative(source) and anchor is not None:
        result = _anchored(result, anchor)
    return result


def _source_values(source: Indicator | Expression, values: Mapping[str, Floats]) -> Floats:
    if isinstance(source, Expression):
        return np.asarray(source.evaluate(values), dtype=np.float64)
    return np.asarray(indicators.compute(source, values), dtype=np.float64)


def _anchored(series: Floats, anchor: float) -> Floats:
    """A cumulative series shifted so that its first value is the stored one."""
    if len(series) == 0 or np.isnan(anchor) or np.isnan(series[0]):
        return series
    shifted: Floats = series + (anchor - series[0])
    return shifted


def _longer(feature: Feature, bars: ChartBars) -> Floats:
    """A feature of the longer chart, at each bar the value of the last longer bar that
    had closed by this bar's close; NaN before the first one."""
    assert feature.timeframe is not None
    assert not isinstance(feature.source, Calendar)
    longer = bars.longer.get(feature.timeframe.name)
    if longer is None:
        raise ValueError(f"feature {feature.name!r} needs the {feature.timeframe.name} chart")
    inner = _source_values(feature.source, longer.columns)
    closed = np.searchsorted(longer.ends(), bars.ends(), side="right") - 1
    result = np.full(len(bars), np.nan)
    known = closed >= 0
    result[known] = inner[closed[known]]
    return result


def feature_histories(feature_set: FeatureSet) -> dict[str, int]:
    """For each feature, how many bars before t influence its value at t.

    A cumulative function counts 0: it is anchored on the stored value instead. A
    longer-timeframe feature counts 0: its chart is read whole.
    """
    histories: dict[str, int] = {}
    for feature in feature_set.computation_order:
        histories[feature.name] = _history(feature, histories)
    return histories


def _history(feature: Feature, histories: Mapping[str, int]) -> int:
    source = feature.source
    if feature.timeframe is not None or isinstance(source, Calendar):
        return 0
    if isinstance(source, Expression):
        return int(source.history({**dict.fromkeys(source.names, 0), **histories}))
    own = indicators.history(source)
    read = max((histories.get(name, 0) for name in indicators.names(source)), default=0)
    return read + (own or 0)


def feature_warmups(feature_set: FeatureSet) -> dict[str, int]:
    """For each feature, its warm-up: how many bars of the chart come before its first
    value when every bar has its candles. TA-Lib's lookback (not the longer `history` a
    recursion needs to converge: the value exists from there on) and the expression
    windows, after the warm-up of the features read; 0 for a calendar feature, whose NaN
    (no session) is a value missing by definition, and for a longer-timeframe feature,
    which waits on the longer chart's bars (`longer_warmups`), not on this chart's.
    """
    warmups: dict[str, int] = {}
    for feature in feature_set.computation_order:
        warmups[feature.name] = _warmup(feature, warmups)
    return warmups


def _warmup(feature: Feature, warmups: Mapping[str, int]) -> int:
    source = feature.source
    if feature.timeframe is not None or isinstance(source, Calendar):
        return 0
    if isinstance(source, Expression):  # window-local operators: history is the warm-up
        return int(source.history({**dict.fromkeys(source.names, 0), **warmups}))
    read = max((warmups.get(name, 0) for name in indicators.names(source)), default=0)
    return read + indicators.lookback(source)


def longer_warmups(feature_set: FeatureSet) -> dict[str, dict[str, int]]:
    """For each feature, the longer charts it waits on, by timeframe, with the warm-up
    there in bars of that chart: a longer-timeframe feature's own, any other feature's
    those of the features it reads (empty for most)."""
    longer: dict[str, dict[str, int]] = {}
    for feature in feature_set.computation_order:
        longer[feature.name] = _longer_warmup(feature, longer)
    return longer


def _longer_warmup(feature: Feature, longer: Mapping[str, dict[str, int]]) -> dict[str, int]:
    source = feature.source
    if isinstance(source, Calendar):
        return {}
    if feature.timeframe is not None:
        return {feature.timeframe.name: _warmup(replace(feature, timeframe=None), {})}
    read = source.names if isinstance(source, Expression) else indicators.names(source)
    merged: dict[str, int] = {}
    for timeframe, bars in (item for name in read for item in longer.get(name, {}).items()):
        merged[timeframe] = max(merged.get(timeframe, 0), bars)
    return merged


def history(feature_set: FeatureSet) -> int:
    """How many bars before the first bar to compute a build must read; at least one
    when a cumulative feature needs its anchor."""
    most = max(feature_histories(feature_set).values(), default=0)
    return max(most, 1) if cumulative_features(feature_set) else most


def cumulative_features(feature_set: FeatureSet) -> tuple[str, ...]:
    """The features anchored on their stored value (OBV, AD and the like)."""
    return tuple(
        f.name
        for f in feature_set.features
        if f.timeframe is None
        and isinstance(f.source, Indicator)
        and indicators.cumulative(f.source)
    )
