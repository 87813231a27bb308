"""A feature set's warm-up on a chart: the first bars, on which a feature has no value yet.

A feature's warm-up is a count of bars (`computation.feature_warmups`): TA-Lib's
lookback and the expression windows, after those of the features it reads; the set's
is the longest. Bar i of a chart (0 = its first bar) is inside the warm-up when
i < the set's warm-up, and a column is still warming up there when i < its own. A
longer-timeframe feature (and any feature reading one) also waits on the longer chart:
until the close of that chart's first bar past the feature's warm-up there
(`computation.longer_warmups`), counted in its own bars.

Past the warm-up a column may still be NaN, by definition or by the data: a calendar
feature on a bar outside every session or on a 24/7 chart (`minutes_to_close`), a ratio
over a zero volume, an indicator after a missing input. That is not warm-up: training
keeps such rows (LightGBM reads NaN as a missing value, and learns where it goes), so
serving predicts on them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from candlelab.features.bars import longer_chart_id
from candlelab.features.blocks import datetime64
from candlelab.features.computation import feature_warmups, longer_warmups
from candlelab.features.definitions import FeatureSet
from candlelab.market.calendars import bar_ends
from candlelab.market.charts import Chart, chart
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
NOT_YET = np.datetime64("NaT", "us")
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class Warmups:
    """Each column's warm-up: bars of its own chart, and bars of each longer chart it
    waits on (by timeframe)."""

    bars: dict[str, int]
    longer: dict[str, dict[str, int]]

    @property
    def most(self) -> int:
        """The set's warm-up on its own chart: its longest column's."""
        return max(self.bars.values(), default=0)

    @property
    def longer_most(self) -> dict[str, int]:
        """The set's warm-up on each longer chart it reads."""
        most: dict[str, int] = {}
        for timeframe, bars in (item for each in self.longer.values() for item in each.items()):
            most[timeframe] = max(most.get(timeframe, 0), bars)
        return most

    def still_warming(self, index: int, warm_longer: frozenset[str] = frozenset()) -> list[str]:
        """The columns with no value yet at bar `index` of a chart, in column order, when
        the longer charts of `warm_longer` are past their warm-up."""
        return [name for name, bars in self.bars.items()
                if index < bars or not warm_longer.issuperset(self.longer[name])]  # fmt: skip


def warmups(features: FeatureSet) -> Warmups:
    """Each column's warm-up, in the set's column order."""
    bars, longer = feature_warmups(features), longer_warmups(features)
    return Warmups({n: bars[n] for n in features.columns}, {n: longer[n] for n in features.columns})


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


def longer_warm(conn: Connection, of: Chart, longer: dict[str, int]) -> dict[str, np.datetime64]:
    """Per longer timeframe, the close of that chart's first bar past its warm-up there
    (NaT: none yet): from a bar of `of` closing then on, the features waiting on it have
    their value."""
    closes: dict[str, np.datetime64] = {}
    for name, bars in longer.items():
        longer_id = longer_chart_id(conn, of, Timeframe.parse(name))
        opened = warm_from(conn, [longer_id], bars)[longer_id]
        closes[name] = opened if np.isnat(opened) else closes_of(chart(conn, longer_id), opened)
    return closes


def closes_of(of: Chart, opens: np.datetime64) -> np.datetime64:
    """When the chart's bar opening at `opens` closes."""
    return bar_closes(of, np.array([opens], dtype="datetime64[us]"))[0]  # type: ignore[no-any-return]


def bar_closes(of: Chart, opens: Times) -> Times:
    """When each of the chart's bars opening at `opens` closes."""
    return bar_ends(Timeframe.parse(of.timeframe), of.timezone, opens)
