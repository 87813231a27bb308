"""Reading a legacy file and converting every row, finding every problem on the way.

Each table is read through ADBC's SQLite driver as Arrow, with SQLite's `typeof` of each
column beside it: SQLite lets any value into any column, so a text in a time column is
a problem to report, not a zero to import. Then, per table: times from epoch seconds
or milliseconds (the unit judged per column from its values), 0/1 to booleans, JSON
text parsed, NULL volume to 0, and the checks candlelab's tables make.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import adbc_driver_manager
import orjson
import polars as pl

from candlelab.errors import InvalidField, quoted
from candlelab.labels import fields
from candlelab.legacy.layout import TABLES, Layout, kind, open_readonly, required, sqlite_uri
from candlelab.market.symbols import normalized_symbol
from candlelab.market.timeframes import Timeframe

log = logging.getLogger(__name__)
# Epoch values at or above this are milliseconds: as seconds they would be past year 5000.
MILLISECONDS_FROM = 100_000_000_000
PROBLEM_SCHEMA = {"table": pl.String, "id": pl.Int64, "code": pl.String, "field": pl.String,
                  "value": pl.String}  # fmt: skip
SOURCES = {"manual": "accepted", "model": "proposed"}  # legacy source → span status
PLACEHOLDER_TIMEFRAME = "1d"
# A value longer than this (characters of a text, bytes of a blob) is refused unread.
MAX_VALUE = 1_000_000
SHOWN = 100  # characters of a value a problem shows
BAD_COLUMNS = ("_bad_code", "_bad_field", "_bad_value")
BAD_SCHEMA = {"id": pl.Int64, **dict.fromkeys(BAD_COLUMNS, pl.String)}
# A table of more rows than this is read in READERS parts at once.
PART_ROWS = 100_000
READERS = 4
# The column kinds read as stored, when a table holds only these, and their Polars types.
NUMBER_TYPES = {"id": pl.Int64, "int": pl.Int64, "time": pl.Int64, "real": pl.Float64}
# The SQLite storage classes each kind of column may hold (`typeof`).
STORAGE_TYPES = {"int": ("integer",), "time": ("integer",), "bool": ("integer",),
                 "real": ("real", "integer"), "text": ("text",), "json": ("text",)}  # fmt: skip
SPACINGS = ((604_800, "w"), (86_400, "d"), (3_600, "h"), (60, "m"))  # largest unit first
NAMED_TIMEFRAMES = {"daily": "1d", "hourly": "1h", "weekly": "1w", "monthly": "1M"}
NAME_PATTERN = re.compile(
    r"^\s*(?P<symbol>[A-Za-z0-9][A-Za-z0-9./=^:-]*?)\s*[-_ @|,]+\s*"
    r"(?P<timeframe>\d+\s*(?:m|min|h|d|w|M)|daily|hourly|weekly|monthly)\s*$",
    re.IGNORECASE,
)


@dataclass
class Converted:
    """Every table's good rows, converted; every problem; what was assumed on the way."""

    tables: dict[str, pl.DataFrame]
    problems: pl.DataFrame
    read: dict[str, int]  # rows read per table
    time_units: dict[str, str] = field(default_factory=dict)  # "table.column" → unit
    null_volumes: int = 0
    placeholders: list[dict[str, Any]] = field(default_factory=list)


def convert(layout: Layout, max_value: int = MAX_VALUE) -> Converted:
    """Read and convert the whole file; tables in dependency order, so orphans of a
    rejected row are found too. A value longer than `max_value` refuses its row unread."""
    raw = {table: read_table(layout.read, table, max_value) for table in TABLES}
    result = Converted(
        {}, pl.DataFrame(schema=PROBLEM_SCHEMA), {t: f.height for t, f in raw.items()}
    )
    for table in TABLES:
        frame, problems = _typed(table, raw[table])
        frame, problems = _times(result, table, frame, problems)
        frame, ruled = _fields(table, frame)
        frame, more = CONVERTERS[table](result, frame)
        _keep(result, table, frame, [problems, ruled, more])
    _timeframes_from_spacing(result)
    return result


