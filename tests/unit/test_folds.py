"""Walk-forward folds: no training row's label reaches into its test block."""

from __future__ import annotations

import numpy as np
import pytest

from candlelab.errors import DatasetError
from candlelab.training.folds import FoldPlan, walk_forward

HOUR = np.timedelta64(1, "h")
START = np.datetime64("2024-01-01T00:00", "us")


def bars(charts: int, count: int, horizon: int) -> tuple[np.ndarray, ...]:
    """`charts` hourly charts of `count` bars, chart after chart; labels judged `horizon`
    bars later (clipped to the chart's last bar)."""
    step = np.arange(count)
    time = np.tile(START + step * HOUR, charts)
    chart = np.repeat(np.arange(charts), count).astype(np.int64)
    until = np.tile(START + np.minimum(step + horizon, count - 1) * HOUR, charts)
    return time, chart, until


def test_expanding_folds_test_every_later_block_once_and_train_only_before_it() -> None:
    time, chart, until = bars(3, 600, horizon=0)
    taught = np.ones(len(time), dtype=bool)
    folds = walk_forward(time, chart, until, taught, FoldPlan(folds=5))
    assert [f.number for f in folds] == [1, 2, 3, 4, 5]
    tested = np.concatenate([f.test for f in folds])
    assert len(np.unique(tested)) == len(tested) == 3 * 500  # blocks 1..5 of 6
    for fold in folds:
        assert time[fold.train].max() < fold.test_start <= time[fold.test].min()
        assert len(fold.train) == 3 * 100 * fold.number  # expanding: every block before
        assert (fold.purged, fold.embargoed) == (0, 0)


def test_purging_drops_training_rows_whose_label_reaches_the_test_block() -> None:
    time, chart, until = bars(2, 600, horizon=7)
    folds = walk_forward(time, chart, until, np.ones(len(time), dtype=bool), FoldPlan(folds=5))
    for fold in folds:
        assert until[fold.train].max() < fold.test_start
        assert fold.purged == 2 * 7  # the 7 bars before the block, on each chart
        assert len(fold.train) == 2 * (100 * fold.number - 7)


def test_the_embargo_drops_each_charts_bars_just_before_the_test_block() -> None:
    time, chart, until = bars(2, 600, horizon=3)
    plan = FoldPlan(folds=5, embargo=10)
    for fold in walk_forward(time, chart, until, np.ones(len(time), dtype=bool), plan):
        assert fold.purged == 2 * 3
        assert fold.embargoed == 2 * 7  # ten bars, three of them already purged
        assert time[fold.train].max() == fold.test_start - 11 * HOUR


def test_a_sliding_window_trains_on_its_last_blocks_only() -> None:
    time, chart, until = bars(1, 600, horizon=0)
    plan = FoldPlan(folds=5, window="sliding", train_blocks=2)
    folds = walk_forward(time, chart, until, np.ones(len(time), dtype=bool), plan)
    assert [len(f.train) for f in folds] == [100, 200, 200, 200, 200]
    assert time[folds[-1].train].min() == START + 300 * HOUR


def test_only_taught_rows_are_used_and_blocks_split_them_evenly() -> None:
    time, chart, until = bars(1, 1000, horizon=0)
    taught = np.zeros(len(time), dtype=bool)
    taught[500:] = True  # a labeller covered the second half only
    folds = walk_forward(time, chart, until, taught, FoldPlan(folds=4))
    assert [len(f.test) for f in folds] == [100, 100, 100, 100]
    assert all(taught[f.train].all() and taught[f.test].all() for f in folds)


def test_too_few_rows_for_the_folds_are_refused() -> None:
    time, chart, until = bars(1, 4, horizon=0)
    with pytest.raises(DatasetError, match="4 labelled rows at 4 times cannot make 5 folds"):
        walk_forward(time, chart, until, np.ones(4, dtype=bool), FoldPlan(folds=5))
