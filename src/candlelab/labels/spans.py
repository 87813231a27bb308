"""Span annotations: a labelled stretch of a chart, by a person, a model or an import.

A span runs from the open of its first bar to the open of its last (end ≥ start; one bar
is a span too): both must be opens of bars the chart has, as on the annotator page; any
other time is refused naming the nearest bar opens, never moved silently. Every change
bumps its `version`; a change that names an older version is refused with the current
span, so nobody's work is overwritten unseen.

Label type names are trimmed and unique whatever their case (`UPTREND ` is `uptrend`).
What people write goes through `fields`' rules here, whoever calls: the API, and the
legacy import through `checked_label_type` and `checked_span` (row rules without the
database) and `check_label_name_free` and `check_span_times` (against it). `add_*`
insert without these checks: they are for rows candlelab makes itself (proposals).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, LiteralString

from candlelab.errors import InvalidField, LabelExists, NotFound, quoted
from candlelab.labels import fields, versions
from candlelab.labels.bars import check_aware, check_bar_open
from candlelab.market.charts import chart_range
from candlelab.store.database import Connection, returned_id, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
HOTKEY = re.compile(r"[1-9]")  # the annotator's keys 1 to 9
DIRECTIONS = (-1, 0, 1)
SOURCES = ("manual", "model", "import")
STATUSES = ("accepted", "proposed", "rejected")


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
    """Insert a label type as it is (see `create_label_type` for one a person asked for)."""
    return returned_id(conn, QUERIES["add_label_type"], asdict(label))


def add_span(conn: Connection, span: NewSpan) -> int:
    """Insert a span as it is (see `create_span` for one a person asked for)."""
    return returned_id(conn, QUERIES["add_span"], asdict(span))


def checked_label_type(label: LabelType) -> LabelType:
    """The label type with its name trimmed, or InvalidField naming the field that breaks
    a rule. Needs no database: the legacy import checks each row with it."""
    return replace(
        label,
        name=fields.name("name", label.name),
        color=fields.color("color", label.color),
        description=_optional(fields.text, "description", label.description),
        hotkey=_hotkey(label.hotkey),
        direction=_direction(label.direction),
    )


def checked_span(new: NewSpan) -> NewSpan:
    """The span with its person's name trimmed, or InvalidField naming the field that
    breaks a rule. Needs no database; `check_span_times` checks the times against the bars."""
    _in("source", new.source, SOURCES)
    _in("status", new.status, STATUSES)
    if new.confidence is not None and not (
        math.isfinite(new.confidence) and 0 <= new.confidence <= 1
    ):
        raise InvalidField("confidence", f"{new.confidence} is not between 0 and 1")
    return replace(
        new,
        created_by=_optional(fields.name, "created_by", new.created_by),
        training_run_id=_optional(fields.name, "training_run_id", new.training_run_id),
    )


def check_label_name_free(conn: Connection, name: str, type_id: int | None = None) -> None:
    """LabelExists unless no other span label type has this name, whatever its case and
    spaces (`type_id` is the type being renamed)."""
    name_free(conn, QUERIES["label_type_names"], "span label type", name, type_id)


def check_span_times(conn: Connection, chart_id: int, start: datetime, end: datetime) -> None:
    """InvalidField unless start and end are opens of the chart's bars, end ≥ start."""
    check_aware("start_time", start)
    check_aware("end_time", end)
    _check_times(conn, chart_id, start, end)
    check_bar_open(conn, chart_id, "start_time", start)
    check_bar_open(conn, chart_id, "end_time", end)


def create_label_type(conn: Connection, label: LabelType) -> StoredLabelType:
    """A new label type, once its fields keep the rules and its name is free."""
    checked = checked_label_type(label)
    check_label_name_free(conn, checked.name)
    return label_type(conn, add_label_type(conn, checked))


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
    """A span as the annotator shows it: with its label's name and colour, its version, and
    a model's proposal's prediction (which model and version, its probabilities)."""

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
    model_prediction: Any  # JSON: a proposal's is an object; an imported span's, any value


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
    """The label type changed, once the changed fields keep the rules (a new name is free)."""
    changes = checked_label_type_changes(changes)
    if changes.name is not None:
        check_label_name_free(conn, changes.name, type_id)
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