def _timeframes_from_spacing(result: Converted) -> None:
    """A chart whose timeframe nothing names gets the one its bars are spaced by."""
    for placed in result.placeholders:
        if "timeframe" not in placed:
            continue
        times = result.tables["candles"].filter(pl.col("chart_id") == placed["chart"])["time"]
        spacing = times.sort().diff().drop_nulls().median()
        seconds = int(spacing.total_seconds()) if spacing is not None else 0  # type: ignore[union-attr]
        name = next((f"{seconds // unit}{code}" for unit, code in SPACINGS
                     if seconds and seconds % unit == 0), None)  # fmt: skip
        if name:
            placed["timeframe"] = name
            placed["timeframe_from"] = "bar spacing"
            charts = result.tables["charts"]
            result.tables["charts"] = charts.with_columns(
                timeframe=pl.when(pl.col("id") == placed["chart"]).then(pl.lit(name))
                .otherwise(pl.col("timeframe"))
            )  # fmt: skip


def read_table(path: Path, table: str, max_value: int = MAX_VALUE) -> pl.DataFrame:
    """The table's known columns as Arrow-typed values, in id order. A row with a value of
    the wrong stored type, or one longer than `max_value`, carries the problem's code, first
    such column, and value or size in `_bad_code`, `_bad_field` and `_bad_value`; the values
    of a row with a value too long are never read (all NULL)."""
    parts = _rowid_parts(path, table)
    big = _oversized(path, table, max_value)  # sizes first; then every value but those
    if not big.is_empty():
        parts = [f"({part}) AND NOT ({_too_long(table, max_value)})" for part in parts]
    rows = _numbers_as_stored(path, table, parts)
    if rows is not None:  # every value a number: none of the wrong type
        rows = _no_problems(rows)
    else:
        rows, wrong = _read_checked(path, table, parts)
        # The usual case is no wrong type: no join of a million rows with nothing.
        rows = rows.join(wrong, on="id", how="left") if not wrong.is_empty() else _no_problems(rows)
    if not big.is_empty():  # the rows too long, their values unread: NULL
        rows = pl.concat([rows, big], how="diagonal_relaxed")
    return _in_id_order(rows)


def _no_problems(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.lit(None, pl.String).alias(c) for c in BAD_COLUMNS)


def _in_id_order(rows: pl.DataFrame) -> pl.DataFrame:
    """Sorted only when need be: `id` is not the rowid, or rows too long were added."""
    return rows if rows["id"].is_sorted() else rows.sort("id")


def _oversized(path: Path, table: str, max_value: int) -> pl.DataFrame:
    """Rows with a value longer than `max_value`, measured by SQLite's `length()` (characters
    of a text, bytes of a blob): the first such column of each and its size. Only when
    `dbstat` finds a row that long; Python never holds the value. (SQLite measures a text or
    blob without loading it, except in a REAL column, whose affinity has it loaded once, in C.)"""
    columns = list(TABLES[table])
    where = _too_long(table, max_value)
    first = " ".join(f"WHEN {_longer(c, max_value)} THEN '{c}'" for c in columns)
    size = " ".join(f"WHEN {_longer(c, max_value)} THEN length({c})" for c in columns)
    kind_of = " ".join(f"WHEN {_longer(c, max_value)} THEN typeof({c})" for c in columns)
    query = (  # names from TABLES, never from the file
        f"SELECT CASE WHEN typeof(id) = 'integer' THEN id END, CASE {first} END, "  # noqa: S608
        f"CASE {size} END, CASE {kind_of} END FROM {table} WHERE {where}"
    )
    with closing(open_readonly(path)) as conn:
        if _longest_row(conn, table) <= max_value:  # the usual case: no need to measure
            return pl.DataFrame(schema=BAD_SCHEMA)
        found = conn.execute(query).fetchall()
    rows = [(row_id, "too_large", column, _size(length, stored, max_value))
            for row_id, column, length, stored in found]  # fmt: skip
    return pl.DataFrame(rows, schema=BAD_SCHEMA, orient="row")


