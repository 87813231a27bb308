"""The import's checksums: blind to row order, not to any value."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from candlelab.legacy.checksums import checksum

CANDLES = pl.DataFrame({
    "chart_id": [1, 1, 2],
    "time": [datetime(2024, 1, 1, h, tzinfo=UTC) for h in range(3)],
    "open": [1.0, 2.0, 3.0], "high": [1.5, 2.5, 3.5], "low": [0.5, 1.5, 2.5],
    "close": [1.2, 2.2, 3.2], "volume": [10.0, 20.0, 30.0],
})  # fmt: skip


def test_the_same_rows_in_another_order_give_the_same_checksum() -> None:
    assert checksum("candles", CANDLES) == checksum("candles", CANDLES.reverse())


def test_any_changed_value_changes_the_checksum() -> None:
    base = checksum("candles", CANDLES)
    one_bit = pl.when(pl.int_range(pl.len()) == 1).then(2.2000000000000006)  # 2.2's neighbour
    nudged = CANDLES.with_columns(close=one_bit.otherwise(pl.col("close")))
    swapped = CANDLES.with_columns(pl.col("volume").reverse())
    moved = CANDLES.with_columns(pl.col("chart_id").reverse())
    later = CANDLES.with_columns(pl.col("time").dt.offset_by("1us"))
    for changed in (nudged, swapped, moved, later, CANDLES.head(2)):
        assert checksum("candles", changed) != base


def test_json_is_compared_by_meaning_and_null_is_not_empty() -> None:
    spans = {"id": [1], "chart_id": [1], "label_type_id": [1],
             "start_time": [datetime(2024, 1, 1, tzinfo=UTC)],
             "end_time": [datetime(2024, 1, 2, tzinfo=UTC)], "source": ["model"],
             "status": ["proposed"], "confidence": [0.9], "sub_spans": [None],
             "created_at": [datetime(2024, 1, 1, tzinfo=UTC)],
             "updated_at": [datetime(2024, 1, 1, tzinfo=UTC)]}  # fmt: skip
    one = pl.DataFrame({**spans, "model_prediction": ['{"p": 0.9, "label": "Up"}']})
    same = pl.DataFrame({**spans, "model_prediction": ['{"label":"Up","p":0.9}']})
    other = pl.DataFrame({**spans, "model_prediction": ['{"label":"Up","p":0.8}']})
    assert checksum("span_annotations", one) == checksum("span_annotations", same)
    assert checksum("span_annotations", one) != checksum("span_annotations", other)
    empty = pl.DataFrame({**spans, "sub_spans": ["null"], "model_prediction": [None]})
    null = pl.DataFrame({**spans, "model_prediction": [None]})
    assert checksum("span_annotations", empty) != checksum("span_annotations", null)
