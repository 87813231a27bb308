"""Span labels: the labellers' spans of one chart turned into one class per bar.

Which spans teach what (the rules a `spans` target names):
- accepted spans (manual, imported, or a model's proposal a person accepted) give each
  bar inside them the span's label;
- proposed spans are left out, and so are the bars under them: nobody has judged those
  bars yet, so they are not taught `none` either until the proposal is reviewed;
- rejected model proposals are evidence against their label: their bars are taught
  `none` (rule `rejected = "none"`), unless an accepted span covers them;
- only covered bars are taught: from the chart's first looked-at span to its last
  (`first-to-last`), or only bars inside spans (`spans-only`); a chart nobody labelled
  teaches nothing, so unlabelled history is never taught as `none`;
- a bar inside accepted spans of different labels takes the shortest span's label
  (`shortest`: the narrower mark is the more deliberate), the newest span's (`newest`),
  or the definition is refused naming both spans (`error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from candlelab.errors import DataError
from candlelab.features.blocks import datetime64
from candlelab.training.targets import SpanRules

UNTAUGHT = -1  # a bar that teaches nothing (outside the covered range)


@dataclass(frozen=True)
class LabelledSpan:
    id: int
    version: int
    label: str
    start_time: datetime
    end_time: datetime
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class SpanLabels:
    """Per bar: its class (an index into the classes; UNTAUGHT), and the last bar its
    label was judged on (a span's last bar: the labeller saw it), for purging."""

    label: npt.NDArray[np.int64]
    judged_to: npt.NDArray[np.int64]


def span_classes(labels: Sequence[str], none: str = "none") -> tuple[str, ...]:
    """The classes a spans target teaches: `none` first, then the labels by name."""
    return (none, *sorted(set(labels) - {none}))


def span_labels(times: npt.NDArray[np.datetime64], spans: Sequence[LabelledSpan],
                classes: Sequence[str], rules: SpanRules) -> SpanLabels:  # fmt: skip
    """One chart's bars (`times`, its bar opens in order) labelled by its spans."""
    rows = np.arange(len(times))
    label = np.full(len(times), UNTAUGHT, dtype=np.int64)
    judged = rows.copy()
    seen = [s for s in spans if s.status == "accepted" or _against(s, rules)]
    if not seen:
        return SpanLabels(label, judged)
    bounds = {s.id: _rows(times, s) for s in seen}
    if rules.coverage == "first-to-last":
        first = min(start for start, _ in bounds.values())
        last = max(end for _, end in bounds.values())
        label[first : last + 1] = 0
    for s in _in_painting_order([s for s in seen if s.status != "accepted"], bounds, rules):
        start, end = bounds[s.id]
        label[start : end + 1] = 0
    for s in spans:
        if s.status == "proposed":
            start, end = _rows(times, s)
            label[start : end + 1] = UNTAUGHT
    _check_overlaps(seen, bounds, rules)
    for s in _in_painting_order([s for s in seen if s.status == "accepted"], bounds, rules):
        start, end = bounds[s.id]
        label[start : end + 1] = classes.index(s.label)
        judged[start : end + 1] = np.maximum(judged[start : end + 1], end)
    return SpanLabels(label, judged)


def _against(span: LabelledSpan, rules: SpanRules) -> bool:
    return span.status == "rejected" and rules.rejected == "none"


def _rows(times: npt.NDArray[np.datetime64], span: LabelledSpan) -> tuple[int, int]:
    """The first and last bar inside the span (its times are bar opens)."""
    start, end = datetime64(span.start_time), datetime64(span.end_time)
    first = int(np.searchsorted(times, start, side="left"))
    return first, int(np.searchsorted(times, end, side="right")) - 1


def _in_painting_order(spans: list[LabelledSpan], bounds: dict[int, tuple[int, int]],
                       rules: SpanRules) -> list[LabelledSpan]:  # fmt: skip
    """Spans in the order they are painted: the one that wins an overlap comes last."""
    if rules.overlap == "newest":
        return sorted(spans, key=lambda s: (s.updated_at, s.id))
    return sorted(spans, key=lambda s: (-(bounds[s.id][1] - bounds[s.id][0]), s.id))


def _check_overlaps(spans: list[LabelledSpan], bounds: dict[int, tuple[int, int]],
                    rules: SpanRules) -> None:  # fmt: skip
    """Under `overlap = "error"`, accepted spans of different labels must not share a bar."""
    if rules.overlap != "error":
        return
    accepted = sorted((s for s in spans if s.status == "accepted"), key=lambda s: bounds[s.id])
    for k, a in enumerate(accepted):
        later = (b for b in accepted[k + 1 :] if bounds[b.id][0] <= bounds[a.id][1])
        b = next((b for b in later if b.label != a.label), None)
        if b is not None:
            raise DataError(f"spans {a.id} ({a.label!r}) and {b.id} ({b.label!r}) overlap with "
                            "different labels; the target's overlap rule is 'error' (use "
                            "'shortest' or 'newest', or fix the spans)")  # fmt: skip