def _longest_row(conn: sqlite3.Connection, table: str) -> float:
    """The bytes of the table's longest row, as SQLite's `dbstat` finds it from the pages'
    headers, without reading a value (a fraction of a second for a million rows); no value
    is longer than its row. Infinite where SQLite was built without `dbstat`."""
    query = "SELECT max(mx_payload) FROM dbstat WHERE name = ? AND aggregate = TRUE"
    try:
        row = conn.execute(query, (table,)).fetchone()
    except sqlite3.Error:
        return math.inf
    return math.inf if row is None or row[0] is None else float(row[0])


def _size(length: int, stored: str, max_value: int) -> str:
    unit = "bytes" if stored == "blob" else "characters"
    return f"a {stored} of {length:,} {unit}; at most {max_value:,}"


def _longer(column: str, max_value: int) -> str:
    return f"coalesce(length({column}), 0) > {int(max_value)}"


def _too_long(table: str, max_value: int) -> str:
    """The SQL condition of a row with a known column longer than `max_value`."""
    return " OR ".join(f"({_longer(column, max_value)})" for column in TABLES[table])


def _numbers_as_stored(path: Path, table: str, parts: list[str]) -> pl.DataFrame | None:
    """A table of numbers only (the candles) read as stored, with no cast and no type check
    per value: ADBC types each column from its first values and stops at a value of another
    type. None when it stopped, or a column came out of another type or holds a NULL it may
    not: the checked read then finds the rows and values to report."""
    columns = TABLES[table]
    if any(kind(table, column) not in NUMBER_TYPES for column in columns):
        return None
    query = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 (names from TABLES)
    try:
        with ThreadPoolExecutor(READERS, thread_name_prefix="candlelab-sqlite") as pool:
            rows = _read_parts(path, query, parts, pool)
    except (OSError, adbc_driver_manager.Error) as stopped:
        log.debug("%s: a value of another type (%s); reading with checks", table, stopped)
        return None
    for column in columns:
        wanted, dtype = NUMBER_TYPES[kind(table, column)], rows.schema[column]
        if dtype == pl.Null or (wanted == pl.Float64 and dtype == pl.Int64):
            rows = rows.with_columns(pl.col(column).cast(wanted))  # all NULL, or whole numbers
        elif dtype != wanted:
            return None
        if required(table, column) and rows[column].null_count():
            return None
    return rows


