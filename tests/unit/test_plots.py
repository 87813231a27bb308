"""The Models pages' plots: the result curve is the day windows added up (its deepest
drawdown the one `figures` computes from the same days), and each plot is well-formed
SVG with a mark per figure, or words when there is nothing to draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from candlelab.monitoring.figures import max_drawdown
from candlelab.web import plots
from candlelab.web.monitoring import result_curve

SVG = "{http://www.w3.org/2000/svg}"
MONDAY = datetime(2025, 1, 6, tzinfo=UTC)


def day_windows(results: list[float | None]) -> list[dict[str, Any]]:
    """Day windows as model_performance holds them, newest first (None: no trade that day)."""
    windows = [{"window_start": MONDAY + timedelta(days=i), "trades": 0 if r is None else 4,
                "expectancy_r": None if r is None else r / 4}
               for i, r in enumerate(results)]  # fmt: skip
    return windows[::-1]


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def test_the_curve_adds_the_days_up_and_its_drawdown_is_the_stored_one() -> None:
    days = result_curve(day_windows([1.0, -2.0, None, 0.5, 3.0, -1.0]))
    assert [d.day.day for d in days] == [6, 7, 8, 9, 10, 11]  # oldest first
    assert [d.curve_r for d in days] == pytest.approx([1.0, -1.0, -1.0, -0.5, 2.5, 1.5])
    assert [d.drawdown_r for d in days] == pytest.approx([0.0, 2.0, 2.0, 1.5, 0.0, 1.0])
    rng = np.random.default_rng(3)
    for _ in range(50):
        daily = rng.normal(0.1, 1.0, int(rng.integers(1, 60)))
        deepest = max(d.drawdown_r for d in result_curve(day_windows(daily.tolist())))
        assert deepest == pytest.approx(max_drawdown(daily)[0])


def test_the_result_curve_has_a_point_per_day_and_its_drawdown_below() -> None:
    days = result_curve(day_windows([1.0, -2.0, 0.5, 3.0]))
    svg = parsed(plots.result_curve(days))
    (curve,) = svg.iter(f"{SVG}polyline")
    assert len(curve.attrib["points"].split()) == 4
    (drawdown,) = svg.iter(f"{SVG}polygon")
    assert len(drawdown.attrib["points"].split()) == 4 + 2  # closed on the zero line
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"2025-01-06", "2025-01-09", "-2.0 R", "+0.0 R"} <= set(labels)
    titles = [t.text for t in svg.iter(f"{SVG}title")]
    assert "2025-01-07: 4 trades, -2.00 R, curve -1.00 R, drawdown 2.00 R" in titles


def week(start: int, rate: float | None, mean: float | None) -> dict[str, Any]:
    return {"window_start": MONDAY + timedelta(weeks=start), "trades": 0 if rate is None else 9,
            "win_rate": rate, "win_rate_low": rate and rate - 0.2,
            "win_rate_high": rate and rate + 0.2, "expectancy_r": mean}  # fmt: skip


def test_weeks_have_a_win_rate_bar_with_its_interval_and_an_expectancy_bar() -> None:
    svg = parsed(plots.weekly([week(0, 0.5, 0.3), week(1, None, None), week(2, 0.2, -0.4)]))
    bars = [r.attrib["class"] for r in svg.iter(f"{SVG}rect")]
    assert bars == ["bar rate", "bar up", "bar rate", "bar down"]  # the empty week: none
    assert len([line for line in svg.iter(f"{SVG}line")
                if line.attrib["class"] == "interval"]) == 2  # fmt: skip
    labels = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"01-06", "01-13", "01-20", "win 50 %", "+0.40 R", "-0.40 R"} <= labels


def test_calibration_has_a_dot_per_bucket_and_latency_a_bar_per_percentile() -> None:
    buckets = [
        {"low": 0.5, "high": 0.6, "count": 10, "mean_proba": 0.55, "win_rate": 0.4},
        {"low": 0.8, "high": 0.9, "count": 40, "mean_proba": 0.84, "win_rate": 0.8},
    ]
    svg = parsed(plots.calibration(buckets))
    dots = list(svg.iter(f"{SVG}circle"))
    assert len(dots) == 2
    assert float(dots[0].attrib["r"]) < float(dots[1].attrib["r"])  # sized by trades
    overall = {"latency_p50_ms": 5.0, "latency_p95_ms": 12.5, "latency_p99_ms": 40.0}
    texts = [t.text for t in parsed(plots.latency(overall)).iter(f"{SVG}text")]
    assert texts == ["p50", "5.0 ms", "p95", "12.5 ms", "p99", "40.0 ms"]


def test_with_nothing_to_draw_a_plot_says_so() -> None:
    assert "evaluate --report" in plots.result_curve([])
    assert "evaluate --report" in plots.weekly([])
    assert "No trade" in plots.calibration([])
    assert "No latency" in plots.latency({"latency_p50_ms": None})
