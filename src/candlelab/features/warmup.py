"""A feature set's warm-up on a chart: the first bars, on which a feature has no value yet.

A feature's warm-up is a count of bars (`computation.feature_warmups`): TA-Lib's
lookback and the expression windows, after those of the features it reads; the set's
is the longest. Bar i of a chart (0 = its first bar) is inside the warm-up when
i < the set's warm-up, and a column is still warming up there when i < its own.

Past the warm-up a column may still be NaN, by definition or by the data: a calendar
feature on a bar outside every session or on a 24/7 chart (`minutes_to_close`), a ratio
over a zero volume, an indicator after a missing input. That is not warm-up: training
keeps such rows (LightGBM reads NaN as a missing value, and learns where it goes), so
serving predicts on them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from candlelab.features.blocks import datetime64
from candlelab.features.computation import feature_warmups
from candlelab.features.definitions import FeatureSet
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
NOT_YET = np.datetime64("NaT", "us")


def set_warmup(warmups: dict[str, int]) -> int:
    """The set's warm-up: its longest feature's, from `feature_warmups`."""
    return max(warmups.values(), default=0)


def warmups(features: FeatureSet) -> dict[str, int]:
    """Each column's warm-up, in the set's column order."""
    every = feature_warmups(features)
    return {name: every[name] for name in features.columns}


def still_warming(warmups: dict[str, int], index: int) -> list[str]:
    """The columns with no value yet at bar `index` of a chart, in column order."""
    return [name for name, bars in warmups.items() if index < bars]


def bar_index(conn: Connection, chart_id: int, bar: datetime, most: int) -> int:
    """The bar's index on its chart (the bars before it), counted up to `most`."""
    params = {"chart_id": chart_id, "time": bar, "most": most}
    row = conn.execute(QUERIES["bars_before"], params).fetchone()
    return int(row[0]) if row else 0


def warm_from(conn: Connection, chart_ids: Sequence[int], warmup: int) -> dict[int, np.datetime64]:
    """Per chart, the open of its first bar past a warm-up of `warmup` bars (datetime64[us],
    UTC); NaT when the chart has no bar past it."""
    params = {"chart_ids": list(chart_ids), "bars": warmup}
    rows = conn.execute(QUERIES["warm_from"], params)
    return {int(chart_id): NOT_YET if time is None else datetime64(time) for chart_id, time in rows}
