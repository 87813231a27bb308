"""Feature values for the chart view: the sets built on a chart, and their values by window
of bars, read from the feature store like the candles (labellers see what models see).

A window takes the candle window's `start`, `end` and `limit`, so the page asks for the
values of a piece of candles with the same query. An unknown set, or one not built on
the chart, is 404 saying how to build it; an unknown column 422 naming it and the
closest the set has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from candlelab.errors import InvalidFeature, UnknownReference
from candlelab.features.definitions import SET_NAME_PATTERN
from candlelab.features.registry import stored_set
from candlelab.features.windows import BuiltSet, built_set, built_sets, feature_window
from candlelab.market.charts import chart
from candlelab.web.params import Id, Moment
from candlelab.web.pool import Conn
from candlelab.web.windows import FeatureWindow, encode_features

router = APIRouter(prefix="/api/charts/{chart_id}", tags=["features"])

MAX_WINDOW = 50_000  # bars in one response, as for candles
MAX_COLUMNS = 64  # a chart draws a few; a whole set is read by `read_features`
NAME = r"[a-z_][a-z0-9_]{0,62}"  # a feature's name (features.definitions)
SetReference = Annotated[
    str,
    Query(alias="set", max_length=200, pattern=rf"^{SET_NAME_PATTERN}(@[0-9a-f]{{1,64}})?$",
          description="`name` (its newest version), `name@version` or `name@hash-prefix`."),
]  # fmt: skip
Columns = Annotated[
    str,
    Query(max_length=MAX_COLUMNS * 64, pattern=rf"^{NAME}(,{NAME})*$",
          description=f"Comma-separated column names (at most {MAX_COLUMNS})."),
]  # fmt: skip


class FeatureColumn(BaseModel):
    name: str
    scale: Literal["price", "own", "auto"] = Field(
        description="price: drawn over the candles (TA-Lib's overlap studies on prices); "
        "own: in a pane of its own; auto: an expression, placed by its values."
    )


class ChartFeatureSet(BaseModel):
    name: str
    version: int
    label: str = Field(description="name@version, as `set` takes it.")
    version_hash: str
    newest: bool = Field(description="The newest version of its name built on the chart.")
    first_bar: datetime
    last_bar: datetime
    bars: int
    stale_from: datetime | None
    columns: list[FeatureColumn]


@router.get("/feature-sets", summary="Feature sets built on a chart")
def list_feature_sets(chart_id: Id, conn: Conn) -> list[ChartFeatureSet]:
    """Every stored version built on the chart, by name, newest first, with its columns
    and where each is drawn."""
    _check_chart(conn, chart_id)
    found = built_sets(conn, chart_id)
    return [_described(each, i == 0 or found[i - 1].stored.name != each.stored.name)
            for i, each in enumerate(found)]  # fmt: skip


def _described(built: BuiltSet, newest: bool) -> ChartFeatureSet:
    stored = built.stored
    return ChartFeatureSet(
        name=stored.name, version=stored.version, label=stored.label,
        version_hash=stored.version_hash, newest=newest, first_bar=built.first_bar,
        last_bar=built.last_bar, bars=built.bars, stale_from=built.stale_from,
        columns=[FeatureColumn(name=n, scale=s) for n, s in built.scales.items()],
    )  # fmt: skip


@router.get("/features", response_model=FeatureWindow, summary="A window of feature values")
def get_features(
    chart_id: Id,
    conn: Conn,
    *,
    feature_set: SetReference,
    columns: Columns,
    start: Annotated[
        Moment | None, Query(description="First bar time; default: the newest bars.")
    ] = None,
    end: Annotated[Moment | None, Query(description="Bars before this time; default: all.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_WINDOW)] = 10_000,
) -> FeatureWindow:
    """Values of a set's columns for the chart's bars, oldest first: from `start`, or the
    newest `limit` before `end` (the bars of the candle window asked for so)."""
    _check_chart(conn, chart_id)
    stored = stored_set(conn, feature_set)
    built = built_set(conn, stored, chart_id)
    if built is None:
        raise HTTPException(404, detail=f"feature set {stored.label} is not built on chart "
                            f"{chart_id}: `candlelab features build {stored.name} --chart "
                            f"{chart_id}` builds it")  # fmt: skip
    names = _names(columns)
    until = end or datetime.max.replace(tzinfo=UTC)
    try:
        values = feature_window(conn, stored, chart_id, names, start=start, end=until, count=limit)
    except InvalidFeature as exc:  # an unknown column: answered like FastAPI's own 422s
        error = {"type": "value_error", "loc": ("query", "columns"), "msg": str(exc),
                 "input": columns}  # fmt: skip
        raise RequestValidationError([error]) from None
    return encode_features(chart_id, stored.label, values, built.stale_from)


def _names(columns: str) -> list[str]:
    """The columns asked for, each once, in the order asked."""
    names = list(dict.fromkeys(columns.split(",")))
    if len(names) > MAX_COLUMNS:
        error = {"type": "too_long", "loc": ("query", "columns"),
                 "msg": f"names more than {MAX_COLUMNS} columns", "input": columns}  # fmt: skip
        raise RequestValidationError([error])
    return names


def _check_chart(conn: Conn, chart_id: int) -> None:
    try:
        chart(conn, chart_id)
    except UnknownReference:
        raise HTTPException(404, detail=f"chart {chart_id} does not exist") from None
