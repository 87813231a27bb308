"""Legacy conversions as properties: epoch units, and chart names read for their keys;
and reading a table in parts."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from candlelab.legacy import conversion
from candlelab.legacy.conversion import _timeframe, epoch_unit, read_table
from candlelab.legacy.layout import TABLES
from candlelab.legacy.sample import PROBLEMS, SampleSpec, write_sample

# 1990 to 2100, in seconds: the span an annotator's times can have.
SECONDS = st.integers(631_152_000, 4_102_444_800)


@given(st.lists(SECONDS, min_size=1, max_size=50))
def test_seconds_read_as_seconds_and_the_same_times_in_ms_as_ms(times: list[int]) -> None:
    assert epoch_unit(pl.Series(times)) == "s"
    assert epoch_unit(pl.Series([t * 1000 for t in times])) == "ms"


@given(st.lists(SECONDS, min_size=3, max_size=50), st.data())
def test_a_few_values_in_the_other_unit_do_not_decide_the_column(
    times: list[int], data: st.DataObject
) -> None:
    odd = data.draw(st.integers(0, (len(times) - 1) // 2))  # fewer than half
    mixed = [t * 1000 for t in times[:odd]] + times[odd:]
    assert epoch_unit(pl.Series(mixed)) == "s"
    flipped = times[:odd] + [t * 1000 for t in times[odd:]]
    assert epoch_unit(pl.Series(flipped)) == "ms"


def test_an_empty_or_null_column_is_seconds() -> None:
    assert epoch_unit(pl.Series([], dtype=pl.Int64)) == "s"
    assert epoch_unit(pl.Series([None, None], dtype=pl.Int64)) == "s"


# Counts up to 12: a bar lasts at most a year (12M, 52w, 366d), see market/timeframes.py.
@given(st.integers(1, 12), st.sampled_from(["m", "h", "d", "w"]), st.sampled_from(["", " "]))
def test_timeframes_written_any_usual_way_are_read(count: int, unit: str, space: str) -> None:
    assert _timeframe(f"{count}{space}{unit}") == f"{count}{unit}"
    # Upper case is read as lower case, except M: as in candlelab, 1M is a month.
    upper = f"{count}M" if unit == "m" else f"{count}{unit}"
    assert _timeframe(f"{count}{space}{unit.upper()}") == upper


def test_named_timeframes_and_nonsense() -> None:
    assert [_timeframe(t) for t in ("daily", "Hourly", "weekly", "15min", "4H")] == [
        "1d", "1h", "1w", "15m", "4h"]  # fmt: skip
    assert _timeframe("whenever") is None
    assert _timeframe(None) is None


def test_a_table_read_in_parts_is_the_table_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "candles.db"
    write_sample(path, SampleSpec(problems=frozenset(PROBLEMS)))
    whole = {table: read_table(path, table) for table in TABLES}
    monkeypatch.setattr(conversion, "PART_ROWS", 1)
    monkeypatch.setattr(conversion, "READERS", 3)
    for table in TABLES:
        assert_frame_equal(read_table(path, table), whole[table])
    # The planted wrong types are found in whichever part they fall.
    wrong = whole["candles"].filter(pl.col("_bad_field").is_not_null())
    assert wrong.height >= 1


@pytest.mark.parametrize(
    ("row", "value"),
    [(5, "'yesterday'"), (2500, "'yesterday'"), (2500, "1.5"), (2500, "x'00'")],
)
@pytest.mark.parametrize("column", ["chart_id", "time", "close"])
def test_a_candle_of_the_wrong_type_anywhere_is_found(
    tmp_path: Path, row: int, value: str, column: str
) -> None:
    """Candles are read as stored, unchecked, while every value has its column's type; one
    that has not (early in the table or late, past the reader's first batch) sends the read
    through the checked one."""
    path = tmp_path / "candles.db"
    write_sample(path, SampleSpec(candles_per_chart=1000))
    clean = read_table(path, "candles")
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE candles SET {column} = {value} WHERE id = {row}")
    frame = read_table(path, "candles")
    wrong = frame.filter(pl.col("_bad_field").is_not_null())
    if value == "1.5" and column == "close":  # a real in a real column is no problem
        assert wrong.is_empty()
        return
    assert wrong.select("id", "_bad_field").rows() == [(row, column)]
    assert_frame_equal(frame.filter(pl.col("id") != row), clean.filter(pl.col("id") != row))


def test_clean_candles_read_as_stored_equal_the_checked_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "candles.db"
    write_sample(path, SampleSpec(candles_per_chart=1000))
    as_stored = read_table(path, "candles")
    monkeypatch.setattr(conversion, "_numbers_as_stored", lambda *args: None)  # checked, then
    assert_frame_equal(read_table(path, "candles"), as_stored)
