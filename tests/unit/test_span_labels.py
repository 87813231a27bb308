"""Span labels: which bars a labeller's spans teach, and as what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from candlelab.errors import DataError
from candlelab.training.span_labels import LabelledSpan, span_classes, span_labels
from candlelab.training.targets import SpanRules

START = datetime(2024, 1, 1, tzinfo=UTC)
TIMES = np.array([np.datetime64("2024-01-01T00:00", "us") + np.timedelta64(h, "h")
                  for h in range(20)])  # fmt: skip
CLASSES = span_classes(["up", "down"])  # none, down, up


def span(id_: int, label: str, first: int, last: int, *, status: str = "accepted",
         updated: int = 0) -> LabelledSpan:  # fmt: skip
    at = START + timedelta(hours=1, minutes=updated)
    start, end = START + timedelta(hours=first), START + timedelta(hours=last)
    return LabelledSpan(id_, 1, label, start, end, status, at)


def labels(spans: list[LabelledSpan], **rules: str) -> list[str]:
    found = span_labels(TIMES, spans, CLASSES, SpanRules(**rules)).label
    return ["." if k < 0 else CLASSES[k][0] for k in found]


def test_classes_put_none_first_then_labels_by_name() -> None:
    assert CLASSES == ("none", "down", "up")
    assert span_classes(["none", "b", "a"]) == ("none", "a", "b")


def test_only_bars_from_the_first_span_to_the_last_are_taught() -> None:
    got = labels([span(1, "up", 3, 5), span(2, "down", 10, 11)])
    assert "".join(got) == "...uuunnnndd........"


def test_spans_only_coverage_teaches_only_bars_inside_spans() -> None:
    got = labels([span(1, "up", 3, 5), span(2, "down", 10, 11)], coverage="spans-only")
    assert "".join(got) == "...uuu....dd........"


def test_proposals_and_their_bars_are_left_out_and_rejected_ones_teach_none() -> None:
    spans = [span(1, "up", 3, 5), span(2, "down", 7, 8, status="proposed"),
             span(3, "up", 14, 16, status="rejected")]  # fmt: skip
    assert "".join(labels(spans)) == "...uuun..nnnnnnnn..."
    assert "".join(labels(spans, rejected="ignore")) == "...uuu.............."
    assert "".join(labels(spans, coverage="spans-only")) == "...uuu........nnn..."


def test_an_accepted_span_wins_over_a_rejected_one() -> None:
    spans = [span(1, "up", 14, 16, status="rejected"), span(2, "down", 15, 15)]
    assert "".join(labels(spans)) == "..............ndn..."


def test_overlapping_labels_follow_the_stated_rule() -> None:
    spans = [span(1, "up", 2, 9, updated=5), span(2, "down", 4, 5, updated=1)]
    assert "".join(labels(spans)) == "..uudduuuu.........."
    assert "".join(labels(spans, overlap="newest")) == "..uuuuuuuu.........."
    with pytest.raises(DataError, match=r"spans 1 \('up'\) and 2 \('down'\) overlap"):
        labels(spans, overlap="error")


def test_accepted_spans_are_taught_over_a_waiting_proposal() -> None:
    spans = [span(1, "up", 2, 9), span(2, "down", 4, 7, status="proposed"),
             span(3, "down", 6, 6)]  # fmt: skip
    assert "".join(labels(spans)) == "..uuuuduuu.........."


def test_a_chart_nobody_labelled_teaches_nothing() -> None:
    assert set(labels([span(1, "up", 3, 5, status="proposed")])) == {"."}


def test_a_spans_label_is_judged_to_its_last_bar() -> None:
    found = span_labels(TIMES, [span(1, "up", 3, 8)], CLASSES, SpanRules())
    assert found.judged_to[3:9].tolist() == [8] * 6
    assert found.judged_to[9] == 9
