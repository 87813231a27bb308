"""The labels domain's row rules, without a database: what the API and the legacy import
both check a label type, span, annotation type or annotation against."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from candlelab.errors import InvalidField
from candlelab.labels.annotations import (
    NewAnnotation,
    NewAnnotationType,
    checked_annotation,
    checked_annotation_type,
)
from candlelab.labels.bars import price_range
from candlelab.labels.spans import (
    LabelType,
    LabelTypeChanges,
    NewSpan,
    checked_label_type,
    checked_label_type_changes,
    checked_reviewer,
    checked_span,
)

T0 = datetime(2025, 1, 6, tzinfo=UTC)
LABEL = LabelType("uptrend", "#26a69a", "Higher highs", "1", 1)
SPAN = NewSpan(1, 1, T0, T0)
KIND = NewAnnotationType("breakout", "#2962ff", "arrowUp")
MARK = NewAnnotation(1, T0, None, 101.5, "volume spike\nthen a retest", "ann")


def refused_field(check: object, *args: object) -> str:
    with pytest.raises(InvalidField) as refused:
        check(*args)  # type: ignore[operator]
    return refused.value.field


def test_a_label_type_name_is_trimmed_and_the_rest_kept() -> None:
    assert checked_label_type(LabelType(" UPTREND  ", "#26a69a")).name == "UPTREND"
    assert checked_label_type(LABEL) == LABEL


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        ({"name": "up\x00trend"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"color": "javascript:alert(1)"}, "color"),
        ({"color": "#0a0"}, "color"),
        ({"description": "nul \x00 here"}, "description"),
        ({"description": "d" * 2001}, "description"),
        ({"hotkey": "l"}, "hotkey"),
        ({"hotkey": ""}, "hotkey"),
        ({"direction": 2}, "direction"),
    ],
)
def test_a_label_type_breaking_a_rule_is_refused_naming_the_field(
    changed: dict[str, object], field: str
) -> None:
    assert refused_field(checked_label_type, LabelType(**{**LABEL.__dict__, **changed})) == field


def test_label_type_changes_are_checked_and_an_empty_hotkey_still_clears() -> None:
    assert checked_label_type_changes(LabelTypeChanges(name=" bull ")).name == "bull"
    assert checked_label_type_changes(LabelTypeChanges(hotkey="")).hotkey == ""
    assert refused_field(checked_label_type_changes, LabelTypeChanges(color="red")) == "color"
    assert refused_field(checked_label_type_changes, LabelTypeChanges(name="a\x07")) == "name"


def test_a_spans_people_are_trimmed_and_every_field_checked() -> None:
    assert checked_span(NewSpan(1, 1, T0, T0, created_by=" ann ")).created_by == "ann"
    assert refused_field(checked_span, NewSpan(1, 1, T0, T0, created_by="a\x00")) == "created_by"
    assert refused_field(checked_span, NewSpan(1, 1, T0, T0, source="guess")) == "source"
    assert refused_field(checked_span, NewSpan(1, 1, T0, T0, status="maybe")) == "status"
    for odd in (float("nan"), float("inf"), 1.5, -0.1):
        assert refused_field(checked_span, NewSpan(1, 1, T0, T0, confidence=odd)) == "confidence"
    bad_run = NewSpan(1, 1, T0, T0, training_run_id="r\n1")
    assert refused_field(checked_span, bad_run) == "training_run_id"
    assert checked_span(SPAN) == SPAN


def test_a_reviewer_is_a_name_and_a_review_accepts_or_rejects() -> None:
    assert checked_reviewer("accepted", " rita ") == "rita"
    assert refused_field(checked_reviewer, "accepted", "ri\x00ta") == "reviewer"
    assert refused_field(checked_reviewer, "accepted", " ") == "reviewer"
    assert refused_field(checked_reviewer, "maybe", "rita") == "status"


def test_an_annotation_type_keeps_the_rules_of_names_colours_and_shapes() -> None:
    assert checked_annotation_type(NewAnnotationType(" Breakout ", "#2962ff")).name == "Breakout"
    assert refused_field(checked_annotation_type, NewAnnotationType("b\x00", "#2962ff")) == "name"
    bad_colour = NewAnnotationType("b", "javascript:alert(1)")
    assert refused_field(checked_annotation_type, bad_colour) == "color"
    legacy_icon = NewAnnotationType("b", "#2962ff", "arrow-up")
    assert refused_field(checked_annotation_type, legacy_icon) == "shape"


def test_an_annotation_keeps_its_note_lines_and_refuses_controls_and_non_finite_prices() -> None:
    assert checked_annotation(MARK) == MARK  # a note may hold line breaks
    checked = checked_annotation(NewAnnotation(1, T0, None, created_by=" ann "))
    assert checked.created_by == "ann"
    assert refused_field(checked_annotation, NewAnnotation(1, T0, None, note="\x00")) == "note"
    too_long = NewAnnotation(1, T0, None, note="n" * 2001)
    assert refused_field(checked_annotation, too_long) == "note"
    for odd in (float("inf"), float("-inf"), float("nan")):
        assert refused_field(checked_annotation, NewAnnotation(1, T0, None, odd)) == "price"


def test_a_price_may_lie_a_factor_of_ten_beyond_its_bars_range_either_way() -> None:
    assert price_range(100.0, 110.0) == (10.0, 1100.0)
    assert price_range(-40.0, -10.0) == (-400.0, -1.0)  # negative prices widen outwards too
    assert price_range(0.0, 5.0) == (0.0, 50.0)
