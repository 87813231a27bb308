"""The labelling API: span label types, annotation types, spans and point annotations.

Every write is validated before it reaches a table: a field that breaks a rule answers
422 naming the field, like FastAPI's own validation errors; ids, integers, text and times
are of the kinds in web/params.py, so nothing PostgreSQL cannot hold gets to a query.
A change names the version it was made from; if someone changed the row since, the
answer is 409 with the row as it is now, and nothing is overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from candlelab.labels import annotations as points
from candlelab.labels import spans
from candlelab.labels.annotations import Annotation, AnnotationType
from candlelab.labels.spans import SpanFilter, StoredLabelType, StoredSpan
from candlelab.web.params import Count, Id, Moment, Name, Note, Price, Whole
from candlelab.web.pool import Conn

router = APIRouter(prefix="/api")

COLOR = r"^#[0-9a-fA-F]{6}$"
HOTKEY = r"^[1-9]$"
Person = Name  # who made or reviewed a span: a name by the same rules
SHAPES = Literal["circle", "square", "arrowUp", "arrowDown"]  # the chart's marker shapes
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Changed by someone else since that version: the row as it is now."}
}
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="The offset of the next page; null at the end.")


class LabelTypeIn(BaseModel):
    name: Name
    color: str = Field(pattern=COLOR)
    description: Note | None = None
    hotkey: str | None = Field(None, pattern=HOTKEY, description="1 to 9")
    direction: Literal[-1, 0, 1] = 0


class LabelTypePatch(BaseModel):
    name: Name | None = None
    color: str | None = Field(None, pattern=COLOR)
    description: Note | None = None
    hotkey: str | None = Field(None, pattern=r"^[1-9]?$", description="1 to 9; '' clears it")
    direction: Literal[-1, 0, 1] | None = None
    is_active: bool | None = None


class AnnotationTypeIn(BaseModel):
    name: Name
    color: str = Field(pattern=COLOR)
    shape: SHAPES = "circle"


class AnnotationTypePatch(BaseModel):
    name: Name | None = None
    color: str | None = Field(None, pattern=COLOR)
    shape: SHAPES | None = None
    is_active: bool | None = None


class SpanIn(BaseModel):
    chart_id: Whole
    label_type_id: Whole
    start_time: Moment = Field(description="The open of the span's first bar.")
    end_time: Moment = Field(description="The open of its last bar (≥ start_time).")
    source: Literal["manual", "model", "import"] = "manual"
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    created_by: Person | None = None


class SpanPatch(BaseModel):
    version: Whole = Field(description="The version the change was made from.")
    label_type_id: Whole | None = None
    start_time: Moment | None = None
    end_time: Moment | None = None


class Review(BaseModel):
    status: Literal["accepted", "rejected"]
    reviewer: Person


class SpanReview(Review):
    version: Whole


class WindowReview(Review):
    start: Moment
    end: Moment


class Reviewed(BaseModel):
    ids: list[int]


class AnnotationIn(BaseModel):
    chart_id: Whole
    time: Moment = Field(description="The open of the bar the mark is on.")
    annotation_type_id: Whole | None = None
    price: Price | None = None
    note: Note | None = None
    created_by: Person | None = None


class AnnotationPatch(BaseModel):
    version: Whole
    annotation_type_id: Whole | None = None
    price: Price | None = None
    note: Note | None = None


Start = Annotated[Moment | None, Query(description="From this time; default: the start.")]
End = Annotated[Moment | None, Query(description="Up to this time; default: the end.")]
Limit = Annotated[int, Query(ge=1, le=5000)]
Offset = Annotated[Count, Query()]


# Span label types -------------------------------------------------------------------


@router.get("/span-label-types", summary="Span label types", tags=["types"])
def list_label_types(conn: Conn) -> list[StoredLabelType]:
    return spans.label_types(conn)


@router.post("/span-label-types", status_code=201, summary="New span label type", tags=["types"])
def create_label_type(body: LabelTypeIn, conn: Conn) -> StoredLabelType:
    made = spans.create_label_type(conn, spans.LabelType(**body.model_dump()))
    conn.commit()
    return made


@router.patch("/span-label-types/{type_id}", summary="Rename, recolour, deactivate…",
              tags=["types"])  # fmt: skip
def patch_label_type(type_id: Id, body: LabelTypePatch, conn: Conn) -> StoredLabelType:
    changed = spans.update_label_type(conn, type_id, spans.LabelTypeChanges(**body.model_dump()))
    conn.commit()
    return changed


# Annotation types -------------------------------------------------------------------


@router.get("/annotation-types", summary="Annotation types", tags=["types"])
def list_annotation_types(conn: Conn) -> list[AnnotationType]:
    return points.annotation_types(conn)


@router.post("/annotation-types", status_code=201, summary="New annotation type", tags=["types"])
def create_annotation_type(body: AnnotationTypeIn, conn: Conn) -> AnnotationType:
    made = points.add_annotation_type(conn, body.name, body.color, body.shape)
    conn.commit()
    return made


@router.patch("/annotation-types/{type_id}", summary="Rename, recolour, deactivate…",
              tags=["types"])  # fmt: skip
def patch_annotation_type(type_id: Id, body: AnnotationTypePatch, conn: Conn) -> AnnotationType:
    changes = points.AnnotationTypeChanges(**body.model_dump())
    changed = points.update_annotation_type(conn, type_id, changes)
    conn.commit()
    return changed


# Spans ------------------------------------------------------------------------------


@router.get("/charts/{chart_id}/spans", summary="A chart's spans", tags=["spans"])
def list_spans(
    chart_id: Id,
    conn: Conn,
    start: Start = None,
    end: End = None,
    source: Literal["manual", "model", "import"] | None = None,
    status: Literal["accepted", "proposed", "rejected"] | None = None,
    label_type_id: Annotated[Whole | None, Query()] = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> Page[StoredSpan]:
    """Spans overlapping [start, end], in time order, filtered and paged."""
    where = SpanFilter(start or EARLIEST, end or LATEST, source, status, label_type_id,
                       limit, offset)  # fmt: skip
    return _page(spans.spans_in_window(conn, chart_id, where), limit, offset)


@router.post("/spans", status_code=201, summary="New span", tags=["spans"])
def create_span(body: SpanIn, conn: Conn) -> StoredSpan:
    """A span; a model's span arrives proposed, any other accepted."""
    state = "proposed" if body.source == "model" else "accepted"
    made = spans.create_span(conn, spans.NewSpan(**body.model_dump(), status=state))
    conn.commit()
    return made


