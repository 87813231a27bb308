"""Point annotations: a mark on one candle, of a type, with an optional price level and note.

Like spans, each change bumps the annotation's `version` and a change from an older
version is refused with the current row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from candlelab.errors import InvalidField, NotFound
from candlelab.labels import versions
from candlelab.store.database import Connection, returned_id, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


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


def add_annotation_type(conn: Connection, name: str, color: str, shape: str) -> AnnotationType:
    params = {"name": name, "color": color, "shape": shape}
    return annotation_type(conn, returned_id(conn, QUERIES["add_annotation_type"], params))


def update_annotation_type(
    conn: Connection, type_id: int, changes: AnnotationTypeChanges
) -> AnnotationType:
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
    """A mark on a bar the chart has, of a usable type."""
    bar = conn.execute(QUERIES["bar_at"], {"chart_id": new.chart_id, "time": new.time}).fetchone()
    if not (bar and bar[0]):
        raise InvalidField("time", f"chart {new.chart_id} has no bar at {new.time.isoformat()}")
    _check_type(conn, new.annotation_type_id)
    return annotation(conn, returned_id(conn, QUERIES["add_annotation"], asdict(new)))


def update_annotation(
    conn: Connection, annotation_id: int, version: int, changes: AnnotationChanges
) -> Annotation:
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
