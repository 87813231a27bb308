"""Fixtures shared by the web tests: the app in a test client, and one stored chart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.web.app import create_app
from tests.fixtures.quality_cases import clean_bars


@pytest.fixture
def stored(conn: Connection) -> int:
    """A chart of 900 hourly bars from 2025-01-06 00:00; its id."""
    report = ingest_frame(
        conn, clean_bars(3).to_frame(), IngestOptions("BTCUSDT", Timeframe(1, "h"))
    )
    assert report.loaded == 900
    conn.commit()
    row = conn.execute("SELECT id FROM charts").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(database_url)) as test_client:
        yield test_client
