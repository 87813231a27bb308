"""A realistic synthetic market, the same for the same seed: what the demo and the tests load.

Each symbol follows a hidden regime (trending up or down, ranging, volatile) that switches as a
Markov chain; hourly log returns are Student-t (fat tails) scaled by the regime's
volatility. Each market keeps its calendar: equities trade the New York Stock Exchange's
sessions (holidays and early closes included) in hourly bars from 09:30 and gap at each
open; FX trades Sunday to Friday 17:00 New York time; crypto never closes. Daily bars
aggregate the same hourly path, so both timeframes of a symbol tell one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from candlelab.market.calendars import expected_bars
from candlelab.market.candles import Bars
from candlelab.market.timeframes import Timeframe

HOUR = np.timedelta64(1, "h")
DAY = np.timedelta64(1, "D")
# Regimes: trending up, trending down, ranging, volatile. Columns: hourly drift in units of
# the instrument's volatility, volatility multiplier, mean reversion toward the regime's start.
REGIMES = np.array([[0.04, 0.8, 0.0], [-0.04, 0.8, 0.0], [0.0, 0.6, 0.04], [-0.005, 2.2, 0.0]])
# Hourly chance of leaving each regime: they last days to weeks.
REGIME_EXIT = 1 / 24 / 12
STUDENT_DF = 4.0
# Shocks are cut at this many standard deviations: the t tails would otherwise give a
# +35 % hour to BTC now and then, which no market shows and `quality` rightly flags.
SHOCK_LIMIT = 6.0


@dataclass(frozen=True)
class Market:
    """A market's conventions: its calendar, its wall clock, where its hourly bars start."""

    calendar: str
    timezone: str
    hourly_offset: str


MARKETS = {
    "crypto": Market("24/7", "UTC", "0m"),
    "equity": Market("XNYS", "America/New_York", "30m"),
    "fx": Market("24/5", "UTC", "0m"),
}


@dataclass(frozen=True)
class Instrument:
    symbol: str
    market: str  # "crypto", "equity" or "fx"
    price: float  # the price on the first day
    volatility: float  # typical hourly volatility of log returns
    volume: float  # typical hourly volume


INSTRUMENTS = (
    Instrument("BTCUSDT", "crypto", 16_500.0, 0.0070, 1_800.0),
    Instrument("ETHUSDT", "crypto", 1_200.0, 0.0085, 22_000.0),
    Instrument("SOLUSDT", "crypto", 10.0, 0.0140, 400_000.0),
    Instrument("BNBUSDT", "crypto", 245.0, 0.0080, 30_000.0),
    Instrument("AAPL", "equity", 130.0, 0.0045, 9_000_000.0),
    Instrument("MSFT", "equity", 240.0, 0.0042, 4_000_000.0),
    Instrument("NVDA", "equity", 146.0, 0.0080, 7_000_000.0),
    Instrument("TSLA", "equity", 110.0, 0.0095, 16_000_000.0),
    Instrument("SPY", "equity", 380.0, 0.0028, 12_000_000.0),
    Instrument("EURUSD", "fx", 1.07, 0.0011, 90_000.0),
    Instrument("GBPUSD", "fx", 1.21, 0.0013, 60_000.0),
    Instrument("USDJPY", "fx", 131.0, 0.0012, 70_000.0),
)


@dataclass(frozen=True)
class MarketSpec:
    seed: int = 7
    start: date = date(2023, 1, 2)
    end: date = date(2026, 1, 1)
    hourly_days: int = 365  # hourly bars cover the last this-many days; daily bars cover all


def trading_hours(market: str, start: date, end: date) -> npt.NDArray[np.datetime64]:
    """The open time of every hourly bar the market trades in [start, end), in UTC."""
    conventions = MARKETS[market]
    first, last = np.datetime64(start, "us"), np.datetime64(end, "us") - HOUR
    return expected_bars(
        conventions.calendar, Timeframe(1, "h"), timezone=conventions.timezone,
        offset=conventions.hourly_offset, first=first, last=last,
    )  # fmt: skip


def hourly_bars(instrument: Instrument, spec: MarketSpec) -> Bars:
    """The instrument's hourly bars over the whole span of the spec."""
    rng, times, regimes = _regimes(instrument, spec)
    returns = _log_returns(rng, instrument, regimes)
    returns += _session_gaps(rng, instrument, times)
    return _priced(rng, instrument, times, returns, start=instrument.price,
                   vol_scale=REGIMES[regimes, 1])  # fmt: skip


def shifted_bars(instrument: Instrument, spec: MarketSpec, *, days: int,
                 volatility_scale: float) -> Bars:  # fmt: skip
    """The instrument's hourly bars for `days` after the spec's end, continuing from its
    last close in one regime without drift whose volatility is `volatility_scale` times
    the instrument's: a volatility shift at the end of the chart, for drift checks."""
    last_close = float(hourly_bars(instrument, spec).close[-1])
    rng = np.random.default_rng([spec.seed, *instrument.symbol.encode(), days])
    first = spec.end
    times = trading_hours(instrument.market, first, first + timedelta(days=days))
    returns = instrument.volatility * volatility_scale * _shocks(rng, len(times))
    returns += _session_gaps(rng, instrument, times)
    scale = np.full(len(times), volatility_scale)
    return _priced(rng, instrument, times, returns, start=last_close, vol_scale=scale)


