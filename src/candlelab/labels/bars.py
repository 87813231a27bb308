"""Where a label may sit: on the open of a bar the chart has, at a price near that bar's.

The annotator page places spans and marks on the bars it draws, so the API (and the legacy
import) hold every caller to the same grid: a time that is not the open of a stored bar is
refused, naming the nearest bar opens on either side, rather than silently moved. A price
is refused when it is not finite or lies outside PRICE_FACTOR times the bar's own range.
"""

from __future__ import annotations

import math
from datetime import datetime

from candlelab.errors import InvalidField
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
PRICE_FACTOR = 10.0  # a mark's price lies within a tenth of the bar's low and ten times its high


def check_aware(field: str, time: datetime) -> None:
    """InvalidField(field) for a time without a zone: on a chart kept in New York time,
    2025-01-07T09:30 could mean either clock, so the caller says which (Z or an offset)."""
    if time.utcoffset() is None:
        raise InvalidField(field, f"{time.isoformat()} has no timezone; add Z or an offset")


def check_bar_open(conn: Connection, chart_id: int, field: str, time: datetime) -> None:
    """InvalidField(field) unless a bar of the chart opens exactly at `time` (with a zone)."""
    check_aware(field, time)
    before, after = _bars_around(conn, chart_id, time)
    if before == time:
        return
    nearest = " and ".join(t.isoformat() for t in (before, after) if t is not None)
    raise InvalidField(
        field,
        f"{time.isoformat()} is not the open of a bar of chart {chart_id}"
        + (f"; the nearest bars open at {nearest}" if nearest else "; it has no bars"),
    )


def check_price(conn: Connection, chart_id: int, time: datetime, price: float) -> None:
    """InvalidField('price') unless the price is finite and plausible for the bar at `time`."""
    if not math.isfinite(price):
        raise InvalidField("price", f"{price} is not a finite number")
    row = conn.execute(QUERIES["bar_prices"], {"chart_id": chart_id, "time": time}).fetchone()
    if row is None:
        raise InvalidField("time", f"chart {chart_id} has no bar at {time.isoformat()}")
    lowest, highest = price_range(float(row[0]), float(row[1]))
    if not lowest <= price <= highest:
        raise InvalidField(
            "price",
            f"{price:g} is outside {lowest:g} to {highest:g} (a factor of {PRICE_FACTOR:g} "
            f"around the bar's low {row[0]:g} and high {row[1]:g})",
        )


def price_range(low: float, high: float) -> tuple[float, float]:
    """The prices a mark on a bar of this low and high may have: PRICE_FACTOR times wider on
    either side (towards zero and away from it, so negative prices widen the same way)."""
    lowest = low / PRICE_FACTOR if low > 0 else low * PRICE_FACTOR
    highest = high * PRICE_FACTOR if high > 0 else high / PRICE_FACTOR
    return lowest, highest


def _bars_around(
    conn: Connection, chart_id: int, time: datetime
) -> tuple[datetime | None, datetime | None]:
    row = conn.execute(QUERIES["bars_around"], {"chart_id": chart_id, "time": time}).fetchone()
    return (row[0], row[1]) if row else (None, None)
