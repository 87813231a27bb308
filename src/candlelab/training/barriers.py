"""Barriers: what a position opened at a bar's close would have done in the bars after it.

Rows are bars of one or more charts, concatenated chart after chart in time order; `ends`
gives each row the end (exclusive) of its chart, so that no search runs into the next
chart. A position opened at row t's close looks at rows t+1 … t+horizon only: the bar
itself is done when the position opens (DESIGN: a prediction for bar t is made at t's
close).

A long position wins when its take-profit (entry + tp) is touched before its stop
(entry - sl); a short one mirrors it. When one candle touches both barriers, the order
inside the candle is unknown: stop first (the conservative rule), and the row is flagged
ambiguous. A stop crossed by a gap fills at the bar's open (the worse price); a
take-profit fills at its level (a gap's windfall is not counted). With no touch by the
horizon the position closes at the horizon bar's close. The result is in R, multiples of
the risk taken (the stop's distance, or one unit where there is no stop), net of costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import talib

from candlelab.training.targets import Judgement

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]
# Rows per piece when many charts are judged at once: each of the dozen passes over a
# piece's arrays then stays in the CPU's cache instead of streaming 5M-row arrays.
PIECE_ROWS = 1 << 16


@dataclass(frozen=True)
class Prices:
    """Bars of several charts, concatenated chart after chart; `ends[t]` is the end
    (exclusive) of row t's chart."""

    open: Floats
    high: Floats
    low: Floats
    close: Floats
    ends: Ints

    @classmethod
    def of(cls, chart_id: Ints, open: Floats, high: Floats, low: Floats, close: Floats) -> Prices:
        return cls(open, high, low, close, chart_ends(chart_id))

    def __len__(self) -> int:
        return len(self.close)

    def part(self, start: int, stop: int) -> Prices:
        """Rows [start, stop), which must begin and end at chart boundaries."""
        cut = slice(start, stop)
        return Prices(self.open[cut], self.high[cut], self.low[cut], self.close[cut],
                      self.ends[cut] - start)  # fmt: skip

    def pieces(self, rows: int = PIECE_ROWS) -> list[tuple[int, int]]:
        """[start, stop) ranges of whole charts, each about `rows` long (a chart longer
        than that is a piece of its own): small enough for the CPU's cache."""
        bounds, start = [], 0
        for end in self.ends[self.starts].tolist():
            if end - start >= rows:
                bounds.append((start, int(end)))
                start = int(end)
        if start < len(self):
            bounds.append((start, len(self)))
        return bounds

    @property
    def starts(self) -> Ints:
        """The first row of each chart."""
        rows = np.arange(len(self.ends))
        return rows[np.r_[True, self.ends[1:] != self.ends[:-1]]] if len(rows) else rows


@dataclass(frozen=True)
class Trades:
    """Per row, one side's position: bars held until it closed, how (+1 take-profit,
    -1 stop, 0 horizon), its result in R, whether the closing candle touched both
    barriers, and whether it is known (closed inside the data)."""

    held: Ints
    exit: Ints
    result: Floats
    ambiguous: Flags
    known: Flags


def chart_ends(chart_id: Ints) -> Ints:
    """For each row, the end (exclusive) of the run of rows of its chart."""
    n = len(chart_id)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    last = np.flatnonzero(np.r_[chart_id[1:] != chart_id[:-1], True])
    return np.repeat(last + 1, np.diff(np.r_[0, last + 1])).astype(np.int64)


def risk_unit(prices: Prices, judgement: Judgement) -> Floats:
    """One unit of each row's barriers: its ATR (known at its close) or its close."""
    if judgement.unit == "fraction":
        return prices.close.copy()
    atr = np.full(len(prices), np.nan)
    for start, end in zip(prices.starts, prices.ends[prices.starts], strict=True):
        part = slice(int(start), int(end))
        atr[part] = talib.ATR(prices.high[part], prices.low[part], prices.close[part],
                              timeperiod=judgement.atr_period)  # fmt: skip
    return atr


