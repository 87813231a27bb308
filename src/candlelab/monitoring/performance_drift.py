"""Performance drift: does a version still earn what its validation said it would?

The training run's walk-forward validation measured, on its test blocks, the expectancy
in R and the hit rate (the share of trades that gained) of acting on the model's signals
under its target's judgement (`training.evaluation`). Over a drift window, the version's
judged signals give the same two figures, live. The status is the expectancy's: the
live figure `margin` R or more below the estimate is `warn`, twice that `alert`; with
fewer than `min_trades` judged trades, or no estimate recorded, it is `unknown`. The hit
rate comes with Wilson's 95 % interval, and whether the estimate lies inside it.

`candlelab evaluate --report` raises the performance alert (a losing version, or one
short of its estimate, over its last days); this is the same comparison over the window
`candlelab drift` looks at, beside the features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from candlelab.monitoring.figures import wilson_interval
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
MARGIN = 0.25  # R: as `monitoring.alerts.Rules.expectancy_margin`
MIN_TRADES = 30


@dataclass(frozen=True)
class PerformanceDrift:
    trades: int  # judged, in the window
    expectancy_r: float | None
    win_rate: float | None
    win_rate_low: float | None
    win_rate_high: float | None
    estimate_expectancy_r: float | None  # the run's walk-forward figures
    estimate_win_rate: float | None
    status: str  # ok / warn / alert / unknown

    @property
    def gap_r(self) -> float | None:
        """Live expectancy minus the estimate: negative, it earns less than validated."""
        if self.expectancy_r is None or self.estimate_expectancy_r is None:
            return None
        return self.expectancy_r - self.estimate_expectancy_r


Window = tuple[str, int, datetime, datetime]  # model name, version, start, end


def performance_drift(conn: Connection, window: Window, margin: float = MARGIN,
                      min_trades: int = MIN_TRADES) -> PerformanceDrift:  # fmt: skip
    """The version's (name, version, start, end) live figures against its estimate."""
    name, version, start, end = window
    params = {"model_name": name, "model_version": version, "start": start, "end": end}
    row = conn.execute(QUERIES["window_results"], params).fetchone()
    trades, mean, gained, estimate, estimate_rate = row if row else (0, None, 0, None, None)
    estimate, estimate_rate = _known(estimate), _known(estimate_rate)
    low, high = wilson_interval(gained, trades) if trades else (None, None)
    status = performance_status(trades, mean, estimate, margin, min_trades)
    return PerformanceDrift(trades, mean, gained / trades if trades else None, low, high,
                            estimate, estimate_rate, status)  # fmt: skip


def _known(value: float | None) -> float | None:
    """A run with no trade in its test blocks recorded NaN: no estimate."""
    return None if value is None or math.isnan(value) else value


def performance_status(trades: int, mean: float | None, estimate: float | None,
                       margin: float = MARGIN, min_trades: int = MIN_TRADES) -> str:  # fmt: skip
    if trades < min_trades or mean is None or estimate is None:
        return "unknown"
    gap = mean - estimate
    return "alert" if gap <= -2 * margin else "warn" if gap <= -margin else "ok"
