"""The feature store on a real server: builds, increments, corrected history, reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from candlelab.errors import InvalidFeature, NotFound
from candlelab.features import continuation, increments
from candlelab.features.bars import chart_bars
from candlelab.features.blocks import MAX_TAIL
from candlelab.features.computation import ChartBars, compute, history
from candlelab.features.continuation import window
from candlelab.features.definitions import FeatureSet, bundled_feature_set, feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import (
    block_candles,
    features_as_of,
    latest_vector,
    read_features,
)
from candlelab.features.recomputation import newest_vector, recompute_features
from candlelab.features.registry import register, stored_set
from candlelab.market.candles import Bars, OnConflict, packed_candles
from candlelab.market.charts import chart
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.resampling import derive_chart
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.fixtures.feature_checks import assert_close
from tests.fixtures.quality_cases import clean_bars

BARS = 1200
HOURLY = IngestOptions("BTCUSDT", Timeframe(1, "h"))


def store(
    conn: Connection, bars: Bars, options: IngestOptions = HOURLY, on_conflict: OnConflict = "skip"
) -> int:
    report = ingest_frame(
        conn,
        bars.to_frame(),
        IngestOptions(options.symbol, options.timeframe, on_conflict=on_conflict),
    )
    conn.commit()
    assert report.loaded or report.unchanged or report.updated, report
    row = conn.execute("SELECT id FROM charts WHERE symbol = %s", (options.symbol,)).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def opened(bars: Bars, i: int) -> datetime:
    """Bar i's open as an aware datetime."""
    return datetime.fromisoformat(str(bars.time[i])).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def core() -> FeatureSet:
    return bundled_feature_set("core")


def full_values(conn: Connection, features: FeatureSet, chart_id: int) -> np.ndarray:
    """What a computation on the whole chart in memory gives (read in a transaction of
    its own, so that a build may follow)."""
    with conn.transaction():
        bars = chart_bars(conn, chart(conn, chart_id), features)
    return compute(features, bars)


