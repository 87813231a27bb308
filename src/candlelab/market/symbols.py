"""Symbols: one rule for every way a symbol comes in (CLI, upload, API, legacy, backfill).

A symbol is trimmed, upper-cased (so `btcusdt` and `BTCUSDT` are one chart), at most
MAX_LENGTH characters, and printable: no control characters, no newline, and no
Unicode format characters such as the right-to-left override, which would make a chart
list show a different symbol from the one stored.
"""

from __future__ import annotations

import unicodedata

from candlelab.errors import InvalidField

MAX_LENGTH = 40


def normalized_symbol(value: str, field: str = "symbol") -> str:
    """`value` as candlelab stores symbols, or InvalidField naming `field` and why."""
    symbol = value.strip()
    if not symbol:
        raise InvalidField(field, "is empty")
    if len(symbol) > MAX_LENGTH:
        raise InvalidField(field, f"has {len(symbol)} characters; at most {MAX_LENGTH}")
    odd = next((ch for ch in symbol if not _allowed(ch)), None)
    if odd is not None:
        raise InvalidField(field, f"holds the character U+{ord(odd):04X}, which is not printable")
    return symbol.upper()


def _allowed(ch: str) -> bool:
    # isprintable() refuses control and separator characters but lets format characters
    # (category Cf: bidi overrides, zero-width joiners) through; they are refused too.
    return ch.isprintable() and unicodedata.category(ch) != "Cf"
