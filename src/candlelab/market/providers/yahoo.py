"""Yahoo Finance's chart API (GET /v8/finance/chart/SYMBOL), in windows it accepts.

Yahoo caps how much intraday history one request may span (1m bars: about a week), so a
long range is asked for window by window. Its daily and longer bars are stamped at the
session's open; candlelab's start at local midnight of the exchange, so they are moved
there. Rows Yahoo sends as null (no trade that bar) are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from candlelab.errors import ConfigError, ProviderRefused
from candlelab.market.providers.http import HttpProvider, Pacing
from candlelab.market.timeframes import Timeframe

BASE_URL = "https://query2.finance.yahoo.com"
INTERVALS = {"1m": "1m", "2m": "2m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "60m",
             "1d": "1d", "1w": "1wk", "1M": "1mo"}  # fmt: skip
# The longest span one request may cover, by interval.
WINDOWS = {"1m": timedelta(days=7), "2m": timedelta(days=30), "5m": timedelta(days=30),
           "15m": timedelta(days=30), "30m": timedelta(days=30),
           "60m": timedelta(days=180)}  # fmt: skip
LONG_WINDOW = timedelta(days=3650)
PRICES = ("open", "high", "low", "close")


class Yahoo(HttpProvider):
    name, default_url = "yahoo", BASE_URL
    pacing = Pacing(min_interval=0.5)  # Yahoo answers bursts with 429s

    def page_span(self, timeframe: Timeframe) -> int:
        window = _window(_interval(timeframe))
        return max(1, int(window / timedelta(microseconds=timeframe.micros or 2_592_000_000_000)))

    def fetch(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> Iterator[pl.DataFrame]:
        interval = _interval(timeframe)
        window = _window(interval)
        while start < end:
            stop = min(start + window, end)
            params = {"period1": int(start.timestamp()), "period2": int(stop.timestamp()),
                      "interval": interval, "includePrePost": "false", "events": ""}  # fmt: skip
            body, _ = self.api.get(f"/v8/finance/chart/{symbol}", params)
            frame = self._bars(symbol, body, timeframe)
            if frame.height:
                yield frame
            start = stop

    def _bars(self, symbol: str, body: Any, timeframe: Timeframe) -> pl.DataFrame:
        result = _result(symbol, body)
        quote = result["indicators"]["quote"][0] if result.get("timestamp") else {}
        frame = pl.DataFrame(
            {"time": result.get("timestamp", []),
             **{name: quote.get(name, []) for name in (*PRICES, "volume")}},
            schema={"time": pl.Int64, **dict.fromkeys((*PRICES, "volume"), pl.Float64)},
            strict=False,
        )  # fmt: skip
        complete = frame.drop_nulls(PRICES)
        self.stats.rows += frame.height
        self.stats.empty_rows += frame.height - complete.height
        zone = result.get("meta", {}).get("exchangeTimezoneName") or "UTC"
        return complete.with_columns(
            _bar_start(pl.from_epoch("time", "s"), timeframe, zone), pl.col("volume").fill_null(0)
        )


def _result(symbol: str, body: Any) -> dict[str, Any]:
    chart = body.get("chart", {}) if isinstance(body, dict) else {}
    if chart.get("error") or not chart.get("result"):
        error = chart.get("error") or {}
        raise ProviderRefused(f"yahoo: {symbol}: {error.get('description') or 'no result'}")
    result: dict[str, Any] = chart["result"][0]
    return result


def _bar_start(moment: pl.Expr, timeframe: Timeframe, zone: str) -> pl.Expr:
    """Intraday bars keep their time; longer ones start at local midnight of the exchange."""
    utc = moment.dt.replace_time_zone("UTC")
    if timeframe.intraday:
        return utc.alias("time")
    local = utc.dt.convert_time_zone(zone).dt.truncate(timeframe.every)
    return local.dt.convert_time_zone("UTC").alias("time")


def _interval(timeframe: Timeframe) -> str:
    if timeframe.name not in INTERVALS:
        raise ConfigError(f"yahoo has no {timeframe.name} bars: use one of {', '.join(INTERVALS)}")
    return INTERVALS[timeframe.name]


def _window(interval: str) -> timedelta:
    return WINDOWS.get(interval, LONG_WINDOW)
