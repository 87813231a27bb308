"""Target values: a target definition applied to bars, one value per bar.

A value at bar t looks only at bars after t (the barriers and returns) or at what a
labeller marked (spans); `judged_to` says up to which bar, so that walk-forward folds can
purge training rows whose label reaches into a test block. Rows whose value cannot be
known from the data (the horizon runs past the chart's end, the ATR is still warming up,
a bar nobody covered) are not `known` and are never taught.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.training.barriers import Floats, Ints, Prices, Trades, risk_unit, trades
from candlelab.training.span_labels import UNTAUGHT, LabelledSpan, span_classes, span_labels
from candlelab.training.targets import DIRECTIONAL, NONE, TargetDefinition

Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TargetValues:
    """Per bar: `y` (a class index, or the value for regression; NaN where not known),
    the last bar the value looked at, whether one candle touched both barriers, and the
    result in R of acting long and short there under the definition's judgement."""

    classes: tuple[str, ...]  # () for regression
    directions: tuple[int, ...]  # per class: +1 act long, -1 short, 0 stay out
    y: Floats
    judged_to: Ints
    ambiguous: Flags
    long: Floats
    short: Floats

    @property
    def known(self) -> Flags:
        return np.isfinite(self.y)

    def class_counts(self) -> dict[str, int]:
        # Counted class by class: selecting the known rows and casting them made two
        # arrays of 8 bytes a bar (fresh memory costs most of a training read here).
        return {name: int(np.count_nonzero(self.y == k)) for k, name in enumerate(self.classes)}


@dataclass(frozen=True)
class ChartSpans:
    """What a spans target needs of one chart: its bar opens and its spans."""

    times: npt.NDArray[np.datetime64]
    spans: Sequence[LabelledSpan]


def target_values(definition: TargetDefinition, prices: Prices,
                  spans: Sequence[ChartSpans] = (),
                  label_directions: Mapping[str, int] | None = None) -> TargetValues:  # fmt: skip
    """The definition's value at every row of `prices`; a spans target takes each chart's
    spans (in the order of the charts in `prices`) and each label's direction."""
    unit = risk_unit(prices, definition.judgement)
    long, short = (trades(prices, unit, definition.judgement, side) for side in (1, -1))
    rows = np.arange(len(prices))
    horizon_end = np.minimum(rows + definition.judgement.horizon, prices.ends - 1)
    if definition.kind == "spans":
        assert definition.spans is not None
        classes, y, judged = _from_spans(definition, spans, horizon_end)
        directions = tuple((label_directions or {}).get(c, 0) for c in classes)
    else:
        (classes, directions), judged = market_classes(definition), horizon_end
        y = (_barrier_classes(long, short) if definition.kind == "triple-barrier"
             else _forward_returns(definition, prices))  # fmt: skip
    return TargetValues(classes, directions, y, judged, long.ambiguous | short.ambiguous,
                        long.result, short.result)  # fmt: skip


def market_classes(definition: TargetDefinition) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The classes and their directions of a target read off the market alone (triple
    barrier, forward return): short, none, long; none for a regression."""
    assert definition.kind != "spans"
    if definition.regression:
        return (), ()
    return DIRECTIONAL, (-1, 0, 1)


def _barrier_classes(long: Trades, short: Trades) -> Floats:
    """long where the long position won (before any short win), short likewise, none
    where neither won by the horizon; unknown where the data ends first."""
    long_won = np.where(long.exit == 1, long.held, 0)
    short_won = np.where(short.exit == 1, short.held, 0)
    first_long = (long_won > 0) & ((short_won == 0) | (long_won < short_won))
    first_short = (short_won > 0) & ((long_won == 0) | (short_won < long_won))
    y = np.where(first_long, 2.0, np.where(first_short, 0.0, 1.0))
    decided = first_long | first_short | (long.known & short.known)
    return np.where(decided, y, np.nan)


def _forward_returns(definition: TargetDefinition, prices: Prices) -> Floats:
    """The return from t's close to the close `horizon` bars later, as a class (short,
    none, long) or the value itself."""
    assert definition.returns is not None
    h, n = definition.judgement.horizon, len(prices)
    rows = np.arange(n)
    later = np.where(rows + h < prices.ends, prices.close[np.minimum(rows + h, n - 1)], np.nan)
    value = later / prices.close - 1
    rules = definition.returns
    if rules.mode == "value":
        return value
    band = rules.threshold if rules.mode == "band" else 0.0
    with np.errstate(invalid="ignore"):
        y = np.where(value > band, 2.0, np.where(value < -band, 0.0, 1.0))
    return np.where(np.isfinite(value), y, np.nan)


def _from_spans(definition: TargetDefinition, charts: Sequence[ChartSpans],
                horizon_end: Ints) -> tuple[tuple[str, ...], Floats, Ints]:  # fmt: skip
    """Each chart's spans as classes, concatenated in the order of the charts."""
    assert definition.spans is not None
    classes = span_classes([s.label for chart in charts for s in chart.spans], NONE)
    parts = [span_labels(c.times, c.spans, classes, definition.spans) for c in charts]
    label = np.concatenate([p.label for p in parts]) if parts else np.zeros(0, np.int64)
    offsets = np.repeat(np.cumsum([0, *(len(c.times) for c in charts[:-1])]),
                        [len(c.times) for c in charts]).astype(np.int64)  # fmt: skip
    judged = np.concatenate([p.judged_to for p in parts]) + offsets if parts else horizon_end
    y = np.where(label == UNTAUGHT, np.nan, label.astype(np.float64))
    return classes, y, np.maximum(judged, horizon_end)