def test_a_build_stores_what_the_computation_in_memory_gives(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    chart_id = store(conn, clean_bars(1, BARS))
    report = build_features(conn, core, [chart_id])
    assert report.bars_written == BARS
    matrix = read_features(database_url, report.feature_set, [chart_id], with_candles=True)
    assert matrix.columns == core.columns
    assert matrix.values.shape == (BARS, len(core.columns))
    np.testing.assert_array_equal(matrix.values, full_values(conn, core, chart_id))
    assert matrix.candles is not None
    np.testing.assert_array_equal(matrix.candles["close"], clean_bars(1, BARS).close)
    # Warm-up bars are NaN and counted, never zeros.
    build = conn.execute("SELECT warmup, bars FROM feature_builds").fetchone()
    assert build is not None
    assert build[1] == BARS
    assert build[0] == np.isnan(matrix.values).sum(axis=0).tolist()
    assert build[0][core.columns.index("ret_60")] == 60


def test_candles_read_beside_the_values_are_those_of_the_built_bars(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(4, 400)
    first = store(conn, bars.slice(0, 300))
    stored = build_features(conn, core, [first]).feature_set
    store(conn, bars.slice(300, 400))  # newer bars, not built yet: more candles than values
    second = store(conn, clean_bars(5, 300), IngestOptions("ETHUSDT", Timeframe(1, "h")))
    build_features(conn, core, [second])
    matrix = read_features(database_url, stored, [first, second], with_candles=True)
    assert matrix.candles is not None
    assert len(matrix) == 600
    np.testing.assert_array_equal(matrix.candles["close"][:300], bars.close[:300])
    np.testing.assert_array_equal(matrix.candles["close"][300:], clean_bars(5, 300).close)
    np.testing.assert_array_equal(matrix.candles["time"], matrix.time)


def test_an_incremental_build_equals_a_full_rebuild_for_every_column(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(2, BARS)
    chart_id = store(conn, bars.slice(0, 900))
    build_features(conn, core, [chart_id])
    for stop in (901, 960, BARS):  # one new bar, then some, then the rest
        store(conn, bars.slice(0, stop))
        report = build_features(conn, core, [chart_id])
        # Continued: the widest window a feature reads, and the new bars; no more.
        assert report.charts[0].bars_read == window(core) + report.charts[0].bars_written
    stored = read_features(database_url, report.feature_set, [chart_id]).values
    assert_close(stored, full_values(conn, core, chart_id), core.columns)
    again = build_features(conn, core, [chart_id])
    assert again.bars_written == 0
    assert again.charts[0].computed_from is None


# Windows, expressions over features, a cumulative function anchored on its stored
# value and the calendar: every kind an increment continues without a carried state.
WINDOWED = feature_set({"name": "windowed", "features": [
    {"name": "ret_1", "expr": "close / ref(close, 1) - 1"},
    {"name": "std_20", "expr": "std(ret_1, 20)"},
    {"name": "sma_10", "talib": "SMA", "timeperiod": 10},
    {"name": "cci", "talib": "CCI", "timeperiod": 14},
    {"name": "obv", "talib": "OBV"},
    {"name": "obv_slope", "expr": "slope(obv, 5) / mean(volume, 5)"},
    {"name": "hour", "calendar": "hour"},
]})  # fmt: skip


def test_charts_that_gained_bars_are_continued_together_from_their_stored_values(
    conn: Connection, database_url: str
) -> None:
    whole = [clean_bars(20 + i, 400) for i in range(3)]
    ids = [store(conn, bars.slice(0, 300), IngestOptions(f"C{i}", Timeframe(1, "h")))
           for i, bars in enumerate(whole)]  # fmt: skip
    build_features(conn, WINDOWED, ids)
    for stop in (301, 302, 340, 400):  # one bar, one more, then many
        for i, bars in enumerate(whole):
            store(conn, bars.slice(0, stop), IngestOptions(f"C{i}", Timeframe(1, "h")))
        report = build_features(conn, WINDOWED, ids)
        new = [c.bars_written for c in report.charts]
        assert [c.bars_read for c in report.charts] == [window(WINDOWED) + n for n in new]
    for chart_id in ids:
        stored = read_features(database_url, report.feature_set, [chart_id]).values
        assert_close(stored, full_values(conn, WINDOWED, chart_id), WINDOWED.columns)
    warmup = conn.execute("SELECT warmup FROM feature_builds ORDER BY chart_id").fetchall()
    assert [row[0] for row in warmup] == [np.isnan(stored).sum(axis=0).tolist()] * 3


def test_many_one_bar_increments_merge_their_short_blocks(
    conn: Connection, database_url: str
) -> None:
    bars = clean_bars(25, 120)
    chart_id = store(conn, bars.slice(0, 100))
    build_features(conn, WINDOWED, [chart_id])
    for stop in range(101, 121):  # past MAX_TAIL short blocks: merged on the way
        store(conn, bars.slice(0, stop))
        assert build_features(conn, WINDOWED, [chart_id]).bars_written == 1
    count = conn.execute("SELECT count(*) FROM feature_blocks").fetchone()
    assert count is not None
    assert count[0] <= MAX_TAIL
    stored = read_features(database_url, stored_set(conn, "windowed"), [chart_id]).values
    assert_close(stored, full_values(conn, WINDOWED, chart_id), WINDOWED.columns)


def test_a_merge_rewrites_only_the_short_blocks_and_keeps_every_value(
    conn: Connection, database_url: str
) -> None:
    bars = clean_bars(26, 140)
    chart_id = store(conn, bars.slice(0, 120))
    stored = build_features(conn, WINDOWED, [chart_id]).feature_set
    for stop in range(121, 121 + MAX_TAIL):  # the last one merges
        before = read_features(database_url, stored, [chart_id]).values
        store(conn, bars.slice(0, stop))
        build_features(conn, WINDOWED, [chart_id])
    sizes = conn.execute("SELECT bars FROM feature_blocks ORDER BY first_time").fetchall()
    # The build's block is left as it was; the one-bar blocks are one block now.
    assert [row[0] for row in sizes] == [120, MAX_TAIL]
    after = read_features(database_url, stored, [chart_id]).values
    np.testing.assert_array_equal(after[: len(before)], before)


def test_every_block_keeps_the_candles_of_its_bars_through_increments_and_corrections(
    conn: Connection, database_url: str
) -> None:
    bars = clean_bars(27, 120)
    chart_id = store(conn, bars.slice(0, 100))
    stored = build_features(conn, WINDOWED, [chart_id]).feature_set
    for stop in range(101, 121):  # one-bar blocks, merged past MAX_TAIL
        store(conn, bars.slice(0, stop))
        build_features(conn, WINDOWED, [chart_id])
    conn.execute("UPDATE candles SET volume = volume + 1 WHERE chart_id = %s AND time = %s",
                 (chart_id, opened(bars, 50)))  # fmt: skip
    conn.commit()
    build_features(conn, WINDOWED, [chart_id])  # the build, stale from bar 50, again
    start, end = opened(bars, 10), opened(bars, 115)  # both inside a block
    found = block_candles(database_url, stored, [chart_id], start, end)
    assert found is not None
    for name, column in packed_candles(database_url, [chart_id], start, end).items():
        np.testing.assert_array_equal(found[name], column)
    assert found["volume"][40] == bars.volume[50] + 1


def test_a_block_without_candles_makes_the_reader_take_the_tables(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(28, 300)
    chart_id = store(conn, bars)
    stored = build_features(conn, core, [chart_id]).feature_set
    conn.execute("UPDATE feature_blocks SET candles = NULL")  # as a build gone stale may
    conn.commit()
    assert block_candles(database_url, stored, [chart_id]) is None
    matrix = read_features(database_url, stored, [chart_id], with_candles=True)
    assert matrix.candles is not None
    np.testing.assert_array_equal(matrix.candles["close"], bars.close)


def _blocks_and_build(conn: Connection) -> list[tuple[Any, ...]]:
    blocks = conn.execute("SELECT first_time, bars, vectors FROM feature_blocks ORDER BY 1")
    build = conn.execute("SELECT last_bar, bars, warmup, state, stale_from FROM feature_builds")
    return [*blocks.fetchall(), *build.fetchall()]


MEANWHILE = {  # what happens to the chart while an increment computes, as psql would
    "a new bar edited": "UPDATE candles SET close = close * 1.01, high = high * 1.01 "
    "WHERE chart_id = %(chart_id)s AND time = %(time)s",
    "the build marked stale": "UPDATE feature_builds SET stale_from = %(time)s",
    "the build moved on": "UPDATE feature_builds SET last_bar = %(time)s, bars = bars + 1",
}


@pytest.mark.parametrize("change", MEANWHILE)
def test_an_increment_whose_read_is_no_longer_current_writes_nothing(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    bars = clean_bars(27, 301)
    chart_id = store(conn, bars.slice(0, 300))
    stored = build_features(conn, WINDOWED, [chart_id]).feature_set
    store(conn, bars)
    compute_batch = continuation.continue_batch
    seen: list[list[tuple[Any, ...]]] = []

    def changed_meanwhile(*args: Any) -> Any:
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute(MEANWHILE[change], {"chart_id": chart_id, "time": opened(bars, 300)})
            seen.append(_blocks_and_build(other))
        return compute_batch(*args)

    monkeypatch.setattr(continuation, "continue_batch", changed_meanwhile)
    whole = chart(conn, chart_id)
    conn.commit()
    written, left = increments.build_increments(conn, stored, WINDOWED, [whole])
    assert (written, left) == ([], [whole])
    assert _blocks_and_build(conn) == seen[0]


def test_an_increment_failing_on_a_chart_keeps_the_charts_written_before_it(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = [clean_bars(30 + i, 301) for i in range(3)]
    options = [IngestOptions(f"C{i}", Timeframe(1, "h")) for i in range(3)]
    ids = [store(conn, bars.slice(0, 300), o) for bars, o in zip(whole, options, strict=True)]
    stored = build_features(conn, WINDOWED, ids).feature_set
    for bars, o in zip(whole, options, strict=True):
        store(conn, bars, o)
    compute_batch = continuation.continue_batch

    def blocked_meanwhile(*args: Any) -> Any:  # a block where the second chart's new one goes
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute(
                "INSERT INTO feature_blocks SELECT feature_set_id, chart_id, %(time)s, "
                "%(time)s, 1, width, substring(times FOR 8), substring(vectors FOR 8 * width), "
                "nans FROM feature_blocks "
                "WHERE chart_id = %(chart_id)s LIMIT 1",
                {"chart_id": ids[1], "time": opened(whole[1], 300)},
            )
        return compute_batch(*args)

    monkeypatch.setattr(continuation, "continue_batch", blocked_meanwhile)
    charts = [chart(conn, i) for i in ids]
    conn.commit()
    with pytest.raises(psycopg.errors.UniqueViolation):
        increments.build_increments(conn, stored, WINDOWED, charts)
    built = conn.execute("SELECT last_bar FROM feature_builds ORDER BY chart_id").fetchall()
    # The first chart is written and committed; the failing one and the next untouched.
    assert [row[0] for row in built] == [opened(whole[0], 300), opened(whole[1], 299),
                                         opened(whole[2], 299)]  # fmt: skip


def test_a_new_bar_changed_while_an_increment_computes_is_built_from_its_new_values(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = clean_bars(23, 301)
    chart_id = store(conn, bars.slice(0, 300))
    build_features(conn, WINDOWED, [chart_id])
    store(conn, bars)
    compute_batch = continuation.continue_batch

    def edited_meanwhile(*args: Any) -> Any:  # as psql would, outside candlelab's locks
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute(
                "UPDATE candles SET close = close * 1.01, high = high * 1.01 "
                "WHERE chart_id = %s AND time = %s",
                (chart_id, opened(bars, 300)),
            )
        return compute_batch(*args)

    monkeypatch.setattr(continuation, "continue_batch", edited_meanwhile)
    report = build_features(conn, WINDOWED, [chart_id])
    assert report.charts[0].bars_read == history(WINDOWED) + 1  # built again, under the lock
    stored = read_features(database_url, report.feature_set, [chart_id]).values
    assert_close(stored, full_values(conn, WINDOWED, chart_id), WINDOWED.columns)


def test_a_recomputation_reading_from_deep_inside_a_block_anchors_on_the_stored_value(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    # A correction to the last bar makes the build read `history` bars before it: the
    # first bar read is bar 639 of the chart's one block, whose vector is cut out at an
    # offset past smallint's range (bar times width overflowed there once).
    bars = clean_bars(5, 1601)
    chart_id = store(conn, bars)
    build_features(conn, core, [chart_id])
    last = bars.slice(1600, 1601)
    store(conn, Bars(last.time, last.open, last.high * 1.01, last.low, last.close * 1.005,
                     last.volume), on_conflict="update")  # fmt: skip
    report = build_features(conn, core, [chart_id])
    assert report.charts[0].bars_read == history(core) + 1
    stored = read_features(database_url, report.feature_set, [chart_id]).values
    assert_close(stored, full_values(conn, core, chart_id), core.columns)


def test_a_corrected_bar_marks_the_build_stale_in_its_own_transaction_and_is_recomputed(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(3, BARS)
    chart_id = store(conn, bars)
    first = build_features(conn, core, [chart_id])
    before = read_features(database_url, first.feature_set, [chart_id]).values
    changed = Bars(
        bars.time, bars.open, bars.high * 1.01, bars.low, bars.close * 1.005, bars.volume
    )
    fixed = changed.slice(700, 701)
    store(conn, Bars(bars.time[700:701], bars.open[700:701], fixed.high, bars.low[700:701],
                     fixed.close, bars.volume[700:701]), on_conflict="update")  # fmt: skip
    stale = conn.execute("SELECT stale_from FROM feature_builds").fetchone()
    conn.rollback()
    assert stale is not None
    assert stale[0] == datetime.fromisoformat(str(bars.time[700])).replace(tzinfo=UTC)
    report = build_features(conn, core, [chart_id])
    assert report.charts[0].computed_from == stale[0]
    after = read_features(database_url, report.feature_set, [chart_id]).values
    np.testing.assert_array_equal(after[:700], before[:700])  # untouched before the change
    assert not np.allclose(after[700:710], before[700:710], equal_nan=True)
    assert_close(after, full_values(conn, core, chart_id), core.columns)


def test_bars_added_before_the_built_range_rebuild_the_chart(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(4, BARS)
    chart_id = store(conn, bars.slice(300, BARS))
    build_features(conn, core, [chart_id])
    store(conn, bars.slice(0, 300))  # a backfill of earlier history
    report = build_features(conn, core, [chart_id])
    assert report.charts[0].computed_from == datetime.fromisoformat(str(bars.time[0])).replace(
        tzinfo=UTC
    )
    stored = read_features(database_url, report.feature_set, [chart_id]).values
    assert stored.shape[0] == BARS
    assert_close(stored, full_values(conn, core, chart_id), core.columns)


def test_a_deleted_bar_marks_the_build_stale(conn: Connection, core: FeatureSet) -> None:
    bars = clean_bars(5, 400)
    chart_id = store(conn, bars)
    build_features(conn, core, [chart_id])
    conn.execute("DELETE FROM candles WHERE chart_id = %s AND time = %s",
                 (chart_id, opened(bars, 350)))  # fmt: skip
    conn.commit()
    row = conn.execute("SELECT stale_from FROM feature_builds").fetchone()
    conn.rollback()
    assert row is not None
    assert row[0] is not None
    report = build_features(conn, core, [chart_id])
    assert report.bars_written == 49  # bars 351..399 recomputed; 350 is gone


def test_no_value_looks_ahead_a_history_cut_at_any_bar_gives_the_stored_value(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(6, 700)
    chart_id = store(conn, bars)
    report = build_features(conn, core, [chart_id])
    stored = read_features(database_url, report.feature_set, [chart_id]).values
    whole = chart_bars(conn, chart(conn, chart_id), core)
    for t in np.random.default_rng(0).choice(np.arange(100, 699), 12, replace=False):
        columns = {name: values[: t + 1] for name, values in whole.columns.items()}
        cut = compute(core, ChartBars(whole.time[: t + 1], columns, whole.timeframe))
        np.testing.assert_allclose(cut[t], stored[t], rtol=1e-9, atol=1e-12, err_msg=str(t))


def test_a_killed_build_leaves_each_chart_done_or_untouched_and_a_rerun_finishes(
    conn: Connection, core: FeatureSet
) -> None:
    first = store(conn, clean_bars(7, 300), IngestOptions("AAA", Timeframe(1, "h")))
    second = store(conn, clean_bars(8, 300), IngestOptions("BBB", Timeframe(1, "h")))

    def killed(done: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_features(conn, core, [first, second], killed)
    built = conn.execute("SELECT chart_id, bars FROM feature_builds").fetchall()
    conn.rollback()
    assert built == [(first, 300)]
    report = build_features(conn, core, [first, second])
    assert [c.bars_written for c in report.charts] == [0, 300]


def test_a_set_reading_a_column_the_chart_lacks_is_refused_before_anything_is_written(
    conn: Connection,
) -> None:
    chart_id = store(conn, clean_bars(9, 100))
    taker = feature_set({"name": "taker", "features": [
        {"name": "buy_share", "expr": "taker_buy_volume / volume"}]})  # fmt: skip
    with pytest.raises(InvalidFeature, match=r"has no taker_buy_volume, which buy_share read"):
        build_features(conn, taker, [chart_id])
    assert conn.execute("SELECT count(*) FROM feature_sets").fetchone() == (0,)


def test_versions_follow_the_definition_and_old_ones_stay_readable(
    conn: Connection, database_url: str
) -> None:
    chart_id = store(conn, clean_bars(10, 200))
    one = feature_set(
        {"name": "mine", "features": [{"name": "rsi", "talib": "RSI", "timeperiod": 14}]}
    )
    rsi = {"name": "rsi", "talib": "RSI", "params": {"timeperiod": 14}, "input": "close"}
    same = feature_set({"name": "mine", "features": [rsi]})
    two = feature_set(
        {"name": "mine", "features": [{"name": "rsi", "talib": "RSI", "timeperiod": 15}]}
    )
    assert one.version_hash == same.version_hash != two.version_hash
    first = build_features(conn, one, [chart_id]).feature_set
    assert build_features(conn, same, [chart_id]).feature_set == first
    second = build_features(conn, two, [chart_id]).feature_set
    assert (first.version, second.version) == (1, 2)
    assert stored_set(conn, "mine") == second
    assert stored_set(conn, "mine@1") == first
    assert stored_set(conn, f"mine@{first.version_hash[:10]}") == first
    old = read_features(database_url, first, [chart_id]).values
    assert np.isnan(old[:14, 0]).all()
    assert not np.isnan(old[14:, 0]).any()
    with pytest.raises(NotFound):
        stored_set(conn, "mine@3")


def test_psql_users_see_the_values_through_the_views(conn: Connection, database_url: str) -> None:
    chart_id = store(conn, clean_bars(11, 50))
    odd = feature_set({"name": "odd", "features": [
        {"name": "ret", "expr": "close / ref(close, 1) - 1"},
        {"name": "tiny", "expr": "(close - close) + 5e-324"},
        {"name": "negative", "expr": "-close * 1e300"}]})  # fmt: skip
    report = build_features(conn, odd, [chart_id])
    matrix = read_features(database_url, report.feature_set, [chart_id])
    rows = conn.execute(
        "SELECT time, feature, value FROM feature_values_long WHERE chart_id = %s "
        "ORDER BY time, feature", (chart_id,)).fetchall()  # fmt: skip
    assert len(rows) == 50 * 3
    by_key = {(t, f): v for t, f, v in rows}
    for i, time in enumerate(matrix.time):
        moment = datetime.fromisoformat(str(time)).replace(tzinfo=UTC)
        for j, name in enumerate(odd.columns):
            value = by_key[(moment, name)]
            assert (
                (value is None) if np.isnan(matrix.values[i, j]) else value == matrix.values[i, j]
            )


def test_a_point_in_time_join_takes_the_last_bar_closed_by_each_time(
    conn: Connection, database_url: str
) -> None:
    bars = clean_bars(12, 100)
    chart_id = store(conn, bars)
    close_set = feature_set({"name": "c", "features": [{"name": "c", "expr": "close"}]})
    stored = build_features(conn, close_set, [chart_id]).feature_set
    tenth = opened(bars, 10)
    times = [tenth, tenth + timedelta(minutes=59), tenth + timedelta(hours=1),
             tenth - timedelta(days=30)]  # fmt: skip
    got = features_as_of(
        database_url, stored, [chart_id] * 4, [t.replace(tzinfo=None) for t in times]
    )
    # Bar 10 closes at its open + 1h: before that the newest closed bar is bar 9.
    np.testing.assert_array_equal(got[:, 0], [bars.close[9], bars.close[9], bars.close[10], np.nan])
    newest = latest_vector(conn, stored, chart_id)
    assert newest is not None
    assert newest[1][0] == bars.close[-1]


def test_a_point_in_time_join_of_many_rows_over_charts_and_blocks_matches_a_plain_search(
    conn: Connection, database_url: str
) -> None:
    hourly = clean_bars(14, 3000)  # two blocks
    day = np.timedelta64(1, "D")
    walk = clean_bars(15, 400)
    daily = Bars(walk.time[0] + np.arange(400) * day, walk.open, walk.high, walk.low,
                 walk.close, walk.volume)  # fmt: skip
    ids = [store(conn, hourly), store(conn, daily, IngestOptions("ETHUSDT", Timeframe(1, "d")))]
    close_set = feature_set({"name": "c", "features": [{"name": "c", "expr": "close"}]})
    stored = build_features(conn, close_set, ids).feature_set
    rng = np.random.default_rng(16)
    which = rng.integers(0, 2, 2000)
    span = (daily.time[-1] - hourly.time[0]) + 2 * day
    at = hourly.time[0] - day + (rng.random(2000) * span).astype("m8[us]")
    got = features_as_of(database_url, stored, [ids[i] for i in which], at)
    for row, (i, t) in enumerate(zip(which, at, strict=True)):
        bars, length = (hourly, np.timedelta64(1, "h")) if i == 0 else (daily, day)
        closed = np.flatnonzero(bars.time + length <= t)
        expected = bars.close[closed[-1]] if len(closed) else np.nan
        np.testing.assert_equal(got[row, 0], expected)


def test_a_longer_timeframe_feature_joins_only_closed_daily_bars(
    conn: Connection, database_url: str
) -> None:
    bars = clean_bars(13, 24 * 30 + 5)  # 30 days of hourly bars from a midnight, 5 more
    chart_id = store(conn, bars)
    with conn.transaction():
        daily = derive_chart(conn, chart_id, Timeframe(1, "d"))
    daily_close = feature_set({"name": "d", "features": [
        {"name": "close_1d", "timeframe": "1d", "expr": "close"}]})  # fmt: skip
    report = build_features(conn, daily_close, [chart_id])
    values = read_features(database_url, report.feature_set, [chart_id]).values[:, 0]
    assert np.isnan(values[:23]).all()  # the first day closes with the 24th bar
    np.testing.assert_array_equal(values[23:47], bars.close[23])  # day 1's close, all of day 2
    assert values[47] == bars.close[47]
    # The 31st day is still open (its daily bar holds 5 hours): never used.
    np.testing.assert_array_equal(values[-6:], bars.close[24 * 30 - 1])
    depends = conn.execute("SELECT depends_on FROM feature_builds").fetchone()
    assert depends == ([daily],)


def test_a_longer_timeframe_feature_without_that_chart_is_refused(conn: Connection) -> None:
    chart_id = store(conn, clean_bars(14, 50))
    weekly = feature_set(
        {"name": "w", "features": [{"name": "w", "timeframe": "1w", "expr": "close"}]}
    )
    with pytest.raises(InvalidFeature, match=r"has no 1w chart .*`candlelab resample 1 --to 1w`"):
        build_features(conn, weekly, [chart_id])


def test_register_is_idempotent(conn: Connection, core: FeatureSet) -> None:
    assert register(conn, core) == register(conn, core)


def test_recomputing_from_the_candles_gives_what_the_store_reads(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    first = store(conn, clean_bars(15, 400), IngestOptions("AAA", Timeframe(1, "h")))
    second = store(conn, clean_bars(16, 300), IngestOptions("BBB", Timeframe(1, "h")))
    stored = build_features(conn, core, [first, second]).feature_set
    start, end = opened(clean_bars(15, 400), 100), opened(clean_bars(15, 400), 350)
    read = read_features(database_url, stored, [first, second], start, end)
    again = recompute_features(database_url, core, [first, second], start, end)
    assert len(read) == 250 + 200  # the second chart ends at its 300th bar
    np.testing.assert_array_equal(again.chart_id, read.chart_id)
    np.testing.assert_array_equal(again.time, read.time)
    np.testing.assert_array_equal(again.values, read.values)


def test_the_newest_vector_is_computed_when_its_bar_is_not_built_yet(
    conn: Connection, core: FeatureSet
) -> None:
    bars = clean_bars(17, 1100)
    chart_id = store(conn, bars.slice(0, 1099))
    stored = build_features(conn, core, [chart_id]).feature_set
    current = newest_vector(conn, stored, core, chart_id)
    built = latest_vector(conn, stored, chart_id)
    assert current is not None
    assert built is not None
    assert current[0] == built[0] == opened(bars, 1098)
    np.testing.assert_array_equal(current[1], built[1])
    store(conn, bars)  # one bar more, not built
    on_the_fly = newest_vector(conn, stored, core, chart_id)
    conn.rollback()
    build_features(conn, core, [chart_id])
    after = latest_vector(conn, stored, chart_id)
    assert on_the_fly is not None
    assert after is not None
    assert on_the_fly[0] == after[0] == opened(bars, 1099)
    np.testing.assert_allclose(on_the_fly[1], after[1], rtol=1e-9, atol=1e-12)


def test_a_build_waits_for_a_correction_in_flight_and_then_computes_from_it(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    """A load holds the chart's lock until it commits. A build computes the chart's new
    bars from what is committed, then waits for the lock to write them, finds the build
    marked stale by the load's correction, and computes again from the corrected bar:
    it never keeps values from bars that a correction replaced."""
    import threading

    from candlelab.store.database import connect

    bars = clean_bars(18, 500)
    chart_id = store(conn, bars.slice(0, 400))
    build_features(conn, core, [chart_id])
    store(conn, bars.slice(0, 450))  # committed: what the build continues
    with connect(database_url) as loader:
        loader.execute("SELECT 1")  # a transaction of the caller's: ingest's is a savepoint in it
        fixed = bars.slice(300, 301)
        corrected = Bars(fixed.time, fixed.open, fixed.high * 1.01, fixed.low,
                         fixed.close * 1.005, fixed.volume)  # fmt: skip
        ingest_frame(loader, corrected.to_frame(),
                     IngestOptions("BTCUSDT", Timeframe(1, "h"), on_conflict="update"))  # fmt: skip
        reports: list[object] = []
        builder = threading.Thread(target=lambda: reports.append(
            build_features(conn, core, [chart_id])))  # fmt: skip
        builder.start()
        builder.join(timeout=2)
        assert builder.is_alive()  # waiting on the load's lock
        loader.commit()
    builder.join(timeout=60)
    assert not builder.is_alive()
    (report,) = reports
    assert report.charts[0].computed_from == opened(bars, 300)  # type: ignore[attr-defined]
    stored = read_features(database_url, report.feature_set, [chart_id]).values  # type: ignore[attr-defined]
    assert_close(stored, full_values(conn, core, chart_id), core.columns)


def test_a_build_during_a_load_of_new_bars_builds_what_is_committed(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    from candlelab.store.database import connect

    bars = clean_bars(24, 500)
    chart_id = store(conn, bars.slice(0, 400))
    build_features(conn, core, [chart_id])
    with connect(database_url) as loader:
        loader.execute("SELECT 1")
        ingest_frame(loader, bars.slice(400, 500).to_frame(), HOURLY)  # not committed yet
        assert build_features(conn, core, [chart_id]).bars_written == 0
        loader.commit()
    assert build_features(conn, core, [chart_id]).bars_written == 100


def test_a_rebuild_computes_every_bar_again_after_changes_no_trigger_sees(
    conn: Connection, database_url: str, core: FeatureSet
) -> None:
    bars = clean_bars(19, 300)
    chart_id = store(conn, bars)
    stored = build_features(conn, core, [chart_id]).feature_set
    # A change that marks nothing stale: the trigger is switched off for it.
    conn.execute("ALTER TABLE candles DISABLE TRIGGER candles_updated")
    conn.execute(
        "UPDATE candles SET close = close * 1.01, high = high * 1.01 WHERE chart_id = %s",
        (chart_id,),
    )
    conn.execute("ALTER TABLE candles ENABLE TRIGGER candles_updated")
    conn.commit()
    assert build_features(conn, core, [chart_id]).bars_written == 0
    assert build_features(conn, core, [chart_id], rebuild=True).bars_written == 300
    assert_close(read_features(database_url, stored, [chart_id]).values,
                 full_values(conn, core, chart_id), core.columns)  # fmt: skip
