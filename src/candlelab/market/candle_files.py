"""Candle files in, one shape out: standard column names and the line each row came from.

Readers only read. They recognise the usual column names, unwrap .gz and .zip, and
leave every judgement about values to `validation`: a value that does not parse stays
as text, so the report can quote it with its line.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from candlelab.errors import InputError
from candlelab.market.time_formats import holds_dates

REQUIRED = ("time", "open", "high", "low", "close")
OPTIONAL = ("volume", "vwap", "trades", "taker_buy_volume", "quote_volume")
COLUMNS = REQUIRED + OPTIONAL
# Header names each standard column is recognised by (compared lower-case, without " _-").
ALIASES = {
    "time": ("time", "date", "datetime", "timestamp", "opentime", "ts", "t", "dateutc"),
    "open": ("open", "o", "openprice"),
    "high": ("high", "h", "highprice"),
    "low": ("low", "l", "lowprice"),
    "close": ("close", "c", "closeprice", "last"),
    "volume": ("volume", "vol", "v", "basevolume"),
    "vwap": ("vwap",),
    "trades": ("trades", "count", "numberoftrades", "tradecount", "ntrades"),
    "taker_buy_volume": ("takerbuyvolume", "takerbuybasevolume", "takerbuybaseassetvolume"),
    "quote_volume": ("quotevolume", "quoteassetvolume"),
}
# Binance kline files: no header, these 12 columns, open time in ms (µs from 2025).
BINANCE_COLUMNS = (
    "time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "trades", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
FORMATS = ("csv", "tsv", "parquet", "binance", "yahoo")
# What pandas calls the column it writes an unnamed index to: `to_csv` leaves the header
# cell empty (read back as "Unnamed: 0"), `to_parquet` and `reset_index` name it.
PANDAS_INDEX_NAMES = ("", "Unnamed: 0", "__index_level_0__", "index")


@dataclass(frozen=True)
class RawCandles:
    """One input's rows: standard columns (text or typed) and `line`, where each row was."""

    name: str
    format: str
    frame: pl.DataFrame


def read_candle_file(path: Path, fmt: str | None = None) -> Iterator[RawCandles]:
    """Every candle table in `path`: one, or one per CSV member of a .zip."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    try:
        yield from _read(path, fmt)
    except (OSError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError) as exc:
        raise InputError(f"{path}: cannot read it: {exc}") from None


def _read(path: Path, fmt: str | None) -> Iterator[RawCandles]:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".zip"]:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith("/"):
                    data = archive.read(member)
                    yield _from_bytes(f"{path}:{member}", data, fmt, Path(member).suffixes)
        return
    if suffixes[-1:] == [".gz"]:
        yield _from_bytes(str(path), gzip.decompress(path.read_bytes()), fmt, suffixes[:-1])
        return
    if fmt == "parquet" or (fmt is None and suffixes[-1:] == [".parquet"]):
        yield _parquet(str(path), path)
        return
    yield _from_bytes(str(path), path.read_bytes(), fmt, suffixes)


def _from_bytes(name: str, data: bytes, fmt: str | None, suffixes: list[str]) -> RawCandles:
    if fmt == "parquet" or (fmt is None and suffixes[-1:] == [".parquet"]):
        return _parquet(name, io.BytesIO(data))
    first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip("\r\ufeff")
    separator = (
        "\t" if fmt == "tsv" or (fmt is None and _looks_tabbed(first_line, suffixes)) else ","
    )
    if _is_headerless(first_line, separator):  # newer Binance files have a header row
        return _headerless(name, data, separator, first_line)
    return _with_header(name, data, separator, fmt)


def _looks_tabbed(first_line: str, suffixes: list[str]) -> bool:
    return suffixes[-1:] == [".tsv"] or ("\t" in first_line and "," not in first_line)


def _is_headerless(first_line: str, separator: str) -> bool:
    first_field = first_line.split(separator, 1)[0].strip().strip('"')
    return first_field.replace(".", "", 1).isdigit()


def _headerless(name: str, data: bytes, separator: str, first_line: str) -> RawCandles:
    width = len(first_line.split(separator))
    if width < 5:
        raise InputError(f"{name}: line 1 has {width} fields and no header; expected at least 5")
    fmt = "binance" if width == len(BINANCE_COLUMNS) else "csv"
    frame = _read_csv(name, data, separator, has_header=False, new_columns=_positional(width))
    return RawCandles(name, fmt, _keep_known(frame, first_line=1))


def _positional(width: int) -> list[str]:
    """Names for a headerless file: Binance's 12 columns, or time, open, high, low, close,
    volume and then columns that are not read."""
    if width == len(BINANCE_COLUMNS):
        return list(BINANCE_COLUMNS)
    named = list(COLUMNS[: min(width, 6)])
    return named + [f"unread_{i}" for i in range(width - len(named))]


def _with_header(name: str, data: bytes, separator: str, fmt: str | None) -> RawCandles:
    frame = _index_as_time(_read_csv(name, data, separator, has_header=True))
    renamed = _standard_names(name, frame.columns)
    detected = "yahoo" if "adjclose" in {_fold(c) for c in frame.columns} else "csv"
    frame = frame.rename(renamed)
    return RawCandles(name, fmt or detected, _keep_known(frame, first_line=2))


def _parquet(name: str, source: Path | io.BytesIO) -> RawCandles:
    index_columns = _pandas_index_columns(pq.read_schema(source))
    if isinstance(source, io.BytesIO):
        source.seek(0)
    frame = _index_as_time(pl.read_parquet(source), index_columns)
    frame = frame.rename(_standard_names(name, frame.columns))
    return RawCandles(name, "parquet", _keep_known(frame, first_line=1))


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns pandas stored its index in (a RangeIndex is stored as metadata only)."""
    metadata = schema.pandas_metadata or {}
    return [c for c in metadata.get("index_columns", []) if isinstance(c, str)]


