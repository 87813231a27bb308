"""Target values kept beside the feature blocks: read back exactly as computed, and never
stale after bars are appended, corrected, backfilled or built again."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from candlelab.features.builds import lock_build
from candlelab.features.materialisation import build_features
from candlelab.features.registry import StoredSet
from candlelab.market.candles import Bars, packed_candles
from candlelab.store.database import Connection, connect
from candlelab.training.datasets import DatasetRequest, _values, assemble_dataset
from candlelab.training.target_blocks import _keep, _read
from candlelab.training.target_values import TargetValues
from candlelab.training.targets import TargetDefinition, ready_target, target_definition
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import SMALL, label_strong_rsi, opened, store

BARS = 4500  # three blocks: 2,048 + 2,048 + 404 bars
OLDER = 300  # bars before the first stored one, for a backfill
TRIPLE = ready_target("triple-barrier")  # ATR barriers, a horizon of 20 bars
RETURNS = ready_target("forward-return")


@pytest.fixture
def market(conn: Connection) -> tuple[StoredSet, list[int], list[Bars]]:
    """Three charts of BARS hourly bars (the first has OLDER bars before and one after
    them not stored yet, the third one after), SMALL built on them."""
    series = [clean_bars(1, OLDER + BARS + 1), clean_bars(2, BARS), clean_bars(3, BARS + 1)]
    charts = [store(conn, "BTCUSDT", series[0].slice(OLDER, OLDER + BARS)),
              store(conn, "ETHUSDT", series[1]),
              store(conn, "SOLUSDT", series[2].slice(0, BARS))]  # fmt: skip
    return build_features(conn, SMALL, charts).feature_set, charts, series


def from_scratch(url: str, target: TargetDefinition, charts: list[int]) -> TargetValues:
    """The target's values computed from the candles table, nothing kept."""
    return _values(target, packed_candles(url, charts, None, None), [])


def assert_same(got: TargetValues, expected: TargetValues) -> None:
    for field in fields(TargetValues):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)  # NaN equals NaN
        else:
            assert a == b, field.name


def kept_blocks(conn: Connection, chart_id: int) -> list[tuple[object, ...]]:
    """The chart's kept target blocks: (first bar, target, reaches, row version)."""
    conn.commit()
    found = conn.execute(
        "SELECT first_time, target_hash, reaches, xmin::text FROM target_blocks "
        "WHERE chart_id = %s ORDER BY first_time, target_hash", (chart_id,)
    ).fetchall()  # fmt: skip
    conn.commit()
    return found


@pytest.mark.parametrize("target", [TRIPLE, RETURNS], ids=["triple-barrier", "forward-return"])
def test_values_read_back_are_those_computed_and_come_from_the_store(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]],
    target: TargetDefinition,
) -> None:  # fmt: skip
    stored, charts, series = market
    request = DatasetRequest(stored, target, tuple(charts))
    cold = assemble_dataset(database_url, request)
    assert len(kept_blocks(conn, charts[0])) == len(kept_blocks(conn, charts[1])) == 3
    warm = assemble_dataset(database_url, request)
    assert_same(warm.values, cold.values)
    assert_same(warm.values, from_scratch(database_url, target, charts))
    assert warm.version == cold.version
    # Read from the store, not computed again: a value written there is the one read (the
    # long result of the second chart's first bar, the first of its first block's 2,048).
    conn.execute("UPDATE target_blocks SET packed = overlay(packed PLACING %s FROM 8 * 2048 + 1) "
                 "WHERE chart_id = %s AND first_time = %s AND target_hash = %s",
                 (np.array([-7.0], "<f8").tobytes(), charts[1], opened(series[1], 0),
                  target.version_hash))  # fmt: skip
    conn.commit()
    assert assemble_dataset(database_url, request).values.long[BARS] == -7.0


def test_an_appended_bar_voids_only_the_values_whose_horizon_ran_past_the_end(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]]
) -> None:
    stored, charts, series = market
    request = DatasetRequest(stored, TRIPLE, tuple(charts))
    before = assemble_dataset(database_url, request)
    kept = kept_blocks(conn, charts[0])
    assert [r[2] is None for r in kept] == [False, False, True]  # the last block is open
    other = kept_blocks(conn, charts[1])
    store(conn, "BTCUSDT", series[0].slice(OLDER + BARS, OLDER + BARS + 1))
    store(conn, "SOLUSDT", series[2].slice(BARS, BARS + 1))
    build_features(conn, SMALL, charts)
    assert kept_blocks(conn, charts[0]) == kept[:2]  # closed blocks untouched
    assert kept_blocks(conn, charts[1]) == other
    after = assemble_dataset(database_url, request)
    assert_same(after.values, from_scratch(database_url, TRIPLE, charts))
    # the bar 20 before the old last one now has its whole horizon
    assert before.values.judged_to[BARS - 20] == BARS - 1
    assert after.values.judged_to[BARS - 20] == BARS
    assert len(kept_blocks(conn, charts[0])) == 4  # the new short block's values too
    assert len(kept_blocks(conn, charts[2])) == 4


