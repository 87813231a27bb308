"""Timeframes: how long a bar lasts, and where bars of that length may start."""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

PATTERN = re.compile(r"^(\d+)(m|h|d|w|M)$")
# Polars duration strings for each unit ("mo" is a calendar month, "w" starts on Monday).
POLARS_UNITS = {"m": "m", "h": "h", "d": "d", "w": "w", "M": "mo"}
MICROS = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}


@dataclass(frozen=True)
class Timeframe:
    """A bar length such as 1m, 5m, 1h, 4h, 1d, 1w or 1M (a calendar month)."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        match = PATTERN.match(text.strip())
        if not match or int(match.group(1)) == 0:
            raise ValueError(
                f"timeframe {text!r} is not one of the forms 1m, 5m, 1h, 4h, 1d, 1w, 1M"
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
    def intraday(self) -> bool:
        return self.unit in ("m", "h")

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
