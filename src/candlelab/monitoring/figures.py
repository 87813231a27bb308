"""A window's performance figures, from its signals' arrays: pure NumPy, no database.

Conventions (docs/monitoring.md, "Performance"):
- a **trade** is a judged signal with a result (`realized_rr`; NaN here otherwise); a
  **win** is a trade whose result is above 0 R, fees and slippage included (a timeout
  counts by its sign, so a forward-return target has wins too);
- the **daily curve** is the sum of the trades' results per UTC day of their signal's bar,
  every calendar day from the window's first trade's day to its last, days without a trade
  0 R. Sharpe and Sortino are of that curve, annualised by sqrt(365) (calendar days);
  Sortino's downside deviation is sqrt(mean(min(day, 0)²)) over all days (target 0);
- drawdowns are of the cumulative daily curve starting at 0 before the first day;
- latency quantiles are over every signal of the window with a latency (NumPy's linear
  interpolation), the other figures over its trades.
A figure that cannot be computed (no trade, a single day, no loss for the profit factor,
a zero spread) is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %
DAYS_A_YEAR = 365
BUCKETS = 10  # reliability buckets of width 0.1 over [0, 1]


@dataclass(frozen=True)
class WindowSignals:
    """A window's signals in time order: the bar (its open), the result in R (NaN: no
    trade), the predicted class's probability and the latency (NaN: none recorded)."""

    time: npt.NDArray[np.datetime64]
    rr: Floats
    proba: Floats
    latency: Floats


def figures(window: WindowSignals) -> dict[str, Any]:
    """Every figure of the window, by the names of model_performance's columns."""
    traded = ~np.isnan(window.rr)
    rr, wins = window.rr[traded], window.rr[traded] > 0
    daily = daily_curve(window.time[traded], rr)
    low, high = wilson_interval(int(wins.sum()), len(rr))
    depth, days = max_drawdown(daily)
    p50, p95, p99 = latency_quantiles(window.latency)
    proba = window.proba[traded]
    return {"signals": len(window.rr), "trades": len(rr), "wins": int(wins.sum()),
            "win_rate": _ratio(wins.sum(), len(rr)), "win_rate_low": low, "win_rate_high": high,
            "profit_factor": profit_factor(rr), "expectancy_r": expectancy(rr), "sqn": sqn(rr),
            "sharpe": sharpe(daily), "sortino": sortino(daily), "max_drawdown_r": depth,
            "max_drawdown_days": days, "brier": brier(proba, wins),
            "reliability": reliability(proba, wins), "latency_p50_ms": p50,
            "latency_p95_ms": p95, "latency_p99_ms": p99}  # fmt: skip


def wilson_interval(wins: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson's score interval for a proportion (Wilson 1927): unlike p ± z·se it stays in
    [0, 1] and holds its coverage near 0 and 1 and for small n."""
    if n == 0:
        return None, None
    p, z2 = wins / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def profit_factor(rr: Floats) -> float | None:
    """Gross gains over gross losses; None without a loss (it would be infinite)."""
    losses = -rr[rr < 0].sum()
    return float(rr[rr > 0].sum() / losses) if losses > 0 else None


def expectancy(rr: Floats) -> float | None:
    """The mean result of a trade, in R."""
    return float(rr.mean()) if len(rr) else None


def sqn(rr: Floats) -> float | None:
    """Van Tharp's system quality number: sqrt(n) · mean / std (ddof 1), n not capped."""
    if len(rr) < 2 or not rr.std(ddof=1) > 0:
        return None
    return float(math.sqrt(len(rr)) * rr.mean() / rr.std(ddof=1))


def daily_curve(time: npt.NDArray[np.datetime64], rr: Floats) -> Floats:
    """The results summed per UTC day, every day from the first to the last, 0 without a
    trade; `time` in order."""
    if not len(rr):
        return np.zeros(0)
    days = time.astype("M8[D]").astype(np.int64)
    return np.bincount(days - days[0], weights=rr).astype(np.float64)


def sharpe(daily: Floats) -> float | None:
    """Mean over standard deviation (ddof 1) of the daily curve, times sqrt(365)."""
    if len(daily) < 2 or not daily.std(ddof=1) > 0:
        return None
    return float(daily.mean() / daily.std(ddof=1) * math.sqrt(DAYS_A_YEAR))


def sortino(daily: Floats) -> float | None:
    """Mean over the downside deviation (below 0, over every day) of the daily curve,
    times sqrt(365); None without a losing day."""
    downside = math.sqrt(float(np.mean(np.minimum(daily, 0.0) ** 2))) if len(daily) else 0.0
    if len(daily) < 2 or downside == 0:
        return None
    return float(daily.mean() / downside * math.sqrt(DAYS_A_YEAR))


def max_drawdown(daily: Floats) -> tuple[float | None, int | None]:
    """The deepest fall of the cumulative curve from a peak, in R, and its duration in
    days: from that peak to the day the curve is back at it, or to the last day if it is
    not (yet). (0, 0) for a curve that never falls."""
    if not len(daily):
        return None, None
    curve = np.concatenate([[0.0], np.cumsum(daily)])  # index 0: before the first day
    peaks = np.maximum.accumulate(curve)
    under = peaks - curve
    trough = int(under.argmax())
    if under[trough] <= 0:
        return 0.0, 0
    peak = int(np.flatnonzero(curve[: trough + 1] >= peaks[trough])[-1])
    back = np.flatnonzero(curve[trough:] >= peaks[trough])
    end = trough + int(back[0]) if len(back) else len(curve) - 1
    return float(under[trough]), end - peak


def brier(proba: Floats, wins: npt.NDArray[np.bool_]) -> float | None:
    """The Brier score of the predicted class's probability against the trade's being a
    win (one against the rest on the predicted class), over trades with a probability."""
    known = ~np.isnan(proba)
    if not known.any():
        return None
    return float(np.mean((proba[known] - wins[known]) ** 2))


def reliability(proba: Floats, wins: npt.NDArray[np.bool_]) -> list[dict[str, float | int]]:
    """Per probability bucket of width 1/BUCKETS holding trades: its bounds, how many, their
    mean probability and their win rate (a calibrated model has the two close)."""
    known = ~np.isnan(proba)
    p, won = proba[known], wins[known]
    bucket = np.minimum((p * BUCKETS).astype(np.int64), BUCKETS - 1)
    count = np.bincount(bucket, minlength=BUCKETS)
    mean_p = np.bincount(bucket, weights=p, minlength=BUCKETS)
    rate = np.bincount(bucket, weights=won.astype(np.float64), minlength=BUCKETS)
    return [{"low": b / BUCKETS, "high": (b + 1) / BUCKETS, "count": int(count[b]),
             "mean_proba": float(mean_p[b] / count[b]), "win_rate": float(rate[b] / count[b])}
            for b in np.flatnonzero(count).tolist()]  # fmt: skip


def latency_quantiles(latency: Floats) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99 of the recorded latencies (linear interpolation)."""
    known = latency[~np.isnan(latency)]
    if not len(known):
        return None, None, None
    p50, p95, p99 = np.percentile(known, [50, 95, 99]).tolist()
    return p50, p95, p99


def _ratio(part: float, whole: int) -> float | None:
    return float(part / whole) if whole else None
