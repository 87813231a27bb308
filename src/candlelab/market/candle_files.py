"""Candle files in, one shape out: standard column names and the line each row came from.

Readers only read. They recognise the usual column names, unwrap .gz and .zip, and
leave every judgement about values to `validation`: a value that does not parse stays
as text, so the report can quote it with its line.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import itertools
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from candlelab.errors import InputError
from candlelab.market.file_formats import FORMATS, shown
from candlelab.market.time_formats import holds_dates

if TYPE_CHECKING:
    import pandas as pd

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
# What pandas calls the column it writes an unnamed index to: `to_csv` leaves the header
# cell empty (read back as "Unnamed: 0"), `to_parquet` and `reset_index` name it.
PANDAS_INDEX_NAMES = ("", "Unnamed: 0", "__index_level_0__", "index")


MAX_EXPANDED = 4 << 30  # bytes a .gz or .zip may expand to: a 20M-row minute CSV is 1.3 GB
MAX_COLUMNS = 64  # columns in a header (or a headerless first line)
MAX_LINE = 64 << 10  # bytes in one line
CHUNK_BYTES = 8 << 20  # CSV read this much at a time (about 100,000 minute bars)
CHUNK_ROWS = 250_000  # Parquet rows read at a time


@dataclass(frozen=True)
class Limits:
    """What a file may cost before any parser sees it."""

    max_expanded: int = MAX_EXPANDED
    max_columns: int = MAX_COLUMNS
    max_line: int = MAX_LINE


@dataclass(frozen=True)
class RawCandles:
    """One input's rows: standard columns (text or typed) and `line`, where each row was.

    A big input comes in chunks: `frame` is the first, `more` yields the rest (read as it
    is asked for) and `streamed` says there are more. A small one is all in `frame`."""

    name: str
    format: str
    frame: pl.DataFrame
    more: Iterator[pl.DataFrame] = field(default_factory=lambda: iter(()), compare=False)
    streamed: bool = False

    def chunks(self) -> Iterator[pl.DataFrame]:
        yield self.frame
        yield from self.more


def read_candle_file(
    path: Path, fmt: str | None = None, name: str | None = None, limits: Limits = Limits()
) -> Iterator[RawCandles]:
    """Every candle table in `path`: one, or one per member of a .zip. `name` is how the
    file is called in messages (an upload's own name rather than its temporary path)."""
    shown_name = shown(name if name is not None else path, 200)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(
            f"{shown_name}: unknown format {shown(fmt)!r}; known: {', '.join(FORMATS)}"
        )
    if path.is_dir():
        raise InputError(f"{shown_name}: is a directory, not a file")
    for raw in _guarded(shown_name, _read(path, shown_name, fmt, limits)):
        yield dataclasses.replace(raw, more=_guarded(raw.name, raw.more))


T = TypeVar("T")


def _guarded(name: str, items: Iterator[T]) -> Iterator[T]:
    """`items`, a reader's failures turned into one-line input errors naming the file
    (a damaged .gz can fail on its last chunk as well as its first)."""
    try:
        yield from items
    except pa.ArrowException as exc:  # before OSError: Arrow's I/O errors are both
        raise InputError(f"{name}: not a readable Parquet file: {_reason(exc)}") from None
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{name}: cannot read it: {_reason(exc)}") from None
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{name}: cannot read it: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """What is wrong, in words of ours where the library's would quote the file's bytes."""
    if isinstance(exc, gzip.BadGzipFile):
        return "not gzip data (its first bytes are not a gzip header)"
    if isinstance(exc, zipfile.BadZipFile):
        return "not a zip archive, or a damaged one"
    if isinstance(exc, zlib.error):
        return "its compressed data is damaged"
    if isinstance(exc, EOFError):
        return "it is cut short (it ends before its end-of-stream marker)"
    text = getattr(exc, "strerror", None) or str(exc)
    return shown(str(text).splitlines()[0]) if str(text) else type(exc).__name__


def _read(path: Path, name: str, fmt: str | None, limits: Limits) -> Iterator[RawCandles]:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".zip"]:
        budget = _Budget(name, limits.max_expanded)
        # A member's stream stays readable after the archive is closed (zipfile counts
        # its users), so a big member can be read on after this generator is done.
        with zipfile.ZipFile(path) as archive:
            for member in (m for m in archive.infolist() if not m.is_dir()):
                inner = f"{name}:{shown(member.filename)}"
                stream = budget.capped(archive.open(member), inner)
                yield _from_stream(inner, stream, fmt, Path(member.filename).suffixes, limits)
        return
    if suffixes[-1:] == [".gz"]:
        unzipped = gzip.open(path, "rb")  # noqa: SIM115 (closed after its last chunk)
        stream = _Budget(name, limits.max_expanded).capped(unzipped, name)
        yield _from_stream(name, stream, fmt, suffixes[:-1], limits)
        return
    if _is_parquet(fmt, suffixes):
        yield _parquet(name, path)
        return
    yield _from_stream(name, path.open("rb"), fmt, suffixes, limits)


