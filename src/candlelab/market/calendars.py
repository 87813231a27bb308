"""Trading calendars: when a market is open, and so which bars a chart should have.

A chart's `calendar` is "24/7" (crypto: always open), "24/5" (the FX week: Sunday 17:00
to Friday 17:00 New York time, moving with US daylight saving as the market does) or an
exchange code from exchange_calendars (XNYS, XLON, XTKS…), whose sessions carry the
exchange's holidays, early closes and lunch breaks.

A bar is expected when it overlaps a session; the bars of a chart must be aligned on its
wall clock (timezone and bar offset), as ingest validates them.

A new chart given no calendar gets the one its first bars point to (`infer_calendar`):
24/7 when they trade on weekends, else the listed exchange whose sessions hold them all
and whose holidays they keep, else 24/5.
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
# The exchanges a calendar is inferred among: the largest equity markets, one per holiday
# calendar (Nasdaq keeps the NYSE's holidays, Shenzhen Shanghai's, Euronext's other markets
# Paris's, the NSE the BSE's), each with the zone it trades in. On a full tie the earlier
# one wins: the list runs roughly from the largest market down. All trade inside the FX
# week (a unit test checks it).
EXCHANGES = {
    "XNYS": "America/New_York",
    "XSHG": "Asia/Shanghai",
    "XTKS": "Asia/Tokyo",
    "XPAR": "Europe/Paris",
    "XBOM": "Asia/Kolkata",
    "XHKG": "Asia/Hong_Kong",
    "XLON": "Europe/London",
    "XTSE": "America/Toronto",
    "XETR": "Europe/Berlin",
    "XASX": "Australia/Sydney",
}
# Fewer bars than this, or a shorter stretch of them, may miss a weekend by chance.
MIN_BARS = 10
MIN_SPAN = np.timedelta64(14, "D")
DAY = np.timedelta64(1, "D")
MICROSECOND = np.timedelta64(1, "us")
NO_EXCHANGE = "bars outside the sessions of every listed exchange"


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


@dataclass(frozen=True)
class InferredCalendar:
    """The calendar a chart's bars point to, and why, in words for the ingest report."""

    calendar: str
    why: str


def infer_calendar(
    times: Times, timeframe: Timeframe, timezone: str, offset: str = "0m"
) -> InferredCalendar:
    """The calendar of a chart's bars (open times, UTC), told from where they are and are not.

    Bars in the FX weekend (Friday to Sunday 17:00 New York) mean 24/7: every listed
    exchange trades inside the FX week. Otherwise the listed exchange whose sessions hold
    every bar and expect the fewest bars (on a tie, one in the chart's zone), if it is
    closed at some weekday time in the bars' span (a holiday, the nights); else 24/5.
    """
    if not (timeframe.intraday or timeframe.unit == "d"):
        # Any calendar expects a bar in nearly every week and month.
        return InferredCalendar(CONTINUOUS, "weekly and monthly bars: nothing to tell by")
    if _weeks_of_bars_on_a_saturday(times):  # the quick answer for round-the-clock data
        return InferredCalendar(CONTINUOUS, "bars on weekends")
    bars = _Bars.of(times, timeframe, timezone)
    if len(bars.starts) < MIN_BARS or bars.ends[-1] - bars.starts[0] < MIN_SPAN:
        return InferredCalendar(CONTINUOUS, "too few bars to tell (under two weeks)")
    if bars.off(sessions(FX_WEEK, bars.starts[0], bars.ends[-1])):
        return InferredCalendar(CONTINUOUS, "bars on weekends")
    expected = _holding_exchanges(bars, timeframe, timezone, offset)
    return _best_exchange(expected, bars.weekday_bars(timeframe, timezone), timezone)


def _weeks_of_bars_on_a_saturday(times: Times) -> bool:
    """Whether enough bars to tell by start on a Saturday, UTC: the whole UTC Saturday lies
    in the FX weekend, so such a bar is a weekend bar in any zone. Plain NumPy on the
    starts, where the exact test builds the FX week and every bar's end (2 ms for 5,000
    daily bars, paid by every new chart a folder of files makes)."""
    if len(times) < MIN_BARS or times.max() - times.min() < MIN_SPAN:
        return False
    days = times.astype("M8[D]").astype(np.int64)
    return bool(((days + 3) % 7 == 5).any())  # 1970-01-01 was a Thursday: Monday is 0


def _holding_exchanges(
    bars: _Bars, timeframe: Timeframe, timezone: str, offset: str
) -> dict[str, int]:
    """The listed exchanges whose sessions hold every bar, with how many bars each expects."""
    expected = {}
    for code in EXCHANGES:
        try:
            open_ = sessions(code, bars.starts[0], bars.ends[-1])
        except InvalidValue:  # bars older than the exchange's recorded holidays
            continue
        if not bars.off(open_):
            expected[code] = bars.expected(open_, timeframe, timezone, offset)
    return expected


