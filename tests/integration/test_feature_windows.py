"""Feature values by window for the chart view: read from the blocks as the candle windows
are, served beside them, refused clearly."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from candlelab.errors import InvalidFeature
from candlelab.features.definitions import bundled_feature_set, feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import read_features
from candlelab.features.registry import StoredSet, stored_set
from candlelab.features.windows import FeatureValues, feature_window, scales
from candlelab.market.candles import window
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.web.windows import decode
from tests.fixtures.quality_cases import START, clean_bars

LATEST = datetime.max.replace(tzinfo=UTC)
SMALL = feature_set({"name": "small", "features": [
    {"name": "rsi_14", "talib": "RSI", "timeperiod": 14},
    {"name": "ema_20", "talib": "EMA", "timeperiod": 20},
    {"name": "ret_1", "expr": "close / ref(close, 1) - 1"},
]})  # fmt: skip


def decoded(answer: dict[str, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """A feature window's time and columns as NumPy arrays, as the browser decodes them."""
    texts = {"time": answer["time"]} | answer["columns"]
    return {name: np.frombuffer(base64.b64decode(t), "<f8") for name, t in texts.items()}


def opened(i: int) -> datetime:
    """Bar i's open in clean_bars' charts (hourly from START)."""
    return datetime.fromisoformat(str(START)).replace(tzinfo=UTC) + timedelta(hours=i)


@pytest.fixture
def core_built(conn: Connection, stored: int) -> StoredSet:
    """The core set built on the stored chart (900 hourly bars)."""
    conn.commit()
    return build_features(conn, bundled_feature_set("core"), [stored]).feature_set


def test_a_window_holds_the_stored_values_of_the_candle_windows_bars(
    client: TestClient, database_url: str, stored: int, core_built: StoredSet
) -> None:
    matrix = read_features(database_url, core_built, [stored])
    rsi, ema = (matrix.values[:, core_built.columns.index(n)] for n in ("rsi_14", "ema_20"))
    asks: list[dict[str, Any]] = [
        {"limit": 500},  # the newest 500, as the page opens
        {"end": opened(300).isoformat(), "limit": 100},  # a scroll to the left
        {"start": opened(24).isoformat(), "end": opened(34).isoformat()},
        {"start": opened(850).isoformat(), "limit": 3000},  # a scroll to the right
    ]
    for ask in asks:
        answer = client.get(f"/api/charts/{stored}/features",
                            params={"set": "core", "columns": "rsi_14,ema_20", **ask})  # fmt: skip
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["feature_set"] == core_built.label
        assert body["stale_from"] is None
        got = decoded(body)
        candles = decode(client.get(f"/api/charts/{stored}/candles", params=ask).json())
        assert np.array_equal(got["time"], candles["time"]), ask  # the same bars
        at = np.searchsorted(matrix.time, got["time"].astype("M8[s]").astype("M8[us]"))
        np.testing.assert_array_equal(got["rsi_14"], rsi[at])  # NaN warm-up included
        np.testing.assert_array_equal(got["ema_20"], ema[at])
        assert list(body["columns"]) == ["rsi_14", "ema_20"]
    assert not np.isnan(got["rsi_14"]).any()  # the last ask's bars: all warmed up
    first = client.get(
        f"/api/charts/{stored}/features",
        params={"set": "core", "columns": "rsi_14", "end": opened(20)},
    )
    rsi_first = decoded(first.json())["rsi_14"]  # the first 20 bars: 14 of warm-up, as NaN
    assert np.isnan(rsi_first[:14]).all()
    assert not np.isnan(rsi_first[14:]).any()


