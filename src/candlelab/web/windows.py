"""Candle windows for the chart: compact columnar JSON the browser decodes without parsing.

Each column is the base64 of its little-endian values: times as float64 epoch seconds,
prices and volume as float64. A browser turns each into a Float64Array in one call; the
payload is 4/3 of the packed numbers (base64), where decimal text would be 2-3 times.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

COLUMNS = ("time", "open", "high", "low", "close", "volume")


class CandleWindow(BaseModel):
    """Bars of one chart, oldest first, each column base64 of little-endian float64."""

    chart_id: int
    count: int = Field(description="How many bars the window holds.")
    first: datetime | None = Field(description="The first bar's open time (UTC).")
    last: datetime | None = Field(description="The last bar's open time (UTC).")
    encoding: str = "base64 float64 little-endian; time in epoch seconds"
    columns: dict[str, str] = Field(description="time, open, high, low, close, volume.")


def encode(chart_id: int, rows: list[tuple[Any, ...]]) -> CandleWindow:
    """Rows of (time, open, high, low, close, volume) as one window."""
    times = np.array([row[0].timestamp() for row in rows], dtype="<f8")
    values = np.array([row[1:] for row in rows], dtype="<f8").reshape(len(rows), 5)
    columns = {"time": _b64(times)}
    for index, name in enumerate(COLUMNS[1:]):
        columns[name] = _b64(np.ascontiguousarray(values[:, index]))
    return CandleWindow(
        chart_id=chart_id,
        count=len(rows),
        first=rows[0][0] if rows else None,
        last=rows[-1][0] if rows else None,
        columns=columns,
    )


def decode(window: dict[str, Any]) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """The window's columns as NumPy arrays (what the browser does with Float64Array)."""
    return {
        name: np.frombuffer(base64.b64decode(text), dtype="<f8")
        for name, text in window["columns"].items()
    }


def _b64(values: np.ndarray[Any, np.dtype[np.float64]]) -> str:
    return base64.b64encode(values.astype("<f8").tobytes()).decode("ascii")
