"""What `quality` counts as a finding: its thresholds, with their defaults.

Apart from `quality` (NumPy, Polars, the store) so that the command line can show the
defaults in its help without importing the checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityRules:
    jump_threshold: float = 15.0  # robust standard deviations of the local log returns
    scale_window: int = 101  # bars around each bar its volatility is measured over
    ratio_tolerance: float = 0.02  # how close (in log) a jump must be to a split or 10^k
    zero_volume_bars: int = 3
    stale_bars: int = 5
