"""The text forms a bar's time takes in candle files, and how to tell which one a file uses.

Shared by `candle_files` (which column holds the times?) and `validation` (parse them):
ISO dates and times with or without an offset, a few date-only forms, and epoch numbers.
"""

from __future__ import annotations

import polars as pl

OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
EPOCH = "epoch"


def normalized(text: pl.Expr) -> pl.Expr:
    """ISO's "T" and "Z" spelled the way the formats above expect."""
    return text.str.strip_chars().str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")


def sample_format(column: pl.Series) -> str | None:
    """The format of the column's first value: EPOCH, one of the formats, or None."""
    sample = column.drop_nulls().head(1).to_frame("time").select(normalized(pl.col("time")))
    if sample.is_empty():
        return None
    text = sample.to_series()
    if text.str.contains(r"^-?\d+(\.\d+)?$").all():
        return EPOCH
    for fmt in (*OFFSET_FORMATS, *NAIVE_FORMATS):
        zone = "UTC" if fmt in OFFSET_FORMATS else None
        if (
            text.str.to_datetime(fmt, time_unit="us", time_zone=zone, strict=False)
            .is_not_null()
            .all()
        ):
            return fmt
    return None


def holds_dates(column: pl.Series) -> bool:
    """Whether a column's values are dates or times written out (not numbers): how an
    unnamed pandas index column is told from a row number."""
    if column.dtype in (pl.Date,) or isinstance(column.dtype, pl.Datetime):
        return True
    if column.dtype != pl.String:
        return False
    head = column.drop_nulls().head(20)
    formats = {sample_format(head.slice(i, 1)) for i in range(head.len())}
    return bool(formats) and not formats & {None, EPOCH}
