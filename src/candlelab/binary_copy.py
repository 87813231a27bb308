"""PostgreSQL's binary COPY format, built from NumPy columns without a Python loop per row."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
POSTGRES_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")

# The wire type of each PostgreSQL type this module writes (all 8 bytes wide).
WIRE_TYPES = {"bigint": ">i8", "double precision": ">f8", "timestamptz": ">i8"}


def binary_copy_buffer(columns: list[tuple[str, npt.NDArray[np.generic]]]) -> bytes:
    """One COPY ... (FORMAT BINARY) payload; `columns` pairs a PostgreSQL type with its values."""
    rows = len(columns[0][1])
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for index, (pg_type, _) in enumerate(columns):
        layout += [(f"length{index}", ">i4"), (f"value{index}", WIRE_TYPES[pg_type])]
    tuples = np.empty(rows, dtype=np.dtype(layout))
    tuples["fields"] = len(columns)
    for index, (pg_type, values) in enumerate(columns):
        tuples[f"length{index}"] = 8
        tuples[f"value{index}"] = _wire_values(pg_type, values)
    return HEADER + tuples.tobytes() + TRAILER


def _wire_values(pg_type: str, values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    if pg_type == "timestamptz":
        micros = values.astype("datetime64[us]") - POSTGRES_EPOCH
        return micros.astype(np.int64)
    return values
