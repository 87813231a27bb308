from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from candlelab.market.candles import Bars
from candlelab.market.synthetic_market import (
    INSTRUMENTS,
    MarketSpec,
    daily_bars,
    hourly_bars,
    shifted_bars,
    trading_hours,
)

SPEC = MarketSpec(start=date(2024, 1, 1), end=date(2025, 1, 1))
BY_MARKET = {
    market: next(i for i in INSTRUMENTS if i.market == market)
    for market in ("crypto", "equity", "fx")
}


def weekday(times: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64]:
    return (times.astype("datetime64[D]").view(np.int64) + 3) % 7


@pytest.mark.parametrize("instrument", INSTRUMENTS, ids=lambda i: i.symbol)
def test_every_bar_is_consistent(instrument: object) -> None:
    bars = hourly_bars(instrument, SPEC)  # type: ignore[arg-type]
    for b in (bars, daily_bars(bars)):
        assert (b.low <= np.minimum(b.open, b.close)).all()
        assert (b.high >= np.maximum(b.open, b.close)).all()
        assert (b.low > 0).all()
        assert (b.volume > 0).all()
        assert (np.diff(b.time) > np.timedelta64(0)).all()


def test_the_same_seed_gives_the_same_market_and_another_seed_another() -> None:
    crypto = BY_MARKET["crypto"]
    first, again = hourly_bars(crypto, SPEC), hourly_bars(crypto, SPEC)
    assert np.array_equal(first.close, again.close)
    other = hourly_bars(crypto, MarketSpec(seed=8, start=SPEC.start, end=SPEC.end))
    assert not np.array_equal(first.close, other.close)


def test_sessions_equities_trade_weekdays_fx_closes_at_the_weekend_crypto_never() -> None:
    equity = trading_hours("equity", SPEC.start, SPEC.end)
    assert set(weekday(equity)) == {0, 1, 2, 3, 4}
    local = pl.Series(equity).dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York")
    assert set(local.dt.strftime("%H:%M")) == {f"{h:02d}:30" for h in range(9, 16)}
    assert "2024-12-25" not in set(local.dt.strftime("%Y-%m-%d"))  # NYSE holiday
    fx = trading_hours("fx", SPEC.start, SPEC.end)
    assert 5 not in set(weekday(fx))
    crypto = trading_hours("crypto", SPEC.start, SPEC.end)
    assert len(crypto) == 366 * 24
    assert len(fx) < len(crypto)


def test_returns_have_fat_tails_and_changing_volatility() -> None:
    bars = hourly_bars(BY_MARKET["crypto"], MarketSpec())
    returns = np.diff(np.log(bars.close))
    kurtosis = ((returns - returns.mean()) ** 4).mean() / returns.var() ** 2
    assert kurtosis > 4  # a normal distribution has 3
    monthly_vol = [chunk.std() for chunk in np.array_split(returns, 36)]
    assert max(monthly_vol) > 1.8 * min(monthly_vol)  # regimes: calm and wild months


def test_equities_gap_between_sessions() -> None:
    bars = hourly_bars(BY_MARKET["equity"], SPEC)
    session_starts = np.flatnonzero(np.diff(bars.time) > np.timedelta64(1, "h")) + 1
    gaps = np.abs(bars.open[session_starts] / bars.close[session_starts - 1] - 1)
    within = np.abs(bars.open[1:] / bars.close[:-1] - 1)
    assert gaps.mean() > 0.001
    assert np.median(within) == 0.0  # inside a session each bar opens at the last close


def test_daily_bars_aggregate_the_hourly_path() -> None:
    hourly = hourly_bars(BY_MARKET["fx"], SPEC)
    daily = daily_bars(hourly)
    day = hourly.time.astype("datetime64[D]") == daily.time[10].astype("datetime64[D]")
    assert daily.open[10] == hourly.open[day][0]
    assert daily.close[10] == hourly.close[day][-1]
    assert daily.high[10] == hourly.high[day].max()
    assert daily.low[10] == hourly.low[day].min()
    assert daily.volume[10] == pytest.approx(hourly.volume[day].sum())
    assert isinstance(daily, Bars)


def test_shifted_bars_go_on_from_the_last_close_with_larger_moves() -> None:
    crypto = BY_MARKET["crypto"]
    year = hourly_bars(crypto, SPEC)
    shifted = shifted_bars(crypto, SPEC, days=14, volatility_scale=4.0)
    assert shifted.time[0] == np.datetime64("2025-01-01T00:00", "us")
    assert len(shifted.time) == 14 * 24
    assert shifted.open[0] == year.close[-1]
    moves = np.std(np.diff(np.log(shifted.close)))
    usual = np.std(np.diff(np.log(year.close)))
    assert moves > 2.5 * usual  # the year mixes its regimes, the 2.2x volatile one too
    assert (shifted.low <= np.minimum(shifted.open, shifted.close)).all()
    again = shifted_bars(crypto, SPEC, days=14, volatility_scale=4.0)
    assert np.array_equal(shifted.close, again.close)
