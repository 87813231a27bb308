"""Point annotations: a mark on one candle, of a type, with an optional price level and note.

A mark's time is the open of a bar the chart has; its price, when given, is finite and
within `bars.PRICE_FACTOR` of that bar's range (a chart with no bars has no bar to mark,
so nothing is placed on it). Type names are trimmed and unique whatever their case.
Like spans, each change bumps the annotation's `version` and a change from an older
version is refused with the current row.

What people write goes through `fields`' rules here, whoever calls: the API, and the
legacy import through `checked_annotation_type` and `checked_annotation` (row rules
without the database) and `check_type_name_free` and `check_place` (against it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from candlelab.errors import InvalidField, NotFound, quoted
from candlelab.labels import fields, versions
from candlelab.labels.bars import check_bar_open, check_price
from candlelab.labels.spans import name_free
from candlelab.store.database import Connection, returned_id, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
SHAPES = ("circle", "square", "arrowUp", "arrowDown")  # the chart's marker shapes


@dataclass(frozen=True)
class NewAnnotationType:
    name: str
    color: str
    shape: str = "circle"


@dataclass(frozen=True)
class AnnotationType:
    id: int
    name: str
    color: str
    shape: str
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class AnnotationTypeChanges:
    name: str | None = None
    color: str | None = None
    shape: str | None = None
    is_active: bool | None = None


@dataclass(frozen=True)
class NewAnnotation:
    chart_id: int
    time: datetime
    annotation_type_id: int | None
    price: float | None = None
    note: str | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class Annotation:
    id: int
    chart_id: int
    time: datetime
    annotation_type_id: int | None
    type_name: str | None
    color: str | None
    shape: str | None
    price: float | None
    note: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class AnnotationChanges:
    annotation_type_id: int | None = None
    price: float | None = None
    note: str | None = None


def annotation_types(conn: Connection) -> list[AnnotationType]:
    return [AnnotationType(*row) for row in conn.execute(QUERIES["annotation_types"])]


def annotation_type(conn: Connection, type_id: int) -> AnnotationType:
    row = conn.execute(QUERIES["annotation_type"], {"id": type_id}).fetchone()
    if row is None:
        raise NotFound(f"annotation type {type_id} does not exist")
    return AnnotationType(*row)


def checked_annotation_type(kind: NewAnnotationType) -> NewAnnotationType:
    """The type with its name trimmed, or InvalidField naming the field that breaks a rule.
    Needs no database: the legacy import checks each row with it."""
    _shape(kind.shape)
    name, color = fields.name("name", kind.name), fields.color("color", kind.color)
    return replace(kind, name=name, color=color)


def checked_annotation(new: NewAnnotation) -> NewAnnotation:
    """The annotation with its person's name trimmed, or InvalidField naming the field.
    Needs no database; `check_place` checks its time and price against the chart's bars."""
    if new.price is not None and not math.isfinite(new.price):
        raise InvalidField("price", f"{new.price} is not a finite number")
    return replace(
        new,
        note=_optional(fields.text, "note", new.note),
        created_by=_optional(fields.name, "created_by", new.created_by),
    )


def check_type_name_free(conn: Connection, name: str, type_id: int | None = None) -> None:
    """LabelExists unless no other annotation type has this name, whatever its case and
    spaces (`type_id` is the type being renamed)."""
    name_free(conn, QUERIES["annotation_type_names"], "annotation type", name, type_id)


def check_place(conn: Connection, chart_id: int, time: datetime, price: float | None) -> None:
    """InvalidField unless `time` is the open of a bar of the chart and `price` (if any)
    is finite and within PRICE_FACTOR of that bar's low and high."""
    check_bar_open(conn, chart_id, "time", time)
    if price is not None:
        check_price(conn, chart_id, time, price)


def add_annotation_type(conn: Connection, name: str, color: str, shape: str) -> AnnotationType:
    """A new annotation type, once its fields keep the rules and its name is free."""
    kind = checked_annotation_type(NewAnnotationType(name, color, shape))
    check_type_name_free(conn, kind.name)
    return annotation_type(conn, returned_id(conn, QUERIES["add_annotation_type"], asdict(kind)))