def test_the_sets_built_on_a_chart_are_listed_with_where_each_column_is_drawn(
    client: TestClient, conn: Connection, stored: int, core_built: StoredSet
) -> None:
    build_features(conn, SMALL, [stored])
    listed = client.get(f"/api/charts/{stored}/feature-sets").json()
    assert [(s["label"], s["newest"], s["bars"]) for s in listed] == [
        (core_built.label, True, 900),
        ("small@1", True, 900),
    ]
    drawn = {c["name"]: c["scale"] for c in listed[0]["columns"]}
    assert [c["name"] for c in listed[0]["columns"]] == list(core_built.columns)
    assert {n: drawn[n] for n in ("ema_20", "bb_upper", "bb_middle", "bb_lower")} == dict.fromkeys(
        ("ema_20", "bb_upper", "bb_middle", "bb_lower"), "price"
    )
    own = ("rsi_14", "macd_hist", "atr_14", "obv", "cdl_doji", "hour", "minutes_to_close")
    assert {drawn[n] for n in own} == {"own"}
    assert {drawn[n] for n in ("ret_1", "close_ema_20", "bb_width")} == {"auto"}
    assert client.get("/api/charts/999/feature-sets").status_code == 404


def test_a_moving_average_of_volume_or_of_an_oscillator_is_not_drawn_on_the_price() -> None:
    features = feature_set({"name": "mixed", "features": [
        {"name": "vol_ema", "talib": "EMA", "timeperiod": 10, "input": "volume"},
        {"name": "rsi", "talib": "RSI", "timeperiod": 14},
        {"name": "rsi_sma", "talib": "SMA", "timeperiod": 5, "input": "rsi"},
        {"name": "mid", "talib": "MIDPRICE", "timeperiod": 5},
        {"name": "mid_ema", "talib": "EMA", "timeperiod": 3, "input": "mid"},
    ]})  # fmt: skip
    as_stored = StoredSet(1, "mixed", 1, "", features.columns, features.definition(),
                          datetime.now(UTC))  # fmt: skip
    assert scales(as_stored) == {"vol_ema": "own", "rsi": "own", "rsi_sma": "own",
                                 "mid": "price", "mid_ema": "price"}  # fmt: skip


def test_unknown_sets_columns_and_unbuilt_charts_are_refused_clearly(
    client: TestClient, conn: Connection, stored: int, core_built: StoredSet
) -> None:
    url = f"/api/charts/{stored}/features"
    for name in ("nope", "core-24.7"):  # a set's name may hold - and .
        unknown_set = client.get(url, params={"set": name, "columns": "rsi_14"})
        assert unknown_set.status_code == 404
        assert f"feature set {name!r} is not stored" in unknown_set.json()["detail"]
    register_only = build_features(conn, SMALL, []).feature_set  # stored, built nowhere
    unbuilt = client.get(url, params={"set": "small", "columns": "rsi_14"})
    assert unbuilt.status_code == 404
    assert unbuilt.json()["detail"] == (
        f"feature set {register_only.label} is not built on chart {stored}: "
        f"`candlelab features build small --chart {stored}` builds it"
    )
    column = client.get(url, params={"set": "core", "columns": "rsi_14,rsi_15"})
    assert column.status_code == 422
    [error] = column.json()["detail"]
    assert error["loc"] == ["query", "columns"]
    assert error["msg"] == (f"feature set {core_built.label} has no column 'rsi_15'; "
                            "closest: rsi_14, rsi_6, rsi_24")  # fmt: skip
    no_chart = client.get("/api/charts/999/features", params={"set": "core", "columns": "obv"})
    assert (no_chart.status_code, no_chart.json()["detail"]) == (404, "chart 999 does not exist")
    for bad in ({"set": "core", "columns": "RSI_14"}, {"set": "core; drop", "columns": "obv"},
                {"set": "core", "columns": "a" * 10_000}, {"set": "core"},
                {"set": "core", "columns": ",".join(f"c{i}" for i in range(65))}):  # fmt: skip
        answer = client.get(url, params=bad)
        assert answer.status_code == 422, bad
        assert len(answer.text) < 1000  # no value sent comes back whole