def _read_checked(path: Path, table: str, parts: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every row read with casts (cheap); only the rows that fail a type check (usually none)
    pay for the detail of which column and value."""
    checked = [c for c in TABLES[table] if c != "id"]
    columns = ", ".join(_selected(table, column) for column in TABLES[table])
    fails = " OR ".join(f"({_type_fails(table, c)})" for c in checked)
    fields = " ".join(f"WHEN {_type_fails(table, c)} THEN '{c}'" for c in checked)
    values = " ".join(f"WHEN {_type_fails(table, c)} THEN {_quoted(c)}" for c in checked)
    # Table and column names come from TABLES, never from the file.
    every = f"SELECT {columns} FROM {table}"  # noqa: S608
    wrong = (
        f"SELECT id, 'wrong_type' AS _bad_code, CASE {fields} END AS _bad_field, "  # noqa: S608
        f"CASE {values} END AS _bad_value "
        f"FROM {table} WHERE ({fails})"
    )
    # SQLite's readers let go of the GIL while they scan: the parts are read and checked at once.
    with ThreadPoolExecutor(READERS, thread_name_prefix="candlelab-sqlite") as pool:
        checks = [pool.submit(_wrong_types, path, f"{wrong} AND {part}") for part in parts]
        rows = _read_parts(path, every, parts, pool)
        return rows, pl.concat([check.result() for check in checks])


def _read_parts(path: Path, query: str, parts: list[str], pool: ThreadPoolExecutor) -> pl.DataFrame:
    """The query's rows, the parts read at once on the pool's threads, in rowid order."""
    pieces = list(pool.map(lambda part: _read_part(path, query, part), parts))
    return pl.concat(pieces, how="vertical_relaxed")  # a part may hold only NULLs of a column


def _rowid_parts(path: Path, table: str) -> list[str]:
    """Conditions cutting the table into parts read at once: by rowid, so every row is in
    exactly one part whatever its `id` holds; one part for a small table."""
    with closing(open_readonly(path)) as conn:
        try:
            # Two subqueries: SQLite finds a lone min() or max() of rowid without a scan.
            ends = f"(SELECT min(rowid) FROM {table}), (SELECT max(rowid) FROM {table})"  # noqa: S608
            low, high = conn.execute(f"SELECT {ends}").fetchone()
        except sqlite3.OperationalError:  # a WITHOUT ROWID table: read whole
            return ["true"]
    if low is None or high - low < PART_ROWS:
        return ["true"]
    step = (high - low) // READERS + 1
    return [f"rowid >= {start} AND rowid < {start + step}"
            for start in range(low, high + 1, step)]  # fmt: skip


def _read_part(path: Path, query: str, where: str) -> pl.DataFrame:
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(sqlite_uri(path)) as conn, conn.cursor() as cursor:
        cursor.execute(f"{query} WHERE {where}")  # in rowid order: sorted by id above if need be
        frame = pl.from_arrow(cursor.fetch_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _wrong_types(path: Path, query: str) -> pl.DataFrame:
    with closing(open_readonly(path)) as conn:
        found = conn.execute(query).fetchall()
    return pl.DataFrame(found, schema=BAD_SCHEMA, orient="row")


def _quoted(column: str) -> str:
    """The value as SQL writes it, cut in SQLite to about SHOWN characters."""
    cut = f"quote(substr({column}, 1, {SHOWN})) || '…'"
    return f"CASE WHEN length({column}) > {SHOWN} THEN {cut} ELSE quote({column}) END"


def _selected(table: str, column: str) -> str:
    cast = {"id": "INTEGER", "int": "INTEGER", "time": "INTEGER", "bool": "INTEGER",
            "real": "REAL", "text": "TEXT", "json": "TEXT"}[kind(table, column)]  # fmt: skip
    return f"CAST({column} AS {cast}) AS {column}"


def _type_fails(table: str, column: str) -> str:
    allowed = list(STORAGE_TYPES[kind(table, column)])
    if not required(table, column):
        allowed.append("null")
    listed = ", ".join(f"'{t}'" for t in allowed)
    return f"typeof({column}) NOT IN ({listed})"


def _typed(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows of a wrong stored type or too long reported (`_bad_*`, from `read_table`)."""
    bad = frame.filter(pl.col("_bad_field").is_not_null())
    problems = _problems(table, bad, pl.col("_bad_code"), pl.col("_bad_field"),
                         pl.col("_bad_value"))  # fmt: skip
    return frame.filter(pl.col("_bad_field").is_null()).drop(BAD_COLUMNS), problems


def _times(
    result: Converted, table: str, frame: pl.DataFrame, problems: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Epoch integers to UTC times, each column in the unit its values show."""
    found = [problems]
    for column in (c for c in TABLES[table] if kind(table, c) == "time"):
        unit = epoch_unit(frame[column])
        result.time_units[f"{table}.{column}"] = "milliseconds" if unit == "ms" else "seconds"
        other = pl.col(column).abs() >= MILLISECONDS_FROM
        mixed = frame.filter(~other if unit == "ms" else other)
        found.append(
            _problems(table, mixed, "mixed_time_units", column, pl.col(column).cast(pl.String))
        )
        frame = frame.filter(~pl.col("id").is_in(mixed["id"].implode()))
        epoch = pl.from_epoch(column, "ms" if unit == "ms" else "s")
        frame = frame.with_columns(epoch.dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
    return frame, pl.concat(found)


def epoch_unit(values: pl.Series) -> str:
    """ "ms" or "s": the unit most of the column's epoch values are in (the odd ones out
    are reported as problems, not allowed to decide)."""
    typical = values.drop_nulls().abs().median()
    return "ms" if isinstance(typical, int | float) and typical >= MILLISECONDS_FROM else "s"


def _fields(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The API's rules for the text people wrote (FIELD_RULES): each value as the rule makes
    it (names trimmed, symbols upper-cased); a row with a value a rule refuses is reported."""
    rules = FIELD_RULES.get(table, {})
    if not rules:
        return frame, pl.DataFrame(schema=PROBLEM_SCHEMA)
    ruled = {column: _ruled(rule, column, frame[column]) for column, rule in rules.items()}
    frame = frame.with_columns(
        *(pl.Series(column, kept, pl.String) for column, (kept, _) in ruled.items()),
        *(pl.Series(f"_why_{column}", why, pl.String) for column, (_, why) in ruled.items()),
    )
    checks = [(pl.col(f"_why_{column}").is_not_null(), "invalid_field", column,
               pl.col(f"_why_{column}")) for column in rules]  # fmt: skip
    kept, problems = _screen(table, frame, checks)
    return kept.drop(f"_why_{column}" for column in rules), problems


def _ruled(rule: Rule, column: str, values: pl.Series) -> tuple[list[str | None], list[str | None]]:
    """Each value as the rule makes it, and why the rule refuses it (None where it does not)."""
    kept: list[str | None] = []
    why: list[str | None] = []
    for value in values:
        try:
            kept.append(None if value is None else rule(column, value))
            why.append(None)
        except InvalidField as refused:
            kept.append(None)
            start = quoted(value[: SHOWN // 2], limit=SHOWN // 2)
            reason = refused.reason
            why.append(reason if reason.startswith(start) else f"{start} {reason}")
    return kept, why


def _symbol(column: str, value: str) -> str:
    return normalized_symbol(value, column)


Rule = Callable[[str, str], str]  # (column, value) → the value kept, or InvalidField
# The API's rules for each table's text: the ones `candlelab.labels` and the upload apply.
FIELD_RULES: dict[str, dict[str, Rule]] = {
    "charts": {"name": fields.name, "symbol": _symbol},
    "annotation_types": {"name": fields.name, "color": fields.color, "icon": fields.name},
    "annotations": {"note": fields.text},
    "span_label_types": {"name": fields.name, "color": fields.color,
                         "description": fields.text},
}  # fmt: skip


def _charts(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = [_chart_key(result, row) for row in frame.iter_rows(named=True)]
    frame = frame.with_columns(
        symbol=pl.Series([k[0] for k in keys], dtype=pl.String),
        timeframe=pl.Series([k[1] for k in keys], dtype=pl.String),
    )
    return frame, pl.DataFrame(schema=PROBLEM_SCHEMA)


def _chart_key(result: Converted, row: dict[str, Any]) -> tuple[str, str]:
    """Symbol and timeframe: from their columns, else from the name, else placeholders."""
    named = NAME_PATTERN.match(row["name"] or "")
    symbol = row["symbol"] or (_named_symbol(named.group("symbol")) if named else None)
    timeframe = _timeframe(row["timeframe"]) or (
        _timeframe(named.group("timeframe")) if named else None
    )
    placed = {}
    if not symbol:
        symbol = placed["symbol"] = f"LEGACY-{row['id']}"
    if not timeframe:
        timeframe = placed["timeframe"] = PLACEHOLDER_TIMEFRAME
    if placed:
        result.placeholders.append({"chart": row["id"], "name": row["name"], **placed})
    return symbol, timeframe


def _named_symbol(text: str) -> str | None:
    """The symbol a chart's name gives, if it makes one by the symbol rule."""
    try:
        return normalized_symbol(text)
    except InvalidField:
        return None


def _timeframe(text: str | None) -> str | None:
    if not text:
        return None
    cleaned = re.sub(r"\s+|in$", "", text.strip())
    cleaned = NAMED_TIMEFRAMES.get(cleaned.lower(), cleaned)
    for candidate in (cleaned, cleaned[:-1] + cleaned[-1].lower()):
        try:
            return Timeframe.parse(candidate).name
        except ValueError:
            continue
    return None


def _candles(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    result.null_volumes = frame["volume"].null_count()
    frame = frame.with_columns(pl.col("volume").fill_null(0.0))
    prices = ["open", "high", "low", "close", "volume"]
    ohlc = ((pl.col("low") <= pl.min_horizontal("open", "close"))
            & (pl.col("high") >= pl.max_horizontal("open", "close")))  # fmt: skip
    shown = pl.format("open {} high {} low {} close {}", "open", "high", "low", "close")
    # Rows come in id order: of candles at one chart and time, the first is kept.
    duplicate = ~pl.col("time").is_first_distinct().over("chart_id")  # 4x faster than a struct
    return _screen("candles", frame, [
        # One check per column, so the problem names the column that is not finite.
        *((~pl.col(c).is_finite(), "non_finite", c, shown) for c in prices),
        (~ohlc, "ohlc_inconsistent", "high", shown),
        (pl.col("volume") < 0, "negative_volume", "volume", pl.col("volume").cast(pl.String)),
        (duplicate, "duplicate_candle", "time",
         pl.lit("same chart and time as an earlier candle")),
        _chart_orphan(result),
    ])  # fmt: skip


def _annotation_types(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame, problems = _booleans("annotation_types", frame)
    frame, more = _unique_names("annotation_types", frame)
    return frame.with_columns(shape=pl.col("icon").fill_null("circle")), pl.concat([problems, more])


def _annotations(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame, problems = _json("annotations", frame, ["geometry"])
    frame, more = _screen("annotations", frame, [
        _chart_orphan(result),
        (pl.col("type_id").is_not_null() & _orphan(result, "type_id", "annotation_types"),
         "orphan", "type_id", _missing("annotation type", "type_id")),
    ])  # fmt: skip
    return _updated(frame), pl.concat([problems, more])


def _span_label_types(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame, problems = _booleans("span_label_types", frame)
    frame, more = _unique_names("span_label_types", frame)
    return frame, pl.concat([problems, more])


def _unique_names(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type names are one name regardless of case (as the API has them): of `Uptrend` and
    `UPTREND`, the first by id is kept, the other reported."""
    key = pl.col("name").map_elements(fields.name_key, return_dtype=pl.String)
    keyed = frame.with_columns(_key=key).with_columns(_first=pl.col("id").first().over("_key"))
    kept, problems = _screen(table, keyed, [
        (~pl.col("_key").is_first_distinct(), "duplicate_name", "name",
         pl.format("{} is the name of type {} already, case aside", "name", "_first")),
    ])  # fmt: skip
    return kept.drop("_key", "_first"), problems


def _span_annotations(result: Converted, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame, problems = _json("span_annotations", frame, ["sub_spans", "model_prediction"])
    frame, more = _screen("span_annotations", frame, [
        (pl.col("end_time") < pl.col("start_time"), "end_before_start", "end_time",
         pl.format("start {} end {}", "start_time", "end_time")),
        (~pl.col("source").is_in(list(SOURCES)), "unknown_source", "source", pl.col("source")),
        (~pl.col("confidence").is_between(0, 1) & pl.col("confidence").is_not_null(),
         "confidence_out_of_range", "confidence", pl.col("confidence").cast(pl.String)),
        _chart_orphan(result),
        (_orphan(result, "label_type_id", "span_label_types"), "orphan", "label_type_id",
         _missing("span label type", "label_type_id")),
    ])  # fmt: skip
    frame = frame.with_columns(status=pl.col("source").replace_strict(SOURCES, default=None))
    return _updated(frame), pl.concat([problems, more])


CONVERTERS = {
    "charts": _charts, "candles": _candles, "annotation_types": _annotation_types,
    "annotations": _annotations, "span_label_types": _span_label_types,
    "span_annotations": _span_annotations,
}  # fmt: skip


def _screen(
    table: str, frame: pl.DataFrame, checks: list[tuple[pl.Expr, str, str, pl.Expr]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows failing a check, reported with their first failed check; the rest kept.

    The values shown are worked out for the failing rows only (usually none)."""
    flags = frame.with_columns(
        *(check.fill_null(False).alias(f"_fail{i}") for i, (check, *_) in enumerate(checks))
    )
    failed = pl.any_horizontal(pl.col(f"_fail{i}") for i in range(len(checks)))
    failing = flags.filter(failed)
    found, earlier = [], pl.lit(False)
    for i, (_, code, column, value) in enumerate(checks):
        first = pl.col(f"_fail{i}") & ~earlier
        found.append(_problems(table, failing.filter(first), code, column, value))
        earlier = earlier | pl.col(f"_fail{i}")
    drop = [f"_fail{i}" for i in range(len(checks))]
    return flags.filter(~failed).drop(drop), pl.concat(found)


def _chart_orphan(result: Converted) -> tuple[pl.Expr, str, str, pl.Expr]:
    return (
        _orphan(result, "chart_id", "charts"),
        "orphan",
        "chart_id",
        _missing("chart", "chart_id"),
    )


def _orphan(result: Converted, column: str, parent: str) -> pl.Expr:
    return ~pl.col(column).is_in(result.tables[parent]["id"].implode())


def _missing(what: str, column: str) -> pl.Expr:
    return pl.format(f"no {what} {{}} (missing, or rejected itself)", column)


def _booleans(table: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    kept, problems = _screen(table, frame, [
        (~pl.col("is_active").is_in([0, 1]), "not_boolean", "is_active",
         pl.col("is_active").cast(pl.String)),
    ])  # fmt: skip
    return kept.with_columns(pl.col("is_active") == 1), problems


def _json(table: str, frame: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    checks = [(~pl.col(c).map_elements(_parses, return_dtype=pl.Boolean, skip_nulls=True),
               "invalid_json", c, pl.col(c)) for c in columns]  # fmt: skip
    return _screen(table, frame, checks)


def _parses(text: str) -> bool:
    """Whether PostgreSQL's jsonb will take the text: strict JSON, no NaN, no \\u0000.
    orjson answers most texts fast; what it refuses, the json module judges (orjson is
    stricter about some escapes)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            json.loads(text, parse_constant=_refuse)
        except ValueError:
            return False
    return "\\u0000" not in text


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _updated(frame: pl.DataFrame) -> pl.DataFrame:
    """A row never updated was last changed when it was made."""
    return frame.with_columns(pl.col("updated_at").fill_null(pl.col("created_at")))


def _problems(table: str, rows: pl.DataFrame, code: str | pl.Expr, column: str | pl.Expr,
              value: pl.Expr) -> pl.DataFrame:  # fmt: skip
    """Rows as problems: the value shown cut to about SHOWN characters."""
    field = pl.lit(column) if isinstance(column, str) else column
    shown = value.cast(pl.String)
    cut = pl.when(shown.str.len_chars() > SHOWN).then(shown.str.slice(0, SHOWN) + "…")
    return rows.select(
        pl.lit(table).alias("table"),
        pl.col("id").cast(pl.Int64),
        (pl.lit(code) if isinstance(code, str) else code).cast(pl.String).alias("code"),
        field.cast(pl.String).alias("field"),
        cut.otherwise(shown).alias("value"),
    )


def _keep(result: Converted, table: str, frame: pl.DataFrame, problems: list[pl.DataFrame]) -> None:
    result.tables[table] = frame
    result.problems = pl.concat([result.problems, *problems])