def _index_as_time(frame: pl.DataFrame, index_columns: list[str] | None = None) -> pl.DataFrame:
    """A frame saved by pandas with its time index: that column becomes `time`, when no
    column is named like a time and the index column holds dates or times (a row number
    does not count)."""
    if any(_fold(column) in ALIASES["time"] for column in frame.columns):
        return frame
    candidates = [*(index_columns or []), *PANDAS_INDEX_NAMES]
    for column in (c for c in candidates if c in frame.columns):
        if holds_dates(frame[column]):
            return frame.rename({column: "time"})
    return frame


def _read_csv(name: str, data: bytes, separator: str, **options: object) -> pl.DataFrame:
    try:
        return pl.read_csv(
            data,
            separator=separator,
            infer_schema=False,  # every value stays text: validation says what is wrong, and where
            null_values=["", "null", "NULL", "NaN-null"],
            truncate_ragged_lines=True,
            **options,  # type: ignore[arg-type]
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{name}: not a readable CSV file: {exc}") from None


def _fold(column: str) -> str:
    return "".join(ch for ch in column.lower().strip() if ch not in " _-")


def _standard_names(name: str, columns: list[str]) -> dict[str, str]:
    """Rename recognised headers to standard names; refuse a file missing a required one."""
    renamed: dict[str, str] = {}
    for column in columns:
        for standard, aliases in ALIASES.items():
            if _fold(column) in aliases and standard not in renamed.values():
                renamed[column] = standard
    missing = [c for c in REQUIRED if c not in renamed.values()]
    if missing:
        raise InputError(
            f"{name}: no column for {', '.join(missing)} in the header "
            f"({', '.join(columns)}); recognised names are listed in `candlelab ingest --help`"
        )
    return renamed


def _keep_known(frame: pl.DataFrame, first_line: int) -> pl.DataFrame:
    known = [c for c in COLUMNS if c in frame.columns]
    lines = pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64, eager=False)
    return frame.select(*known).with_columns(lines.alias("line"))


def raw_from_frame(frame: object, name: str = "frame") -> RawCandles:
    """A pandas or Polars DataFrame or an Arrow table, in the same shape as a file's rows."""
    if isinstance(frame, pl.DataFrame):
        polars_frame = frame
    elif isinstance(frame, pd.DataFrame):  # a time index becomes the time column
        polars_frame = pl.from_pandas(frame.reset_index() if _has_time_index(frame) else frame)
    elif isinstance(frame, pa.Table):
        polars_frame = pl.DataFrame(frame)
    else:
        raise InputError(f"{name}: expected a pandas or Polars DataFrame or an Arrow table")
    polars_frame = _index_as_time(polars_frame)
    polars_frame = polars_frame.rename(_standard_names(name, polars_frame.columns))
    return RawCandles(name, "frame", _keep_known(polars_frame, first_line=1))


def _has_time_index(frame: pd.DataFrame) -> bool:
    return str(frame.index.dtype).startswith("datetime64")
