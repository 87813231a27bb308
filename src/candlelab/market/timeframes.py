"""Timeframes: how long a bar lasts, and where bars of that length may start.

Every entry point (CLI, upload, library) goes by the rules here: a bar lasts from one
minute to a year (366d, 8784h, 52w, 12M at most); a chart's bar offset is minutes or
hours, at least zero and shorter than one bar; a chart's clock is a timezone that both
the zone database and Polars know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

import polars as pl

from candlelab.errors import InvalidField, quoted

# At most 9 digits: longer counts are no timeframe, and int() of thousands of digits is slow.
PATTERN = re.compile(r"^(\d{1,9})(m|h|d|w|M)$")
OFFSET = re.compile(r"^(\d{1,9})(m|h)$")
# Polars duration strings for each unit ("mo" is a calendar month, "w" starts on Monday).
POLARS_UNITS = {"m": "m", "h": "h", "d": "d", "w": "w", "M": "mo"}
MICROS = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
LONGEST = 366 * MICROS["d"]  # a year, leap day included
LONGEST_MONTHS = 12
SHORTEST_MONTH = 28 * MICROS["d"]  # what an offset on a monthly chart must stay under


@dataclass(frozen=True)
class Timeframe:
    """A bar length such as 1m, 5m, 1h, 4h, 1d, 1w or 1M (a calendar month)."""

    count: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in POLARS_UNITS or self.count < 1:
            raise ValueError(f"timeframe {self.count}{self.unit}: the count is 1 or more, "
                             "the unit one of m, h, d, w, M")  # fmt: skip
        if self.shortest > LONGEST or (self.unit == "M" and self.count > LONGEST_MONTHS):
            raise ValueError(
                f"timeframe {self.name!r} is longer than a year (at most 366d, 8784h, 52w or 12M)"
            )

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """`1h` as a Timeframe; ValueError for anything else, or for a bar over a year long."""
        match = PATTERN.match(text.strip())
        if not match or int(match.group(1)) == 0:
            raise ValueError(
                f"timeframe {quoted(text)} is not one of the forms 1m, 5m, 1h, 4h, 1d, 1w, 1M"
            )
        return cls(int(match.group(1)), match.group(2))

    @property
    def name(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def every(self) -> str:
        """The Polars duration of one bar."""
        return f"{self.count}{POLARS_UNITS[self.unit]}"

    @property
    def micros(self) -> int | None:
        """The bar length in microseconds; None for months, whose length varies."""
        return None if self.unit == "M" else self.count * MICROS[self.unit]

    @property
    def shortest(self) -> int:
        """The shortest a bar can last, in microseconds (a month: 28 days)."""
        return self.micros or self.count * SHORTEST_MONTH

    @property
    def intraday(self) -> bool:
        return self.unit in ("m", "h")

    def bar_offset(self, text: str, field: str = "offset") -> str:
        """`text` as the offset of this timeframe's bars: minutes or hours (0m, 30m, 1h), at
        least zero and shorter than one bar; InvalidField naming `field` otherwise."""
        match = OFFSET.match(text.strip())
        if not match:
            raise InvalidField(field, f"{quoted(text)} is not whole minutes or hours, "
                                      "0 or more (0m, 30m, 1h)")  # fmt: skip
        if int(match.group(1)) * MICROS[match.group(2)] >= self.shortest:
            raise InvalidField(field, f"{quoted(text)} is not shorter than one {self.name} bar")
        return match.group(0)

    def aligned(self, times: pl.Expr, timezone: str, offset: str = "0m") -> pl.Expr:
        """True where a UTC bar-open time starts a bar on the chart's wall clock.

        Daily and longer bars start at local midnight (weeks on Monday, months on the
        1st); intraday bars on multiples of their length, shifted by `offset` (e.g. 30m
        for hourly bars that follow a 09:30 session open).
        """
        return self.bar_start(times, timezone, offset) == times.dt.convert_time_zone(timezone)

    def bar_start(self, times: pl.Expr, timezone: str, offset: str = "0m") -> pl.Expr:
        """The open of the bar holding each UTC time, on the chart's wall clock (in `timezone`)."""
        local = times.dt.convert_time_zone(timezone)
        return local.dt.offset_by(f"-{offset}").dt.truncate(self.every).dt.offset_by(offset)

    def bar_end(self, times: pl.Expr) -> pl.Expr:
        """When each bar closes."""
        return times.dt.offset_by(self.every)


def checked_timezone(name: str, field: str = "timezone") -> str:
    """`name` if it is a timezone candlelab can use; InvalidField naming `field` otherwise."""
    if name not in _zones() or not _polars_knows(name):
        raise InvalidField(
            field, f"{quoted(name)} is not a known timezone (an IANA name: UTC, America/New_York)"
        )
    return name


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _polars_knows(name: str) -> bool:
    # The zone database holds files (`localtime`, `Factory`) that Polars' own refuses.
    try:
        pl.Series([0], dtype=pl.Datetime("us", "UTC")).dt.convert_time_zone(name)
    except pl.exceptions.PolarsError:
        return False
    return True
