"""A chart's stored feature values by window of bars, for the chart view: read like its
candles are, so a labeller sees beside each bar exactly what a model is given there.

A window is the bars of `market.candles.window`: up to `count` from `start` on before
`end`, or the newest `count` before `end`. It is read from the few blocks that hold it
(one bytea of ~2,048 bars each, see `blocks`) and cut to its bars and columns in NumPy,
so no Python object is made per bar or per value.

Where a column belongs on the chart (`scale`): "price" when it is in price units, a
TA-Lib function of its Overlap Studies group (EMA, SMA, BBANDS, KAMA, SAR…: TA-Lib's own
name for what is drawn over the price) reading price columns or other such features;
"own" for any other TA-Lib function and the calendar features (RSI's 0-100, MACD's
histogram, a count of minutes); "auto" for an expression, whose units only its values
tell (the chart view looks at them).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidFeature, quoted
from candlelab.features.blocks import datetime64, unpacked_times
from candlelab.features.indicators import ta
from candlelab.features.registry import StoredSet, stored_from_row
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
PRICES = frozenset({"open", "high", "low", "close", "vwap"})
CLOSEST = 3  # names an unknown column's error suggests
Scale = Literal["price", "own", "auto"]
Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class BuiltSet:
    """A stored set as built on one chart: its bars, and from where they are stale (a
    change to the candles since; None: current)."""

    stored: StoredSet
    first_bar: datetime
    last_bar: datetime
    bars: int
    stale_from: datetime | None

    @property
    def scales(self) -> dict[str, Scale]:
        return scales(self.stored)


def built_sets(conn: Connection, chart_id: int) -> list[BuiltSet]:
    """Every stored set built on the chart, by name, newest version first."""
    rows = conn.execute(QUERIES["built_sets"], {"chart_id": chart_id}).fetchall()
    return [_built(stored_from_row(row[:7]), row[7:]) for row in rows]


def built_set(conn: Connection, stored: StoredSet, chart_id: int) -> BuiltSet | None:
    """What is built of `stored` on the chart; None when nothing is."""
    params = {"set_id": stored.id, "chart_id": chart_id}
    row = conn.execute(QUERIES["built_set"], params).fetchone()
    return _built(stored, row) if row else None


def _built(stored: StoredSet, row: Sequence[Any]) -> BuiltSet:
    first, last, bars, stale_from = row
    return BuiltSet(stored, first, last, int(bars), stale_from)


@dataclass(frozen=True)
class FeatureValues:
    """Bars of one chart, oldest first: their opens (datetime64[us] UTC) and, by column
    name, their values (float64, NaN where a feature has no value yet). The times stand
    apart from the columns: a feature may be named `time`."""

    time: Times
    columns: dict[str, Floats]

    def __len__(self) -> int:
        return len(self.time)


def feature_window(
    conn: Connection,
    stored: StoredSet,
    chart_id: int,
    columns: Sequence[str],
    *,
    start: datetime | None,
    end: datetime,
    count: int,
) -> FeatureValues:
    """Up to `count` bars' values of the chart before `end`, oldest first: from `start`
    on, or the newest ones when there is no start; the columns in the order asked."""
    picked = column_indices(stored, columns)
    times, vectors = _blocks(conn, stored, chart_id, start=start, end=end, count=count)
    first, stop = _bounds(times, start, end, count)
    values = vectors[first:stop].T[picked]  # one gather: a contiguous row per column
    return FeatureValues(times[first:stop], dict(zip(columns, values, strict=True)))


def column_indices(stored: StoredSet, columns: Sequence[str]) -> list[int]:
    """Where each column lies in the set's vectors; an unknown one is refused, naming
    it and the closest the set has."""
    where = {name: j for j, name in enumerate(stored.columns)}
    for name in columns:
        if name not in where:
            raise InvalidFeature(_unknown(stored, name))
    return [where[name] for name in columns]


def _unknown(stored: StoredSet, name: str) -> str:
    closest = difflib.get_close_matches(name, stored.columns, n=CLOSEST, cutoff=0.5)
    hint = f"closest: {', '.join(closest)}" if closest else "`candlelab features show` lists them"
    return f"feature set {stored.label} has no column {quoted(name)}; {hint}"


def _blocks(
    conn: Connection, stored: StoredSet, chart_id: int, *, start: datetime | None,
    end: datetime, count: int,
) -> tuple[Times, Floats]:  # fmt: skip
    """The bar times and vectors (bars by width) of the blocks holding the window."""
    params = {"set_id": stored.id, "chart_id": chart_id, "start": start, "end": end,
              "count": count}  # fmt: skip
    query = QUERIES["blocks_from" if start is not None else "blocks_before"]
    with conn.cursor(binary=True) as cursor:
        rows = cursor.execute(query, params).fetchall()
    times = unpacked_times(b"".join(row[0] for row in rows))
    vectors = np.frombuffer(b"".join(row[1] for row in rows), "<f8")
    return times, vectors.reshape(len(times), len(stored.columns))


def _bounds(times: Times, start: datetime | None, end: datetime, count: int) -> tuple[int, int]:
    """The window's first bar and the one after its last, among `times`."""
    stop = int(np.searchsorted(times, datetime64(end)))
    if start is None:
        return max(stop - count, 0), stop
    first = int(np.searchsorted(times, datetime64(start)))
    return first, max(first, min(first + count, stop))


def scales(stored: StoredSet) -> dict[str, Scale]:
    """Each column's place on a chart (see the module's docstring), in column order."""
    found: dict[str, Scale] = {}
    for feature in stored.definition["features"]:
        found[feature["name"]] = _scale(feature, found)
    return found


def _scale(feature: dict[str, Any], earlier: dict[str, Scale]) -> Scale:
    if "expr" in feature:
        return "auto"
    if "talib" not in feature or feature["talib"] not in _overlap_studies():
        return "own"
    on_price = all(
        name in PRICES or earlier.get(name) == "price" for name in feature["inputs"].values()
    )
    return "price" if on_price else "own"


@cache
def _overlap_studies() -> frozenset[str]:
    groups: dict[str, list[str]] = ta.get_function_groups()
    return frozenset(groups["Overlap Studies"])
