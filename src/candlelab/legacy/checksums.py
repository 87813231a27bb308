"""Checksums of converted rows, computed the same way from the SQLite side and from what
PostgreSQL holds: if one value differs anywhere, the two disagree.

A table's rows are put in one canonical shape first: legacy ids (PostgreSQL's ids are
mapped back through `legacy_ids`), times as UTC microseconds, booleans as 0/1, floats
by their IEEE bytes, JSON parsed and written again with sorted keys.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl

# What each table is compared on, in order; the first columns are its sort key.
COMPARED: dict[str, list[str]] = {
    "charts": ["id", "name", "symbol", "timeframe", "created_at"],
    "candles": ["chart_id", "time", "open", "high", "low", "close", "volume"],
    "annotation_types": ["id", "name", "color", "shape", "is_active", "created_at"],
    "annotations": ["id", "chart_id", "time", "annotation_type_id", "geometry", "note",
                    "created_at", "updated_at"],
    "span_label_types": ["id", "name", "color", "description", "is_active", "created_at"],
    "span_annotations": ["id", "chart_id", "label_type_id", "start_time", "end_time", "source",
                         "status", "confidence", "sub_spans", "model_prediction", "created_at",
                         "updated_at"],
}  # fmt: skip
JSON_COLUMNS = {"geometry", "sub_spans", "model_prediction"}
SORT_KEYS = {"candles": ["chart_id", "time"]}


def checksum(table: str, frame: pl.DataFrame) -> str:
    """A hex digest of the table's rows in canonical form."""
    canonical = frame.select(COMPARED[table]).sort(SORT_KEYS.get(table, ["id"]))
    digest = hashlib.sha256()
    for name in canonical.columns:
        digest.update(name.encode())
        _column(digest, canonical[name])
    return digest.hexdigest()


def _column(digest: Any, column: pl.Series) -> None:
    digest.update(column.is_null().to_numpy().tobytes())
    if column.dtype == pl.String:
        values = column.fill_null("").to_list()
        if column.name in JSON_COLUMNS:
            values = [_canonical_json(v) for v in values]
        digest.update("\x1f".join(values).encode())
        return
    if column.dtype == pl.Boolean:
        column = column.cast(pl.Int8)
    elif isinstance(column.dtype, pl.Datetime):
        column = column.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical()
    elif column.dtype.is_float():
        column = column.cast(pl.Float64)
    else:
        column = column.cast(pl.Int64)
    digest.update(column.fill_null(0).to_numpy().tobytes())


def _canonical_json(text: str) -> str:
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) if text else ""