@pytest.mark.parametrize("corrected", [4096, 2048, 2050],
                         ids=["first-of-the-last-block", "first-of-a-block-in-a-horizon",
                              "inside-a-block-in-a-horizon"])  # fmt: skip
def test_a_corrected_bar_voids_the_values_after_it_and_those_that_looked_at_it(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]],
    corrected: int,
) -> None:  # fmt: skip
    stored, charts, series = market
    request = DatasetRequest(stored, TRIPLE, tuple(charts))
    before = assemble_dataset(database_url, request)
    kept = kept_blocks(conn, charts[0])
    bars = series[0].slice(OLDER + corrected, OLDER + corrected + 1)
    fixed = Bars(bars.time, bars.open, bars.high * 1.05, bars.low, bars.close, bars.volume)
    store(conn, "BTCUSDT", fixed, on_conflict="update")
    build_features(conn, SMALL, charts)
    # The build writes the chart's blocks again from the one holding the bar (at 4096 or
    # 2048; the same blocks again when the bar is a block's first): the values from there
    # on go (the ATR), and those that looked at its bars. The first block's values looked
    # at bars up to 2067 (20 after its last, 2047).
    assert kept_blocks(conn, charts[0]) == (kept[:1] if corrected == 4096 else [])
    after = assemble_dataset(database_url, request)
    assert_same(after.values, from_scratch(database_url, TRIPLE, charts))
    assert not np.array_equal(after.values.long, before.values.long, equal_nan=True)


def test_a_backfill_and_a_rebuild_void_every_value_of_the_chart(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]]
) -> None:
    stored, charts, series = market
    request = DatasetRequest(stored, TRIPLE, tuple(charts))
    assemble_dataset(database_url, request)
    other = kept_blocks(conn, charts[1])
    store(conn, "BTCUSDT", series[0].slice(0, OLDER))  # older history, before the first bar
    build_features(conn, SMALL, charts)
    assert kept_blocks(conn, charts[0]) == []
    assert kept_blocks(conn, charts[1]) == other
    backfilled = assemble_dataset(database_url, request)
    assert len(backfilled.matrix) == 3 * BARS + OLDER
    assert_same(backfilled.values, from_scratch(database_url, TRIPLE, charts))
    build_features(conn, SMALL, [charts[1]], rebuild=True)
    assert kept_blocks(conn, charts[1]) == []
    assert_same(assemble_dataset(database_url, request).values,
                from_scratch(database_url, TRIPLE, charts))  # fmt: skip


def test_values_of_blocks_written_since_the_read_or_being_built_are_not_kept(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]]
) -> None:
    stored, charts, series = market
    read = _read(database_url, stored, charts, TRIPLE)
    assert read is not None
    assert not any(block.kept for block in read.blocks)
    read.compute(TRIPLE, np.array(charts))
    store(conn, "BTCUSDT", series[0].slice(OLDER + BARS, OLDER + BARS + 1))
    build_features(conn, SMALL, [charts[0]])  # a block written after the values were read
    with connect(database_url) as building, connect(database_url) as keeping:
        lock_build(building, stored, charts[1])  # a build of the other chart under way
        _keep(keeping, stored, TRIPLE, read, np.array(charts))
        assert kept_blocks(conn, charts[0]) == kept_blocks(conn, charts[1]) == []
        building.commit()
        _keep(keeping, stored, TRIPLE, read, np.array(charts))
    assert kept_blocks(conn, charts[0]) == []
    assert len(kept_blocks(conn, charts[1])) == 3


def test_spans_targets_and_time_ranges_are_not_kept_and_each_target_has_its_own(
    conn: Connection, database_url: str, market: tuple[StoredSet, list[int], list[Bars]]
) -> None:
    stored, charts, series = market
    label_strong_rsi(conn, database_url, stored, charts[0])
    assemble_dataset(database_url, DatasetRequest(stored, ready_target("spans"), tuple(charts)))
    ranged = DatasetRequest(stored, TRIPLE, tuple(charts), opened(series[1], 100))
    values = assemble_dataset(database_url, ranged).values
    assert kept_blocks(conn, charts[0]) == kept_blocks(conn, charts[1]) == []
    whole = from_scratch(database_url, TRIPLE, charts[1:])
    assert not np.array_equal(values.long[BARS:], whole.long[100:], equal_nan=True)  # its ATR
    for target in (TRIPLE, target_definition({"name": "tb-wide", "kind": "triple-barrier",
                                              "take_profit": 3.0})):  # fmt: skip
        request = DatasetRequest(stored, target, tuple(charts))
        assemble_dataset(database_url, request)
        assert_same(assemble_dataset(database_url, request).values,
                    from_scratch(database_url, target, charts))  # fmt: skip
    assert len(kept_blocks(conn, charts[1])) == 6  # three blocks, two targets
