"""Hostile values for the fuzz harness, chosen by what the OpenAPI document says a
parameter or field holds: integers past PostgreSQL's bigint, NUL and other controls in
text, the first and last days a datetime can hold (and past them once in UTC), non-finite
and huge numbers. Any field may also get a value of another kind."""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import strategies as st

BIGINT = 2**63
K = TypeVar("K", bound=tuple[str, str])
REAL_IDS = [2, 3, 1]  # rows of each kind stand behind these ids; chart 2 is XNYS, 3 is 24/5
INTEGERS = [BIGINT, BIGINT - 1, 2**64, -BIGINT - 1, -BIGINT, 10**30, 0, -1, 1, 2, 3]
NUMBERS = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, BIGINT, 0.5]
DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",  # before the year 1 once in UTC
    "0002-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999-14:00",  # past the year 9999 once in UTC
    "1970-01-01T00:00:00Z",
    "2025-11-24T15:30:00Z",
    "2025-11-24T15:30:00",
]
TEXTS = ["\x00", "a\x00b", "\u202e", " ", "", "UPTREND ", "x" * 5000, "%00", "\n", "<b>"]
EVERYTHING: list[Any] = [*INTEGERS, *NUMBERS, *DATES, *TEXTS, None, True, [], {}]
KINDS: dict[str, list[Any]] = {
    "integer": INTEGERS, "number": NUMBERS, "date-time": DATES, "string": TEXTS,
}  # fmt: skip


def kind(schema: dict[str, Any]) -> str:
    """What a JSON schema holds, as a key of KINDS ("any" when it says nothing we know)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("format") == "date-time":
            return "date-time"
        if option.get("type") in KINDS:
            return str(option["type"])
    return "any"


def hostile(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A hostile value for a parameter or field of `schema`: mostly of its own kind."""
    own = st.sampled_from(KINDS.get(kind(schema), EVERYTHING))
    return st.one_of(own, own, own, st.sampled_from(EVERYTHING))


def mutated(values: dict[K, Any], schemas: dict[K, dict[str, Any]],
            data: st.DataObject) -> dict[K, Any]:  # fmt: skip
    """`values` with one or two of the `schemas`' names given hostile values: the others
    stay valid, so the request gets past validation to the code behind it."""
    if not schemas:
        return values
    names = st.lists(st.sampled_from(sorted(schemas)), min_size=1, max_size=2, unique=True)
    hit = data.draw(names, label="hostile names")
    return values | {name: data.draw(hostile(schemas[name]), label=str(name)) for name in hit}


def path_value(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A path parameter: mostly one of REAL_IDS, so most requests reach a row (a random
    id would almost always be a quick 404), else a hostile value."""
    return st.one_of(st.sampled_from(REAL_IDS), st.sampled_from(REAL_IDS), hostile(schema))


def query_text(value: Any) -> str:
    """How a value goes into a URL: JSON-ish for booleans and null, str otherwise."""
    if value is None or isinstance(value, (bool, list, dict)):
        return json.dumps(value)
    return str(value)


def path_text(value: Any) -> str:
    return quote(query_text(value), safe="")