def _is_parquet(fmt: str | None, suffixes: list[str]) -> bool:
    return fmt == "parquet" or (fmt is None and suffixes[-1:] == [".parquet"])


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class _Budget:
    """The bytes a compressed file may expand to, shared by its members: reading past the
    limit stops at once."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit, self.used = name, limit, 0

    def capped(self, stream: _Readable, name: str) -> _Capped:
        return _Capped(stream, self, name)

    def spend(self, size: int, name: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise InputError(
                f"{name}: expands to more than {self.limit:,} bytes, the limit "
                "(--max-expanded); refused"
            )


class _Capped:
    """A decompressing stream that counts what it gives against its budget."""

    def __init__(self, stream: _Readable, budget: _Budget, name: str) -> None:
        self.stream, self.budget, self.name = stream, budget, name

    def read(self, size: int, /) -> bytes:
        data = self.stream.read(size)
        self.budget.spend(len(data), self.name)
        return data

    def close(self) -> None:
        self.stream.close()


def _from_stream(
    name: str, stream: _Readable, fmt: str | None, suffixes: list[str], limits: Limits
) -> RawCandles:
    """The input in `stream`, which it now owns: closed once read, or once its last chunk
    is (a big input is read on after this returns)."""
    try:
        if _is_parquet(fmt, suffixes):  # Parquet wants to seek: a member is read whole (capped)
            with closing(stream):
                return _parquet(name, io.BytesIO(_read_all(stream)))
        lines = _Lines(name, stream, limits)
        first_line = lines.header()
        if not first_line.strip():
            raise InputError(f"{name}: an empty file, no rows")
        tabbed = fmt == "tsv" or (fmt is None and _looks_tabbed(first_line, suffixes))
        separator = "\t" if tabbed else ","
        if _is_headerless(first_line, separator):  # newer Binance files have a header row
            return _headerless(lines, separator, first_line)
        return _with_header(lines, separator, first_line, fmt)
    except BaseException:
        stream.close()
        raise


def _read_all(stream: _Readable) -> bytes:
    return b"".join(iter(lambda: stream.read(CHUNK_BYTES), b""))


def _looks_tabbed(first_line: str, suffixes: list[str]) -> bool:
    return suffixes[-1:] == [".tsv"] or ("\t" in first_line and "," not in first_line)


def _is_headerless(first_line: str, separator: str) -> bool:
    first_field = first_line.split(separator, 1)[0].strip().strip('"')
    return first_field.replace(".", "", 1).isdigit()


def _headerless(lines: _Lines, separator: str, first_line: str) -> RawCandles:
    width = _width(lines, _fields(first_line, separator))
    if width < 5:
        raise InputError(
            f"{lines.name}: line 1 has {width} fields and no header; expected at least 5"
        )
    fmt = "binance" if width == len(BINANCE_COLUMNS) else "csv"
    names = _positional(width)
    wanted = {i: n for i, n in enumerate(names) if n in COLUMNS}
    lines.keep_first_line()
    return _chunked(lines, fmt, _CsvShape(separator, width, wanted), first_line=1)


def _positional(width: int) -> list[str]:
    """Names for a headerless file: Binance's 12 columns, or time, open, high, low, close,
    volume and then columns that are not read."""
    if width == len(BINANCE_COLUMNS):
        return list(BINANCE_COLUMNS)
    named = list(COLUMNS[: min(width, 6)])
    return named + [f"unread_{i}" for i in range(width - len(named))]


def _with_header(lines: _Lines, separator: str, first_line: str, fmt: str | None) -> RawCandles:
    header = _fields(first_line, separator)
    _width(lines, header)
    detected = "yahoo" if "adjclose" in {_fold(c) for c in header} else "csv"
    shape = _CsvShape(separator, len(header), dict(enumerate(header)))
    first = _csv_frame(lines, shape, next(lines.blocks(), b""), 2)
    header = _index_as_time(first, header)
    renamed = _standard_names(lines.name, header)
    wanted = {i: renamed[c] for i, c in enumerate(header) if c in renamed}
    return _chunked(lines, fmt or detected, _CsvShape(separator, len(header), wanted), 2, first)


def _fields(line: str, separator: str) -> list[str]:
    return next(csv.reader([line], delimiter=separator), [])


def _width(lines: _Lines, fields: list[str]) -> int:
    if len(fields) > lines.limits.max_columns:
        raise InputError(
            f"{lines.name}: line 1 has {len(fields):,} columns, more than the limit of "
            f"{lines.limits.max_columns}"
        )
    return len(fields)


@dataclass(frozen=True)
class _CsvShape:
    separator: str
    width: int
    wanted: dict[int, str]  # column position: the name it gets


def _chunked(
    lines: _Lines, fmt: str, shape: _CsvShape, first_line: int, first: pl.DataFrame | None = None
) -> RawCandles:
    """The input's first chunk, and the rest as they are read: a file that fits in one
    chunk is read whole now, as it always was."""
    frames = _csv_frames(lines, shape, first_line, first)
    head = next(frames)
    second = next(frames, None)
    if second is None:
        return RawCandles(lines.name, fmt, head)
    return RawCandles(lines.name, fmt, head, itertools.chain([second], frames), streamed=True)


def _csv_frames(
    lines: _Lines, shape: _CsvShape, first_line: int, first: pl.DataFrame | None
) -> Iterator[pl.DataFrame]:
    line = first_line
    with closing(lines.stream):
        if first is not None:
            yield _keep_known(first.rename(_names(shape, first)), line)
            line += first.height
        blocks = lines.blocks()
        block = next(blocks, b"") if first is None else next(blocks, None)
        while block is not None:
            frame = _csv_frame(lines, shape, block, line)
            yield _keep_known(frame.rename(_names(shape, frame)), line)
            line += frame.height
            block = next(blocks, None)


def _names(shape: _CsvShape, frame: pl.DataFrame) -> dict[str, str]:
    return {f"c{i}": name for i, name in shape.wanted.items() if f"c{i}" in frame.columns}


def _csv_frame(lines: _Lines, shape: _CsvShape, block: bytes, first_line: int) -> pl.DataFrame:
    """One block of whole lines as text columns, those of `shape.wanted` only. A made-up
    header gives every block the file's width, whatever its first line holds."""
    header = shape.separator.join(f"c{i}" for i in range(shape.width)).encode() + b"\n"
    try:
        return pl.read_csv(
            header + block,
            separator=shape.separator,
            infer_schema=False,  # every value stays text: validation says what is wrong, and where
            null_values=["", "null", "NULL", "NaN-null"],
            truncate_ragged_lines=True,
            columns=[f"c{i}" for i in sorted(shape.wanted)],
        )
    except pl.exceptions.PolarsError:
        raise InputError(_unreadable(lines.name, block, first_line)) from None


