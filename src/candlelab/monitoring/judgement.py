"""Judgement: what a chart's signals of one model version came to, with training's barriers.

A signal on bar t is a position opened at t's close on its side (the direction of its
predicted class: +1 long, -1 short, 0 none). It is judged by `training.barriers.trades`
on the chart's bars, under the version's target definition, so the judgement is the
one training labelled and scored with: take-profit, stop and horizon in units of the
ATR (from the chart's first bar) or of the close, a stop crossed by a gap filled at the
open, both barriers in one candle resolved stop first and flagged `ambiguous`, fees and
slippage on both sides, the result in R (multiples of the stop's distance).

Only matured signals are judged: the chart holds the horizon's `h` bars after t, and the
calendar expects none in between that the chart lacks. Each verdict is one of VERDICTS:

- an outcome (win, loss, timeout, ambiguous) with its result in R, bars held, maximum
  adverse and favourable excursion in R (over the bars held, the closing one included,
  never below 0) and the last bar read (the horizon's);
- judged without a trade: `not traded` (the class has no direction: `none`, or a word
  the target does not know) and `no risk unit` (the ATR is still warming up at t);
- skipped for now, stored nothing: `not matured`, `gap` (a bar missing inside the
  horizon: judged once a backfill brings it), `no bar` (the chart lacks t itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.training.barriers import Prices, Trades, risk, risk_unit, trades
from candlelab.training.targets import Judgement

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Flags = npt.NDArray[np.bool_]
Times = npt.NDArray[np.datetime64]

OUTCOMES = ("win", "loss", "timeout", "ambiguous")
WITHOUT_TRADE = ("not traded", "no risk unit")
SKIPS = ("not matured", "gap", "no bar")
VERDICTS = (*OUTCOMES, *WITHOUT_TRADE, *SKIPS)
WIN, LOSS, TIMEOUT, AMBIGUOUS, NOT_TRADED, NO_RISK_UNIT, NOT_MATURED, GAP, NO_BAR = range(9)
STORED = len(OUTCOMES) + len(WITHOUT_TRADE)  # verdicts below this one are written


@dataclass(frozen=True)
class ChartBars:
    """One chart's bars in time order (opens as datetime64[us], UTC), and the bar opens
    its calendar expects from its first pending signal on that it lacks (sorted)."""

    time: Times
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    missing: Times

    def prices(self) -> Prices:
        return Prices(self.open, self.high, self.low, self.close,
                      np.full(len(self.time), len(self.time), dtype=np.int64))  # fmt: skip


@dataclass(frozen=True)
class Verdicts:
    """Per signal: its verdict (an index into VERDICTS) and, for an outcome, its figures
    (NaN, -1 and NaT elsewhere; `judged_to` is also t's open for `no risk unit`)."""

    verdict: Ints
    realized_rr: Floats
    held: Ints
    mae: Floats
    mfe: Floats
    judged_to: Times


def judge(bars: ChartBars, times: Times, sides: Ints, judgement: Judgement) -> Verdicts:
    """The verdict of each signal on bar opens `times` taking `sides`, on one chart."""
    n, h = len(bars.time), judgement.horizon
    if n == 0:
        return _empty(len(times), np.where(sides == 0, NOT_TRADED, NO_BAR).astype(np.int64))
    rows = np.searchsorted(bars.time, times)
    present = (rows < n) & (bars.time[np.minimum(rows, n - 1)] == times)
    last = np.minimum(rows + h, n - 1)  # the horizon's bar, or the newest one
    gap = np.searchsorted(bars.missing, bars.time[last], "right") > np.searchsorted(
        bars.missing, times, "right"
    )
    unit = risk_unit(bars.prices(), judgement)
    entry_unit = unit[np.minimum(rows, n - 1)]
    unknown = ~np.isfinite(entry_unit) | (entry_unit <= 0)
    verdict = np.select(
        [sides == 0, ~present, gap, rows + h >= n, unknown],
        [NOT_TRADED, NO_BAR, GAP, NOT_MATURED, NO_RISK_UNIT],
        default=WIN,  # decided below
    ).astype(np.int64)
    verdicts = _empty(len(times), verdict)
    risky = verdict == NO_RISK_UNIT
    verdicts.judged_to[risky] = bars.time[rows[risky]]  # read the bars up to t
    judged = np.flatnonzero(verdict == WIN)
    if len(judged):
        _outcomes(bars, unit, judgement, verdicts, rows=rows[judged], sides=sides[judged],
                  at=judged)  # fmt: skip
    return verdicts


def _empty(count: int, verdict: Ints) -> Verdicts:
    return Verdicts(verdict, np.full(count, np.nan), np.full(count, -1, dtype=np.int64),
                    np.full(count, np.nan), np.full(count, np.nan),
                    np.full(count, np.datetime64("NaT"), dtype="M8[us]"))  # fmt: skip


def _outcomes(bars: ChartBars, unit: Floats, judgement: Judgement, verdicts: Verdicts, *,
              rows: Ints, sides: Ints, at: Ints) -> None:  # fmt: skip
    """Fill in the outcomes of the matured signals at `at` (bar rows `rows`)."""
    first, stop = int(rows.min()), int(rows.max()) + judgement.horizon + 1
    part = _part(bars, first, stop)
    local = rows - first
    by_side = {side: trades(part, unit[first:stop], judgement, side)
               for side in (1, -1) if (sides == side).any()}  # fmt: skip
    for side, made in by_side.items():
        mine = sides == side
        _fill(verdicts, made, at[mine], local[mine])
        held = made.held[local[mine]]
        worst, best = excursions(bars, rows[mine], held, side)
        r = risk(unit[rows[mine]], judgement)
        verdicts.mae[at[mine]], verdicts.mfe[at[mine]] = worst / r, best / r
    verdicts.judged_to[at] = bars.time[rows + judgement.horizon]


def _part(bars: ChartBars, first: int, stop: int) -> Prices:
    cut = slice(first, stop)
    return Prices(bars.open[cut], bars.high[cut], bars.low[cut], bars.close[cut],
                  np.full(stop - first, stop - first, dtype=np.int64))  # fmt: skip


def _fill(verdicts: Verdicts, made: Trades, at: Ints, local: Ints) -> None:
    assert made.known[local].all(), "a matured signal with a risk unit is always known"
    exit_, ambiguous = made.exit[local], made.ambiguous[local]
    verdicts.verdict[at] = np.where(
        ambiguous, AMBIGUOUS, np.where(exit_ > 0, WIN, np.where(exit_ < 0, LOSS, TIMEOUT))
    )
    verdicts.realized_rr[at] = made.result[local]
    verdicts.held[at] = made.held[local]


def excursions(bars: ChartBars, rows: Ints, held: Ints, side: int) -> tuple[Floats, Floats]:
    """The most each position at `rows` (opened at the close, held `held` bars) went
    against its side and for it, as price distances, never below 0."""
    entry = bars.close[rows]
    highest, lowest = entry.copy(), entry.copy()
    for k in range(1, int(held.max(initial=0)) + 1):
        still = k <= held
        at = np.minimum(rows + k, len(bars.close) - 1)
        highest = np.where(still, np.maximum(highest, bars.high[at]), highest)
        lowest = np.where(still, np.minimum(lowest, bars.low[at]), lowest)
    up, down = highest - entry, entry - lowest
    return (down, up) if side > 0 else (up, down)
