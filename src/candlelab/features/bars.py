"""What a feature build reads of a chart: its bars from a point on, packed by the server,
and the same symbol's longer-timeframe charts that the set's features need."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from psycopg import sql

from candlelab.errors import InvalidFeature
from candlelab.features.blocks import EARLIEST
from candlelab.features.computation import ChartBars
from candlelab.features.definitions import CANDLE_COLUMNS, FeatureSet
from candlelab.market.candles import PRICE_COLUMNS
from candlelab.market.charts import Chart
from candlelab.market.charts import chart as chart_by_id
from candlelab.market.timeframes import Timeframe
from candlelab.store.binary_copy import POSTGRES_EPOCH
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]
Times = npt.NDArray[np.datetime64]
OPTIONAL_COLUMNS = tuple(c for c in CANDLE_COLUMNS if c not in PRICE_COLUMNS)


def check_columns(conn: Connection, features: FeatureSet, charts: Sequence[Chart]) -> None:
    """Refuse the build when a chart lacks a candle column the set reads (say
    taker_buy_volume on a Yahoo chart), before anything is written."""
    wanted = [c for c in OPTIONAL_COLUMNS if c in features.candle_columns()]
    if not wanted:
        return
    rows = conn.execute(QUERIES["chart_columns"], {"chart_ids": [c.id for c in charts]}).fetchall()
    has = {int(row[0]): dict(zip(OPTIONAL_COLUMNS, row[1:], strict=True)) for row in rows}
    for chart in charts:
        lacking = [c for c in wanted if not has.get(chart.id, {}).get(c, False)]
        if lacking:
            readers = _readers(features, lacking)
            raise InvalidFeature(
                f"feature set {features.name!r}: chart {chart.id} ({chart.symbol} "
                f"{chart.timeframe} {chart.source}) has no {', '.join(lacking)}, which "
                f"{', '.join(readers)} read(s); build the set for other charts, or drop "
                "those features"
            )


def _readers(features: FeatureSet, columns: Collection[str]) -> list[str]:
    return [f.name for f in features.features if f.names & set(columns)]


def read_start(conn: Connection, chart_id: int, start: datetime, history: int) -> datetime:
    """The first bar a build from `start` must read: `history` bars before it."""
    if history == 0:
        return start
    params = {"chart_id": chart_id, "start": start, "history": history}
    row = conn.execute(QUERIES["read_start"], params).fetchone()
    return row[0] if row else start


def chart_bars(
    conn: Connection, chart: Chart, features: FeatureSet, start: datetime = EARLIEST
) -> ChartBars:
    """The chart's bars from `start` on, with the columns the set reads, and its longer charts."""
    time, columns = _packed(conn, chart.id, start, column_names(features))
    longer = {tf.name: _longer(conn, chart, tf, features) for tf in features.longer_timeframes}
    return ChartBars(time, columns, Timeframe.parse(chart.timeframe), chart.timezone,
                     chart.calendar, longer)  # fmt: skip


def _packed(
    conn: Connection, chart_id: int, start: datetime, names: Sequence[str]
) -> tuple[Times, dict[str, Floats]]:
    query = sql.SQL(QUERIES["packed_bars"]).format(columns=packed_terms(names))
    with conn.cursor(binary=True) as cursor:
        count, packed = cursor.execute(
            query, {"chart_id": chart_id, "start": start}
        ).fetchone() or (0, None)
    time, columns = unpacked(packed or b"", names)
    assert len(time) == count, f"chart {chart_id}: {count} bars counted, {len(time)} packed"
    return time, columns


def packed_terms(names: Sequence[str]) -> sql.Composable:
    """One bar's packing after its time: `float8send(coalesce(column, 'NaN'))` for each
    column, so a bar lacking an optional value still packs (as NaN) and none is skipped."""
    return sql.SQL(" || ").join(
        sql.SQL("float8send(coalesce({}::float8, 'NaN'))").format(sql.Identifier(name))
        for name in names
    )


def unpacked(packed: bytes, names: Sequence[str]) -> tuple[Times, dict[str, Floats]]:
    """Bars packed as `packed_bars` packs them: their opens and columns, oldest first."""
    layout = np.dtype([("time", ">i8")] + [(name, ">f8") for name in names])
    rows = np.frombuffer(packed, dtype=layout)
    time = POSTGRES_EPOCH + rows["time"].astype(np.int64).astype("timedelta64[us]")
    return time, {name: rows[name].astype(np.float64) for name in names}


def column_names(features: FeatureSet) -> tuple[str, ...]:
    """The candle columns a build of the set reads: the prices and the optional ones it uses."""
    read = features.candle_columns()
    return (*PRICE_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in read))


def longer_chart_id(conn: Connection, chart: Chart, timeframe: Timeframe) -> int:
    """The chart of the same symbol at `timeframe`, or an error saying how to make one."""
    row = conn.execute(
        QUERIES["longer_chart"], {"chart_id": chart.id, "timeframe": timeframe.name}
    ).fetchone()
    if row is None:
        raise InvalidFeature(
            f"chart {chart.id} ({chart.symbol} {chart.timeframe}) has no {timeframe.name} chart "
            f"of the same symbol for its {timeframe.name} features; make one with "
            f"`candlelab resample {chart.id} --to {timeframe.name}`"
        )
    return int(row[0])


def _longer(
    conn: Connection, chart: Chart, timeframe: Timeframe, features: FeatureSet
) -> ChartBars:
    longer = chart_by_id(conn, longer_chart_id(conn, chart, timeframe))
    if Timeframe.parse(longer.timeframe).shortest <= Timeframe.parse(chart.timeframe).shortest:
        raise InvalidFeature(f"a {timeframe.name} feature on a {chart.timeframe} chart: the "
                             "timeframe must be longer than the chart's")  # fmt: skip
    time, columns = _packed(conn, longer.id, EARLIEST, column_names(features))
    return ChartBars(time, columns, timeframe, longer.timezone, longer.calendar)
