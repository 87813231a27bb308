"""The point-in-time join (`features_as_of`) on a real server: exact answers at and
between bars, and a plain search over every stored bar's close on regular and irregular
charts, read on one connection and split between two."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from candlelab.features import increments, reading
from candlelab.features.blocks import MAX_TAIL
from candlelab.features.definitions import feature_set
from candlelab.features.materialisation import build_features
from candlelab.features.reading import features_as_of, read_features
from candlelab.features.registry import StoredSet
from candlelab.market.calendars import bar_ends
from candlelab.market.candles import Bars
from candlelab.market.charts import chart
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from tests.fixtures.quality_cases import clean_bars

HOUR = np.timedelta64(1, "h")
DAY = np.timedelta64(1, "D")
MINUTE = np.timedelta64(1, "m")
# Two columns, so that a vector cut one column off would show.
CLOSE_VOLUME = feature_set({"name": "cv", "features": [
    {"name": "c", "expr": "close"}, {"name": "v", "expr": "volume"}]})  # fmt: skip


def stored_chart(conn: Connection, symbol: str, time: Any, timeframe: str,
                 chart_timezone: str = "UTC") -> int:  # fmt: skip
    """A chart of a calm walk at the given bar opens; its id."""
    walk = clean_bars(len(symbol) + len(time), len(time))
    bars = Bars(time.astype("M8[us]"), walk.open, walk.high, walk.low, walk.close, walk.volume)
    options = IngestOptions(symbol, Timeframe.parse(timeframe), chart_timezone=chart_timezone)
    report = ingest_frame(conn, bars.to_frame(), options)
    conn.commit()
    assert report.loaded == len(time), report
    row = conn.execute("SELECT id FROM charts WHERE symbol = %s", (symbol,)).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def plain_search(conn: Connection, url: str, stored: StoredSet, ids: Any, at: Any) -> Any:
    """What the join must give: for each row, the last bar of its chart whose close is
    at or before its time, searched among every stored bar's close (NaN where none)."""
    matrix = read_features(url, stored)
    expected = np.full((len(ids), len(stored.columns)), np.nan)
    for chart_id in np.unique(ids):
        bars = np.flatnonzero(matrix.chart_id == chart_id)
        each = chart(conn, int(chart_id))
        ends = bar_ends(Timeframe.parse(each.timeframe), each.timezone, matrix.time[bars])
        rows = np.flatnonzero(ids == chart_id)
        closed = np.searchsorted(ends, at[rows], side="right") - 1
        expected[rows[closed >= 0]] = matrix.values[bars[closed[closed >= 0]]]
    conn.commit()
    return expected


def steps(conn: Connection, chart_id: int) -> list[tuple[int, int | None]]:
    """(bars, step_us) of the chart's blocks, oldest first."""
    rows = conn.execute("SELECT bars, step_us FROM feature_blocks WHERE chart_id = %s "
                        "ORDER BY first_time", (chart_id,)).fetchall()  # fmt: skip
    conn.commit()
    return [(int(bars), step) for bars, step in rows]


def test_a_row_takes_the_last_bar_closed_by_its_time_at_before_and_between_bars(
    conn: Connection, database_url: str
) -> None:
    opens = np.datetime64("2025-01-06T00:00", "us") + np.arange(3000) * HOUR  # two blocks
    chart_id = stored_chart(conn, "BTCUSDT", opens, "1h")
    stored = build_features(conn, CLOSE_VOLUME, [chart_id]).feature_set
    assert steps(conn, chart_id) == [(2048, 3_600_000_000), (952, 3_600_000_000)]
    vectors = read_features(database_url, stored).values
    cases = [  # (time, the bar whose vector it gets; -1: none had closed)
        (opens[0] - DAY, -1), (opens[0], -1), (opens[0] + 59 * MINUTE, -1),
        (opens[1], 0),  # bar 0 closes as bar 1 opens
        (opens[10] - np.timedelta64(1, "us"), 8), (opens[10], 9), (opens[10] + MINUTE, 9),
        (opens[11] - np.timedelta64(1, "us"), 9),
        (opens[2047], 2046), (opens[2048], 2047), (opens[2048] + 30 * MINUTE, 2047),
        (opens[2049], 2048),  # across the blocks' boundary
        (opens[-1], 2998), (opens[-1] + HOUR, 2999), (opens[-1] + 400 * DAY, 2999),
    ]  # fmt: skip
    at = np.array([time for time, _ in cases])
    got = features_as_of(database_url, stored, [chart_id] * len(cases), at)
    for row, (_, bar) in enumerate(cases):
        want = np.full(2, np.nan) if bar < 0 else vectors[bar]
        np.testing.assert_array_equal(got[row], want, err_msg=f"row {row}: {cases[row]}")