def checked_label_type_changes(changes: LabelTypeChanges) -> LabelTypeChanges:
    """The changes with a new name trimmed, or InvalidField naming the field (an empty
    hotkey is kept: it clears the stored one)."""
    return replace(
        changes,
        name=_optional(fields.name, "name", changes.name),
        color=_optional(fields.color, "color", changes.color),
        description=_optional(fields.text, "description", changes.description),
        hotkey=changes.hotkey if changes.hotkey == "" else _hotkey(changes.hotkey),
        direction=None if changes.direction is None else _direction(changes.direction),
    )


def create_span(conn: Connection, new: NewSpan) -> StoredSpan:
    """A span, once its fields keep the rules, its label type is usable and its times are
    opens of the chart's bars."""
    new = checked_span(new)
    _check_label(conn, new.label_type_id)
    check_span_times(conn, new.chart_id, new.start_time, new.end_time)
    return span(conn, add_span(conn, new))


def update_span(conn: Connection, span_id: int, version: int, changes: SpanChanges) -> StoredSpan:
    """The span moved, resized or relabelled, if nobody changed it since `version`."""
    stored = span(conn, span_id)
    if changes.label_type_id is not None:
        _check_label(conn, changes.label_type_id)
    start, end = changes.start_time or stored.start_time, changes.end_time or stored.end_time
    check_span_times(conn, stored.chart_id, start, end)
    _versioned(conn, "update_span", span_id, version, asdict(changes))
    return span(conn, span_id)


def review_span(
    conn: Connection, span_id: int, version: int, status: str, reviewer: str
) -> StoredSpan:
    """A model's proposal accepted or rejected, by whom and when."""
    reviewer = checked_reviewer(status, reviewer)
    _versioned(conn, "review_span", span_id, version, {"status": status, "reviewer": reviewer})
    return span(conn, span_id)


def review_window(conn: Connection, chart_id: int, where: SpanFilter, status: str,
                  reviewer: str) -> list[int]:  # fmt: skip
    """Every proposal of the chart overlapping the window, accepted or rejected at once."""
    reviewer = checked_reviewer(status, reviewer)
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


def checked_reviewer(status: str, reviewer: str) -> str:
    """The reviewer's name trimmed, once the review accepts or rejects."""
    if status not in ("accepted", "rejected"):
        raise InvalidField("status", f"{quoted(status)}: a review accepts or rejects")
    return fields.name("reviewer", reviewer)


def name_free(conn: Connection, query: LiteralString, what: str, name: str,
               type_id: int | None) -> None:  # fmt: skip
    """LabelExists naming `name` if another row of the query's (id, name) has its key."""
    key = fields.name_key(name)
    for other_id, other in conn.execute(query):
        if other_id != type_id and fields.name_key(other) == key:
            raise LabelExists(
                f"name: {what} {other_id} is already named {quoted(other)}, "
                f"the same name as {quoted(name)} whatever the case and spaces"
            )


def _optional(rule: Callable[[str, str], str], field: str, value: str | None) -> str | None:
    return None if value is None else rule(field, value)


def _hotkey(value: str | None) -> str | None:
    if value is not None and not HOTKEY.fullmatch(value):
        raise InvalidField("hotkey", f"{quoted(value)} is not one of the keys 1 to 9")
    return value


def _direction(value: int) -> int:
    _in("direction", value, DIRECTIONS)
    return value


def _in(field: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        shown = quoted(value) if isinstance(value, str) else repr(value)
        raise InvalidField(field, f"{shown} is not one of {', '.join(map(str, allowed))}")
