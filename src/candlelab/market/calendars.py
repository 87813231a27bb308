"""Trading calendars: when a market is open, and so which bars a chart should have.

A chart's `calendar` is "24/7" (crypto: always open), "24/5" (the FX week: Sunday 17:00
to Friday 17:00 New York time, moving with US daylight saving as the market does) or an
exchange code from exchange_calendars (XNYS, XLON, XTKS…), whose sessions carry the
exchange's holidays, early closes and lunch breaks.

A bar is expected when it overlaps a session; the bars of a chart must be aligned on its
wall clock (timezone and bar offset), as ingest validates them.

A new chart given no calendar is told one from its bars: `calendar_inference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from candlelab.errors import InvalidValue
from candlelab.market.timeframes import Timeframe

Times = npt.NDArray[np.datetime64]  # datetime64[us], UTC
CONTINUOUS = "24/7"
FX_WEEK = "24/5"
FX_ZONE = "America/New_York"
FX_ROLL_HOUR = 17  # the FX day and week turn at 17:00 New York time
# Intraday bar starts are searched on this grid before the alignment check: every DST
# change moves a wall clock by a multiple of 30 minutes.
SEARCH_STEP = np.timedelta64(30, "m")
MICROS_A_DAY = 86_400_000_000
LONGEST_OFFSET_CHANGE_DAYS = 2  # two UTC offsets differ by less: each lies within ±24 h


@dataclass(frozen=True)
class Sessions:
    """Open intervals [opens[i], closes[i]) in UTC, sorted and not overlapping."""

    opens: Times
    closes: Times

    def overlapping(self, starts: Times, ends: Times) -> npt.NDArray[np.bool_]:
        """Which intervals [starts, ends) overlap a session."""
        # Only the last session opening before an interval ends can still be open after
        # it starts: sessions are sorted and disjoint.
        last = np.searchsorted(self.opens, ends, side="left") - 1
        safe = np.clip(last, 0, None)
        result: npt.NDArray[np.bool_] = (last >= 0) & (self.closes[safe] > starts)
        return result


def sessions(calendar: str, start: np.datetime64, end: np.datetime64) -> Sessions:
    """The calendar's sessions that overlap [start, end)."""
    if calendar == CONTINUOUS:
        return Sessions(np.array([start], "M8[us]"), np.array([end], "M8[us]"))
    first, last = _day(start) - timedelta(days=7), _day(end) + timedelta(days=7)
    if calendar == FX_WEEK:
        return _fx_weeks(first, last)
    return _exchange_sessions(calendar, first, last)


def check_calendar(calendar: str) -> None:
    """Refuse a calendar name that is not 24/7, 24/5 or a known exchange code."""
    if calendar in (CONTINUOUS, FX_WEEK):
        return
    import exchange_calendars

    if calendar not in exchange_calendars.get_calendar_names(include_aliases=True):
        raise InvalidValue(
            f"calendar {calendar!r}: use 24/7, 24/5 or an exchange code such as XNYS "
            "(exchange_calendars lists them)"
        )


def expected_bars(
    calendar: str,
    timeframe: Timeframe,
    *,
    timezone: str,
    offset: str,
    first: np.datetime64,
    last: np.datetime64,
    owed: bool = True,
) -> Times:
    """The bar starts in [first, last] a chart should have: aligned bars overlapping a
    session. With `owed=False`, also the bars it may have without owing them."""
    starts = bar_grid(timeframe, timezone, offset, (first, last))
    if not len(starts):
        return starts
    ends = bar_ends(timeframe, timezone, starts)
    allowed: Times = starts[sessions(calendar, starts[0], ends[-1]).overlapping(starts, ends)]
    return owed_bars(calendar, timeframe, timezone, allowed) if owed else allowed


def owed_bars(calendar: str, timeframe: Timeframe, timezone: str, allowed: Times) -> Times:
    """Of the bars a chart may have (`expected_bars(owed=False)`), those it owes."""
    if calendar == FX_WEEK and timeframe.unit == "d":
        # The FX day that opens Sunday 17:00 New York is Monday's: daily FX bars run Monday
        # to Friday. A Sunday bar (the stub of a few hours some vendors write) overlaps the
        # week, so it is allowed; it is not owed.
        result: Times = allowed[_weekdays(allowed, timezone)]
        return result
    return allowed


def _weekdays(starts: Times, timezone: str) -> npt.NDArray[np.bool_]:
    """Which bar starts fall on Monday to Friday on the chart's wall clock."""
    local = pl.Series(starts).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    weekday: npt.NDArray[np.bool_] = (local.dt.weekday() <= 5).to_numpy()
    return weekday


def bar_grid(
    timeframe: Timeframe, timezone: str, offset: str, span: tuple[np.datetime64, np.datetime64]
) -> Times:
    """Every aligned bar start in the span [first, last] on the chart's wall clock."""
    first, last = span
    if timeframe.intraday:
        step = min(np.timedelta64(timeframe.micros, "us"), SEARCH_STEP)
        floor = first.astype("M8[D]").astype("M8[us]")  # midnight UTC: on every grid
        candidates = np.arange(floor, last + np.timedelta64(1, "us"), step)
        frame = pl.DataFrame({"time": candidates}).with_columns(
            pl.col("time").dt.replace_time_zone("UTC")
        )
        aligned = frame.filter(timeframe.aligned(pl.col("time"), timezone, offset))
        grid: Times = aligned["time"].dt.replace_time_zone(None).to_numpy()
        return grid[grid >= first]
    bounds = pl.Series(np.array([first, last], "M8[us]"))
    local = bounds.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    begin = local.dt.truncate(timeframe.every)[0]
    days = pl.datetime_range(begin, local[1], timeframe.every, time_zone=timezone, eager=True)
    return utc_times(days)


