"""Legacy conversions as properties: epoch units, and chart names read for their keys;
and reading a table in parts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from candlelab.legacy import conversion
from candlelab.legacy.conversion import _timeframe, epoch_unit, read_table
from candlelab.legacy.layout import TABLES, check_layout, open_readonly, readable
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


def converted(path: Path, max_value: int = conversion.MAX_VALUE) -> conversion.Converted:
    with readable(path) as source:
        with closing(open_readonly(source.read)) as conn:
            layout = check_layout(conn, source)
        return conversion.convert(layout, max_value)


def problems_of(result: conversion.Converted) -> list[tuple[str, int, str, str]]:
    return result.problems.select("table", "id", "code", "field").rows()


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
def test_a_price_not_finite_is_reported_under_its_own_column(tmp_path: Path, column: str) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE candles SET {column} = 9e999 WHERE id = 7")
    assert problems_of(converted(path)) == [("candles", 7, "non_finite", column)]


HOSTILE = [
    ("charts", "name", "BTC\x00USDT 1h", "U+0000"),
    ("charts", "name", "x" * 5000, "has 5000 characters; at most 80"),
    ("charts", "name", "   ", "is empty"),
    ("charts", "symbol", "BTC\u202eUSDT", "U+202E"),
    ("charts", "symbol", "S" * 41, "at most 40"),
    ("annotation_types", "color", "javascript:alert(1)", "is not a colour"),
    ("annotation_types", "name", "Entry\nNow", "U+000A"),
    ("annotation_types", "icon", "arrow\x00", "U+0000"),
    ("annotations", "note", "ring \x07 the bell", "U+0007"),
    ("annotations", "note", "n" * 2001, "at most 2000"),
    ("span_label_types", "color", "red", "is not a colour"),
    ("span_label_types", "description", "nul\x00", "U+0000"),
]


@pytest.mark.parametrize(("table", "column", "value", "why"), HOSTILE)
def test_the_api_field_rules_refuse_the_row_and_say_why(
    tmp_path: Path, table: str, column: str, value: str, why: str
) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE id = 1", (value,))
    result = converted(path)
    problem = result.problems.row(0, named=True)
    assert (problem["table"], problem["id"], problem["code"], problem["field"]) == (
        table, 1, "invalid_field", column)  # fmt: skip
    assert why in problem["value"]
    assert len(problem["value"]) <= conversion.SHOWN + 1
    assert 1 not in result.tables[table]["id"].to_list()


def test_names_are_trimmed_and_symbols_upper_cased_as_the_api_has_them(tmp_path: Path) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE charts SET name = '  BTC hourly  ', symbol = ' btcusdt ' WHERE id = 1")
        db.execute("UPDATE span_label_types SET name = ' Uptrend ' WHERE id = 1")
    result = converted(path)
    assert result.problems.is_empty()
    charts = result.tables["charts"].filter(pl.col("id") == 1)
    assert charts.select("name", "symbol").row(0) == ("BTC hourly", "BTCUSDT")
    assert result.tables["span_label_types"]["name"][0] == "Uptrend"


def test_a_name_too_long_for_a_symbol_gives_a_placeholder_not_a_long_symbol(
    tmp_path: Path,
) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE charts SET name = ? WHERE id = 2", ("E" * 60 + " 4h",))
    charts = converted(path).tables["charts"].filter(pl.col("id") == 2)
    assert charts.select("symbol", "timeframe").row(0) == ("LEGACY-2", "4h")


def test_type_names_equal_but_for_case_keep_the_first(tmp_path: Path) -> None:
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO annotation_types (name, color, created_at) "
                   "VALUES ('ENTRY ', '#000000', 1700000000)")  # fmt: skip
    result = converted(path)
    assert problems_of(result) == [("annotation_types", 4, "duplicate_name", "name")]
    assert "type 1" in result.problems["value"][0]


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("charts", "name", "randomblob(3000000)"),  # a blob in a text column
        ("annotations", "note", "printf('%.3000000c', 'n')"),  # a text
        ("candles", "open", "randomblob(3000000)"),  # a blob in a table of numbers
        ("span_annotations", "sub_spans", "printf('%.3000000c', '[')"),
    ],
)
def test_a_value_too_long_refuses_its_row_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, column: str, value: str
) -> None:
    """A value of 3 MB against a limit of 1 MB: measured by SQLite, reported with its
    table, row, column and size; no frame read from the file holds it."""
    path = tmp_path / "candles.db"
    write_sample(path)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE {table} SET {column} = {value} WHERE id = 3")
    longest = 0

    def watched(read: Callable[..., pl.DataFrame]) -> Callable[..., pl.DataFrame]:
        def reading(*args: object) -> pl.DataFrame:
            nonlocal longest
            frame = read(*args)
            for name, dtype in frame.schema.items():
                if dtype in (pl.String, pl.Binary) and frame.height:
                    lengths = frame[name].cast(pl.Binary).bin.size() if dtype == pl.Binary else (
                        frame[name].str.len_bytes())  # fmt: skip
                    longest = max(longest, int(lengths.max() or 0))  # type: ignore[arg-type]
            return frame

        return reading

    monkeypatch.setattr(conversion, "_read_part", watched(conversion._read_part))
    monkeypatch.setattr(conversion, "_wrong_types", watched(conversion._wrong_types))
    result = converted(path, max_value=1_000_000)
    assert longest < 1_000_000
    problem = result.problems.filter(pl.col("code") == "too_large").row(0, named=True)
    assert (problem["table"], problem["id"], problem["field"]) == (table, 3, column)
    assert "3,000,000" in problem["value"]
    assert "at most 1,000,000" in problem["value"]
    assert 3 not in result.tables[table]["id"].to_list()