def first_touch(series: Floats, level: Floats, ends: Ints, horizon: int, above: bool) -> Ints:
    """For each row t, the first k in 1…horizon with series[t+k] at or beyond level[t]
    (≥ when `above`, else ≤), inside t's chart; 0 where there is none. A NaN level is
    never touched."""
    n = len(series)
    found = np.zeros(n, dtype=np.int64)
    hit = np.empty(n, dtype=bool)
    compare = np.greater_equal if above else np.less_equal
    # From the farthest bar back, each touch overwrites: the nearest one is left.
    for k in range(min(horizon, n - 1), 0, -1):
        compare(series[k:], level[: n - k], out=hit[: n - k])
        np.copyto(found[: n - k], k, where=hit[: n - k])
    # A touch past the chart's end was the next chart's bar; no nearer touch was found.
    found[found >= ends - np.arange(n)] = 0
    return found


def trades(prices: Prices, unit: Floats, judgement: Judgement, side: int) -> Trades:
    """Each row's position on `side` (+1 long, -1 short) under the judgement's barriers,
    computed piece by piece."""
    parts = [_trades(prices.part(a, b), unit[a:b], judgement, side) for a, b in prices.pieces()]
    if len(parts) == 1:
        return parts[0]
    return Trades(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Trades.__dataclass_fields__)
    )


def _trades(prices: Prices, unit: Floats, judgement: Judgement, side: int) -> Trades:
    entry, h = prices.close, judgement.horizon
    tp = _distance(judgement.take_profit, unit)
    sl = _distance(judgement.stop_loss, unit)
    favour, against = (prices.high, prices.low) if side > 0 else (prices.low, prices.high)
    win_at = first_touch(favour, entry + side * tp, prices.ends, h, above=side > 0)
    stop_at = first_touch(against, entry - side * sl, prices.ends, h, above=side < 0)
    return _closed(prices, unit, judgement, side, win_at=win_at, stop_at=stop_at)


def risk(unit: Floats, judgement: Judgement) -> Floats:
    """The price distance of one R: the stop's distance, or one unit where there is none."""
    return (judgement.stop_loss or 1.0) * unit


def _distance(multiple: float | None, unit: Floats) -> Floats:
    """A barrier's distance from the entry; infinite where there is no barrier."""
    return np.full_like(unit, np.inf) if multiple is None else multiple * unit


def _closed(prices: Prices, unit: Floats, judgement: Judgement, side: int, *, win_at: Ints,
            stop_at: Ints) -> Trades:  # fmt: skip
    """Which barrier closed each position, when, and at what result."""
    rows, h = np.arange(len(prices)), judgement.horizon
    stopped = (stop_at > 0) & ((win_at == 0) | (stop_at <= win_at))  # stop first on a tie
    won = (win_at > 0) & ~stopped
    held = np.where(stopped, stop_at, np.where(won, win_at, h))
    known = (stopped | won | (rows + h < prices.ends)) & np.isfinite(unit) & (unit > 0)
    at = np.minimum(rows + held, len(prices) - 1)
    price = _exit_price(prices, unit, judgement, side, at=at, stopped=stopped, won=won)
    result = (side * (price - prices.close) - judgement.cost * prices.close) / risk(unit, judgement)
    return Trades(
        held=held, exit=np.where(won, 1, np.where(stopped, -1, 0)),
        result=np.where(known, result, np.nan), ambiguous=stopped & (win_at == stop_at),
        known=known,
    )  # fmt: skip


def _exit_price(prices: Prices, unit: Floats, judgement: Judgement, side: int, *, at: Ints,
                stopped: Flags, won: Flags) -> Floats:  # fmt: skip
    entry = prices.close
    with np.errstate(invalid="ignore"):
        stop = entry - side * _distance(judgement.stop_loss, unit)
        target = entry + side * _distance(judgement.take_profit, unit)
        # A gap through the stop fills at the open, the worse of the two for the side.
        gapped = np.minimum(side * prices.open[at], side * stop) * side
    return np.where(stopped, gapped, np.where(won, target, prices.close[at]))
