"""Each known problem gets its code, line, field and value; every row is accounted for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlelab.market.candle_files import read_candle_file
from candlelab.market.timeframes import Timeframe
from candlelab.market.validation import Problem, Rules, validate

FIXTURES = Path(__file__).parent.parent / "fixtures" / "candles"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOURLY = Rules(Timeframe.parse("1h"), now=NOW)

# The pathology fixture: each line's known problem.
EXPECTED = {
    3: ("unparsable_value", "open", "abc"),
    4: ("non_finite", "high", "inf"),
    5: ("high_below_low", "high", "99.0 / 101.0"),
    6: ("open_outside_range", "open", "105.0 / 99.0 / 104.0"),
    7: ("close_outside_range", "close", "102.0 / 99.0 / 101.0"),
    8: ("negative_volume", "volume", "-5.0"),
    9: ("non_positive_price", "open", "0.0"),
    11: ("duplicate_identical", "time", "2024-03-01T08:00:00Z"),
    12: ("duplicate_conflicting", "time", "2024-03-01T09:00:00Z"),
    13: ("duplicate_conflicting", "time", "2024-03-01T09:00:00Z"),
    14: ("misaligned_time", "time", "2024-03-01T10:30:00Z"),
    15: ("future_time", "time", "2099-01-01T00:00:00Z"),
    16: ("unparsable_time", "time", "not-a-time"),
    17: ("missing_value", "volume", None),
}


def raw(path: Path) -> pl.DataFrame:
    (candles,) = read_candle_file(path)
    return candles.frame


def test_every_known_problem_is_flagged_by_its_code_line_field_and_value() -> None:
    result = validate(raw(FIXTURES / "pathology_1h.csv"), HOURLY)
    found = {row[0]: tuple(row[1:]) for row in result.rejections.iter_rows()}
    assert found == EXPECTED
    assert result.bars["line"].to_list() == [2, 10, 18]
    assert result.reordered == 0  # the late 11:00 bar came after rows that were rejected
    assert result.rows_read == result.bars.height + result.rejections.height == 17


def test_identical_duplicates_are_problems_and_only_an_incomplete_bar_is_benign() -> None:
    result = validate(raw(FIXTURES / "pathology_1h.csv"), HOURLY)
    assert "duplicate_identical" in set(result.problems["code"])
    assert result.problems.height == len(EXPECTED)
    frame = hourly_frame(datetime(2025, 12, 31, 22, tzinfo=UTC), 3, step=timedelta(hours=1))
    almost = validate(
        frame, Rules(Timeframe.parse("1h"), now=datetime(2026, 1, 1, 0, 30, tzinfo=UTC))
    )
    assert almost.rejections["code"].to_list() == ["incomplete_bar"]
    assert almost.problems.is_empty()


def test_a_file_of_one_row_repeated_is_all_problems() -> None:
    frame = ohlc_rows(["2024-01-01T00:00:00Z"] * 1000)
    result = validate(frame, HOURLY)
    assert result.bars.height == 1
    assert result.problems.height == 999
    assert set(result.problems["code"]) == {"duplicate_identical"}


def test_times_before_the_floor_are_refused_like_future_ones() -> None:
    frame = ohlc_rows(["0001-01-01T00:00:00Z", "1899-12-31T23:00:00Z", "1900-01-01T00:00:00Z"])
    result = validate(frame, HOURLY)
    assert result.rejections.rows() == [
        (2, "too_early_time", "time", "0001-01-01T00:00:00Z"),
        (3, "too_early_time", "time", "1899-12-31T23:00:00Z"),
    ]
    later = validate(
        frame, Rules(Timeframe.parse("1h"), now=NOW, earliest=datetime(1950, 1, 1, tzinfo=UTC))
    )
    assert later.rejections.height == 3


def test_a_rejected_value_is_cut_to_about_100_characters() -> None:
    frame = ohlc_rows(["2024-01-01T00:00:00Z", "x" * 10_000_000])
    (value,) = validate(frame, HOURLY).rejections["value"].to_list()
    assert len(value) == 100
    assert value.endswith("…")


def test_rows_going_back_in_time_are_counted_against_the_chunk_before() -> None:
    first = hourly_frame(datetime(2024, 1, 1, 10, tzinfo=UTC), 3, step=timedelta(hours=1))
    after = validate(first, HOURLY).latest
    assert after == datetime(2024, 1, 1, 12, tzinfo=UTC)
    second = hourly_frame(datetime(2024, 1, 1, 8, tzinfo=UTC), 6, step=timedelta(hours=1))
    assert validate(second, HOURLY).reordered == 0
    assert validate(second, HOURLY, after=after).reordered == 4  # 08:00 to 11:00 < 12:00


def test_an_incomplete_last_bar_is_dropped_unless_kept() -> None:
    frame = hourly_frame(datetime(2025, 12, 31, 22, tzinfo=UTC), 3, step=timedelta(hours=1))
    almost = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    dropped = validate(frame, Rules(Timeframe.parse("1h"), now=almost))
    assert dropped.rejections["code"].to_list() == ["incomplete_bar"]
    kept = validate(frame, Rules(Timeframe.parse("1h"), now=almost, keep_incomplete=True))
    assert kept.bars.height == 3


def test_out_of_order_rows_are_sorted_and_counted() -> None:
    frame = hourly_frame(datetime(2024, 1, 1, tzinfo=UTC), 5, step=timedelta(hours=1))
    shuffled = frame[[4, 0, 3, 1, 2]].with_columns(line=pl.int_range(2, 7))
    result = validate(shuffled, HOURLY)
    assert result.reordered == 4  # every row after the first came earlier than it
    assert result.bars["time"].is_sorted()
    assert result.rejections.is_empty()


def test_binance_files_switching_from_ms_to_us_land_on_one_hourly_grid() -> None:
    frames = [raw(FIXTURES / "BTCUSDT-1h-2024-12.csv"), raw(FIXTURES / "BTCUSDT-1h-2025-01.zip")]
    bars = pl.concat([validate(f, HOURLY).bars for f in frames])
    assert bars.height == 12
    steps = bars["time"].diff().drop_nulls().unique().to_list()
    assert steps == [timedelta(hours=1)]
    assert bars["time"][6] == datetime(2025, 1, 1, tzinfo=UTC)
    assert bars["trades"].dtype == pl.Int64


def test_yahoo_null_rows_are_rejected_as_missing_values() -> None:
    result = validate(raw(FIXTURES / "yahoo_AAPL_1d.csv"), Rules(Timeframe.parse("1d"), now=NOW))
    assert result.rejections.select("line", "code").rows() == [(11, "missing_value")]
    assert result.bars.height == 10


@pytest.mark.parametrize(
    ("timezone", "session", "switches"),
    [
        ("America/New_York", ("09:30", 7), (date(2024, 3, 10), date(2024, 11, 3))),
        ("Europe/London", ("08:00", 8), (date(2024, 3, 31), date(2024, 10, 27))),
    ],
)
def test_sessions_across_both_dst_switches_keep_their_bar_count(
    timezone: str, session: tuple[str, int], switches: tuple[date, date]
) -> None:
    opening, bars_per_session = session
    days = [d for s in switches for d in weekdays_around(s)]
    times = [
        f"{day} {int(opening[:2]) + hour:02d}:{opening[3:]}:00"
        for day in days
        for hour in range(bars_per_session)
    ]
    frame = ohlc_rows(times)
    rules = Rules(Timeframe.parse("1h"), timezone=timezone, chart_timezone=timezone,
                  offset=f"{int(opening[3:])}m", now=NOW)  # fmt: skip
    result = validate(frame, rules)
    assert result.rejections.is_empty(), result.rejections
    local = result.bars["time"].dt.convert_time_zone(timezone)
    per_session = local.dt.date().value_counts().sort("time")["count"].to_list()
    assert per_session == [bars_per_session] * len(days)
    zone = ZoneInfo(timezone)
    opens = {d: min(t for t in result.bars["time"] if t.astimezone(zone).date() == d) for d in days}
    offsets = {opens[d].hour for d in days}
    assert len(offsets) == 2  # the session opens at another UTC hour once the clocks change


def test_a_repeated_local_hour_is_read_in_file_order_and_a_skipped_one_is_refused() -> None:
    times = ["2024-10-27 00:00:00", "2024-10-27 01:00:00", "2024-10-27 01:00:00",
             "2024-10-27 02:00:00", "2024-03-31 01:00:00"]  # fmt: skip
    rules = Rules(Timeframe.parse("1h"), timezone="Europe/London", now=NOW)
    result = validate(ohlc_rows(times), rules)
    assert [t.isoformat() for t in result.bars["time"]] == [
        "2024-10-26T23:00:00+00:00",
        "2024-10-27T00:00:00+00:00",
        "2024-10-27T01:00:00+00:00",
        "2024-10-27T02:00:00+00:00",
    ]
    assert result.rejections.select("line", "code").rows() == [(6, "nonexistent_local_time")]


@given(st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1)))
def test_epoch_seconds_ms_us_and_ns_give_the_same_instant(moment: datetime) -> None:
    moment = moment.replace(second=0, microsecond=0, tzinfo=UTC)
    seconds = int(moment.timestamp())
    texts = [str(seconds * scale) for scale in (1, 1000, 10**6, 10**9)]
    frame = ohlc_rows(texts)
    parsed = validate(frame, Rules(Timeframe.parse("1m"), now=datetime(2200, 1, 1, tzinfo=UTC)))
    assert parsed.bars["time"].to_list() == [moment]
    assert parsed.rejections["code"].to_list() == ["duplicate_identical"] * 3


CELL = st.one_of(
    st.sampled_from(["", "nan", "inf", "-1", "0", "1", "2.5", "1e3", "abc", " 7 "]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
TIME = st.one_of(
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 01:00", "1704067200", "bad", ""]),
    st.integers(min_value=1_600_000_000, max_value=1_800_000_000).map(lambda s: str(s - s % 3600)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TIME, CELL, CELL, CELL, CELL, CELL), max_size=30))
def test_every_row_is_either_a_bar_or_a_rejection(rows: list[tuple[str, ...]]) -> None:
    frame = pl.DataFrame(
        [[None if v == "" else v for v in row] for row in rows],
        schema=["time", "open", "high", "low", "close", "volume"],
        orient="row",
    ).with_columns(line=pl.int_range(2, len(rows) + 2, dtype=pl.Int64))
    result = validate(frame, Rules(Timeframe.parse("1h"), now=NOW))
    assert result.bars.height + result.rejections.height == len(rows)
    bars = result.bars
    assert bars["time"].is_sorted()
    assert bars["time"].n_unique() == bars.height
    assert (bars["low"] <= bars["open"]).all()
    assert (bars["open"] <= bars["high"]).all()
    assert (bars["low"] <= bars["close"]).all()
    assert (bars["close"] <= bars["high"]).all()
    assert (bars["volume"] >= 0).all()
    assert (bars["low"] > 0).all()
    assert set(result.rejections["code"]) <= {str(p) for p in Problem}


def hourly_frame(start: datetime, count: int, step: timedelta) -> pl.DataFrame:
    return ohlc_rows([(start + i * step).isoformat() for i in range(count)])


def ohlc_rows(times: list[str]) -> pl.DataFrame:
    n = len(times)
    return pl.DataFrame({
        "time": times, "open": ["10"] * n, "high": ["11"] * n, "low": ["9"] * n,
        "close": ["10.5"] * n, "volume": ["100"] * n,
    }).with_columns(line=pl.int_range(2, n + 2, dtype=pl.Int64))  # fmt: skip


def weekdays_around(switch: date) -> list[date]:
    days = [switch + timedelta(days=k) for k in range(-4, 5)]
    return [d for d in days if d.weekday() < 5]
