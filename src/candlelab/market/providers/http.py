"""The HTTP side of providers: JSON over GET, paced, with retries that respect the vendor.

Vendors limit request rates and say so: HTTP 429 (slow down) or 418 (Binance's ban for
ignoring 429s) with a Retry-After header. Those, 5xx answers and dropped connections are
retried after Retry-After or an exponential backoff; any other 4xx is the request's fault
and is reported at once with the vendor's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from candlelab import __version__
from candlelab.errors import ProviderRefused, ProviderUnavailable
from candlelab.market.providers import FetchStats

RETRIED_STATUSES = {418, 429, 500, 502, 503, 504}
USER_AGENT = f"Mozilla/5.0 (compatible; candlelab/{__version__})"


@dataclass(frozen=True)
class Pacing:
    min_interval: float  # seconds between two requests
    max_retries: int = 5
    backoff: float = 1.0  # the first wait; doubled on each retry
    max_wait: float = 120.0  # a longer Retry-After gives up instead of hanging


class JsonApi:
    """GET requests to one vendor's base URL, paced and retried; answers parsed as JSON."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        pacing: Pacing,
        stats: FetchStats,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor, self.pacing, self.stats, self.sleep = vendor, pacing, stats, sleep
        self.client = httpx.Client(
            base_url=base_url, transport=transport, timeout=30.0,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )  # fmt: skip
        self.last_request = -float("inf")

    def get(self, path: str, params: Mapping[str, object]) -> tuple[Any, httpx.Headers]:
        """The parsed answer and its headers; retried as the vendor asks, then given up."""
        outcome: httpx.Response | Exception = ProviderUnavailable("no attempt")
        for attempt in range(self.pacing.max_retries + 1):
            self._pace()
            outcome = self._attempt(path, params)
            if isinstance(outcome, httpx.Response):
                return outcome.json(), outcome.headers
            if attempt == self.pacing.max_retries:
                break
            self.stats.retries += 1
            self.wait(self._delay(outcome, attempt))
        assert isinstance(outcome, Exception)
        raise ProviderUnavailable(
            f"{self.vendor}: {self.client.base_url}{path} failed {self.pacing.max_retries + 1} "
            f"times; last: {_describe(outcome)}"
        )

    def wait(self, seconds: float) -> None:
        if seconds > self.pacing.max_wait:
            raise ProviderUnavailable(
                f"{self.vendor} asks to wait {seconds:.0f} s, more than "
                f"{self.pacing.max_wait:.0f} s; try again later"
            )
        self.stats.waited_seconds += seconds
        self.sleep(seconds)

    def _attempt(self, path: str, params: Mapping[str, object]) -> httpx.Response | Exception:
        """The response if it succeeded; what to retry after otherwise. Refusals raise."""
        self.stats.requests += 1
        try:
            response = self.client.get(path, params={k: str(v) for k, v in params.items()})
        except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
            return exc
        if response.status_code == 200:
            return response
        if response.status_code in RETRIED_STATUSES:
            return _Retry(response)
        raise ProviderRefused(
            f"{self.vendor}: {response.request.url} answered HTTP {response.status_code}: "
            f"{_vendor_message(response)}"
        )

    def _pace(self) -> None:
        due = self.last_request + self.pacing.min_interval - time.monotonic()
        if due > 0:
            self.sleep(due)
        self.last_request = time.monotonic()

    def _delay(self, outcome: Exception, attempt: int) -> float:
        backoff: float = self.pacing.backoff * 2**attempt
        if isinstance(outcome, _Retry):
            retry_after = outcome.response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                return max(float(retry_after), backoff)
        return backoff


class HttpProvider:
    """What every provider over HTTP shares: its fetch statistics and its paced client."""

    name: str
    default_url: str
    pacing: Pacing

    def __init__(
        self,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stats = FetchStats()
        self.api = JsonApi(self.name, base_url or self.default_url, self.pacing, self.stats,
                           transport=transport, sleep=sleep)  # fmt: skip


class _Retry(Exception):
    """An answer that asks to try again later."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {_vendor_message(response)}")
        self.response = response


def _describe(outcome: Exception) -> str:
    return str(outcome) or type(outcome).__name__


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's own words: Binance's {"code", "msg"}, Yahoo's chart.error, or the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        if "msg" in body:
            return f"{body['msg']} (code {body.get('code')})"
        error = (body.get("chart") or {}).get("error") or {}
        if error:
            return f"{error.get('description')} ({error.get('code')})"
    return str(body)[:200]