def _priced(rng: np.random.Generator, instrument: Instrument,
            times: npt.NDArray[np.datetime64], returns: npt.NDArray[np.float64], *,
            start: float, vol_scale: npt.NDArray[np.float64]) -> Bars:  # fmt: skip
    """Bars from their log returns, starting from the price `start`."""
    close = start * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(_gap_part(returns, times))
    return _with_wicks(rng, instrument, times, open_=open_, close=close, vol_scale=vol_scale)


def hourly_regimes(
    instrument: Instrument, spec: MarketSpec
) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """Each hourly bar's hidden regime (an index into REGIMES: up, down, ranging,
    volatile): what a perfect labeller would mark."""
    _, times, regimes = _regimes(instrument, spec)
    return times, regimes


def _regimes(instrument: Instrument, spec: MarketSpec) -> tuple[
    np.random.Generator, npt.NDArray[np.datetime64], npt.NDArray[np.int64]
]:  # fmt: skip
    """The instrument's generator, its bar times, and its regimes (the generator's first
    draws, so the bars drawn after them are those of `hourly_bars`)."""
    rng = np.random.default_rng([spec.seed, *instrument.symbol.encode()])
    times = trading_hours(instrument.market, spec.start, spec.end)
    return rng, times, _regime_path(rng, len(times))


def daily_bars(hourly: Bars, timezone: str = "UTC") -> Bars:
    """Day bars from hourly ones, days starting at midnight in `timezone`: first open, max
    high, min low, last close, summed volume."""
    local_day = pl.col("time").dt.convert_time_zone(timezone).dt.truncate("1d")
    days = (
        hourly.to_frame()
        .group_by(local_day.alias("day"), maintain_order=True)
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
    )
    time = days["day"].dt.convert_time_zone("UTC").dt.replace_time_zone(None).to_numpy()
    return Bars(
        time, *(days[name].to_numpy() for name in ("open", "high", "low", "close", "volume"))
    )


def _regime_path(rng: np.random.Generator, n: int) -> npt.NDArray[np.int64]:
    switches = rng.random(n) < REGIME_EXIT
    choices = rng.integers(0, len(REGIMES), size=n)
    choices[0] = rng.integers(0, len(REGIMES))
    # Each bar keeps the regime drawn at the most recent switch.
    last_switch = np.maximum.accumulate(np.where(switches, np.arange(n), 0))
    return choices[last_switch]


def _log_returns(
    rng: np.random.Generator, instrument: Instrument, regimes: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    drift, vol_scale, reversion = REGIMES[regimes].T
    shocks = _shocks(rng, len(regimes))
    steps = instrument.volatility * (drift + vol_scale * shocks)
    return _mean_reverting(steps, reversion, regimes)


def _mean_reverting(
    steps: npt.NDArray[np.float64],
    reversion: npt.NDArray[np.float64],
    regimes: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Log returns where ranging regimes pull the price back toward where the regime began."""
    level, anchor = 0.0, 0.0
    levels = np.empty(len(steps))
    for i, step in enumerate(steps):
        if i == 0 or regimes[i] != regimes[i - 1]:
            anchor = level
        level += step - reversion[i] * (level - anchor)
        levels[i] = level
    return np.diff(levels, prepend=0.0)


def _session_gaps(
    rng: np.random.Generator, instrument: Instrument, times: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.float64]:
    """Overnight and weekend news: an extra jump on the first bar after a market pause."""
    pauses = np.concatenate([[False], np.diff(times) > HOUR])
    scale = instrument.volatility * 3.0
    return np.where(pauses, _shocks(rng, len(times)) * scale, 0.0)


def _shocks(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    """Student-t draws with unit variance, cut at SHOCK_LIMIT."""
    draws = rng.standard_t(STUDENT_DF, size=n) / np.sqrt(STUDENT_DF / (STUDENT_DF - 2))
    clipped: npt.NDArray[np.float64] = np.clip(draws, -SHOCK_LIMIT, SHOCK_LIMIT)
    return clipped


def _gap_part(
    returns: npt.NDArray[np.float64], times: npt.NDArray[np.datetime64]
) -> npt.NDArray[np.float64]:
    """After a pause the bar opens away from the last close: the gap shows between bars."""
    pauses = np.concatenate([[False], np.diff(times) > HOUR])
    return np.where(pauses, returns * 0.7, 0.0)


def _with_wicks(
    rng: np.random.Generator,
    instrument: Instrument,
    times: npt.NDArray[np.datetime64],
    *,
    open_: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    vol_scale: npt.NDArray[np.float64],
) -> Bars:
    """Wicks and volume; `vol_scale` is each bar's volatility in units of the instrument's."""
    vol = instrument.volatility * vol_scale
    upper = np.abs(rng.standard_t(STUDENT_DF, size=len(times))) * vol * 0.5
    lower = np.abs(rng.standard_t(STUDENT_DF, size=len(times))) * vol * 0.5
    body = np.abs(np.log(close / open_))
    activity = (1.0 + body / instrument.volatility) * vol_scale
    volume = instrument.volume * activity * rng.lognormal(0.0, 0.35, size=len(times))
    return Bars(
        time=times.astype("datetime64[us]"),
        open=open_,
        high=np.maximum(open_, close) * np.exp(upper),
        low=np.minimum(open_, close) * np.exp(-lower),
        close=close,
        volume=np.round(volume, 4),
    )
