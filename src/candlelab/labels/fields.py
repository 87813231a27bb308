"""The rules for the text a person writes, wherever it comes in: the API and the legacy import.

Names (of label and annotation types, of people) are trimmed and compared without case,
so `UPTREND ` and `uptrend` are one name. No text may hold a NUL (PostgreSQL text cannot)
or another control character, except the line breaks and tabs of a free-text note.
A colour is `#rrggbb`: anything else (`javascript:…`) never reaches a page.
"""

from __future__ import annotations

import re

from candlelab.errors import InvalidField, quoted

MAX_NAME = 80
MAX_TEXT = 2000
COLOR = r"^#[0-9a-fA-F]{6}$"
NOTE_CONTROLS = frozenset("\n\r\t")


def name(field: str, value: str) -> str:
    """A trimmed, non-empty name of at most MAX_NAME characters without control characters."""
    trimmed = value.strip()
    if not trimmed:
        raise InvalidField(field, "is empty")
    _no_controls(field, trimmed, allowed=frozenset())
    return _at_most(field, trimmed, MAX_NAME)


def name_key(value: str) -> str:
    """What two names are compared by: `Uptrend` and `UPTREND ` are the same name."""
    return value.strip().casefold()


def text(field: str, value: str, max_length: int = MAX_TEXT) -> str:
    """Free text (a description, a note): line breaks and tabs allowed, no other controls."""
    _no_controls(field, value, allowed=NOTE_CONTROLS)
    return _at_most(field, value, max_length)


def color(field: str, value: str) -> str:
    if not re.fullmatch(COLOR, value):
        raise InvalidField(field, f"{quoted(value)} is not a colour written #rrggbb")
    return value


def _no_controls(field: str, value: str, allowed: frozenset[str]) -> None:
    odd = next((ch for ch in value if not ch.isprintable() and ch not in allowed), None)
    if odd is not None:
        raise InvalidField(field, f"holds the control character U+{ord(odd):04X}")


def _at_most(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidField(field, f"has {len(value)} characters; at most {limit}")
    return value