def _best_exchange(
    expected: dict[str, int], weekday_bars: float, timezone: str
) -> InferredCalendar:
    """The exchange expecting the fewest bars, among those closed at some weekday time of
    the bars' span; 24/5 when there is none."""
    # Weekday bars with none of an exchange's holidays in their span fit it as well as the
    # FX week: they do not say which, and 24/5 claims no holiday the bars have not shown.
    told = [code for code, count in expected.items() if count < weekday_bars]
    if not told:
        why = "no exchange holiday in their span to tell which exchange"
        return InferredCalendar(FX_WEEK, f"no weekend bars; {why if expected else NO_EXCHANGE}")
    order = list(EXCHANGES)
    code = min(told, key=lambda c: (expected[c], EXCHANGES[c] != timezone, order.index(c)))
    return InferredCalendar(code, f"no weekend or {code} holiday bars")


@dataclass(frozen=True)
class _Bars:
    """A chart's bars as [start, end) intervals in UTC, sorted and disjoint."""

    starts: Times
    ends: Times

    @classmethod
    def of(cls, times: Times, timeframe: Timeframe, timezone: str) -> _Bars:
        starts = times.astype("M8[us]")
        if not (starts[1:] > starts[:-1]).all():  # ingest's bars come sorted and distinct
            starts = np.unique(starts)
        if timeframe.intraday:  # a fixed length: no need to ask the wall clock
            return cls(starts, (starts + _length(timeframe)).astype("M8[us]"))
        return cls(starts, bar_ends(timeframe, timezone, starts))

    def off(self, open_: Sessions) -> int:
        """How many bars overlap no session."""
        if not len(open_.opens):
            return len(self.starts)
        # Such a bar starts at or after a close and ends by the next open. Bars and sessions
        # being sorted and disjoint, those bars are a range of indexes: two searches per
        # session find them all, however many bars there are.
        after_close = np.searchsorted(self.starts, open_.closes, "left")
        by_open = np.searchsorted(self.ends, open_.opens, "right")
        between = np.clip(by_open[1:] - after_close[:-1], 0, None).sum()
        return int(between + by_open[0] + len(self.starts) - after_close[-1])

    def expected(self, open_: Sessions, timeframe: Timeframe, timezone: str, offset: str) -> int:
        """How many aligned bars from the first bar to the last overlap a session: for each
        session, the bars from the one holding its open to the one holding its last moment."""
        first, last = self.starts[0], self.starts[-1]
        near = (open_.closes > first) & (open_.opens < self.ends[-1])
        begin = np.maximum(_bar_starts(open_.opens[near], timeframe, timezone, offset), first)
        closing = open_.closes[near] - MICROSECOND
        end = np.minimum(_bar_starts(closing, timeframe, timezone, offset), last)
        counts = np.where(end >= begin, np.rint((end - begin) / _length(timeframe)) + 1, 0)
        # One bar holding the end of a session and the start of the next (a day across a
        # lunch break) is one bar, not two.
        shared = (end[:-1] == begin[1:]) & (counts[:-1] > 0) & (counts[1:] > 0)
        return int(counts.sum() - shared.sum())

    def weekday_bars(self, timeframe: Timeframe, timezone: str) -> float:
        """How many bars a market open all day every weekday would expect in the bars' span."""
        span = pl.Series(np.array([self.starts[0], self.starts[-1]]))
        days = span.dt.replace_time_zone("UTC").dt.convert_time_zone(timezone).dt.date()
        weekdays = np.busday_count(days[0], days[1] + timedelta(days=1))
        return float(weekdays * DAY / _length(timeframe))


def _bar_starts(moments: Times, timeframe: Timeframe, timezone: str, offset: str) -> Times:
    """The open of the bar holding each moment (UTC), on the chart's wall clock."""
    frame = pl.DataFrame({"time": moments}).with_columns(pl.col("time").dt.replace_time_zone("UTC"))
    return _utc(frame.select(timeframe.bar_start(pl.col("time"), timezone, offset)).to_series())


def _length(timeframe: Timeframe) -> np.timedelta64:
    return np.timedelta64(timeframe.micros or 0, "us")


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
    open_ = sessions(calendar, starts[0], ends[-1]).overlapping(starts, ends)
    if owed and calendar == FX_WEEK and timeframe.unit == "d":
        # The FX day that opens Sunday 17:00 New York is Monday's: daily FX bars run Monday
        # to Friday. A Sunday bar (the stub of a few hours some vendors write) overlaps the
        # week, so it is allowed; it is not owed.
        open_ &= _weekdays(starts, timezone)
    result: Times = starts[open_]
    return result


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
    return _utc(days)


def bar_ends(timeframe: Timeframe, timezone: str, starts: Times) -> Times:
    """When each bar closes: days, weeks and months end at local midnight."""
    local = pl.Series("time", starts).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return _utc(local.to_frame().select(timeframe.bar_end(pl.col("time"))).to_series())


def _utc(local: pl.Series) -> Times:
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
    return _utc(pl.Series(wall).dt.replace_time_zone(FX_ZONE))


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