@router.get("/spans/{span_id}", summary="One span", tags=["spans"])
def get_span(span_id: Id, conn: Conn) -> StoredSpan:
    return spans.span(conn, span_id)


@router.patch("/spans/{span_id}", summary="Move, resize or relabel a span", tags=["spans"],
              responses=CONFLICT)  # fmt: skip
def patch_span(span_id: Id, body: SpanPatch, conn: Conn) -> StoredSpan:
    changes = spans.SpanChanges(body.label_type_id, body.start_time, body.end_time)
    changed = spans.update_span(conn, span_id, body.version, changes)
    conn.commit()
    return changed


@router.delete("/spans/{span_id}", status_code=204, summary="Delete a span", tags=["spans"],
               responses=CONFLICT)  # fmt: skip
def delete_span(span_id: Id, version: Annotated[Whole, Query()], conn: Conn) -> Response:
    spans.delete_span(conn, span_id, version)
    conn.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/spans/{span_id}/review", summary="Accept or reject a proposal", tags=["spans"])
def review_span(span_id: Id, body: SpanReview, conn: Conn) -> StoredSpan:
    reviewed = spans.review_span(conn, span_id, body.version, body.status, body.reviewer)
    conn.commit()
    return reviewed


@router.post("/charts/{chart_id}/spans/review", summary="Accept or reject every proposal in "
             "a window", tags=["spans"])  # fmt: skip
def review_window(chart_id: Id, body: WindowReview, conn: Conn) -> Reviewed:
    where = SpanFilter(body.start, body.end)
    ids = spans.review_window(conn, chart_id, where, body.status, body.reviewer)
    conn.commit()
    return Reviewed(ids=ids)


# Point annotations ------------------------------------------------------------------


@router.get("/charts/{chart_id}/annotations", summary="A chart's annotations",
            tags=["annotations"])  # fmt: skip
def list_annotations(chart_id: Id, conn: Conn, start: Start = None, end: End = None,
                     limit: Limit = 1000, offset: Offset = 0) -> Page[Annotation]:  # fmt: skip
    found = points.annotations_in_window(
        conn, chart_id, start or EARLIEST, end or LATEST, limit=limit, offset=offset
    )
    return _page(found, limit, offset)


@router.post("/annotations", status_code=201, summary="New annotation", tags=["annotations"])
def create_annotation(body: AnnotationIn, conn: Conn) -> Annotation:
    made = points.create_annotation(conn, points.NewAnnotation(**body.model_dump()))
    conn.commit()
    return made


@router.get("/annotations/{annotation_id}", summary="One annotation", tags=["annotations"])
def get_annotation(annotation_id: Id, conn: Conn) -> Annotation:
    return points.annotation(conn, annotation_id)


@router.patch("/annotations/{annotation_id}", summary="Change an annotation",
              tags=["annotations"])  # fmt: skip
def patch_annotation(annotation_id: Id, body: AnnotationPatch, conn: Conn) -> Annotation:
    changes = points.AnnotationChanges(body.annotation_type_id, body.price, body.note)
    changed = points.update_annotation(conn, annotation_id, body.version, changes)
    conn.commit()
    return changed


@router.delete("/annotations/{annotation_id}", status_code=204, summary="Delete an annotation",
               tags=["annotations"])  # fmt: skip
def delete_annotation(
    annotation_id: Id, version: Annotated[Whole, Query()], conn: Conn
) -> Response:
    points.delete_annotation(conn, annotation_id, version)
    conn.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _page(items: list[T], limit: int, offset: int) -> Page[T]:
    return Page[T](items=items, next_offset=offset + limit if len(items) == limit else None)
