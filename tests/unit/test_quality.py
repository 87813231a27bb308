"""Quality checks on bars: each planted problem found by its code, a clean market found clean."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from candlelab.demo import demo_charts
from candlelab.market.candles import Bars
from candlelab.market.charts import Chart
from candlelab.market.quality import check_bars, runs
from candlelab.market.quality_rules import QualityRules
from candlelab.market.synthetic_market import MARKETS, MarketSpec
from tests.fixtures.quality_cases import clean_bars, pathological_bars, planted_times

CRYPTO = Chart(1, "X", "1h", "test", "UTC", "24/7", "0m", None)
RULES = QualityRules()


def columns(bars: Bars) -> dict[str, np.ndarray]:
    return {
        name: getattr(bars, name) for name in ("time", "open", "high", "low", "close", "volume")
    }


def found(chart: Chart, bars: Bars, rules: QualityRules = RULES) -> set[tuple[str, object, object]]:
    return {
        (f.code, np.datetime64(f.start.replace(tzinfo=None), "us"),
         np.datetime64(f.end.replace(tzinfo=None), "us"))
        for f in check_bars(chart, columns(bars), rules)
    }  # fmt: skip


def test_every_planted_problem_is_found_by_its_code_and_nothing_else() -> None:
    assert found(CRYPTO, pathological_bars()) == planted_times()


def test_findings_carry_their_values() -> None:
    findings = {f.code: f for f in check_bars(CRYPTO, columns(pathological_bars()), RULES)}
    assert findings["gap"].values["missing"] == findings["gap"].bars == 5
    assert findings["unit_jump"].values["factor"] == pytest.approx(100, rel=0.05)
    assert findings["unit_jump"].bars == 10
    assert findings["split_like"].values["ratio"] == "2:1"
    assert findings["price_jump"].values["change"] == pytest.approx(0.35, abs=0.03)
    assert findings["price_jump"].values["deviations"] > RULES.jump_threshold
    assert findings["stale"].bars == 7
    assert findings["split_like"].message.startswith("ratio 2:1, from ")


def test_a_clean_walk_has_no_findings() -> None:
    for seed in range(5):
        assert found(CRYPTO, clean_bars(seed, 3000)) == set()


def test_the_demo_market_is_a_clean_reference_set() -> None:
    """Every chart of the synthetic market, against its own calendar: nothing to report.

    Fat-tailed returns, regime changes, session gaps, holidays and early closes included.
    """
    for instrument, timeframe, bars in demo_charts(MarketSpec(seed=11)):
        market = MARKETS[instrument.market]
        offset = market.hourly_offset if timeframe == "1h" else "0m"
        chart = Chart(1, instrument.symbol, timeframe, "s", market.timezone, market.calendar,
                      offset, None)  # fmt: skip
        assert found(chart, bars) == set(), (instrument.symbol, timeframe)


def test_a_reverse_split_and_a_lasting_tenfold_move_read_as_splits() -> None:
    bars = clean_bars(2, 400)
    for name in ("open", "high", "low", "close"):
        getattr(bars, name)[200:] *= 10  # a 1:10 reverse split that never reverts
    findings = check_bars(CRYPTO, columns(bars), RULES)
    assert [(f.code, f.values["ratio"]) for f in findings] == [("split_like", "1:10")]


def test_a_hundredfold_move_that_never_reverts_is_still_a_unit_jump() -> None:
    bars = clean_bars(3, 400)
    for name in ("open", "high", "low", "close"):
        getattr(bars, name)[350:] /= 100
    (finding,) = check_bars(CRYPTO, columns(bars), RULES)
    assert (finding.code, finding.bars) == ("unit_jump", 50)


def test_equity_bars_on_a_holiday_are_off_calendar_and_a_missing_session_is_a_gap() -> None:
    nyse = Chart(2, "AAPL", "1d", "test", "America/New_York", "XNYS", "0m", None)
    # NYSE sessions in December 2025: the 25th is a holiday, the 24th closes early.
    days = ["2025-12-19", "2025-12-22", "2025-12-23", "2025-12-25", "2025-12-26", "2025-12-29"]
    bars = clean_bars(4, len(days))
    times = np.array([np.datetime64(f"{day}T05:00", "us") for day in days])  # NY midnight
    bars = Bars(times, bars.open, bars.high, bars.low, bars.close, bars.volume)
    findings = check_bars(nyse, columns(bars), RULES)
    assert [(f.code, f.start, f.bars) for f in findings] == [
        ("gap", datetime(2025, 12, 24, 5, tzinfo=UTC), 1),
        ("off_calendar", datetime(2025, 12, 25, 5, tzinfo=UTC), 1),
    ]


def test_a_feed_shifted_by_an_hour_after_a_dst_change_is_off_calendar() -> None:
    """NYSE hourly bars from 09:30 New York, but the summer ones written an hour late."""
    nyse = Chart(3, "AAPL", "1h", "test", "America/New_York", "XNYS", "30m", None)
    winter = [f"2025-03-07T{h}:30" for h in range(14, 21)]  # 09:30-15:30 New York (UTC-5)
    summer_late = [f"2025-03-10T{h}:30" for h in range(14, 21)]  # should start 13:30 (UTC-4)
    times = np.array([np.datetime64(t, "us") for t in winter + summer_late])
    base = clean_bars(5, len(times))
    bars = Bars(times, base.open, base.high, base.low, base.close, base.volume)
    codes = {(f.code, f.start.hour, f.bars) for f in check_bars(nyse, columns(bars), RULES)}
    assert codes == {("gap", 13, 1), ("off_calendar", 20, 1)}


def test_runs_finds_each_stretch_at_least_the_minimum_long() -> None:
    mask = np.array([1, 1, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert list(runs(mask)) == [(0, 1), (3, 3), (5, 7)]
    assert list(runs(mask, 3)) == [(5, 7)]
    assert list(runs(np.zeros(0, dtype=bool))) == []