def test_irregular_charts_gaps_weekends_and_clock_changes_match_a_plain_search(
    conn: Connection, database_url: str
) -> None:
    hourly = np.datetime64("2025-01-06T00:00", "us") + np.arange(3200) * HOUR
    gappy = np.delete(hourly, [500, 501, 502, 2048, 3000])  # missing bars, one at a block's edge
    days = np.datetime64("2014-01-06", "us") + np.arange(3700) * DAY
    weekdays = days[(days.astype("M8[D]").view("int64") + 3) % 7 < 5][:2600]  # from a Monday
    # New York's midnights: 23 or 25 hours apart across a clock change.
    local = np.datetime64("2020-01-01", "D") + np.arange(2300)
    new_york = np.array([np.datetime64(_utc_midnight(day), "us") for day in local])
    ids = [stored_chart(conn, "GAPPY", gappy, "1h"),
           stored_chart(conn, "WEEKDAY", weekdays, "1d"),
           stored_chart(conn, "NYDAILY", new_york, "1d", chart_timezone="America/New_York"),
           stored_chart(conn, "REGULAR", hourly[:700], "1h")]  # fmt: skip
    stored = build_features(conn, CLOSE_VOLUME, ids).feature_set
    assert [step for _, step in steps(conn, ids[0])] == [None, None]
    assert [step for _, step in steps(conn, ids[1])] == [None, None]
    assert [step for _, step in steps(conn, ids[2])] == [None, None]
    assert steps(conn, ids[3]) == [(700, 3_600_000_000)]
    rng = np.random.default_rng(5)
    which = np.asarray(ids)[rng.integers(0, 4, 6000)]
    at = _times_around(rng, [gappy, weekdays, new_york, hourly[:700]], ids, which)
    got = features_as_of(database_url, stored, which, at)
    np.testing.assert_array_equal(got, plain_search(conn, database_url, stored, which, at))


def _utc_midnight(day: np.datetime64) -> Any:
    local = datetime.fromisoformat(str(day)).replace(tzinfo=ZoneInfo("America/New_York"))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _times_around(rng: np.random.Generator, opens: list[Any], ids: list[int], which: Any) -> Any:
    """Row times over each chart's span and a day either side: half at random moments,
    half exactly at a bar's open or an hour or a day after it (closes, gaps' edges)."""
    at = np.empty(len(which), dtype="M8[us]")
    for chart_id, times in zip(ids, opens, strict=True):
        rows = np.flatnonzero(which == chart_id)
        span = (times[-1] - times[0]) + 2 * DAY
        random = times[0] - DAY + (rng.random(len(rows)) * span).astype("m8[us]")
        shifts = np.array([0, 1, 24], dtype="m8[h]")[rng.integers(0, 3, len(rows))]
        exact = times[rng.integers(0, len(times), len(rows))] + shifts
        at[rows] = np.where(rng.random(len(rows)) < 0.5, random, exact)
    return at