def _unreadable(name: str, block: bytes, first_line: int) -> str:
    """Where a block the CSV parser refused goes wrong, without quoting it: the first line
    with an unbalanced quote, else the block's lines."""
    for number, line in enumerate(block.split(b"\n"), first_line):
        if line.count(b'"') % 2:
            return (
                f'{name}: line {number}: not readable as CSV: a quote (") is not closed on its line'
            )
    last = first_line + max(block.count(b"\n") - 1, 0)
    return f"{name}: lines {first_line}-{last}: not readable as CSV"


class _Lines:
    """A text stream in blocks of whole lines. Each line is measured against the limit
    before a parser sees it; no line is ever quoted back."""

    def __init__(self, name: str, stream: _Readable, limits: Limits) -> None:
        self.name, self.stream, self.limits = name, stream, limits
        self.rest = b""
        self.lines = 0  # lines handed out so far
        self.first = b""

    def header(self) -> str:
        """The first line, as text; the blocks then start after it. Only enough is read to
        hold a first line within the limit."""
        data = b""
        while b"\n" not in data and len(data) <= self.limits.max_line + 3:
            piece = self.stream.read(4096)
            if not piece:
                break
            data += piece
        data = data.removeprefix(b"\xef\xbb\xbf")
        end = data.find(b"\n") + 1 or len(data)
        self.first, self.rest = data[:end], data[end:]
        self._measure(self.first + (b"" if self.first.endswith(b"\n") else b"\n"))
        return self.first.decode("utf-8", errors="replace").strip("\r\n")

    def keep_first_line(self) -> None:
        """A headerless file: the first line is a row, handed out with the rest."""
        self.rest, self.lines = self.first + self.rest, 0

    def blocks(self) -> Iterator[bytes]:
        while True:
            block = self._read()
            if not block:
                return
            yield block

    def _read(self) -> bytes:
        """The next whole lines (the last one given its newline), or b"" at the end."""
        data = self.stream.read(CHUNK_BYTES)
        buffer = self.rest + data
        cut = buffer.rfind(b"\n") + 1 if data else len(buffer)
        block, self.rest = buffer[:cut], buffer[cut:]
        if block and not block.endswith(b"\n"):
            block += b"\n"
        self._measure(block)
        return block

    def _measure(self, block: bytes) -> None:
        ends = np.flatnonzero(np.frombuffer(block, np.uint8) == 10)
        starts = np.concatenate([[-1], ends[:-1]]) + 1
        long = np.flatnonzero(ends - starts > self.limits.max_line)
        rest_too_long = len(self.rest) > self.limits.max_line
        if long.size or rest_too_long:
            number = self.lines + (int(long[0]) if long.size else len(ends)) + 1
            raise InputError(
                f"{self.name}: line {number:,} is longer than {self.limits.max_line:,} bytes, "
                "the limit; refused"
            )
        self.lines += len(ends)


