"""Span annotations: a labelled stretch of a chart, by a person, a model or an import.

A span runs from the open of its first bar to the open of its last (end ≥ start; one bar
is a span too). Every change bumps its `version`; a change that names an older version
is refused with the current span, so nobody's work is overwritten unseen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from candlelab.errors import InvalidField, NotFound
from candlelab.labels import versions
from candlelab.market.charts import chart_range
from candlelab.store.database import Connection, returned_id, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


@dataclass(frozen=True)
class LabelType:
    name: str
    color: str
    description: str | None = None
    hotkey: str | None = None
    direction: int = 0


@dataclass(frozen=True)
class NewSpan:
    chart_id: int
    label_type_id: int
    start_time: datetime
    end_time: datetime
    source: str = "manual"
    status: str = "accepted"
    confidence: float | None = None
    training_run_id: str | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class Span:
    id: int
    chart_id: int
    label: str
    start_time: datetime
    end_time: datetime
    source: str
    status: str
    confidence: float | None
    training_run_id: str | None


def add_label_type(conn: Connection, label: LabelType) -> int:
    return returned_id(conn, QUERIES["add_label_type"], asdict(label))


def add_span(conn: Connection, span: NewSpan) -> int:
    return returned_id(conn, QUERIES["add_span"], asdict(span))


def chart_spans(conn: Connection, chart_id: int, source: str | None = None) -> list[Span]:
    """A chart's spans in time order, optionally only those from one source."""
    rows = conn.execute(QUERIES["chart_spans"], {"chart_id": chart_id, "source": source})
    return [Span(*row) for row in rows]


@dataclass(frozen=True)
class StoredLabelType:
    id: int
    name: str
    color: str
    description: str | None
    hotkey: str | None
    direction: int
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class LabelTypeChanges:
    """Fields to change; None keeps the stored value (an empty hotkey clears it)."""

    name: str | None = None
    color: str | None = None
    description: str | None = None
    hotkey: str | None = None
    direction: int | None = None
    is_active: bool | None = None


@dataclass(frozen=True)
class StoredSpan:
    """A span as the annotator shows it: with its label's name and colour, and version."""

    id: int
    chart_id: int
    label_type_id: int
    label: str
    color: str
    start_time: datetime
    end_time: datetime
    source: str
    status: str
    confidence: float | None
    created_by: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class SpanFilter:
    start: datetime
    end: datetime
    source: str | None = None
    status: str | None = None
    label_type_id: int | None = None
    limit: int = 1000
    offset: int = 0


@dataclass(frozen=True)
class SpanChanges:
    label_type_id: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


def label_types(conn: Connection) -> list[StoredLabelType]:
    return [StoredLabelType(*row) for row in conn.execute(QUERIES["label_types"])]


def label_type(conn: Connection, type_id: int) -> StoredLabelType:
    row = conn.execute(QUERIES["label_type"], {"id": type_id}).fetchone()
    if row is None:
        raise NotFound(f"span label type {type_id} does not exist")
    return StoredLabelType(*row)


def update_label_type(conn: Connection, type_id: int, changes: LabelTypeChanges) -> StoredLabelType:
    with translated():
        row = conn.execute(QUERIES["update_label_type"], {"id": type_id, **asdict(changes)})
    if row.fetchone() is None:
        raise NotFound(f"span label type {type_id} does not exist")
    return label_type(conn, type_id)


def spans_in_window(conn: Connection, chart_id: int, where: SpanFilter) -> list[StoredSpan]:
    """The chart's spans overlapping the window, in time order."""
    rows = conn.execute(QUERIES["spans_in_window"], {"chart_id": chart_id, **asdict(where)})
    return [StoredSpan(*row) for row in rows]


def span(conn: Connection, span_id: int) -> StoredSpan:
    row = conn.execute(QUERIES["span"], {"id": span_id}).fetchone()
    if row is None:
        raise NotFound(f"span {span_id} does not exist")
    return StoredSpan(*row)


def create_span(conn: Connection, new: NewSpan) -> StoredSpan:
    """A span, once its label type is usable and its times lie inside the chart."""
    _check_label(conn, new.label_type_id)
    _check_times(conn, new.chart_id, new.start_time, new.end_time)
    return span(conn, add_span(conn, new))


def update_span(conn: Connection, span_id: int, version: int, changes: SpanChanges) -> StoredSpan:
    """The span moved, resized or relabelled, if nobody changed it since `version`."""
    stored = span(conn, span_id)
    if changes.label_type_id is not None:
        _check_label(conn, changes.label_type_id)
    start, end = changes.start_time or stored.start_time, changes.end_time or stored.end_time
    _check_times(conn, stored.chart_id, start, end)
    _versioned(conn, "update_span", span_id, version, asdict(changes))
    return span(conn, span_id)


def review_span(
    conn: Connection, span_id: int, version: int, status: str, reviewer: str
) -> StoredSpan:
    """A model's proposal accepted or rejected, by whom and when."""
    _check_review(status)
    _versioned(conn, "review_span", span_id, version, {"status": status, "reviewer": reviewer})
    return span(conn, span_id)


def review_window(conn: Connection, chart_id: int, where: SpanFilter, status: str,
                  reviewer: str) -> list[int]:  # fmt: skip
    """Every proposal of the chart overlapping the window, accepted or rejected at once."""
    _check_review(status)
    params = {"chart_id": chart_id, "start": where.start, "end": where.end, "status": status,
              "reviewer": reviewer}  # fmt: skip
    return [row[0] for row in conn.execute(QUERIES["review_window"], params)]


def delete_span(conn: Connection, span_id: int, version: int) -> None:
    _versioned(conn, "delete_span", span_id, version, {})


def _versioned(conn: Connection, query: str, span_id: int, version: int,
               params: dict[str, Any]) -> None:  # fmt: skip
    every = {"id": span_id, "version": version, **params}
    versions.change(conn, QUERIES[query], every, lambda: span(conn, span_id), f"span {span_id}")


def _check_label(conn: Connection, type_id: int) -> None:
    try:
        label = label_type(conn, type_id)
    except NotFound:
        raise InvalidField("label_type_id", f"no span label type {type_id}") from None
    if not label.is_active:
        raise InvalidField("label_type_id", f"label type {label.name!r} is deactivated")


def _check_times(conn: Connection, chart_id: int, start: datetime, end: datetime) -> None:
    if end < start:
        raise InvalidField(
            "end_time", f"{end.isoformat()} is before start_time {start.isoformat()}"
        )
    first, last = chart_range(conn, chart_id)
    if first is None or last is None:
        raise InvalidField("chart_id", f"chart {chart_id} does not exist or has no bars")
    if start < first:
        raise InvalidField(
            "start_time", f"{start.isoformat()} is before the chart's first bar {first.isoformat()}"
        )
    if end > last:
        raise InvalidField(
            "end_time", f"{end.isoformat()} is after the chart's last bar {last.isoformat()}"
        )


def _check_review(status: str) -> None:
    if status not in ("accepted", "rejected"):
        raise InvalidField("status", f"{status!r}: a review accepts or rejects")
