"""Datasets read straight from the feature store and the candles, versioned by their data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from candlelab.errors import DatasetError
from candlelab.features.materialisation import build_features
from candlelab.features.registry import StoredSet
from candlelab.labels.spans import (
    LabelType,
    NewSpan,
    SpanChanges,
    add_label_type,
    create_span,
    review_span,
    update_span,
)
from candlelab.market.candles import Bars
from candlelab.store.database import Connection
from candlelab.training.datasets import (
    DatasetRequest,
    _read,
    assemble_dataset,
    record_dataset,
    recorded_dataset,
)
from candlelab.training.targets import ready_target, target_definition
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import SMALL, built_market, opened, store

BARS = 400


@pytest.fixture
def market(conn: Connection) -> tuple[StoredSet, list[int], Bars]:
    stored, charts, series = built_market(conn, BARS)
    return stored, charts, series[0]


def test_a_triple_barrier_dataset_is_the_same_version_when_read_again(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, _ = market
    target = target_definition({"name": "tb", "kind": "triple-barrier", "unit": "fraction",
                                "take_profit": 0.01, "stop_loss": 0.01, "horizon": 12})  # fmt: skip
    request = DatasetRequest(stored, target, tuple(charts))
    first, again = assemble_dataset(database_url, request), assemble_dataset(database_url, request)
    assert first.version == again.version
    assert first.label_digest == again.label_digest
    assert len(first.matrix) == 2 * BARS
    known = first.values.known.reshape(2, BARS)
    assert known[:, : BARS - 12].all()  # a whole horizon of bars after them
    assert not known[:, -1].any()  # the last bar of each chart has no future
    record_dataset(conn, first)
    record_dataset(conn, again)  # the same version once
    row = conn.execute("SELECT rows, class_counts, chart_ids FROM datasets").fetchall()
    assert row == [(len(first.taught), first.values.class_counts(), sorted(charts))]
    recorded = recorded_dataset(conn, first.version)
    assert recorded is not None
    assert recorded.proves(again)
    assert recorded.data_end == datetime.fromisoformat(
        str(first.matrix.time[first.taught[-1]])
    ).replace(tzinfo=UTC)


def test_a_corrected_bar_makes_a_new_version(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, bars = market
    request = DatasetRequest(stored, ready_target("forward-return"), tuple(charts))
    before = assemble_dataset(database_url, request).version
    fixed = bars.slice(200, 201)
    fixed = Bars(fixed.time, fixed.open, fixed.high * 1.001, fixed.low, fixed.close, fixed.volume)
    store(conn, "BTCUSDT", fixed, on_conflict="update")
    with pytest.raises(DatasetError, match=rf"small@1 is stale from .* on chart {charts[0]}; "
                       rf"run `candlelab features build small@1 --chart {charts[0]}`"):  # fmt: skip
        assemble_dataset(database_url, request)
    conn.commit()
    build_features(conn, SMALL, charts)
    assert assemble_dataset(database_url, request).version != before
    # Put back, the bar makes the version it made before, though the build cut the
    # chart's block at it (the candles' digest adds up the blocks' hash sums).
    store(conn, "BTCUSDT", bars.slice(200, 201), on_conflict="update")
    build_features(conn, SMALL, charts)
    blocks = conn.execute("SELECT count(*) FROM feature_blocks WHERE chart_id = %s",
                          (charts[0],)).fetchone()  # fmt: skip
    assert blocks == (2,)
    assert assemble_dataset(database_url, request).version == before


def test_a_corrected_volume_inside_a_block_makes_a_new_version(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    # SMALL and the target read no volume: the features and the labels stay the same, so
    # the candles' digest alone can tell the two versions apart.
    stored, charts, bars = market
    request = DatasetRequest(stored, ready_target("triple-barrier"), tuple(charts))
    before = assemble_dataset(database_url, request)
    fixed = bars.slice(150, 151)
    fixed = Bars(fixed.time, fixed.open, fixed.high, fixed.low, fixed.close, fixed.volume + 1)
    store(conn, "BTCUSDT", fixed, on_conflict="update")
    build_features(conn, SMALL, charts)
    after = assemble_dataset(database_url, request)
    np.testing.assert_array_equal(after.matrix.values, before.matrix.values)
    assert after.label_digest == before.label_digest
    assert after.candles_digest != before.candles_digest
    assert after.version != before.version


def test_a_block_without_candles_is_read_from_the_table_and_makes_the_same_version(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, _ = market
    request = DatasetRequest(stored, ready_target("forward-return"), tuple(charts))
    kept = assemble_dataset(database_url, request)
    # As a block written while its chart's bars were being changed holds them.
    conn.execute("UPDATE feature_blocks SET candles = NULL, candles_hash = NULL "
                 "WHERE chart_id = %s", (charts[1],))  # fmt: skip
    conn.commit()
    read = assemble_dataset(database_url, request)
    assert read.matrix.candles is not None  # read by the other path
    assert (read.version, read.candles_digest) == (kept.version, kept.candles_digest)


def test_a_chart_without_a_build_is_named_with_the_command_that_builds_it(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, _ = market
    other = store(conn, "SOLUSDT", clean_bars(3, 50))
    request = DatasetRequest(stored, ready_target("forward-return"), (*charts, other))
    with pytest.raises(DatasetError, match=f"small@1 is not built on chart {other}"):
        assemble_dataset(database_url, request)


def test_span_targets_teach_covered_bars_and_one_edited_span_changes_the_version(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, bars = market
    up = add_label_type(conn, LabelType("up", "#0a0", direction=1))
    down = add_label_type(conn, LabelType("down", "#a00", direction=-1))
    create_span(conn, NewSpan(charts[0], up, opened(bars, 100), opened(bars, 149)))
    made = create_span(conn, NewSpan(charts[0], down, opened(bars, 200), opened(bars, 239)))
    proposal = create_span(conn, NewSpan(charts[0], up, opened(bars, 300), opened(bars, 319),
                                         source="model", status="proposed"))  # fmt: skip
    conn.commit()
    request = DatasetRequest(stored, ready_target("spans"), tuple(charts))
    dataset = assemble_dataset(database_url, request)
    assert dataset.values.classes == ("none", "down", "up")
    assert dataset.values.directions == (0, -1, 1)
    assert dataset.values.class_counts() == {"none": 50, "down": 40, "up": 50}
    assert set(dataset.matrix.chart_id[dataset.taught]) == {charts[0]}  # nobody labelled ETH

    update_span(conn, made.id, made.version, SpanChanges(end_time=opened(bars, 240)))
    conn.commit()
    edited = assemble_dataset(database_url, request)
    assert edited.version != dataset.version
    assert edited.values.class_counts()["down"] == 41

    review_span(conn, proposal.id, proposal.version, "rejected", "ann")
    conn.commit()
    rejected = assemble_dataset(database_url, request)
    assert rejected.values.class_counts() == {"none": 49 + 80, "down": 41, "up": 50}


def test_nothing_to_learn_is_refused_before_anything_is_recorded(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, bars = market
    request = DatasetRequest(stored, ready_target("spans"), tuple(charts))
    with pytest.raises(DatasetError, match="no labelled bars in chart"):
        assemble_dataset(database_url, request)
    up = add_label_type(conn, LabelType("up", "#0a0", direction=1))
    create_span(conn, NewSpan(charts[0], up, opened(bars, 10), opened(bars, 20)))
    conn.commit()
    with pytest.raises(DatasetError, match=r"every labelled bar in .* is 'up'"):
        assemble_dataset(database_url, request)
    assert conn.execute("SELECT count(*) FROM datasets").fetchone() == (0,)


def test_the_candles_read_are_those_of_the_range(
    database_url: str, market: tuple[StoredSet, list[int], Bars]
) -> None:
    stored, charts, bars = market
    start, end = opened(bars, 100), opened(bars, 200)
    request = DatasetRequest(stored, ready_target("forward-return"), (charts[0],), start, end)
    dataset = assemble_dataset(database_url, request)
    assert len(dataset.matrix) == 100
    assert dataset.matrix.candles is not None
    np.testing.assert_array_equal(dataset.matrix.candles["close"], bars.close[100:200])


def test_targets_are_those_of_the_built_bars_when_the_candles_hold_more(
    conn: Connection, database_url: str
) -> None:
    # assemble_dataset refuses a chart built behind its candles; the two reads can still
    # see different bars when candles come in between them, as here.
    bars = clean_bars(4, 300)
    chart_id = store(conn, "BTCUSDT", bars.slice(0, 200))
    stored = build_features(conn, SMALL, [chart_id]).feature_set
    request = DatasetRequest(stored, ready_target("forward-return"), (chart_id,))
    built = assemble_dataset(database_url, request)
    store(conn, "BTCUSDT", bars.slice(200, 300))  # newer bars, not built
    matrix, values, digest = _read(database_url, request, [])
    np.testing.assert_array_equal(matrix.time, built.matrix.time)
    assert digest == built.candles_digest
    np.testing.assert_array_equal(values.y, built.values.y)  # the chart's end: bar 200
    np.testing.assert_array_equal(values.judged_to, built.values.judged_to)
