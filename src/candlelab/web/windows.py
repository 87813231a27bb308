"""Candle and feature windows for the chart: compact columnar JSON the browser decodes
without parsing.

Each column is the base64 of its little-endian values: times as float64 epoch seconds,
prices, volume and feature values as float64 (NaN where a feature has no value yet). A
browser turns each into a Float64Array in one call; the payload is 4/3 of the packed
numbers (base64), where decimal text would be 2-3 times.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from candlelab.features.windows import FeatureValues
from candlelab.market.candles import WINDOW_COLUMNS
from candlelab.market.quality import utc_datetime

EPOCH = np.datetime64("1970-01-01T00:00:00", "us")
ENCODING = "base64 float64 little-endian; time in epoch seconds"


class CandleWindow(BaseModel):
    """Bars of one chart, oldest first, each column base64 of little-endian float64."""

    chart_id: int
    count: int = Field(description="How many bars the window holds.")
    first: datetime | None = Field(description="The first bar's open time (UTC).")
    last: datetime | None = Field(description="The last bar's open time (UTC).")
    encoding: str = ENCODING
    columns: dict[str, str] = Field(description="time, open, high, low, close, volume.")
    missing: str = Field(
        "",
        description="Open times (base64 float64 epoch seconds) of bars the chart's calendar "
        "expects in the range asked for and the chart lacks (50,000 at most); empty on a "
        "24/7 chart, whose gaps the bar step shows.",
    )


def encode(
    chart_id: int, bars: dict[str, npt.NDArray[np.generic]], missing: npt.NDArray[np.generic]
) -> CandleWindow:
    """A window of columns as `candles.window` reads them, and the bars it lacks."""
    times = bars["time"].astype("datetime64[us]")
    prices = {name: _b64(bars[name]) for name in WINDOW_COLUMNS[1:]}
    columns = {"time": _b64(_seconds(times))} | prices
    return CandleWindow(
        chart_id=chart_id,
        count=len(times),
        first=utc_datetime(times[0]) if len(times) else None,
        last=utc_datetime(times[-1]) if len(times) else None,
        columns=columns,
        missing=_b64(_seconds(missing)) if len(missing) else "",
    )


class FeatureWindow(BaseModel):
    """Feature values of one chart's bars, oldest first, each column base64 of
    little-endian float64, NaN where a feature has no value yet."""

    chart_id: int
    feature_set: str = Field(description="The version read, as name@version.")
    count: int = Field(description="How many bars the window holds.")
    first: datetime | None = Field(description="The first bar's open time (UTC).")
    last: datetime | None = Field(description="The last bar's open time (UTC).")
    encoding: str = ENCODING
    time: str = Field(description="The bars' open times.")
    columns: dict[str, str] = Field(description="The columns asked for, in that order.")
    stale_from: datetime | None = Field(
        description="Values from this bar on were computed before a change to the candles "
        "there: `candlelab features build` brings them up to date."
    )


def encode_features(
    chart_id: int, label: str, values: FeatureValues, stale_from: datetime | None
) -> FeatureWindow:
    """A window of feature values as `features.windows.feature_window` reads them."""
    times = values.time
    return FeatureWindow(
        chart_id=chart_id,
        feature_set=label,
        count=len(times),
        first=utc_datetime(times[0]) if len(times) else None,
        last=utc_datetime(times[-1]) if len(times) else None,
        time=_b64(_seconds(times)),
        columns={name: _b64(column) for name, column in values.columns.items()},
        stale_from=stale_from,
    )


def decode(window: dict[str, Any]) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """A candle window's columns and its missing bars as `missing`, as NumPy arrays (what
    the browser does with Float64Array)."""
    columns = window["columns"] | {"missing": window["missing"]}
    return {
        name: np.frombuffer(base64.b64decode(text), dtype="<f8") for name, text in columns.items()
    }


def _b64(values: npt.NDArray[np.generic]) -> str:
    return base64.b64encode(values.astype("<f8").tobytes()).decode("ascii")


def _seconds(times: npt.NDArray[np.generic]) -> npt.NDArray[np.float64]:
    since = times.astype("datetime64[us]") - EPOCH
    seconds: npt.NDArray[np.float64] = since / np.timedelta64(1, "s")
    return seconds
