"""Resampling: a chart at a longer timeframe, derived from a base chart in SQL.

Intraday bins come from `date_bin` (origin: local midnight of a Monday, plus the chart's
bar offset); days, weeks and months from `date_trunc` in the chart's timezone, so each
trading session lands in its own local day across DST changes. A derived chart is
refreshed over the bins a load touched, in the loading transaction.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from psycopg import sql

from candlelab.errors import InvalidValue
from candlelab.market.charts import Chart, chart, chart_range
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
CALENDAR_UNITS = {"d": "day", "w": "week", "M": "month"}
# How far past the start of the last bin its base bars can lie (longest bin, DST included).
REACH = {"d": "26 hours", "w": "8 days", "M": "32 days"}
OFFSET = re.compile(r"^(\d+)(m|h)$")


def derive_chart(conn: Connection, base_id: int, timeframe: Timeframe, offset: str = "0m") -> int:
    """The chart of `base_id` resampled to `timeframe`, made and filled on first use."""
    base = chart(conn, base_id)
    _check_longer(Timeframe.parse(base.timeframe), timeframe)
    params = {
        "symbol": base.symbol, "timeframe": timeframe.name, "timezone": base.timezone,
        "source": f"{base.source}:{base.timeframe}", "calendar": base.calendar,
        "name": f"{base.symbol} {timeframe.name} (from {base.timeframe} {base.source})",
        "base_chart_id": base_id, "bar_offset": offset,
    }  # fmt: skip
    with translated():
        row = conn.execute(QUERIES["create_derived_chart"], params).fetchone()
    assert row is not None
    if row[1] != base_id:
        raise InvalidValue(f"chart {params['name']!r} exists and is not derived from {base_id}")
    first, last = chart_range(conn, base_id)
    if first is not None and last is not None:
        refresh(conn, chart(conn, int(row[0])), first, last)
    return int(row[0])


def refresh_derived(conn: Connection, base_id: int, first: datetime, last: datetime) -> None:
    """Bring every chart resampled from `base_id` up to date for base bars in [first, last]."""
    rows = conn.execute(QUERIES["derived_charts"], {"chart_id": base_id}).fetchall()
    for derived in (Chart(*row) for row in rows):
        refresh(conn, derived, first, last)


def refresh(conn: Connection, derived: Chart, first: datetime, last: datetime) -> int:
    """Rebuild the derived chart's bins covering base bars in [first, last]; rows written."""
    assert derived.base_chart_id is not None
    timeframe = Timeframe.parse(derived.timeframe)
    query = sql.SQL(QUERIES["refresh_bins"]).format(
        bin=_bin(timeframe, derived, sql.SQL("b.time")),
        first_bin=_bin(timeframe, derived, sql.Placeholder("first")),
        last_bin=_bin(timeframe, derived, sql.Placeholder("last")),
        reach=sql.SQL("interval {}").format(sql.Literal(_reach(timeframe))),
    )
    params = {"base": derived.base_chart_id, "derived": derived.id, "first": first, "last": last}
    with translated():
        row = conn.execute(query, params).fetchone()
    written = int(row[0]) if row else 0
    refresh_derived(conn, derived.id, first, last)  # charts resampled from this one
    return written


def _bin(timeframe: Timeframe, derived: Chart, time: sql.Composable) -> sql.Composable:
    """The start of the bin a time falls in, as SQL."""
    zone = sql.Literal(derived.timezone)
    if timeframe.unit in CALENDAR_UNITS:
        if timeframe.count != 1:
            raise InvalidValue(
                f"resampling to {timeframe.name}: only 1d, 1w and 1M are calendar bins"
            )
        unit = sql.Literal(CALENDAR_UNITS[timeframe.unit])
        return sql.SQL("date_trunc({}, {}::timestamptz, {})").format(unit, time, zone)
    stride = sql.Literal(timedelta(microseconds=timeframe.micros or 0))
    offset = sql.Literal(_interval(derived.bar_offset))
    origin = sql.SQL("(timestamp '2000-01-03 00:00' AT TIME ZONE {}) + {}::interval").format(
        zone, offset
    )
    return sql.SQL("date_bin({}::interval, {}::timestamptz, {})").format(stride, time, origin)


def _reach(timeframe: Timeframe) -> str:
    if timeframe.unit in REACH:
        return REACH[timeframe.unit]
    return f"{(timeframe.micros or 0) // 1_000_000} seconds"


def _interval(offset: str) -> str:
    match = OFFSET.match(offset)
    if not match:
        raise InvalidValue(f"bar offset {offset!r}: use minutes or hours, e.g. 30m")
    return f"{match.group(1)} {'minutes' if match.group(2) == 'm' else 'hours'}"


def _check_longer(base: Timeframe, target: Timeframe) -> None:
    """The target must be a whole multiple of the base (calendar bins hold whole days)."""
    day = 86_400_000_000
    base_length, target_length = base.micros, target.micros or day
    longer = base_length is not None and target_length > base_length
    if (
        not longer
        or target_length % (base_length or 1)
        or (target.micros is None and day % (base_length or 1))
    ):
        raise InvalidValue(
            f"cannot resample {base.name} bars to {target.name}: the target must be a longer "
            "whole multiple of the base"
        )
