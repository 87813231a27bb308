"""What is wrong with each input row, as one code per problem, and the bars that are right.

Pure functions of a frame: no database, no files. Every row read ends up either in
`bars` or in `rejections` (with its line, code, field and value, cut to SHOWN
characters), so counts always add up. Every rejection is a problem that counts toward
the reject ratio and --strict, identical duplicates included (a file of one row repeated
is not a good file); only an incomplete last bar is dropped without counting against
the input.

A big input is judged chunk by chunk: `validate(..., after=)` carries the latest time
of the chunks before, so rows that go back in time are counted across chunks; repeats
across chunks are found by the caller (`ingest`), which has seen the earlier chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import polars as pl

from candlelab.market.candle_files import OPTIONAL
from candlelab.market.time_formats import (
    EPOCH,
    NAIVE_FORMATS,
    OFFSET_FORMATS,
    normalized,
    sample_format,
)
from candlelab.market.timeframes import Timeframe

PRICES = ("open", "high", "low", "close")
UTC_MICROS = pl.Datetime("us", "UTC")


class Problem(StrEnum):
    MISSING_VALUE = "missing_value"
    UNPARSABLE_TIME = "unparsable_time"
    NONEXISTENT_LOCAL_TIME = "nonexistent_local_time"
    UNPARSABLE_VALUE = "unparsable_value"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    HIGH_BELOW_LOW = "high_below_low"
    OPEN_OUTSIDE_RANGE = "open_outside_range"
    CLOSE_OUTSIDE_RANGE = "close_outside_range"
    NEGATIVE_VOLUME = "negative_volume"
    TAKER_ABOVE_VOLUME = "taker_buy_above_volume"
    MISALIGNED_TIME = "misaligned_time"
    FUTURE_TIME = "future_time"
    TOO_EARLY_TIME = "too_early_time"
    DUPLICATE_CONFLICTING = "duplicate_conflicting"
    DUPLICATE_IDENTICAL = "duplicate_identical"
    INCOMPLETE_BAR = "incomplete_bar"


BENIGN = frozenset({Problem.INCOMPLETE_BAR})
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # times before this are refused
SHOWN = 100  # characters of a value kept in a rejection
INPUT = "_input"  # which input of a batch a row came from


@dataclass(frozen=True)
class Rules:
    """How to read and judge one input."""

    timeframe: Timeframe
    timezone: str = "UTC"  # the zone of naive times in the input
    chart_timezone: str = "UTC"  # the wall clock bars align to
    offset: str = "0m"  # intraday bars start this long after the clock's round times
    allow_non_positive: bool = False
    keep_incomplete: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    earliest: datetime = EARLIEST  # a time before this is a problem (too_early_time)


@dataclass(frozen=True)
class Validated:
    rows_read: int
    bars: pl.DataFrame  # time (UTC, µs), prices, volume, optional extras, line; sorted by time
    rejections: pl.DataFrame  # line, code, field, value
    reordered: int  # rows that came earlier in time than a row above them
    latest: datetime | None = None  # the latest time of a row whose time was good

    @property
    def problems(self) -> pl.DataFrame:
        """The rejections that count against the input (not the benign drops)."""
        if self.rejections.is_empty():  # the usual case, and a filter costs a millisecond
            return self.rejections
        return self.rejections.filter(~pl.col("code").is_in([str(c) for c in BENIGN]))


@dataclass(frozen=True)
class Check:
    problem: Problem
    condition: pl.Expr
    field: str
    value: pl.Expr


def validate(raw: pl.DataFrame, rules: Rules, after: datetime | None = None) -> Validated:
    """Parse and judge every row of `raw` (standard columns, text or typed, plus `line`).
    `after`: the latest time of the rows before these (a chunk's predecessors)."""
    return validate_many([raw], rules, after)[0]


def validate_many(
    raws: list[pl.DataFrame], rules: Rules, after: datetime | None = None
) -> list[Validated]:
    """Judge several inputs in one pass, each on its own: Polars' cost per call is paid once.

    Inputs of different shapes (columns, types) are judged in separate passes.
    """
    raws = [raw.with_columns(pl.col(pl.Null).cast(pl.String)) for raw in raws]  # empty = text
    if len({tuple(raw.schema.items()) for raw in raws}) > 1:
        return [validate_many([raw], rules, after)[0] for raw in raws]
    frame = pl.concat(
        [raw.with_columns(pl.lit(i, pl.Int32).alias(INPUT)) for i, raw in enumerate(raws)]
    )
    if frame.is_empty():  # nothing to judge (and Polars' window functions want a row)
        return [Validated(0, _empty_bars(raw), EMPTY_REJECTIONS, 0) for raw in raws]
    bars, rejections, order = _judge(frame, raws[0], rules, after)
    bars_by, rejections_by = _by_input(bars), _by_input(rejections)
    return [
        Validated(
            raw.height,
            bars_by.get(i, _empty_bars(raw)),
            rejections_by.get(i, EMPTY_REJECTIONS),
            *order.get(i, (0, None)),
        )
        for i, raw in enumerate(raws)
    ]


def _judge(
    frame: pl.DataFrame, shape: pl.DataFrame, rules: Rules, after: datetime | None
) -> tuple[pl.DataFrame, pl.DataFrame, dict[int, tuple[int, datetime | None]]]:
    parsed = frame.with_columns(_parsed_time(frame, rules).alias("_time"))
    parsed = parsed.with_columns(_parsed_columns(shape, rules))
    checks = _row_checks(shape, rules)
    failed = pl.any_horizontal([check.condition.fill_null(False) for check in checks])
    marked = parsed.with_columns(failed.alias("_failed"))
    good = marked.filter(~pl.col("_failed"))
    # Only the failed rows (usually none) pay for working out which check they failed.
    bad = marked.filter(pl.col("_failed"))
    bad = bad.with_columns(_first_problem(checks) if bad.height else _no_problem())
    order = _order(good, after)
    good = good.sort(INPUT, "_time", "line")
    kept, duplicates = _split_duplicates(good, _value_columns(shape))
    kept, incomplete = _split_incomplete(kept, rules)
    rejections = pl.concat([_rejection_rows(bad), duplicates, incomplete]).sort(INPUT, "line")
    return _bars(kept, shape), rejections, order


def _order(good: pl.DataFrame, after: datetime | None) -> dict[int, tuple[int, datetime | None]]:
    """Per input: how many rows came earlier than a row above them (or than `after`), and
    the latest time."""
    before = pl.col("_time").cum_max().shift(1)
    if after is not None:
        before = pl.max_horizontal(before, pl.lit(after).cast(UTC_MICROS))
    late = (pl.col("_time") < before).sum().alias("late")
    stats = good.group_by(INPUT).agg(late, pl.col("_time").max().alias("latest"))
    return {int(i): (int(n or 0), latest) for i, n, latest in stats.iter_rows()}


def _by_input(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
    parts = frame.partition_by(INPUT, as_dict=True, include_key=False)
    return {int(key[0]): part for key, part in parts.items()}


def _value_columns(raw: pl.DataFrame) -> list[str]:
    return [c for c in (*PRICES, *OPTIONAL) if c in raw.columns]


def _parsed_columns(raw: pl.DataFrame, rules: Rules) -> list[pl.Expr]:
    columns = []
    for name in _value_columns(raw):
        count = name == "trades"
        columns.append(_parse_number(name, raw.schema[name], count).alias(f"_{name}"))
    if "volume" not in raw.columns:  # sources without volume (FX, indices) store 0
        columns.append(pl.lit(0.0).alias("_volume"))
    return columns


def _parse_number(name: str, dtype: pl.DataType, count: bool) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.String:
        column = column.str.strip_chars().cast(pl.Float64, strict=False)
    else:
        column = column.cast(pl.Float64, strict=False)
    if count:  # a count: accept 12 and 12.0, not 12.5
        return pl.when(column == column.round(0)).then(column).cast(pl.Int64, strict=False)
    return column


def _parse_time(dtype: pl.DataType, timezone: str) -> pl.Expr:
    column = pl.col("time")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            return column.dt.convert_time_zone("UTC").cast(UTC_MICROS)
        return _localize(column.cast(pl.Datetime("us")), timezone)
    if dtype == pl.Date:
        return _localize(column.cast(pl.Datetime("us")), timezone)
    if dtype.is_numeric():
        return _from_epoch(column.cast(pl.Float64))
    return _parse_time_text(column, timezone)


def _parsed_time(frame: pl.DataFrame, rules: Rules) -> pl.Series:
    """The time column in UTC. Text is parsed with the format of its first value; only the
    rows that format misses pay for trying every format (Polars evaluates each branch)."""
    column = frame["time"]
    if column.dtype != pl.String:
        return frame.select(_parse_time(column.dtype, rules.timezone)).to_series()
    fmt = sample_format(column)
    quick = frame.select(_parse_time_text(pl.col("time"), rules.timezone, fmt)).to_series()
    missed = quick.is_null() & column.is_not_null()
    if fmt is None or not missed.any():
        return quick
    rest = frame.filter(missed).select(_parse_time_text(pl.col("time"), rules.timezone, None))
    return quick.scatter(missed.arg_true(), rest.to_series())


def _parse_time_text(column: pl.Expr, timezone: str, fmt: str | None = None) -> pl.Expr:
    text = normalized(column)
    if fmt == EPOCH:
        return _from_epoch(text.cast(pl.Float64, strict=False))
    if fmt in OFFSET_FORMATS:
        return text.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False)
    if fmt in NAIVE_FORMATS:
        return _localize(text.str.to_datetime(fmt, time_unit="us", strict=False), timezone)
    numeric = text.str.contains(r"^-?\d+(\.\d+)?$")
    with_offset = pl.coalesce(
        [
            text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
            for f in OFFSET_FORMATS
        ]
    )
    naive = pl.coalesce(
        [text.str.to_datetime(f, time_unit="us", strict=False) for f in NAIVE_FORMATS]
    )
    return (
        pl.when(numeric)
        .then(_from_epoch(text.cast(pl.Float64, strict=False)))
        .otherwise(pl.coalesce(with_offset, _localize(naive, timezone)))
    )


def _from_epoch(number: pl.Expr) -> pl.Expr:
    """Epoch seconds, ms, µs or ns, told apart per value by size (Binance switched in 2025)."""
    size = number.abs()
    micros = (
        pl.when(size < 1e11)
        .then(number * 1e6)
        .when(size < 1e14)
        .then(number * 1e3)
        .when(size < 1e17)
        .then(number)
        .otherwise(number / 1e3)
    )
    return micros.round(0).cast(pl.Int64).cast(UTC_MICROS)


def _localize(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Local wall-clock times to UTC. A repeated hour (DST ending) is read in file order:
    its first occurrence is the earlier instant, the second the later one."""
    repeat = pl.int_range(pl.len()).over(INPUT, naive)
    ambiguous = pl.when(repeat == 0).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
    local = naive.dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="null")
    return local.dt.convert_time_zone("UTC").cast(UTC_MICROS)


def _row_checks(raw: pl.DataFrame, rules: Rules) -> list[Check]:
    """Every per-row check in the order it is reported: a row gets its first problem."""
    time = pl.col("_time")
    checks = [Check(Problem.MISSING_VALUE, pl.col("time").is_null(), "time", pl.lit(None))]
    checks += _parse_checks(raw, rules)
    checks += _ohlc_checks(rules)
    checks += _volume_checks(raw)
    aligned = rules.timeframe.aligned(time, rules.chart_timezone, rules.offset)
    original = pl.col("time").cast(pl.String)
    checks.append(Check(Problem.MISALIGNED_TIME, ~aligned, "time", original))
    future = time > pl.lit(rules.now).cast(UTC_MICROS)
    checks.append(Check(Problem.FUTURE_TIME, future, "time", original))
    early = time < pl.lit(rules.earliest).cast(UTC_MICROS)
    checks.append(Check(Problem.TOO_EARLY_TIME, early, "time", original))
    return checks


def _parse_checks(raw: pl.DataFrame, rules: Rules) -> list[Check]:
    checks = []
    text = pl.col("time").cast(pl.String)
    local_time = _localize(
        pl.coalesce(
            [
                text.str.replace("T", " ").str.to_datetime(f, time_unit="us", strict=False)
                for f in NAIVE_FORMATS
            ]
        ),
        "UTC",
    )
    skipped_hour = local_time.is_not_null() & pl.col("_time").is_null()
    if raw.schema["time"] == pl.String and rules.timezone != "UTC":
        checks.append(Check(Problem.NONEXISTENT_LOCAL_TIME, skipped_hour, "time", text))
    checks.append(Check(Problem.UNPARSABLE_TIME, pl.col("_time").is_null(), "time", text))
    for name in _value_columns(raw):
        original, parsed = pl.col(name), pl.col(f"_{name}")
        required = name in PRICES or name == "volume"
        if required:
            checks.append(Check(Problem.MISSING_VALUE, original.is_null(), name, pl.lit(None)))
        bad = original.is_not_null() & parsed.is_null()
        checks.append(Check(Problem.UNPARSABLE_VALUE, bad, name, original.cast(pl.String)))
        if name != "trades":
            checks.append(
                Check(Problem.NON_FINITE, ~parsed.is_finite(), name, original.cast(pl.String))
            )
    return checks


def _ohlc_checks(rules: Rules) -> list[Check]:
    o, h, low, c = (pl.col(f"_{p}") for p in PRICES)
    checks = []
    if not rules.allow_non_positive:
        for name in PRICES:
            price = pl.col(f"_{name}")
            checks.append(
                Check(Problem.NON_POSITIVE_PRICE, price <= 0, name, price.cast(pl.String))
            )
    checks += [
        Check(Problem.HIGH_BELOW_LOW, h < low, "high", _pair(h, low)),
        Check(Problem.OPEN_OUTSIDE_RANGE, (o < low) | (o > h), "open", _pair(o, low, h)),
        Check(Problem.CLOSE_OUTSIDE_RANGE, (c < low) | (c > h), "close", _pair(c, low, h)),
    ]
    return checks


def _volume_checks(raw: pl.DataFrame) -> list[Check]:
    checks = []
    for name in ("volume", "taker_buy_volume", "quote_volume", "trades"):
        if name in raw.columns:
            value = pl.col(f"_{name}")
            checks.append(Check(Problem.NEGATIVE_VOLUME, value < 0, name, value.cast(pl.String)))
    if "taker_buy_volume" in raw.columns and "volume" in raw.columns:
        above = pl.col("_taker_buy_volume") > pl.col("_volume")
        value = _pair(pl.col("_taker_buy_volume"), pl.col("_volume"))
        checks.append(Check(Problem.TAKER_ABOVE_VOLUME, above, "taker_buy_volume", value))
    return checks


def _pair(*values: pl.Expr) -> pl.Expr:
    return pl.concat_str([v.cast(pl.String) for v in values], separator=" / ")


def _first_problem(checks: list[Check]) -> list[pl.Expr]:
    """Three columns (code, field, value) holding each row's first failed check, else null."""
    parts: dict[str, list[pl.Expr]] = {
        "code": [pl.lit(str(check.problem)) for check in checks],
        "field": [pl.lit(check.field) for check in checks],
        "value": [check.value.cast(pl.String) for check in checks],
    }
    outputs = []
    for column, results in parts.items():
        chain: Any = pl  # pl.when(...).then(...).when(...)...: one chain per output column
        for check, result in zip(checks, results, strict=True):
            chain = chain.when(check.condition.fill_null(False)).then(result)
        outputs.append(chain.otherwise(pl.lit(None, dtype=pl.String)).alias(column))
    return outputs


def _no_problem() -> list[pl.Expr]:
    return [pl.lit(None, dtype=pl.String).alias(name) for name in ("code", "field", "value")]


def _split_duplicates(good: pl.DataFrame, values: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one of identical repeats; refuse every copy of a time whose copies disagree."""
    repeated_time = pl.struct(INPUT, "_time").is_duplicated()
    if not good.select(repeated_time.any()).item():
        return good, _coded(good.clear(), Problem.DUPLICATE_IDENTICAL)
    kept, duplicates = _split_repeats(good.filter(repeated_time), values)
    return good.filter(~repeated_time).vstack(kept).sort(INPUT, "_time", "line"), duplicates


def _split_repeats(repeats: pl.DataFrame, values: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    parsed = [f"_{name}" for name in values] + (["_volume"] if "volume" not in values else [])
    marked = repeats.with_columns(
        versions=pl.struct(parsed).n_unique().over(INPUT, "_time"),
        nth=pl.int_range(pl.len()).over(INPUT, "_time"),
    )
    same = pl.col("versions") == 1
    drops = pl.concat([
        _coded(marked.filter(~same), Problem.DUPLICATE_CONFLICTING),
        _coded(marked.filter(same & (pl.col("nth") > 0)), Problem.DUPLICATE_IDENTICAL),
    ])  # fmt: skip
    return marked.filter(same & (pl.col("nth") == 0)).drop("versions", "nth"), drops


def _split_incomplete(kept: pl.DataFrame, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A bar still open at `now` is dropped unless asked for."""
    if rules.keep_incomplete:
        return kept, _coded(kept.clear(), Problem.INCOMPLETE_BAR)
    open_now = rules.timeframe.bar_end(pl.col("_time")) > pl.lit(rules.now).cast(UTC_MICROS)
    return kept.filter(~open_now), _coded(kept.filter(open_now), Problem.INCOMPLETE_BAR)


def _coded(rows: pl.DataFrame, problem: Problem) -> pl.DataFrame:
    return rows.select(
        INPUT,
        "line",
        code=pl.lit(str(problem)),
        field=pl.lit("time"),
        value=_cut(pl.col("time").cast(pl.String)),  # as the input wrote it
    )


def _rejection_rows(bad: pl.DataFrame) -> pl.DataFrame:
    return bad.select(INPUT, "line", "code", "field", _cut(pl.col("value")))


def _cut(text: pl.Expr) -> pl.Expr:
    """Text cut to SHOWN characters with "…": a 10 MB value never comes back whole."""
    long = text.str.len_chars() > SHOWN
    return pl.when(long).then(text.str.slice(0, SHOWN - 1) + "…").otherwise(text).alias("value")


EMPTY_REJECTIONS = pl.DataFrame(
    schema={"line": pl.Int64, "code": pl.String, "field": pl.String, "value": pl.String}
)


def _empty_bars(raw: pl.DataFrame) -> pl.DataFrame:
    extras = {c: pl.Int64 if c == "trades" else pl.Float64 for c in OPTIONAL if c in raw.columns}
    prices = dict.fromkeys((*PRICES, "volume"), pl.Float64)
    return pl.DataFrame(schema={"time": UTC_MICROS, **prices, **extras, "line": pl.Int64})


def _bars(kept: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    extras = [c for c in OPTIONAL if c in raw.columns and c != "volume"]
    names = ["time", *PRICES, "volume", *extras]
    return kept.select(*(pl.col(f"_{n}").alias(n) for n in names), "line", INPUT)
