"""Binance spot klines over REST (GET /api/v3/klines), paged 1,000 bars at a time.

Binance weighs each request and reports the weight used this minute in a header; past
80 % of the limit the client waits for the next minute rather than collect a 429.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import polars as pl

from candlelab.errors import ConfigError
from candlelab.market.providers.http import HttpProvider, Pacing
from candlelab.market.timeframes import Timeframe

BASE_URL = "https://api.binance.com"
INTERVALS = {"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
             "1w", "1M"}  # fmt: skip
PAGE = 1000  # the most bars one request returns
WEIGHT_LIMIT = 6000  # request weight allowed per minute
WEIGHT_HEADER = "x-mbx-used-weight-1m"
# A kline: open time, OHLCV, close time, quote volume, trades, taker buy base and quote
# volumes, an unused field. Prices and volumes come as strings.
KLINE_COLUMNS = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5,
                 "quote_volume": 7, "trades": 8, "taker_buy_volume": 9}  # fmt: skip


class Binance(HttpProvider):
    name, default_url, pacing = "binance", BASE_URL, Pacing(min_interval=0.1)

    def __init__(self, base_url: str | None = None, *, page: int = PAGE, **client: Any) -> None:
        super().__init__(base_url, **client)
        self.page = page  # bars per request; smaller only in tests

    def page_span(self, timeframe: Timeframe) -> int:
        return self.page

    def fetch(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> Iterator[pl.DataFrame]:
        if timeframe.name not in INTERVALS:
            raise ConfigError(f"binance has no {timeframe.name} klines: {sorted(INTERVALS)}")
        cursor, stop = _ms(start), _ms(end)
        while cursor < stop:
            params = {"symbol": symbol, "interval": timeframe.name, "startTime": cursor,
                      "endTime": stop - 1, "limit": self.page}  # fmt: skip
            rows, headers = self.api.get("/api/v3/klines", params)
            self._respect_weight(headers)
            if not rows:
                return
            self.stats.rows += len(rows)
            yield klines_frame(rows)
            if len(rows) < self.page:
                return
            cursor = int(rows[-1][0]) + 1  # the next page starts after the last bar's open

    def _respect_weight(self, headers: httpx.Headers) -> None:
        used = headers.get(WEIGHT_HEADER, "")
        if used.isdigit() and int(used) > 0.8 * WEIGHT_LIMIT:
            self.stats.notes.append(f"request weight {used} of {WEIGHT_LIMIT}: waited a minute")
            self.api.wait(60 - time.time() % 60)


def klines_frame(rows: list[list[Any]]) -> pl.DataFrame:
    """Kline arrays as a frame ingest reads: time from epoch ms, numbers from strings."""
    columns = {name: [row[i] for row in rows] for name, i in KLINE_COLUMNS.items()}
    frame = pl.DataFrame(columns, strict=False)
    return frame.with_columns(
        pl.from_epoch(pl.col("time").cast(pl.Int64), "ms").dt.replace_time_zone("UTC"),
        pl.exclude("time", "trades").cast(pl.Float64),
        pl.col("trades").cast(pl.Int64),
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
