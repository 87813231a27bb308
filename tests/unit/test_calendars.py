"""Trading calendars: which bars a chart should have, session by session."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.errors import InvalidValue
from candlelab.market.calendars import (
    bar_ends,
    bar_grid,
    check_calendar,
    closed,
    expected_bars,
    latest_length,
)
from candlelab.market.timeframes import Timeframe


def bars(calendar: str, timeframe: str, clock: str, offset: str, span: tuple[str, str]
         ) -> list[str]:  # fmt: skip
    """The expected bar starts in `span` as minutes, on the wall clock `clock`."""
    times = expected_bars(
        calendar, Timeframe.parse(timeframe), timezone=clock, offset=offset,
        first=np.datetime64(span[0], "us"), last=np.datetime64(span[1], "us"),
    )  # fmt: skip
    return [str(t.astype("M8[m]")) for t in times]


def test_nyse_november_2025_thanksgiving_closed_and_the_day_after_closes_at_one() -> None:
    daily = bars("XNYS", "1d", "America/New_York", "0m", ("2025-11-03T05:00", "2025-11-28T05:00"))
    assert len(daily) == 19  # 20 weekdays, Thanksgiving (the 27th) closed
    assert "2025-11-27T05:00" not in daily
    hourly = bars("XNYS", "1h", "America/New_York", "30m", ("2025-11-03T14:30", "2025-11-28T20:30"))
    assert len(hourly) == 18 * 7 + 4  # 09:30 to 15:30; on the 28th to 12:30
    assert [t for t in hourly if t.startswith("2025-11-28")][-1] == "2025-11-28T17:30"


def test_nyse_sessions_move_in_utc_across_the_march_switch() -> None:
    hourly = bars("XNYS", "1h", "America/New_York", "30m", ("2025-03-07T00:00", "2025-03-10T23:00"))
    assert hourly[0] == "2025-03-07T14:30"  # 09:30 EST
    assert next(t for t in hourly if t.startswith("2025-03-10")) == "2025-03-10T13:30"  # EDT
    assert len(hourly) == 14


def test_the_fx_week_runs_sunday_to_friday_17_00_new_york() -> None:
    summer = bars("24/5", "1h", "UTC", "0m", ("2025-06-27T18:00", "2025-06-29T23:00"))
    assert summer == ["2025-06-27T18:00", "2025-06-27T19:00", "2025-06-27T20:00",
                      "2025-06-29T21:00", "2025-06-29T22:00", "2025-06-29T23:00"]  # fmt: skip
    winter = bars("24/5", "1h", "UTC", "0m", ("2025-12-05T20:00", "2025-12-07T22:00"))
    assert winter == ["2025-12-05T20:00", "2025-12-05T21:00", "2025-12-07T22:00"]


def test_tokyo_lunch_break_has_no_half_hour_bars() -> None:
    bars_30m = bars("XTKS", "30m", "Asia/Tokyo", "0m", ("2025-06-02T00:00", "2025-06-02T06:30"))
    assert "2025-06-02T02:00" in bars_30m  # 11:00 JST, morning session
    assert "2025-06-02T02:30" not in bars_30m  # 11:30-12:30 JST lunch
    assert "2025-06-02T03:00" not in bars_30m
    assert "2025-06-02T03:30" in bars_30m  # 12:30 JST, afternoon session


def test_continuous_4h_bars_keep_to_local_midnight_across_dst() -> None:
    london = bars("24/7", "4h", "Europe/London", "0m", ("2025-03-29T00:00", "2025-03-31T00:00"))
    assert london[5:8] == ["2025-03-29T20:00", "2025-03-30T00:00", "2025-03-30T03:00"]


def test_weeks_and_months_are_expected_when_any_session_falls_in_them() -> None:
    weeks = bars("XNYS", "1w", "America/New_York", "0m", ("2025-12-22T05:00", "2026-01-05T05:00"))
    assert weeks == ["2025-12-22T05:00", "2025-12-29T05:00", "2026-01-05T05:00"]
    months = bars("XNYS", "1M", "America/New_York", "0m", ("2025-11-01T04:00", "2026-01-01T05:00"))
    assert months == ["2025-11-01T04:00", "2025-12-01T05:00", "2026-01-01T05:00"]


def test_unknown_calendars_are_refused_by_name() -> None:
    for good in ("24/7", "24/5", "XNYS", "XLON", "NYSE"):
        check_calendar(good)
    with pytest.raises(InvalidValue, match="calendar 'MOON'"):
        check_calendar("MOON")


def test_daily_fx_bars_are_owed_monday_to_friday_and_a_sunday_bar_is_allowed() -> None:
    days = bars("24/5", "1d", "UTC", "0m", ("2025-06-01T00:00", "2025-06-14T00:00"))
    assert [d[:10] for d in days] == [f"2025-06-{n:02d}" for n in (*range(2, 7), *range(9, 14))]
    allowed = expected_bars(
        "24/5", Timeframe.parse("1d"), timezone="UTC", offset="0m",
        first=np.datetime64("2025-06-01", "us"), last=np.datetime64("2025-06-14", "us"),
        owed=False,
    )  # fmt: skip
    assert set(allowed.astype("M8[D]").astype(str)) - {d[:10] for d in days} == {
        "2025-06-01", "2025-06-08"}  # the Sunday stubs, 22:00-24:00 UTC  # fmt: skip


# Clocks with DST at 02:00, at midnight (a day with no midnight), half an hour of DST,
# half-hour offsets, and a day of 48 hours (Alaska's 1867 change of side of the date line,
# whose local mean time has seconds: no minute bars there).
CLOCKS = [
    ("UTC", "2025-03-01"),
    ("America/New_York", "2025-03-05"),
    ("America/New_York", "2025-10-30"),
    ("Europe/London", "2025-03-27"),
    ("America/Sao_Paulo", "2018-10-31"),
    ("America/Havana", "2024-03-06"),
    ("Australia/Lord_Howe", "2025-04-03"),
    ("Asia/Kolkata", "2025-06-01"),
]
DATE_LINE = ("America/Juneau", "1867-10-14")
TIMEFRAMES = ["1m", "15m", "1h", "4h", "1d", "2d", "1w", "1M", "3M", "12M"]


def closes(timeframe: Timeframe, clock: str, day: str) -> tuple[np.ndarray, np.ndarray]:
    """A few bars of the timeframe around the day on the clock, and their exact closes."""
    first = np.datetime64(day, "us")
    span = max(timeframe.shortest * 6, 3 * 86_400_000_000) if not timeframe.intraday else 0
    last = first + np.timedelta64(span or 4 * 86_400_000_000, "us")
    starts = bar_grid(timeframe, clock, "0m", (first, last))
    if timeframe.intraday:  # the hours around each change, not all of them
        starts = starts[:: max(1, len(starts) // 200)]
    return starts, bar_ends(timeframe, clock, starts)


@pytest.mark.parametrize(
    ("clock", "day", "timeframes"),
    [(*c, TIMEFRAMES) for c in CLOCKS] + [(*DATE_LINE, TIMEFRAMES[4:])],
)
def test_the_closed_check_agrees_with_the_exact_close_on_every_kind_of_bar(
    clock: str, day: str, timeframes: list[str]
) -> None:  # fmt: skip
    rng = np.random.default_rng(3)
    for name in timeframes:
        timeframe = Timeframe.parse(name)
        starts, ends = closes(timeframe, clock, day)
        assert len(starts) > 2, (name, clock)
        for start, end in zip(starts, ends, strict=True):
            assert end - start <= latest_length(timeframe), (name, clock, start)
            jitter = np.timedelta64(int(rng.integers(1, 10**11)), "us")
            for now in (end - np.timedelta64(1, "us"), end, end + np.timedelta64(1, "us"),
                        end - jitter, end + jitter, start + latest_length(timeframe)):  # fmt: skip
                assert closed(timeframe, clock, start, now) == (end <= now), (name, clock, start)


def test_an_old_bar_is_closed_without_the_exact_close_and_a_new_one_needs_it() -> None:
    daily, start = Timeframe.parse("1d"), np.datetime64("2025-03-08T05:00", "us")
    # A 1d bar's close can be up to three days after its open: before that, only the
    # calendar arithmetic tells, and here it says closed a day after the open.
    assert latest_length(daily) == np.timedelta64(3, "D")
    assert not closed(daily, "America/New_York", start, start + np.timedelta64(23, "h"))
    assert closed(daily, "America/New_York", start, start + np.timedelta64(24, "h"))
    assert closed(daily, "America/New_York", start, start + np.timedelta64(3000, "D"))
