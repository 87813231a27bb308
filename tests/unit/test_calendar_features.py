"""Calendar features: the chart's wall clock across DST, and minutes to the session close."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pytest

from candlelab.errors import InvalidFeature
from candlelab.features.calendar_features import (
    KINDS,
    calendar_feature,
    compute_calendar,
    history,
)
from candlelab.market.timeframes import Timeframe

HOURLY, DAILY, MINUTES_5 = Timeframe.parse("1h"), Timeframe.parse("1d"), Timeframe.parse("5m")


def _times(*texts: str) -> npt.NDArray[np.datetime64]:
    return np.array(texts, dtype="M8[us]")


def _hours(first: str, count: int) -> npt.NDArray[np.datetime64]:
    return np.datetime64(first, "us") + np.arange(count) * np.timedelta64(1, "h")


def test_london_hour_across_the_spring_change() -> None:
    # 2024-03-31 01:00 UTC: London moves from GMT to BST, 01:00 local becomes 02:00.
    hours = compute_calendar("hour", _hours("2024-03-30T23:00", 4), HOURLY, "Europe/London", "24/7")
    assert hours.tolist() == [23.0, 0.0, 2.0, 3.0]


def test_new_york_hour_across_the_autumn_change() -> None:
    # 2024-11-03 06:00 UTC: New York leaves EDT; 01:00 local happens twice.
    times = _hours("2024-11-03T04:00", 4)
    hours = compute_calendar("hour", times, HOURLY, "America/New_York", "24/7")
    assert hours.tolist() == [0.0, 1.0, 1.0, 2.0]


def test_wall_clock_fields_of_the_bar_open() -> None:
    times = _times("2024-07-05T13:35")  # a Friday, 09:35 in New York
    fields = {kind: compute_calendar(kind, times, MINUTES_5, "America/New_York", "XNYS")[0]
              for kind in ("hour", "minute", "weekday", "day_of_month", "month")}  # fmt: skip
    assert fields == {
        "hour": 9.0,
        "minute": 35.0,
        "weekday": 4.0,
        "day_of_month": 5.0,
        "month": 7.0,
    }
    monday = compute_calendar("weekday", _times("2024-07-08T00:00"), DAILY, "UTC", "24/7")
    assert monday.dtype == np.float64
    assert monday.tolist() == [0.0]


def test_minutes_to_an_exchange_close() -> None:
    # XNYS hourly bars on a 30-minute offset: 09:30 to 10:30 EDT leaves 330 minutes to 16:00;
    # 15:30 to 16:30 ends after the close; the day after Thanksgiving closes at 13:00 EST, 30
    # minutes after the 12:30 close of an 11:30 bar; a bar before the open is in no session.
    times = _times("2024-07-05T13:30", "2024-07-05T19:30", "2024-11-29T16:30", "2024-07-05T12:30")
    left = compute_calendar("minutes_to_close", times, HOURLY, "America/New_York", "XNYS")
    assert left[:3].tolist() == [330.0, 0.0, 30.0]
    assert np.isnan(left[3])


def test_minutes_to_close_stop_at_a_lunch_break() -> None:
    # Tokyo, July 2024: 09:00 to 11:30 and 12:30 to 15:00. An 11:00 bar closes 25 minutes
    # before lunch; an 11:30 bar is in no session; a 12:30 bar closes 145 minutes before 15:00.
    times = _times("2024-07-05T02:00", "2024-07-05T02:30", "2024-07-05T03:30")
    left = compute_calendar("minutes_to_close", times, MINUTES_5, "Asia/Tokyo", "XTKS")
    assert left[[0, 2]].tolist() == [25.0, 145.0]
    assert np.isnan(left[1])


def test_minutes_to_close_of_a_daily_bar_is_zero() -> None:
    day = compute_calendar("minutes_to_close", _times("2024-07-05T04:00"), DAILY,
                           "America/New_York", "XNYS")  # fmt: skip
    assert day.tolist() == [0.0]


def test_fx_counts_to_the_friday_close_and_crypto_never_closes() -> None:
    # Friday 15:00 EDT bar closes 16:00: 60 minutes to the 17:00 weekly close. Monday 10:00
    # EDT closes 11:00: 4 days and 6 hours. Saturday: no session.
    times = _times("2024-07-05T19:00", "2024-07-01T14:00", "2024-07-06T12:00")
    left = compute_calendar("minutes_to_close", times, HOURLY, "America/New_York", "24/5")
    assert left[:2].tolist() == [60.0, (4 * 24 + 6) * 60.0]
    assert np.isnan(left[2])
    crypto = compute_calendar("minutes_to_close", times, HOURLY, "UTC", "24/7")
    assert np.isnan(crypto).all()


@pytest.mark.parametrize("kind", KINDS)
def test_point_in_time_and_no_history(kind: str) -> None:
    times = _hours("2024-03-08T00:00", 24 * 30)  # across New York's spring change
    full = compute_calendar(kind, times, HOURLY, "America/New_York", "XNYS")
    assert history(kind) == 0
    for t in (0, 200, 24 * 30 - 1):
        part = compute_calendar(kind, times[: t + 1], HOURLY, "America/New_York", "XNYS")
        alone = compute_calendar(kind, times[t : t + 1], HOURLY, "America/New_York", "XNYS")
        np.testing.assert_array_equal(part, full[: t + 1])
        np.testing.assert_array_equal(alone, full[t : t + 1])


def test_no_bars_give_no_values() -> None:
    empty = np.array([], dtype="M8[us]")
    assert compute_calendar("minutes_to_close", empty, HOURLY, "UTC", "24/5").shape == (0,)


def test_unknown_kind_is_refused_with_the_closest() -> None:
    assert calendar_feature("weekday") == "weekday"
    message = "unknown calendar feature 'hours'; closest: hour, "
    with pytest.raises(InvalidFeature, match="^" + re.escape(message)):
        calendar_feature("hours")
    with pytest.raises(InvalidFeature, match=r"^unknown calendar feature 'dow'"):
        compute_calendar("dow", _times("2024-07-05T00:00"), HOURLY, "UTC", "24/7")