def _parquet(name: str, source: Path | io.BytesIO) -> RawCandles:
    """A Parquet file in batches of CHUNK_ROWS rows."""
    with _as_parquet(name):
        parquet = pq.ParquetFile(source)
        batches = (pl.DataFrame(pl.from_arrow(b)) for b in parquet.iter_batches(CHUNK_ROWS))
        first = next(batches, None)
        if first is None:
            first = pl.DataFrame(pl.from_arrow(parquet.schema_arrow.empty_table()))
    index_columns = _pandas_index_columns(parquet.schema_arrow)
    columns = _index_as_time(first, first.columns, index_columns)
    renamed = _standard_names(name, columns)
    renamed = {
        old: renamed[new] for old, new in zip(first.columns, columns, strict=True) if new in renamed
    }
    frames = _parquet_frames(name, first, batches, renamed)
    head = next(frames)
    streamed = parquet.metadata.num_rows > head.height
    return RawCandles(name, "parquet", head, frames, streamed=streamed)


@contextmanager
def _as_parquet(name: str) -> Iterator[None]:
    """Arrow's errors reading Parquet (its I/O errors are OSErrors) as one line."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{name}: not a readable Parquet file: {_reason(exc)}") from None


def _parquet_frames(
    name: str, first: pl.DataFrame, batches: Iterator[pl.DataFrame], renamed: dict[str, str]
) -> Iterator[pl.DataFrame]:
    line = 1
    with _as_parquet(name):
        for frame in itertools.chain([first], batches):
            yield _keep_known(frame.select(list(renamed)).rename(renamed), line)
            line += frame.height


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns pandas stored its index in (a RangeIndex is stored as metadata only)."""
    metadata = schema.pandas_metadata or {}
    return [c for c in metadata.get("index_columns", []) if isinstance(c, str)]


