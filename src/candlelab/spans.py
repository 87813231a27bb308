"""Span annotations: a labelled stretch of a chart, by a person, a model or an import."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from candlelab.database import Connection, returned_id
from candlelab.queries import load_queries

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
