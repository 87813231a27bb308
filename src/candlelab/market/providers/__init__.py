"""Market data providers: where `candlelab backfill` fetches missing bars from.

A provider answers one question: the bars of a symbol at a timeframe in [start, end).
It pages through the vendor's API itself and yields frames of the shape ingest takes
(time, open, high, low, close, volume, and whatever extras the vendor has), so every
fetched bar goes through the same validation as a file. Another vendor (a ccxt
exchange, a broker) plugs in by implementing `Provider` and registering a factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import polars as pl

from candlelab.errors import ConfigError
from candlelab.market.timeframes import Timeframe


@dataclass
class FetchStats:
    """What a fetch did: requests sent, retries, rows received and rows the vendor left empty."""

    requests: int = 0
    retries: int = 0
    rows: int = 0
    empty_rows: int = 0
    waited_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class Provider(Protocol):
    name: str
    stats: FetchStats

    def page_span(self, timeframe: Timeframe) -> int:
        """How many bars one request returns at most: gaps closer than this share a request."""
        ...

    def fetch(
        self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> Iterator[pl.DataFrame]:
        """The vendor's bars opening in [start, end), one frame per page, oldest first."""
        ...


ProviderFactory = Callable[[str | None], Provider]  # takes the base URL (None: the vendor's)
_FACTORIES: dict[str, ProviderFactory] = {}


def register(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def provider(name: str, base_url: str | None = None) -> Provider:
    """The provider registered under `name` (binance, yahoo, or one a plug-in added)."""
    _register_builtin()
    if name not in _FACTORIES:
        raise ConfigError(f"provider {name!r}: use one of {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](base_url)


def provider_names() -> list[str]:
    _register_builtin()
    return sorted(_FACTORIES)


def _register_builtin() -> None:
    from candlelab.market.providers.binance import Binance
    from candlelab.market.providers.yahoo import Yahoo

    _FACTORIES.setdefault("binance", Binance)
    _FACTORIES.setdefault("yahoo", Yahoo)
