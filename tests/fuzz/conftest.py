"""The app the fuzz harness attacks: signed in, over a database with real charts (24/7,
XNYS and the FX week's 24/5), a label type, an annotation type, a span and a mark, so
small ids reach real rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from candlelab.market.ingest import IngestOptions, ingest_frame
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.fixtures.charts import XNYS_HOURLY, XNYS_TIMES, stored_chart
from tests.fixtures.quality_cases import clean_bars

TOKEN = "fuzz-token"
FX_HOURLY = IngestOptions("EURUSD", Timeframe(1, "h"), source="test", calendar="24/5")
FX_TIMES = ["2025-11-24T10:00", "2025-11-24T11:00", "2025-11-24T14:00", "2025-11-25T09:00"]


@pytest.fixture
def charts(conn: Connection) -> list[int]:
    """A 24/7, an XNYS and a 24/5 chart, in that order; their ids."""
    ingest_frame(conn, clean_bars(3).to_frame(), IngestOptions("BTCUSDT", Timeframe(1, "h")))
    ids = [int(conn.execute("SELECT id FROM charts").fetchone()[0])]  # type: ignore[index]
    ids += [stored_chart(conn, XNYS_TIMES, XNYS_HOURLY), stored_chart(conn, FX_TIMES, FX_HOURLY)]
    conn.commit()
    return ids


@pytest.fixture
def signed_in(database_url: str, charts: list[int]) -> Iterator[TestClient]:
    """A client of the guarded app with a token, and a row of each kind behind small ids."""
    app = create_app(database_url, Access([token_hash(TOKEN)]))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        _rows(client, charts[1])
        yield client


def _rows(client: TestClient, chart_id: int) -> None:
    """Three label types, annotation types, spans and marks: ids 1 to 3 of each exist."""
    for n in range(3):
        label = client.post("/api/span-label-types", json={"name": f"up{n}", "color": "#26a69a"})
        mark = client.post("/api/annotation-types", json={"name": f"pin{n}", "color": "#ff0000"})
        span = client.post("/api/spans", json={
            "chart_id": chart_id, "label_type_id": label.json()["id"], "source": "model",
            "start_time": "2025-11-24T14:30:00Z", "end_time": "2025-11-24T18:30:00Z",
        })  # fmt: skip
        point = client.post("/api/annotations", json={
            "chart_id": chart_id, "time": "2025-11-24T14:30:00Z",
            "annotation_type_id": mark.json()["id"],
        })  # fmt: skip
        for made in (label, mark, span, point):
            assert made.status_code == 201, made.text
