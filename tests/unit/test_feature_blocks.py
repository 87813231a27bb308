"""Which of a chart's short blocks a merge takes (`blocks.merged_from`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from candlelab.features.blocks import merged_from

START = datetime(2024, 1, 1, tzinfo=UTC)


def tail(*sizes: int) -> list[tuple[datetime, int]]:
    """Blocks of these sizes, back to back from START (one bar a day)."""
    firsts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [(START + timedelta(days=f), size) for f, size in zip(firsts, sizes, strict=True)]


def first_merged(*sizes: int) -> int:
    """The index of the block the merge starts at."""
    blocks = tail(*sizes)
    return [first for first, _ in blocks].index(merged_from(blocks))


def test_one_bar_blocks_merge_and_a_build_s_partial_block_is_left_alone() -> None:
    assert first_merged(904, *[1] * 16) == 1
    assert first_merged(904, 16, *[1] * 15) == 1  # 16 bars join the 15 after them
    assert first_merged(904, 100, *[1] * 15) == 2


def test_an_older_block_joins_once_as_many_bars_came_after_it() -> None:
    assert first_merged(904, 200, 100, 10) == 1  # 904 > 2 x 310
    assert first_merged(904, 300, 200, 100, 10) == 0  # 904 <= 2 x 610


def test_the_newest_two_always_merge() -> None:
    assert first_merged(*[500] * 15, 100, 1) == 15  # 100 > 2 x 1, merged all the same
