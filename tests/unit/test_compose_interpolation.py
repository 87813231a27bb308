"""The compose file reader of the deployment tests interpolates as the Compose
specification says (its own examples), so what they run is what Compose would run."""

from __future__ import annotations

import pytest

from tests.fixtures.compose import MissingVariable, interpolate, seconds

SET = {"SET": "value", "EMPTY": "", "FALLBACK": "fallback"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET} $SET ${UNSET}|$UNSET", "value value |"),
        ("${SET:-d} ${EMPTY:-d} ${UNSET:-d}", "value d d"),
        ("${SET-d} ${EMPTY-d} ${UNSET-d}", "value  d"),
        ("${SET:+r} ${EMPTY:+r} ${UNSET:+r} ${EMPTY+r}", "r   r"),
        ("${UNSET:-${FALLBACK}} ${UNSET:-${ALSO_UNSET:-deep}}", "fallback deep"),
        ("$$SET $${SET} ${SET:?never raised}", "$SET ${SET} value"),
        ("http://127.0.0.1:${PORT:-8000}/health", "http://127.0.0.1:8000/health"),
        ("price $ 5, $1", "price $ 5, $1"),
    ],
)
def test_interpolation_follows_the_compose_specification(text: str, expected: str) -> None:
    assert interpolate(text, SET) == expected


@pytest.mark.parametrize("text", ["${EMPTY:?set EMPTY}", "${UNSET?set UNSET}"])
def test_a_required_variable_missing_refuses_the_file(text: str) -> None:
    with pytest.raises(MissingVariable, match="set"):
        interpolate(text, SET)
    assert interpolate("${EMPTY?only when unset}", SET) == ""


def test_durations() -> None:
    assert seconds("30s") == 30
    assert seconds("1m30s") == 90
    assert seconds("500ms") == 0.5
