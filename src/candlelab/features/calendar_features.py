"""Calendar features: where a bar falls on the chart's wall clock and in its trading session.

`hour`, `minute` (of the hour), `weekday` (0 = Monday), `day_of_month` and `month` are
those of the bar's open on the chart's clock (its timezone, daylight saving included):
the bar's own label, known before the bar closes. `minutes_to_close` counts from the
bar's close to the close of the session it trades in (the FX week's Friday close on a
24/5 chart; the lunch break for a morning bar on an exchange that takes one); 0 when the
session closed within the bar (a daily bar), NaN for a bar outside every session and
on 24/7 charts, which never close.

A calendar feature reads no other bar: its history is 0.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from candlelab.errors import InvalidFeature, quoted
from candlelab.market import calendars
from candlelab.market.timeframes import Timeframe

Values = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]  # datetime64[us], UTC
MINUTE = np.timedelta64(60_000_000, "us")
# Each wall-clock field of a bar's open, as Polars reads it from a zoned time.
WALL_CLOCK: dict[str, Callable[[pl.Series], pl.Series]] = {
    "hour": lambda local: local.dt.hour(),
    "minute": lambda local: local.dt.minute(),
    "weekday": lambda local: local.dt.weekday() - 1,  # Polars counts Monday as 1
    "day_of_month": lambda local: local.dt.day(),
    "month": lambda local: local.dt.month(),
}
KINDS = (*WALL_CLOCK, "minutes_to_close")


def calendar_feature(kind: str) -> str:
    """`kind` if it is a calendar feature; InvalidFeature naming the closest otherwise."""
    if kind not in KINDS:
        closest = difflib.get_close_matches(str(kind), KINDS, n=3, cutoff=0.0)
        raise InvalidFeature(
            f"unknown calendar feature {quoted(str(kind))}; closest: {', '.join(closest)}"
        )
    return kind


def history(kind: str) -> int:
    """Bars before t that influence a calendar feature at t: none."""
    calendar_feature(kind)
    return 0


def compute_calendar(
    kind: str, times: Times, timeframe: Timeframe, timezone: str, calendar: str
) -> Values:
    """The feature of each bar, given the bars' opens in UTC, on the chart's clock."""
    times = np.asarray(times).astype("M8[us]")
    if not len(times):
        return np.empty(0)
    if calendar_feature(kind) == "minutes_to_close":
        return _minutes_to_close(times, timeframe, timezone, calendar)
    local = pl.Series(times).dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return WALL_CLOCK[kind](local).to_numpy().astype(np.float64)


def _minutes_to_close(times: Times, timeframe: Timeframe, timezone: str, calendar: str) -> Values:
    if calendar == calendars.CONTINUOUS:
        return np.full(len(times), np.nan)
    ends = calendars.bar_ends(timeframe, timezone, times)
    sessions = calendars.sessions(calendar, times.min(), ends.max())
    if not len(sessions.opens):
        return np.full(len(times), np.nan)
    # Only the last session opening before a bar ends can hold it: sessions are disjoint.
    last = np.clip(np.searchsorted(sessions.opens, ends, side="left") - 1, 0, None)
    closes = sessions.closes[last]
    left = np.maximum(closes - ends, np.timedelta64(0, "us")) / MINUTE
    result: Values = np.where(sessions.overlapping(times, ends), left, np.nan)
    return result
