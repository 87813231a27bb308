"""PostgreSQL's binary COPY format, built from NumPy columns without a Python loop per row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
POSTGRES_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")

# The wire type of each PostgreSQL type this module writes (all 8 bytes wide).
WIRE_TYPES = {"bigint": ">i8", "double precision": ">f8", "timestamptz": ">i8"}
FIELD_BYTES = 12  # a 4-byte length, then 8 bytes of value


@dataclass(frozen=True)
class CopyColumn:
    """One column to COPY: its PostgreSQL type, its values, and where they are NULL."""

    pg_type: str
    values: npt.NDArray[np.generic]
    nulls: npt.NDArray[np.bool_] | None = None


def binary_copy_buffer(columns: list[CopyColumn]) -> bytes:
    """One COPY ... (FORMAT BINARY) payload holding every row of `columns`."""
    return HEADER + _rows(columns) + TRAILER


def binary_copy_chunks(columns: list[CopyColumn], rows: int = 100_000) -> Iterator[bytes]:
    """The same payload in pieces of `rows` rows: the server takes in one piece while the
    next is built."""
    yield HEADER
    for start in range(0, len(columns[0].values), rows):
        yield _rows([_sliced(column, start, start + rows) for column in columns])
    yield TRAILER


def _sliced(column: CopyColumn, start: int, stop: int) -> CopyColumn:
    nulls = None if column.nulls is None else column.nulls[start:stop]
    return CopyColumn(column.pg_type, column.values[start:stop], nulls)


def _rows(columns: list[CopyColumn]) -> bytes:
    tuples = _fixed_width_tuples(columns)
    null_columns: list[tuple[int, npt.NDArray[np.bool_]]] = []
    for index, column in enumerate(columns):
        if column.nulls is not None and column.nulls.any():
            null_columns.append((index, column.nulls))
    if not null_columns:
        return tuples.tobytes()
    return _drop_null_values(tuples, null_columns)


def _fixed_width_tuples(columns: list[CopyColumn]) -> npt.NDArray[np.void]:
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for index, column in enumerate(columns):
        layout += [(f"length{index}", ">i4"), (f"value{index}", WIRE_TYPES[column.pg_type])]
    tuples = np.empty(len(columns[0].values), dtype=np.dtype(layout))
    tuples["fields"] = len(columns)
    for index, column in enumerate(columns):
        tuples[f"length{index}"] = 8
        tuples[f"value{index}"] = _wire_values(column)
    return tuples


def _drop_null_values(
    tuples: npt.NDArray[np.void], null_columns: list[tuple[int, npt.NDArray[np.bool_]]]
) -> bytes:
    """A NULL field is a length of -1 and no value bytes: mark it, then cut those bytes out."""
    keep = np.ones((len(tuples), tuples.dtype.itemsize), dtype=bool)
    for index, nulls in null_columns:
        tuples[f"length{index}"][nulls] = -1
        start = 2 + index * FIELD_BYTES + 4
        keep[nulls, start : start + 8] = False
    return tuples.view(np.uint8).reshape(len(tuples), -1)[keep].tobytes()


def _wire_values(column: CopyColumn) -> npt.NDArray[np.generic]:
    if column.pg_type == "timestamptz":
        micros = column.values.astype("datetime64[us]") - POSTGRES_EPOCH
        return micros.astype(np.int64)
    return column.values


Field = memoryview | None
Chunk = bytes | bytearray | memoryview


def copied_rows(chunks: Iterable[Chunk]) -> Iterator[list[Field]]:
    """The rows of a `COPY ... TO STDOUT (FORMAT BINARY)` as the server sends them: each
    row's fields as views into its chunk (no copy), None for NULL.

    PostgreSQL sends one row per chunk (the first after the header, the trailer alone);
    a chunk of several whole rows is read too, a row cut across chunks is refused."""
    expected: bytes = HEADER
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        if view[: len(expected)] != expected:
            raise ValueError("not the binary COPY header PostgreSQL writes")
        at, expected = len(expected), b""
        while at < len(view):
            fields, at = _row(view, at)
            if fields is not None:  # else the trailer; the COPY ends with the chunks
                yield fields


def not_null(fields: list[Field]) -> list[memoryview]:
    """A row's fields, refused when one is NULL (for columns that allow none)."""
    if any(field is None for field in fields):
        raise ValueError("a NULL in a binary COPY row of NOT NULL columns")
    return [field for field in fields if field is not None]


def _row(view: memoryview, at: int) -> tuple[list[Field] | None, int]:
    """The row starting at `at` and where the next starts; None at the trailer."""
    count = int.from_bytes(view[at : at + 2], "big", signed=True)
    at += 2
    if count < 0:
        return None, at
    fields: list[Field] = []
    for _ in range(count):
        size = int.from_bytes(view[at : at + 4], "big", signed=True)
        at += 4
        fields.append(view[at : at + size] if size >= 0 else None)
        at += max(size, 0)
    if at > len(view):
        raise ValueError("a binary COPY row cut across chunks")
    return fields, at
