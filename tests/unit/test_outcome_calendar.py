"""The bars a judgement finds missing: the calendar is skipped only where it cannot matter."""

from __future__ import annotations

import numpy as np

from candlelab.market.charts import Chart
from candlelab.monitoring.outcomes import _missing

HOUR = np.timedelta64(1, "h")
START = np.datetime64("2024-03-01T00:00", "us")


def chart(timeframe: str = "1h", timezone: str = "UTC", calendar: str = "24/7") -> Chart:
    return Chart(1, "BTCUSDT", timeframe, "test", timezone, calendar, "0m", None)


def test_an_unbroken_24_7_chart_lacks_nothing_and_a_hole_in_it_is_found() -> None:
    times = START + np.arange(48) * HOUR
    assert len(_missing(chart(), times, times[5])) == 0
    holed = np.delete(times, 30)
    assert _missing(chart(), holed, holed[5]).tolist() == [times[30].item()]


def test_a_bar_missing_at_the_first_signal_is_found_too() -> None:
    times = START + np.arange(48) * HOUR
    assert _missing(chart(), times[6:], times[5]).tolist() == [times[5].item()]


def test_daily_bars_on_a_clock_that_changes_are_left_to_the_calendar() -> None:
    days = np.datetime64("2024-03-01T05:00", "us") + np.arange(40) * np.timedelta64(1, "D")
    # New York's days are 23 or 25 hours long around a change of clock: bars a fixed 24 h
    # apart are not its bars, and the calendar says which it expected.
    found = _missing(chart("1d", "America/New_York"), days, days[0])
    assert len(found) > 0
