"""A real browser on a real server: Playwright for Python driving Debian's chromium, the app
served by uvicorn in a thread over a test database holding one demo chart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from candlelab.demo import SOURCE, demo_charts, propose_trends, seed_labels
from candlelab.market.charts import upsert_chart
from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.synthetic_market import MarketSpec
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from candlelab.web.serving import serving

CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test` installs it when missing
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).parents[2] / "test-results" / "screenshots"
SPEC = MarketSpec(seed=7, hourly_days=30)
TOKEN = "a token for the browser tests"


@dataclass
class Watched:
    """A page with every console error and uncaught exception it raised."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=path)
        return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 820})
    page = context.new_page()
    seen = Watched(page)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))
    page.on("dialog", lambda d: seen.errors.append(f"a dialog opened: {d.message}"))
    yield seen
    context.close()


@pytest.fixture
def site(database_url: str) -> Iterator[str]:
    """The app on a free port of 127.0.0.1; its base URL."""
    with serving(create_app(database_url)) as url:
        yield url


@pytest.fixture
def guarded_site(database_url: str) -> Iterator[str]:
    """The app as it runs beyond 127.0.0.1: every route wants TOKEN."""
    with serving(create_app(database_url, Access([token_hash(TOKEN)]))) as url:
        yield url


@pytest.fixture
def demo_chart(conn: Connection) -> int:
    """The demo's BTCUSDT hourly chart (30 days), its label types and trend proposals; its id."""
    instrument, timeframe, bars = next(
        (i, t, b) for i, t, b in demo_charts(SPEC) if i.symbol == "BTCUSDT" and t == "1h"
    )
    options = IngestOptions(instrument.symbol, Timeframe.parse(timeframe), source=SOURCE)
    assert ingest_frame(conn, bars.to_frame(), options).loaded == len(bars.close)
    chart_id = upsert_chart(conn, options.key)
    assert propose_trends(conn, chart_id, bars, seed_labels(conn)) >= 2
    return chart_id
