"""A new chart's calendar told from its bars: exchanges by their holidays, FX by its week,
crypto by its weekends; real calendars (exchange_calendars), synthetic bars."""

from __future__ import annotations

from datetime import date

import exchange_calendars
import numpy as np
import pytest

from candlelab.market.calendar_inference import EXCHANGES, infer_calendar
from candlelab.market.calendars import CONTINUOUS, FX_WEEK, expected_bars, sessions
from candlelab.market.synthetic_market import (
    INSTRUMENTS,
    MARKETS,
    MarketSpec,
    daily_bars,
    hourly_bars,
)
from candlelab.market.timeframes import Timeframe

DAILY, HOURLY = Timeframe(1, "d"), Timeframe(1, "h")
YEAR = MarketSpec(start=date(2024, 1, 1), end=date(2025, 1, 1))
TOO_FEW = "too few bars to tell (under two weeks)"


def market_bars(symbol: str, timeframe: str, clock: str) -> np.ndarray:
    """The open times of a synthetic instrument's bars in 2024, days on the wall clock `clock`."""
    hourly = hourly_bars(next(i for i in INSTRUMENTS if i.symbol == symbol), YEAR)
    return hourly.time if timeframe == "1h" else daily_bars(hourly, clock).time


def exchange_days(code: str, clock: str, span: tuple[str, str]) -> np.ndarray:
    return expected_bars(
        code, DAILY, timezone=clock, offset="0m",
        first=np.datetime64(span[0], "us"), last=np.datetime64(span[1], "us"),
    )  # fmt: skip


@pytest.mark.parametrize("clock", ["America/New_York", "UTC"])
def test_stock_days_without_weekends_or_nyse_holidays_are_xnys(clock: str) -> None:
    inferred = infer_calendar(market_bars("AAPL", "1d", clock), DAILY, clock)
    assert inferred.calendar == "XNYS"
    assert inferred.why == "no weekend or XNYS holiday bars"


def test_stock_hours_in_nyse_sessions_are_xnys() -> None:
    equity = MARKETS["equity"]
    times = market_bars("AAPL", "1h", equity.timezone)
    assert infer_calendar(times, HOURLY, equity.timezone, equity.hourly_offset).calendar == "XNYS"


@pytest.mark.parametrize(
    ("code", "clock"), [("XLON", "Europe/London"), ("XTKS", "Asia/Tokyo"), ("XLON", "UTC")]
)
def test_an_exchanges_days_are_told_as_that_exchange(code: str, clock: str) -> None:
    days = exchange_days(code, clock, ("2023-01-01", "2024-12-31"))
    assert infer_calendar(days, DAILY, clock).calendar == code


def test_fx_weekdays_trading_through_exchange_holidays_are_the_fx_week() -> None:
    weekdays = np.arange("2024-01-01", "2025-01-01", dtype="M8[D]")
    weekdays = weekdays[np.is_busday(weekdays)].astype("M8[us]")
    assert np.datetime64("2024-07-04", "us") in weekdays
    inferred = infer_calendar(weekdays, DAILY, "UTC")
    assert inferred == infer_calendar(market_bars("EURUSD", "1d", "UTC"), DAILY, "UTC")
    assert inferred.calendar == FX_WEEK
    assert inferred.why == "no weekend bars; bars outside the sessions of every listed exchange"
    assert infer_calendar(market_bars("EURUSD", "1h", "UTC"), HOURLY, "UTC").calendar == FX_WEEK


def test_crypto_days_and_hours_trade_on_weekends_and_are_24_7() -> None:
    for timeframe in (DAILY, HOURLY):
        inferred = infer_calendar(market_bars("BTCUSDT", timeframe.name, "UTC"), timeframe, "UTC")
        assert (inferred.calendar, inferred.why) == (CONTINUOUS, "bars on weekends")


def test_too_few_bars_cannot_tell() -> None:
    two_weeks = exchange_days("XNYS", "UTC", ("2024-03-04", "2024-03-15"))  # 12 days of bars
    for times in (two_weeks[:9], two_weeks, np.array([], "M8[us]")):
        inferred = infer_calendar(times, DAILY, "UTC")
        assert (inferred.calendar, inferred.why) == (CONTINUOUS, TOO_FEW)


def test_weeks_and_months_are_24_7_as_every_calendar_expects_them_alike() -> None:
    mondays = np.arange("2024-01-01", "2024-12-31", 7, dtype="M8[D]").astype("M8[us]")
    assert infer_calendar(mondays, Timeframe(1, "w"), "UTC").calendar == CONTINUOUS


def test_weekdays_with_no_exchange_holiday_in_their_span_do_not_name_an_exchange() -> None:
    """Early June to mid July 2024: no London, Paris or Frankfurt holiday to tell by."""
    days = exchange_days("XLON", "Europe/London", ("2024-06-03", "2024-07-12"))
    inferred = infer_calendar(days, DAILY, "Europe/London")
    assert inferred.calendar == FX_WEEK
    assert "no exchange holiday in their span" in inferred.why


@pytest.mark.parametrize(
    ("clock", "code"),
    [("Europe/Paris", "XPAR"), ("Europe/Berlin", "XETR"), ("Europe/London", "XLON"),
     ("UTC", "XPAR")],
)  # fmt: skip
def test_exchanges_that_fit_equally_go_to_the_one_in_the_charts_zone(clock: str, code: str) -> None:
    """Around Easter 2024 London, Paris and Frankfurt close on the same two days; a zone none
    of them is in goes to the first listed."""
    days = exchange_days("XETR", clock, ("2024-03-11", "2024-04-19"))
    assert infer_calendar(days, DAILY, clock).calendar == code


def test_a_holiday_another_exchange_keeps_open_decides_between_two_that_fit() -> None:
    """NYSE days fit Toronto's sessions too when no Canadian holiday intervenes; the NYSE's
    own holiday (Martin Luther King Day) is a day Toronto expects and the bars lack."""
    days = exchange_days("XNYS", "America/Toronto", ("2024-01-02", "2024-02-09"))
    assert infer_calendar(days, DAILY, "America/Toronto").calendar == "XNYS"


def test_the_listed_exchanges_trade_inside_the_fx_week_in_their_own_zones() -> None:
    """What lets bars in the FX weekend rule every listed exchange out at once."""
    start, end = np.datetime64("2023-01-01", "us"), np.datetime64("2025-01-01", "us")
    fx = sessions(FX_WEEK, start, end)
    for code, zone in EXCHANGES.items():
        assert str(exchange_calendars.get_calendar(code).tz) == zone
        own = sessions(code, start, end)
        week = np.searchsorted(fx.opens, own.opens, "right") - 1
        assert (fx.opens[week] <= own.opens).all(), code
        assert (own.closes <= fx.closes[week]).all(), code
