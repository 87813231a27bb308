"""Checksums of converted rows, computed the same way from the SQLite side and from what
PostgreSQL holds: if one value differs anywhere, the two disagree.

A table's rows are put in one canonical shape first: legacy ids (PostgreSQL's ids are
mapped back through `legacy_ids`), times as UTC microseconds, booleans as 0/1, floats
by their IEEE bits, JSON parsed and written again with sorted keys. Each row is hashed
(Polars' row hash under two fixed seeds; both sides are hashed by the same process) and
the hashes are summed, so the checksum does not depend on row order and needs no sort
of a million candles.
"""

from __future__ import annotations

import hashlib
import json
import re

import orjson
import polars as pl

# What each table is compared on.
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
SEEDS = (1_103_515_245, 2_654_435_761)  # two hashes per row: a collision needs both
LOW_BITS = (1 << 32) - 1
LONG_NUMBER = re.compile(r"\d{16,}")  # more digits than a float keeps


Digest = tuple[int, ...]  # rows, then the sums of each seed's row hashes, high and low halves
EMPTY: Digest = (0,) * (1 + 2 * len(SEEDS))


def checksum(table: str, frame: pl.DataFrame) -> Digest:
    """The table's rows in canonical form, summed up whatever their order. Digests of
    disjoint parts of a table add up to the digest of the whole (see `combined`)."""
    canonical = frame.select(_canonical(frame, name) for name in COMPARED[table])
    parts = [canonical.height]
    for seed in SEEDS:
        hashes = canonical.hash_rows(seed=seed)
        # Summed in two halves, so a million 64-bit hashes cannot overflow.
        halves = hashes.to_frame("h").select(
            (pl.col("h") // (1 << 32)).sum().alias("high"), (pl.col("h") & LOW_BITS).sum()
        )
        parts += [int(value or 0) for value in halves.row(0)]
    return tuple(parts)


def combined(digests: list[Digest]) -> Digest:
    return tuple(sum(values) for values in zip(EMPTY, *digests, strict=True))


def hexdigest(digest: Digest) -> str:
    """The digest as a short, printable fingerprint."""
    return hashlib.sha256(":".join(map(str, digest)).encode()).hexdigest()


def _canonical(frame: pl.DataFrame, name: str) -> pl.Expr:
    column, dtype = pl.col(name), frame.schema[name]
    if name in JSON_COLUMNS:
        return column.map_elements(_canonical_json, return_dtype=pl.String, skip_nulls=True)
    if dtype in (pl.String, pl.Null):
        return column.cast(pl.String)
    if dtype == pl.Boolean:
        return column.cast(pl.Int8)
    if isinstance(dtype, pl.Datetime):
        return column.dt.convert_time_zone("UTC").dt.cast_time_unit("us").to_physical()
    if dtype.is_float():
        return column.cast(pl.Float64).reinterpret(signed=True)  # the exact bits
    return column.cast(pl.Int64)


def _canonical_json(text: str) -> str:
    """orjson, fast, for most texts; the json module where orjson would round a long number
    to a float or refuses the text (each side of a comparison takes the same way)."""
    if LONG_NUMBER.search(text) is None:
        try:
            return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONDecodeError:
            pass
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