def test_many_rows_on_many_charts_are_split_between_two_connections(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "PARALLEL_ROWS", 1000)
    runs: list[int] = []
    snapshot_run = reading._Join.run_in_snapshot

    def counted(self: Any, url: str, snapshot: str, rows: Any) -> None:
        runs.append(len(rows))
        snapshot_run(self, url, snapshot, rows)

    monkeypatch.setattr(reading._Join, "run_in_snapshot", counted)
    start = np.datetime64("2025-01-06T00:00", "us")
    ids = [stored_chart(conn, f"S{i:02d}", start + np.arange(300 + 40 * i) * HOUR, "1h")
           for i in range(12)]  # fmt: skip
    stored = build_features(conn, CLOSE_VOLUME, ids).feature_set
    rng = np.random.default_rng(6)
    which = np.asarray(ids)[rng.integers(0, len(ids), 5000)]
    at = start - DAY + (rng.random(5000) * 30 * DAY).astype("m8[us]")
    at[:500] = at[500:1000]  # rows on one bar: its vector is cut once, copied to each
    which[:500] = which[500:1000]
    got = features_as_of(database_url, stored, which, at)
    np.testing.assert_array_equal(got, plain_search(conn, database_url, stored, which, at))
    assert len(runs) == 1  # the second connection took a part
    assert 1000 < runs[0] < 4000
    one_chart = features_as_of(database_url, stored, [ids[3]] * 2000, at[:2000])
    np.testing.assert_array_equal(
        one_chart, plain_search(conn, database_url, stored, np.full(2000, ids[3]), at[:2000])
    )


def test_increments_and_merges_record_their_blocks_steps_and_the_join_reads_them(
    conn: Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    appended: list[int] = []
    append = increments._appended

    def counted(stored: StoredSet, each: Any) -> dict[str, object]:
        appended.append(1)
        return append(stored, each)

    monkeypatch.setattr(increments, "_appended", counted)
    opens = np.datetime64("2025-01-06T00:00", "us") + np.arange(2102 + MAX_TAIL) * HOUR
    walk = clean_bars(21, len(opens))
    bars = Bars(opens, walk.open, walk.high, walk.low, walk.close, walk.volume)
    options = IngestOptions("BTCUSDT", Timeframe.parse("1h"))

    def ingested_and_built(start: int, stop: int) -> int:
        ingest_frame(conn, bars.slice(start, stop).to_frame(), options)
        conn.commit()
        row = conn.execute("SELECT id FROM charts").fetchone()
        conn.commit()
        assert row is not None
        build_features(conn, CLOSE_VOLUME, [int(row[0])])
        return int(row[0])

    chart_id = ingested_and_built(0, 2100)
    ingested_and_built(2100, 2103)  # an increment of three bars
    for i in range(2103, 2101 + MAX_TAIL):  # then of one bar each: no step
        ingested_and_built(i, i + 1)
    hour = 3_600_000_000
    short = [(52, hour), (3, hour)] + [(1, None)] * (MAX_TAIL - 2)
    assert steps(conn, chart_id) == [(2048, hour), *short]
    assert len(appended) == MAX_TAIL - 1  # each written by an increment
    stored = build_features(conn, CLOSE_VOLUME, [chart_id]).feature_set
    which = np.full(3000, chart_id)
    at = opens[0] + (np.random.default_rng(7).random(3000) * 2200 * HOUR).astype("m8[us]")
    expected = plain_search(conn, database_url, stored, which, at)
    np.testing.assert_array_equal(features_as_of(database_url, stored, which, at), expected)
    ingested_and_built(2101 + MAX_TAIL, 2102 + MAX_TAIL)  # past MAX_TAIL: the short ones merge
    # The short ones merge; the 52-bar block holds more than twice their bars and stays.
    assert steps(conn, chart_id) == [(2048, hour), (52, hour), (2 + MAX_TAIL, hour)]
    expected = plain_search(conn, database_url, stored, which, at)
    np.testing.assert_array_equal(features_as_of(database_url, stored, which, at), expected)
