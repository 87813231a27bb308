"""The kinds of value every route takes, each checked once here before it reaches a query.

PostgreSQL's bigint stops at 2^63 - 1 and its text cannot hold a NUL; a Python datetime
stops at the years 1 and 9999, in UTC too. So an id past bigint in a path is a row that
cannot exist (404), any other integer past it a bad parameter (422); text with a NUL
or another control character is refused naming its field, by the rules of
`labels.fields`; a time is read as UTC (naive times are UTC already) and refused when
it falls outside what a datetime holds there.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from candlelab.errors import InvalidField, cut
from candlelab.labels import fields

BIGINT = 2**63 - 1
NO_SUCH_ROW = "no_such_row"  # a validation error type the app answers with 404
ECHO = 100  # characters of a value an error answer quotes


def _storable_id(value: int) -> int:
    if not -BIGINT - 1 <= value <= BIGINT:
        raise PydanticCustomError(NO_SUCH_ROW, "no row has this id")
    return value


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_range", "is outside the years 1 to 9999 once in UTC"
        ) from None


def _rule(rule: Any, *args: Any) -> Any:
    """A rule of `labels.fields` as a pydantic validator: its InvalidField a 422 naming
    the field (pydantic adds the field's place to the error)."""

    def check(value: str) -> str:
        try:
            return str(rule("value", value, *args))
        except InvalidField as exc:
            raise PydanticCustomError("invalid_text", exc.reason) from None

    return check


def _plain_text(value: str) -> str:
    """A search or form value: no NUL or other control character, whatever its length."""
    odd = next((ch for ch in value if not ch.isprintable()), None)
    if odd is not None:
        raise PydanticCustomError("invalid_text", f"holds the control character U+{ord(odd):04X}")
    return value


# An id in a path: past bigint it names no row, so the app answers 404.
Id = Annotated[int, Path(), AfterValidator(_storable_id)]
# Any other integer, in a query or a body: PostgreSQL's bigint.
Whole = Annotated[int, Field(ge=-BIGINT - 1, le=BIGINT)]
Count = Annotated[int, Field(ge=0, le=BIGINT)]
Moment = Annotated[datetime, AfterValidator(_utc)]
Name = Annotated[str, Field(min_length=1, max_length=fields.MAX_NAME),
                 AfterValidator(_rule(fields.name))]  # fmt: skip
Note = Annotated[str, Field(max_length=fields.MAX_TEXT), AfterValidator(_rule(fields.text))]
PlainText = Annotated[str, AfterValidator(_plain_text)]
Price = Annotated[float, Field(allow_inf_nan=False)]


def echoed(value: Any) -> Any:
    """A request's value as an error answer may quote it: short values as they are,
    anything longer as its first ECHO characters, and never a non-finite number (which
    JSON cannot hold)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # str() of a huge int is slow, or refused past 4300 digits
        return value if abs(value) < 10**ECHO else f"an integer of more than {ECHO} digits"
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return cut(value)
    return cut(repr(value))
