"""The performance drift rule: the live expectancy against the walk-forward estimate."""

from __future__ import annotations

import pytest

from candlelab.monitoring.performance_drift import performance_status


@pytest.mark.parametrize(
    ("trades", "mean", "estimate", "status"),
    [
        (29, -2.0, 0.3, "unknown"),  # too few trades to say
        (30, -2.0, None, "unknown"),  # no estimate recorded
        (30, 0.06, 0.3, "ok"),  # 0.24 R short: within the margin
        (30, 0.05, 0.3, "warn"),  # 0.25 R short
        (30, -0.2, 0.3, "alert"),  # twice the margin
        (30, 0.9, 0.3, "ok"),  # better than validated is no drift to alert on
    ],
)
def test_the_status_is_the_expectancys_gap_in_margins(
    trades: int, mean: float | None, estimate: float | None, status: str
) -> None:
    assert performance_status(trades, mean, estimate) == status
