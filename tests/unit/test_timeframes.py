"""Timeframes, bar offsets and timezones: the rules every entry point goes by."""

from __future__ import annotations

import pytest

from candlelab.errors import InvalidField
from candlelab.market.charts import ChartKey
from candlelab.market.ingest import IngestOptions
from candlelab.market.timeframes import Timeframe, checked_timezone


@pytest.mark.parametrize("text", ["1m", "5m", "1h", "4h", "1d", "1w", "1M", "366d", "8784h",
                                  "527040m", "52w", "12M"])  # fmt: skip
def test_a_bar_from_one_minute_to_a_year_parses(text: str) -> None:
    assert Timeframe.parse(text).name == text


@pytest.mark.parametrize("text", ["99999d", "367d", "8785h", "53w", "13M", "999999999m"])
def test_a_bar_longer_than_a_year_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="longer than a year"):
        Timeframe.parse(text)


@pytest.mark.parametrize("text", ["0m", "1000000000000m", "1s", "-1h", "1 h", "", "x" * 5000])
def test_what_is_no_timeframe_is_refused_quoting_a_cut_value(text: str) -> None:
    with pytest.raises(ValueError, match="is not one of the forms") as refused:
        Timeframe.parse(text)
    assert len(str(refused.value)) < 200


def test_a_timeframe_made_directly_is_bounded_too() -> None:
    with pytest.raises(ValueError, match="longer than a year"):
        Timeframe(99999, "d")
    with pytest.raises(ValueError, match="count is 1 or more"):
        Timeframe(0, "h")


@pytest.mark.parametrize(("timeframe", "offset"), [("1h", "0m"), ("1h", "59m"), ("4h", "3h"),
                                                   ("1d", "17h"), ("1M", "600h")])  # fmt: skip
def test_an_offset_shorter_than_one_bar_is_kept(timeframe: str, offset: str) -> None:
    assert Timeframe.parse(timeframe).bar_offset(f" {offset} ") == offset


@pytest.mark.parametrize("offset", ["-5h", "99999d", "1d", "30s", "", "1h30m"])
def test_an_offset_that_is_not_minutes_or_hours_is_refused(offset: str) -> None:
    with pytest.raises(InvalidField, match=r"--offset: .* is not whole minutes or hours"):
        Timeframe.parse("1h").bar_offset(offset, "--offset")


@pytest.mark.parametrize(("timeframe", "offset"), [("1h", "60m"), ("1h", "1h"), ("1h", "99999h"),
                                                   ("1d", "24h"), ("1M", "672h")])  # fmt: skip
def test_an_offset_of_a_bar_or_more_is_refused(timeframe: str, offset: str) -> None:
    with pytest.raises(InvalidField, match=f"is not shorter than one {timeframe} bar"):
        Timeframe.parse(timeframe).bar_offset(offset)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/London", "Asia/Tokyo"])
def test_a_known_timezone_passes(zone: str) -> None:
    assert checked_timezone(zone) == zone


@pytest.mark.parametrize("zone", ["Not/AZone", "", "utc", "localtime", "Factory",
                                  "../../etc/passwd", "UTC\x00", "x" * 5000])  # fmt: skip
def test_an_unknown_timezone_is_refused_naming_the_field(zone: str) -> None:
    with pytest.raises(InvalidField, match=r"^--chart-timezone: .* is not a known timezone") as no:
        checked_timezone(zone, "--chart-timezone")
    assert len(str(no.value)) < 200


def test_a_chart_key_holds_the_symbol_as_the_rule_stores_it() -> None:
    assert ChartKey(" btcusdt ", "1h", "file") == ChartKey("BTCUSDT", "1h", "file")
    with pytest.raises(InvalidField, match=r"^symbol: "):
        ChartKey("A\u202eB", "1h", "file")
    assert ChartKey("BTCUSDT", "1h", " binance ").source == "binance"
    with pytest.raises(InvalidField, match=r"^source: is empty"):
        ChartKey("BTCUSDT", "1h", "  ")
    with pytest.raises(InvalidField, match=r"^timeframe: .* longer than a year"):
        ChartKey("BTCUSDT", "99999d", "file")


def test_ingest_options_refuse_what_the_cli_refuses_before_any_row_is_read() -> None:
    hourly = Timeframe.parse("1h")
    assert IngestOptions("eurusd", hourly).symbol == "EURUSD"
    with pytest.raises(InvalidField, match=r"^offset: '-5h'"):
        IngestOptions("EURUSD", hourly, offset="-5h")
    with pytest.raises(InvalidField, match=r"^timezone: 'Not/AZone'"):
        IngestOptions("EURUSD", hourly, timezone="Not/AZone")
    with pytest.raises(InvalidField, match=r"^chart_timezone: 'Not/AZone'"):
        IngestOptions("EURUSD", hourly, chart_timezone="Not/AZone")
    with pytest.raises(InvalidField, match=r"^symbol: is empty"):
        IngestOptions("   ", hourly)
