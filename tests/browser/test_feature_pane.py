"""Feature values in the chart view, in a real browser: a moving average over the candles,
an oscillator in a pane of its own, each bar's value the stored one, loaded with the
candles as the user scrolls."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Page, expect

from candlelab.features.definitions import bundled_feature_set, feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.registry import StoredSet
from candlelab.features.windows import feature_window
from candlelab.market.ingest import IngestOptions
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.browser.conftest import Watched
from tests.browser.test_annotator import ready
from tests.fixtures.charts import stored_chart

DRAWN = "() => window.candlelab.features.drawn()"
LATEST = datetime.max.replace(tzinfo=UTC)
SMALL = feature_set({"name": "small", "features": [
    {"name": "rsi_14", "talib": "RSI", "timeperiod": 14},
    {"name": "ema_20", "talib": "EMA", "timeperiod": 20},
    {"name": "mean_10", "expr": "mean(close, 10)"},  # in price units: over the candles
    {"name": "ret_1", "expr": "close / ref(close, 1) - 1"},  # not: in a pane below
]})  # fmt: skip


def pick(page: Page, *columns: str) -> None:
    for name in columns:
        page.locator(f"#feature-list input[value={name}]").check()
    page.wait_for_function(
        "names => names.every(n => (window.candlelab.features.drawn()[n] || {values: []})"
        ".values.length > 0)", arg=list(columns), timeout=10_000)  # fmt: skip


def stored_values(conn: Connection, stored: StoredSet, chart_id: int, name: str) -> list[Any]:
    """[time in epoch seconds, value] of every bar with a value, as the page draws them."""
    conn.commit()
    window = feature_window(conn, stored, chart_id, [name], start=None, end=LATEST, count=10**6)
    seconds = window.time.astype("M8[s]").astype(np.int64)
    values = window.columns[name]
    return [[int(t), float(v)] for t, v in zip(seconds, values, strict=True) if not np.isnan(v)]


def test_an_oscillator_is_drawn_under_the_candles_and_a_moving_average_over_them(
    watched: Watched, site: str, demo_chart: int, conn: Connection, tmp_path: Path
) -> None:
    conn.commit()
    stored = build_features(conn, bundled_feature_set("core"), [demo_chart]).feature_set
    page = watched.page
    page.goto(f"{site}/charts/{demo_chart}")
    ready(page)
    expect(page.locator("#feature-set")).to_have_value(stored.label)
    expect(page.locator("#feature-note")).to_contain_text("721 bars built")
    pick(page, "rsi_14", "ema_20", "macd_hist")
    drawn = page.evaluate(DRAWN)
    assert {name: d["pane"] for name, d in drawn.items()} == {
        "ema_20": 0, "rsi_14": 2, "macd_hist": 3  # on the price; each under it on its own
    }  # fmt: skip
    for name in ("rsi_14", "ema_20", "macd_hist"):
        assert drawn[name]["values"] == stored_values(conn, stored, demo_chart, name), name
    assert len(drawn["rsi_14"]["values"]) == 721 - 14  # the warm-up drawn as no value
    page.screenshot(path=tmp_path / "feature-pane.png")  # docs/images/feature-pane.png

    page.locator("#feature-list input[value=macd_hist]").uncheck()
    page.wait_for_function("() => Object.keys(window.candlelab.features.drawn()).length === 2")
    conn.commit()  # stored_values read in a transaction
    small = build_features(conn, SMALL, [demo_chart]).feature_set
    page.reload()  # the choice is remembered, and its values come with the first candles
    ready(page)
    drawn = page.evaluate(DRAWN)
    assert {name: d["pane"] for name, d in drawn.items()} == {"rsi_14": 2, "ema_20": 0}
    assert drawn["rsi_14"]["values"] == stored_values(conn, stored, demo_chart, "rsi_14")

    page.locator("#feature-set").select_option(small.label)  # the columns it has stay picked
    page.wait_for_function("() => window.candlelab.features.set.label === 'small@1'")
    pick(page, "rsi_14", "ema_20")
    drawn = page.evaluate(DRAWN)
    assert drawn["ema_20"]["values"] == stored_values(conn, small, demo_chart, "ema_20")
    assert watched.errors == []


def test_feature_values_come_with_each_piece_of_candles_as_the_user_scrolls_back(
    watched: Watched, site: str, conn: Connection
) -> None:
    hours = np.datetime64("2024-01-01T00:00") + np.arange(7000) * np.timedelta64(1, "h")
    chart_id = stored_chart(conn, [str(t) for t in hours], IngestOptions("LONG", Timeframe(1, "h")))
    conn.commit()
    stored = build_features(conn, SMALL, [chart_id]).feature_set
    page = watched.page
    page.goto(f"{site}/charts/{chart_id}")
    ready(page)
    pick(page, "rsi_14")
    assert len(page.evaluate(DRAWN)["rsi_14"]["values"]) == 3000  # the newest piece's bars
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
    for _ in range(40):  # pan left until the next piece has come
        page.mouse.wheel(-600, 0)
        if page.evaluate("() => window.candlelab.bars.points.length") > 3000:
            break
    page.wait_for_function("() => window.candlelab.bars.points.length === 6000", timeout=10_000)
    page.wait_for_function("() => !window.candlelab.state.loading")
    values = page.evaluate(DRAWN)["rsi_14"]["values"]
    assert values == stored_values(conn, stored, chart_id, "rsi_14")[-6000:]
    assert all(b[0] - a[0] == 3600 for a, b in itertools.pairwise(values))  # no seam
    # Columns picked now are fetched for all the bars held; expressions placed by value.
    pick(page, "mean_10", "ret_1")
    drawn = page.evaluate(DRAWN)
    assert {name: d["pane"] for name, d in drawn.items()} == {
        "rsi_14": 2, "mean_10": 0, "ret_1": 3
    }  # fmt: skip
    for name in ("mean_10", "ret_1"):
        assert drawn[name]["values"] == stored_values(conn, stored, chart_id, name)[-6000:]
    expect(page.locator("#status")).not_to_contain_text("features:")
    assert watched.errors == []
