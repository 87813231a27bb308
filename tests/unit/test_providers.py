"""Binance and Yahoo clients against recorded responses: paging, retries, rate limits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from candlelab.errors import ProviderRefused, ProviderUnavailable
from candlelab.market.providers import provider
from candlelab.market.providers.binance import Binance
from candlelab.market.providers.yahoo import Yahoo
from candlelab.market.timeframes import Timeframe
from tests.fixtures.cassettes import Cassette

HOUR, DAY, MINUTE = Timeframe(1, "h"), Timeframe(1, "d"), Timeframe(1, "m")
GAP = (datetime(2024, 12, 2, 10, tzinfo=UTC), datetime(2024, 12, 2, 16, tzinfo=UTC))


class Sleeps(list[float]):
    """Stands in for time.sleep: records how long the client would have waited."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def long(self) -> list[float]:
        return [s for s in self if s >= 0.5]  # the pacing between requests is shorter


def fetched(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(list(frames))


def test_binance_pages_retries_a_429_and_a_502_and_keeps_the_extra_columns() -> None:
    cassette, sleeps = Cassette("binance_btcusdt_1h_gap"), Sleeps()
    binance = Binance(transport=cassette.transport(), sleep=sleeps, page=4)
    bars = fetched(binance.fetch("BTCUSDT", HOUR, *GAP))
    cassette.assert_all_played()
    assert bars.height == 6
    assert bars["time"].to_list()[0] == GAP[0]
    assert bars["time"].dt.hour().to_list() == [10, 11, 12, 13, 14, 15]
    assert bars.columns == ["time", "open", "high", "low", "close", "volume", "quote_volume",
                            "trades", "taker_buy_volume"]  # fmt: skip
    assert bars["open"][0] == 96410.0
    assert bars["trades"].dtype == pl.Int64
    assert (binance.stats.requests, binance.stats.retries, binance.stats.rows) == (4, 2, 6)
    assert sleeps.long() == [1.0, 1.0]  # Retry-After: 1; then the first backoff of page 2


def test_binance_names_the_vendors_refusal() -> None:
    cassette = Cassette("binance_invalid_symbol")
    binance = Binance(transport=cassette.transport(), sleep=Sleeps(), page=4)
    with pytest.raises(ProviderRefused, match=r"HTTP 400: Invalid symbol\. \(code -1121\)"):
        fetched(binance.fetch("BTCUSDX", HOUR, *GAP))


def test_binance_waits_for_the_next_minute_when_its_weight_is_nearly_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def heavy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[], headers={"x-mbx-used-weight-1m": "5000"})

    # 20 s into a minute; the real clock made this flaky in the last half second of one
    monkeypatch.setattr("candlelab.market.providers.binance.time.time", lambda: 1_733_130_020.0)
    sleeps = Sleeps()
    binance = Binance(transport=httpx.MockTransport(heavy), sleep=sleeps)
    assert list(binance.fetch("BTCUSDT", HOUR, *GAP)) == []
    assert sleeps.long() == [40.0]
    assert "weight 5000" in binance.stats.notes[0]


def test_a_vendor_that_keeps_failing_is_given_up_after_the_retries() -> None:
    calls = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(503, text="Service Unavailable")

    sleeps = Sleeps()
    binance = Binance(transport=httpx.MockTransport(down), sleep=sleeps)
    with pytest.raises(ProviderUnavailable, match="failed 6 times; last: HTTP 503"):
        fetched(binance.fetch("BTCUSDT", HOUR, *GAP))
    assert len(calls) == 6
    assert sleeps.long() == [1.0, 2.0, 4.0, 8.0, 16.0]  # exponential backoff


def test_a_retry_after_longer_than_the_patience_gives_up_at_once() -> None:
    def banned(request: httpx.Request) -> httpx.Response:
        return httpx.Response(418, headers={"Retry-After": "7200"}, json={"code": -1003})

    binance = Binance(transport=httpx.MockTransport(banned), sleep=Sleeps())
    with pytest.raises(ProviderUnavailable, match="asks to wait 7200 s"):
        fetched(binance.fetch("BTCUSDT", HOUR, *GAP))


def test_yahoo_daily_bars_move_from_the_session_open_to_local_midnight() -> None:
    cassette, sleeps = Cassette("yahoo_aapl_1d_gap"), Sleeps()
    yahoo = Yahoo(transport=cassette.transport(), sleep=sleeps)
    start, end = datetime(2025, 11, 20, 5, tzinfo=UTC), datetime(2025, 11, 22, 5, tzinfo=UTC)
    bars = fetched(yahoo.fetch("AAPL", DAY, start, end))
    cassette.assert_all_played()
    assert bars["time"].to_list() == [datetime(2025, 11, 20, 5, tzinfo=UTC),
                                      datetime(2025, 11, 21, 5, tzinfo=UTC)]  # fmt: skip
    assert bars["close"].to_list() == [266.25, 271.489990234375]
    assert bars["volume"].to_list() == [45823600.0, 59030800.0]
    assert yahoo.stats.retries == 1  # the 429 first
    assert sleeps.long() == [1.0]


def test_yahoo_null_rows_are_dropped_and_counted() -> None:
    cassette = Cassette("yahoo_aapl_1h_gap")
    yahoo = Yahoo(transport=cassette.transport(), sleep=Sleeps())
    start, end = (
        datetime(2025, 11, 24, 15, 30, tzinfo=UTC),
        datetime(2025, 11, 24, 18, 30, tzinfo=UTC),
    )
    bars = fetched(yahoo.fetch("AAPL", HOUR, start, end))
    assert bars["time"].dt.hour().to_list() == [15, 17]
    assert (yahoo.stats.rows, yahoo.stats.empty_rows) == (3, 1)


def test_yahoo_minute_bars_are_asked_for_a_week_at_a_time() -> None:
    cassette = Cassette("yahoo_aapl_1m_windows")
    yahoo = Yahoo(transport=cassette.transport(), sleep=Sleeps())
    start, end = datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 11, 11, tzinfo=UTC)
    bars = fetched(yahoo.fetch("AAPL", MINUTE, start, end))
    cassette.assert_all_played()
    assert bars.height == 1
    assert yahoo.page_span(MINUTE) == 7 * 24 * 60


def test_yahoo_unknown_symbol_is_refused_with_yahoos_words() -> None:
    cassette = Cassette("yahoo_unknown_symbol")
    yahoo = Yahoo(transport=cassette.transport(), sleep=Sleeps())
    start, end = datetime(2025, 11, 20, 5, tzinfo=UTC), datetime(2025, 11, 22, 5, tzinfo=UTC)
    with pytest.raises(ProviderRefused, match="No data found, symbol may be delisted"):
        fetched(yahoo.fetch("NOSUCH", DAY, start, end))


def test_timeframes_a_vendor_lacks_and_unknown_providers_are_refused() -> None:
    from candlelab.errors import ConfigError

    with pytest.raises(ConfigError, match="binance has no 10m klines"):
        fetched(Binance(sleep=Sleeps()).fetch("BTCUSDT", Timeframe(10, "m"), *GAP))
    with pytest.raises(ConfigError, match="yahoo has no 4h bars"):
        fetched(Yahoo(sleep=Sleeps()).fetch("AAPL", Timeframe(4, "h"), *GAP))
    with pytest.raises(ConfigError, match="provider 'kraken': use one of binance, yahoo"):
        provider("kraken")
