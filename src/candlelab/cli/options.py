"""Options people type, checked by the rules of `market` before any work starts.

A value that breaks a rule is a usage mistake: one `error:` line naming the option and the
rule, exit code 2 (ConfigError), never a traceback from deep inside a load.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from candlelab.errors import ConfigError, InvalidField
from candlelab.market.symbols import normalized_symbol

if TYPE_CHECKING:
    from candlelab.market.timeframes import Timeframe

T = TypeVar("T")
WINDOW = re.compile(r"(\d{1,5})\s*([mhdw])")  # 99999w: still after year 1
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LARGEST_ID = 2**63 - 1  # a PostgreSQL bigint: a larger chart id is a usage mistake, not a query


def symbol_option(value: str, option: str = "--symbol") -> str:
    """The symbol as every chart stores it (trimmed, printable, upper-cased)."""
    return _checked(lambda: normalized_symbol(value, option))


def source_option(value: str) -> str:
    """A chart's source: printable like a symbol, at most as long, in its own case."""
    _checked(lambda: normalized_symbol(value, "--source"))
    return value.strip()


def file_option(path: Path, option: str) -> Path:
    """A file to write: not a directory, in a directory that exists (checked before any load)."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory, not a file")
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {path}: no directory {path.parent}")
    return path


def timeframe_option(value: str, option: str = "--timeframe") -> Timeframe:
    from candlelab.market.timeframes import Timeframe  # Polars: only for a command that uses it

    try:
        return Timeframe.parse(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def offset_option(value: str, timeframe: Timeframe, option: str = "--offset") -> str:
    """A bar offset: whole minutes or hours, 0 or more, shorter than one bar."""
    return _checked(lambda: timeframe.bar_offset(value, option))


def timezone_option(value: str, option: str = "--timezone") -> str:
    from candlelab.market.timeframes import checked_timezone

    return _checked(lambda: checked_timezone(value, option))


def window_option(value: str, option: str = "--window") -> timedelta:
    """A length of time: a whole number of minutes, hours, days or weeks (`90m`, `7d`)."""
    found = WINDOW.fullmatch(value.strip().lower())
    if found is None or int(found[1]) == 0:
        raise ConfigError(f"{option} {value!r}: write a number and a unit, m, h, d or w (7d)")
    return timedelta(**{WINDOW_UNITS[found[2]]: int(found[1])})


def _checked(check: Callable[[], T]) -> T:
    try:
        return check()
    except InvalidField as exc:
        raise ConfigError(str(exc)) from None