def update_annotation_type(
    conn: Connection, type_id: int, changes: AnnotationTypeChanges
) -> AnnotationType:
    """The type changed, once the changed fields keep the rules (a new name is free)."""
    changes = _checked_type_changes(changes)
    if changes.name is not None:
        check_type_name_free(conn, changes.name, type_id)
    with translated():
        row = conn.execute(QUERIES["update_annotation_type"], {"id": type_id, **asdict(changes)})
    if row.fetchone() is None:
        raise NotFound(f"annotation type {type_id} does not exist")
    return annotation_type(conn, type_id)


def annotations_in_window(conn: Connection, chart_id: int, start: datetime, end: datetime, *,
                          limit: int = 1000, offset: int = 0) -> list[Annotation]:  # fmt: skip
    params = {"chart_id": chart_id, "start": start, "end": end, "limit": limit, "offset": offset}
    return [Annotation(*row) for row in conn.execute(QUERIES["annotations_in_window"], params)]


def annotation(conn: Connection, annotation_id: int) -> Annotation:
    row = conn.execute(QUERIES["annotation"], {"id": annotation_id}).fetchone()
    if row is None:
        raise NotFound(f"annotation {annotation_id} does not exist")
    return Annotation(*row)


def create_annotation(conn: Connection, new: NewAnnotation) -> Annotation:
    """A mark on a bar the chart has, at a plausible price, of a usable type."""
    new = checked_annotation(new)
    check_place(conn, new.chart_id, new.time, new.price)
    _check_type(conn, new.annotation_type_id)
    return annotation(conn, returned_id(conn, QUERIES["add_annotation"], asdict(new)))


def update_annotation(
    conn: Connection, annotation_id: int, version: int, changes: AnnotationChanges
) -> Annotation:
    """The annotation changed, if nobody changed it since `version` (its price is checked
    against its own bar)."""
    stored = annotation(conn, annotation_id)
    changes = _checked_changes(changes)
    if changes.price is not None:
        check_price(conn, stored.chart_id, stored.time, changes.price)
    _check_type(conn, changes.annotation_type_id)
    _versioned(conn, "update_annotation", annotation_id, version, asdict(changes))
    return annotation(conn, annotation_id)


def delete_annotation(conn: Connection, annotation_id: int, version: int) -> None:
    _versioned(conn, "delete_annotation", annotation_id, version, {})


def _versioned(conn: Connection, query: str, annotation_id: int, version: int,
               params: dict[str, Any]) -> None:  # fmt: skip
    every = {"id": annotation_id, "version": version, **params}
    versions.change(
        conn,
        QUERIES[query],
        every,
        lambda: annotation(conn, annotation_id),
        f"annotation {annotation_id}",
    )


def _check_type(conn: Connection, type_id: int | None) -> None:
    if type_id is None:
        return
    try:
        kind = annotation_type(conn, type_id)
    except NotFound:
        raise InvalidField("annotation_type_id", f"no annotation type {type_id}") from None
    if not kind.is_active:
        raise InvalidField("annotation_type_id", f"annotation type {kind.name!r} is deactivated")


def _checked_type_changes(changes: AnnotationTypeChanges) -> AnnotationTypeChanges:
    if changes.shape is not None:
        _shape(changes.shape)
    return replace(
        changes,
        name=_optional(fields.name, "name", changes.name),
        color=_optional(fields.color, "color", changes.color),
    )


def _checked_changes(changes: AnnotationChanges) -> AnnotationChanges:
    if changes.price is not None and not math.isfinite(changes.price):
        raise InvalidField("price", f"{changes.price} is not a finite number")
    return replace(changes, note=_optional(fields.text, "note", changes.note))


def _shape(value: str) -> None:
    if value not in SHAPES:
        raise InvalidField("shape", f"{quoted(value)} is not one of {', '.join(SHAPES)}")


def _optional(rule: Callable[[str, str], str], field: str, value: str | None) -> str | None:
    return None if value is None else rule(field, value)
