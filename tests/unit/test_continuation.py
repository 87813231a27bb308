"""Continuing charts from their stored values and states gives a full computation's values."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.features.computation import ChartBars, computed, matrix
from candlelab.features.continuation import (
    Batch,
    continuable,
    continue_batch,
    final_state,
    window,
)
from candlelab.features.definitions import FeatureSet, bundled_feature_set, feature_set
from candlelab.market.timeframes import Timeframe
from tests.fixtures.feature_checks import assert_close
from tests.fixtures.quality_cases import clean_bars

HOURLY = Timeframe(1, "h")


def chart(seed: int, size: int, scale: float = 1.0) -> ChartBars:
    bars = clean_bars(seed, size)
    columns = {"open": bars.open * scale, "high": bars.high * scale, "low": bars.low * scale,
               "close": bars.close * scale, "volume": bars.volume}  # fmt: skip
    return ChartBars(bars.time, columns, HOURLY)


def head(bars: ChartBars, size: int) -> ChartBars:
    return ChartBars(bars.time[:size], {k: v[:size] for k, v in bars.columns.items()}, HOURLY)


def continued(features: FeatureSet, charts: list[ChartBars], built: int) -> np.ndarray:
    """Build each chart up to bar `built`, then continue them together to their end."""
    read = min(window(features), built)
    states, stored = [], []
    for bars in charts:
        values = computed(features, head(bars, built))
        state = final_state(features, values)
        assert state is not None
        states.append(state)
        stored.append(matrix(features, values)[built - read :])
    columns = {
        k: np.stack([b.columns[k][built - read :] for b in charts]) for k in charts[0].columns
    }
    batch = Batch(
        time=np.stack([b.time[built - read :] for b in charts]),
        columns=columns,
        stored=np.stack(stored),
        state=np.stack(states),
        timeframe=HOURLY,
    )
    vectors, _ = continue_batch(features, batch)
    return vectors


WINDOWED = feature_set({"name": "windowed", "features": [
    {"name": "ret_1", "expr": "close / ref(close, 1) - 1"},
    {"name": "std_20", "expr": "std(ret_1, 20)"},
    {"name": "cci", "talib": "CCI", "timeperiod": 14},
    {"name": "obv", "talib": "OBV"},
    {"name": "obv_slope", "expr": "slope(obv, 5) / mean(volume, 5)"},
    {"name": "hour", "calendar": "hour"},
]})  # fmt: skip


CORE = bundled_feature_set("core")


@pytest.mark.parametrize(
    ("features", "built"),
    [(WINDOWED, 1), (WINDOWED, 30), (CORE, 40), (CORE, 500), (CORE, 1500)],
    ids=["windowed-1", "windowed-30", "core-40", "core-500", "core-1500"],
)
def test_charts_continued_together_equal_a_full_computation(
    features: FeatureSet, built: int
) -> None:
    """Three charts at prices 100, 50,000 and 1, continued from bar `built` to the end."""
    assert continuable(features)
    charts = [chart(1, 1600), chart(2, 1600, scale=500.0), chart(3, 1600, scale=0.01)]
    got = continued(features, charts, built)
    expected = np.stack([matrix(features, computed(features, c))[built:] for c in charts])
    assert_close(got, expected, features.columns)


def test_one_bar_at_a_time_stays_equal_to_a_full_computation() -> None:
    bars = chart(4, 700)
    values = computed(CORE, head(bars, 600))
    state, stored = final_state(CORE, values), matrix(CORE, values)
    read = window(CORE)
    for end in range(601, 701):
        assert state is not None
        batch = Batch(
            time=bars.time[None, end - 1 - read : end],
            columns={k: v[None, end - 1 - read : end] for k, v in bars.columns.items()},
            stored=stored[None, -read:],
            state=state[None],
            timeframe=HOURLY,
        )
        vectors, states = continue_batch(CORE, batch)
        stored, state = np.concatenate([stored, vectors[0]]), states[0]
    assert_close(stored, matrix(CORE, computed(CORE, bars)), CORE.columns)


def test_too_few_bars_carry_no_state() -> None:
    assert final_state(CORE, computed(CORE, head(chart(5, 100), 20))) is None


def test_a_set_with_a_longer_timeframe_feature_is_not_continued() -> None:
    daily = feature_set({"name": "d", "features": [
        {"name": "rsi_d", "talib": "RSI", "timeperiod": 14, "timeframe": "1d"}]})  # fmt: skip
    assert not continuable(daily)


def test_the_window_is_the_widest_a_feature_reads_of_its_inputs() -> None:
    assert window(WINDOWED) == 19  # std over 20 returns: the return itself is stored
    core = bundled_feature_set("core")
    assert window(core) == 60  # ret_60 reads close 60 bars back