def _index_as_time(
    frame: pl.DataFrame, columns: list[str], index_columns: list[str] | None = None
) -> list[str]:
    """`columns` (the names of `frame`'s columns, in order), with a pandas time index
    named `time`: when no column is named like a time and the index column holds dates
    or times (a row number does not count)."""
    if any(_fold(column) in ALIASES["time"] for column in columns):
        return columns
    candidates = [*(index_columns or []), *PANDAS_INDEX_NAMES]
    for candidate in (c for c in candidates if c in columns):
        position = columns.index(candidate)
        if holds_dates(frame.to_series(position)):
            return [*columns[:position], "time", *columns[position + 1 :]]
    return columns


def _fold(column: str) -> str:
    return "".join(ch for ch in column.lower().strip() if ch not in " _-")


def _standard(column: str) -> str | None:
    folded = _fold(column)
    return next((standard for standard, names in ALIASES.items() if folded in names), None)


def _standard_names(name: str, columns: list[str]) -> dict[str, str]:
    """Rename recognised headers to standard names; refuse a file missing a required one,
    or naming one twice (close and Close, close and last)."""
    found: dict[str, list[str]] = {}
    for column in columns:
        if (standard := _standard(column)) is not None:
            found.setdefault(standard, []).append(column)
    for standard, named in found.items():
        if len(named) > 1:
            raise InputError(
                f"{name}: the columns {shown(named[0])!r} and {shown(named[1])!r} both name "
                f"{standard}; keep one"
            )
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise InputError(
            f"{name}: no column for {', '.join(missing)} in the header "
            f"({shown(', '.join(columns))}); recognised names are listed in "
            "`candlelab ingest --help`"
        )
    return {named[0]: standard for standard, named in found.items()}


def _keep_known(frame: pl.DataFrame, first_line: int) -> pl.DataFrame:
    known = [c for c in COLUMNS if c in frame.columns]
    lines = pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64, eager=False)
    return frame.select(*known).with_columns(lines.alias("line"))


def raw_from_frame(frame: object, name: str = "frame") -> RawCandles:
    """A pandas or Polars DataFrame or an Arrow table, in the same shape as a file's rows."""
    import pandas as pd  # only here: reading files (all `candlelab ingest` does) never needs it

    if isinstance(frame, pl.DataFrame):
        polars_frame = frame
    elif isinstance(frame, pd.DataFrame):  # a time index becomes the time column
        polars_frame = pl.from_pandas(frame.reset_index() if _has_time_index(frame) else frame)
    elif isinstance(frame, pa.Table):
        polars_frame = pl.DataFrame(frame)
    else:
        raise InputError(f"{name}: expected a pandas or Polars DataFrame or an Arrow table")
    columns = _index_as_time(polars_frame, polars_frame.columns)
    renamed = _standard_names(name, columns)
    old = {
        o: renamed[c] for o, c in zip(polars_frame.columns, columns, strict=True) if c in renamed
    }
    return RawCandles(name, "frame", _keep_known(polars_frame.select(list(old)).rename(old), 1))


def _has_time_index(frame: pd.DataFrame) -> bool:
    return str(frame.index.dtype).startswith("datetime64")
