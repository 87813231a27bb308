"""A new chart's calendar, told from its bars when the user gave none.

24/7 when the bars trade on weekends; else the listed exchange whose sessions hold every
bar and whose holidays the bars keep; else 24/5 (the FX week). Ingest asks once, when it
makes a chart, and says in its report which calendar it took and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from candlelab.errors import InvalidValue
from candlelab.market.calendars import (
    CONTINUOUS,
    FX_WEEK,
    Sessions,
    Times,
    bar_ends,
    sessions,
    utc_times,
)
from candlelab.market.timeframes import Timeframe

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
    starts = frame.select(timeframe.bar_start(pl.col("time"), timezone, offset)).to_series()
    return utc_times(starts)


def _length(timeframe: Timeframe) -> np.timedelta64:
    return np.timedelta64(timeframe.micros or 0, "us")