def test_a_window_is_cut_from_the_blocks_that_hold_it_however_they_lie(
    conn: Connection,
) -> None:
    """5,000 bars built at once (blocks of 2,048), a bar corrected at 3,000 (a block cut
    short there), then 16 bars one by one and 3 at a time (short blocks at the end,
    merged once many): every window equals the same cut of the whole by the candle
    window's rules."""
    bars = clean_bars(4, 5100)
    options = IngestOptions("ETHUSDT", Timeframe(1, "h"))
    ingest_frame(conn, bars.slice(0, 5000).to_frame(), options)
    conn.commit()
    chart_id = int(conn.execute("SELECT id FROM charts").fetchone()[0])  # type: ignore[index]
    conn.commit()
    build_features(conn, SMALL, [chart_id])
    conn.execute("UPDATE candles SET volume = volume + 1 WHERE time = %s", (opened(3000),))
    conn.commit()
    build_features(conn, SMALL, [chart_id])
    for stop in itertools.chain(range(5001, 5017), range(5019, 5100, 3)):
        ingest_frame(conn, bars.slice(0, stop).to_frame(), options)
        conn.commit()
        build_features(conn, SMALL, [chart_id])
    stored = stored_set(conn, "small")
    blocks = [r[0] for r in conn.execute("SELECT bars FROM feature_blocks ORDER BY first_time")]
    # Full, cut at the corrected bar, rebuilt from it, and the increments' short blocks
    # merged into one (they never hold more than twice the bars after the block before).
    assert blocks == [2048, 952, 2000, 97]
    whole = feature_window(conn, stored, chart_id, stored.columns, start=None, end=LATEST,
                           count=10**6)  # fmt: skip
    assert len(whole) == 5097
    rng = np.random.default_rng(5)
    edges = [0, 1, 2047, 2048, 2049, 2999, 3000, 3001, 4999, 5000, 5001, 5096, 5097]
    for _ in range(150):
        start, end = (int(i) for i in rng.choice(edges + list(rng.integers(0, 5098, 4)), 2))
        count = int(rng.choice([1, 3, 100, 2048, 3000, 6000]))
        from_start = bool(rng.integers(2))
        expected = window(conn, chart_id, opened(start) if from_start else None, opened(end),
                          count)  # fmt: skip
        got = feature_window(conn, stored, chart_id, ["ema_20", "ret_1"], end=opened(end),
                             start=opened(start) if from_start else None, count=count)  # fmt: skip
        assert np.array_equal(got.time, expected["time"]), (start, end, count, from_start)
        at = np.searchsorted(whole.time, got.time)
        assert_same(got, whole, at)


def assert_same(got: FeatureValues, whole: FeatureValues, at: np.ndarray[Any, Any]) -> None:
    assert list(got.columns) == ["ema_20", "ret_1"]
    for name, values in got.columns.items():
        np.testing.assert_array_equal(values, whole.columns[name][at], err_msg=name)
        assert values.flags["C_CONTIGUOUS"]


def test_a_column_not_in_the_set_is_named_with_the_closest(conn: Connection, stored: int) -> None:
    conn.commit()
    built = build_features(conn, SMALL, [stored]).feature_set
    with pytest.raises(InvalidFeature, match=r"^feature set small@1 has no column 'ema_2'; "
                       r"closest: ema_20$"):  # fmt: skip
        feature_window(conn, built, stored, ["rsi_14", "ema_2"], start=None, end=LATEST, count=9)
    with pytest.raises(InvalidFeature, match=r"has no column 'zzz'; `candlelab features show`"):
        feature_window(conn, built, stored, ["zzz"], start=None, end=LATEST, count=9)


def test_a_window_after_a_correction_says_from_where_its_values_are_stale(
    client: TestClient, conn: Connection, stored: int, core_built: StoredSet
) -> None:
    conn.execute("UPDATE candles SET close = close * 1.0001, high = high * 1.0001 "
                 "WHERE chart_id = %s AND time = %s", (stored, opened(800)))  # fmt: skip
    conn.commit()
    body = client.get(f"/api/charts/{stored}/features",
                      params={"set": "core", "columns": "ema_20"}).json()  # fmt: skip
    assert datetime.fromisoformat(body["stale_from"]) == opened(800)
    assert body["count"] == 900