def bar_ends(timeframe: Timeframe, timezone: str, starts: Times) -> Times:
    """When each bar closes: days, weeks and months end at local midnight."""
    local = pl.Series("time", starts).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return utc_times(local.to_frame().select(timeframe.bar_end(pl.col("time"))).to_series())


def closed(timeframe: Timeframe, timezone: str, start: np.datetime64, now: np.datetime64) -> bool:
    """Whether the bar opening at `start` (UTC) has closed by `now`, as `bar_ends` says.

    Without time zone arithmetic when even its latest possible close is past, which is
    the case of every bar but the newest ones: a prediction's check costs nothing then."""
    if start + latest_length(timeframe) <= now:
        return True
    return bool(bar_ends(timeframe, timezone, np.array([start], "M8[us]"))[0] <= now)


def latest_length(timeframe: Timeframe) -> np.timedelta64:
    """The most a bar can last in UTC, whatever its clock. Minutes and hours are fixed
    durations. Days, weeks and months end at a wall-clock time: their wall length (a
    month 31 days at most) plus the change of the clock's UTC offset between open and
    close, under 48 h since every offset lies within ±24 h (DST, a zone's change of
    side of the date line alike)."""
    if timeframe.intraday:
        return np.timedelta64(timeframe.micros, "us")
    days = {"d": 1, "w": 7, "M": 31}[timeframe.unit] * timeframe.count
    return np.timedelta64((days + LONGEST_OFFSET_CHANGE_DAYS) * MICROS_A_DAY, "us")


def utc_times(local: pl.Series) -> Times:
    result: Times = local.dt.convert_time_zone("UTC").dt.replace_time_zone(None).to_numpy()
    return result.astype("M8[us]")


def _day(moment: np.datetime64) -> date:
    day: date = moment.astype("M8[D]").item()
    return day


def _fx_weeks(first: date, last: date) -> Sessions:
    """Sunday 17:00 to Friday 17:00, New York time, for every week in [first, last]."""
    sunday = np.datetime64(first - timedelta(days=(first.weekday() + 1) % 7), "D")
    sundays = np.arange(sunday, np.datetime64(last, "D") + 1, 7)
    return Sessions(_fx_moments(sundays), _fx_moments(sundays + 5))


def _fx_moments(days: npt.NDArray[np.datetime64]) -> Times:
    wall = days.astype("M8[us]") + np.timedelta64(FX_ROLL_HOUR, "h")
    return utc_times(pl.Series(wall).dt.replace_time_zone(FX_ZONE))


def _exchange_sessions(code: str, first: date, last: date) -> Sessions:
    schedule = _schedule(code, first.year, last.year)
    in_range = schedule.filter(pl.col("close").is_between(_as_utc(first), _as_utc(last)))
    opens, closes = in_range["open"], in_range["close"]
    # A lunch break splits a session in two.
    breaks = in_range.filter(pl.col("break_start").is_not_null())
    opens = pl.concat([opens, breaks["break_end"]]).sort()
    closes = pl.concat([in_range["break_start"].drop_nulls(), closes]).sort()
    return Sessions(_naive(opens), _naive(closes))


# One schedule per exchange (first year, last year, sessions), widened when asked for more.
_schedules: dict[str, tuple[int, int, pl.DataFrame]] = {}


def _schedule(code: str, first_year: int, last_year: int) -> pl.DataFrame:
    """The exchange's sessions in UTC over whole years, at least those asked for.

    Building them takes a tenth of a second: kept by span, charts of many spans (a folder
    of files, each a chart) would pay it again and again; kept by exchange, once or twice.
    """
    kept = _schedules.get(code)
    if kept and kept[0] <= first_year and last_year <= kept[1]:
        return kept[2]
    if kept:
        first_year, last_year = min(first_year, kept[0]), max(last_year, kept[1])
    schedule = _built_schedule(code, first_year, last_year)
    _schedules[code] = (first_year, last_year, schedule)
    return schedule


def _built_schedule(code: str, first_year: int, last_year: int) -> pl.DataFrame:
    check_calendar(code)
    import exchange_calendars

    start, end = date(first_year, 1, 1), date(last_year, 12, 31)
    try:
        calendar: Any = exchange_calendars.get_calendar(code, start=start, end=end)
    except ValueError as exc:  # outside the span the library knows the exchange's rules for
        message = f"calendar {code}: no sessions for {first_year}-{last_year}: {exc}"
        raise InvalidValue(message) from None
    schedule = calendar.schedule.reset_index(drop=True)
    frame: pl.DataFrame = pl.from_pandas(schedule)
    return frame.select(
        pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        for name in ("open", "break_start", "break_end", "close")
    )


def _as_utc(day: date) -> pl.Expr:
    return pl.lit(day).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _naive(series: pl.Series) -> Times:
    result: Times = series.dt.replace_time_zone(None).to_numpy()
    return result
