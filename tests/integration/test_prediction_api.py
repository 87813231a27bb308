"""`POST /api/models/{name}/predict` on a real database and a real LightGBM model."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from candlelab.market.quality import utc_datetime
from candlelab.models.deployments import promote, sync
from candlelab.store.database import Connection
from candlelab.training.tracking import Tracking
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.fixtures.served_models import (
    MODEL,
    ServedMarket,
    another_version,
    champion,
    served_market,
)

TOKEN = "correct horse battery staple"


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    return market


@pytest.fixture
def client(database_url: str, artifact_root: str, market: ServedMarket) -> Iterator[TestClient]:
    with TestClient(create_app(database_url, artifact_location=artifact_root)) as test_client:
        yield test_client


def test_a_prediction_is_logged_once_and_repeated_requests_read_it(
    client: TestClient, market: ServedMarket
) -> None:
    first = client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.chart_id})
    assert first.status_code == 200, first.text
    signal = first.json()
    assert (signal["model_name"], signal["model_version"], signal["alias"]) == (
        MODEL,
        1,
        "champion",
    )
    assert signal["pred"] in ("short", "none", "long")
    assert signal["new"] is True
    again = client.post(
        f"/api/models/{MODEL}@champion/predict",
        json={"chart_id": market.chart_id, "time": signal["time"]},
    ).json()
    assert (again["id"], again["new"]) == (signal["id"], False)
    by_number = client.post(
        f"/api/models/{MODEL}/predict", json={"chart_id": market.other_id, "version": 1}
    ).json()
    assert (by_number["alias"], by_number["model_version"]) == (None, 1)


def test_a_serving_app_freezes_its_heap_once_started_and_after_loading_a_model(
    database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    app = create_app(database_url, artifact_location=artifact_root, freeze_heap=True)
    gc.unfreeze()  # what an earlier test froze goes back to the collector
    try:
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 0  # the started app's objects
            gc.unfreeze()
            answer = client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.chart_id})
            assert answer.status_code == 200, answer.text
            assert gc.get_freeze_count() > 0  # the loaded version's, and the rest again
            gc.unfreeze()
            client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.other_id})
            assert gc.get_freeze_count() == 0  # the version kept: no load, no freeze
    finally:
        gc.unfreeze()


def test_an_app_of_a_test_or_a_tool_leaves_the_collector_as_it_is(
    client: TestClient, market: ServedMarket
) -> None:
    gc.unfreeze()
    answer = client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.chart_id})
    assert answer.status_code == 200, answer.text
    assert gc.get_freeze_count() == 0


def test_bars_that_cannot_be_predicted_and_bad_names_are_refused(
    client: TestClient, market: ServedMarket
) -> None:
    first = utc_datetime(market.bars.time[0])
    url = f"/api/models/{MODEL}/predict"
    lacking = client.post(
        url, json={"chart_id": market.chart_id, "time": (first + timedelta(minutes=1)).isoformat()}
    )
    assert lacking.status_code == 422
    assert "has no bar opening then" in lacking.json()["detail"]
    warming = client.post(url, json={"chart_id": market.chart_id, "time": first.isoformat()})
    assert warming.status_code == 422
    assert "warm-up" in warming.json()["detail"]
    assert (
        client.post(
            f"/api/models/{MODEL}@nope/predict", json={"chart_id": market.chart_id}
        ).status_code
        == 404
    )
    assert client.post("/api/models/nosuch/predict", json={"chart_id": 1}).status_code == 404
    for name in ("..%2Fetc", "a b", "x@y@z", "-lead", "x" * 201):
        refused = client.post(f"/api/models/{name}/predict", json={"chart_id": 1})
        assert refused.status_code in (404, 422), name
    zero = client.post(url, json={"chart_id": market.chart_id, "version": 0})
    assert zero.status_code == 422


def test_a_prediction_gives_its_connection_back_to_the_pool_out_of_autocommit(
    client: TestClient, market: ServedMarket
) -> None:
    url, first = f"/api/models/{MODEL}/predict", utc_datetime(market.bars.time[0])
    assert client.post(url, json={"chart_id": market.chart_id}).status_code == 200
    lacking = (first + timedelta(minutes=1)).isoformat()
    assert client.post(url, json={"chart_id": market.chart_id, "time": lacking}).status_code == 422
    pool = client.app.state.pool  # type: ignore[attr-defined]
    with ExitStack() as stack:  # every connection of the pool, the ones used among them
        conns = [stack.enter_context(pool.connection()) for _ in range(pool.max_size)]
        assert not any(conn.autocommit for conn in conns)


def test_the_route_wants_a_token_beyond_loopback(
    database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    app = create_app(database_url, Access([token_hash(TOKEN)]), artifact_root)
    with TestClient(app) as client:
        url, body = f"/api/models/{MODEL}/predict", {"chart_id": market.chart_id}
        assert client.post(url, json=body).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post(url, json=body, headers=bearer).status_code == 200


def test_a_bare_name_is_routed_and_its_shadow_logged_once_the_answer_is_sent(
    conn: Connection, database_url: str, artifact_root: str, market: ServedMarket,
    client: TestClient,
) -> None:  # fmt: skip
    tracking = Tracking(database_url, artifact_root)
    another_version(database_url, artifact_root, market)
    sync(conn, tracking, MODEL, who="test")
    promote(conn, tracking, MODEL, 2, "trial", shadow=True, reason="watch it", who="ann")
    answer = client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.other_id})
    assert answer.status_code == 200, answer.text
    signal = answer.json()
    assert (signal["model_version"], signal["alias"], signal["shadow"]) == (1, "champion", False)
    logged = conn.execute("SELECT model_version, alias, shadow, time FROM signals ORDER BY id")
    assert [row[:3] for row in logged.fetchall()] == [(1, "champion", False), (2, "trial", True)]
    direct = client.post(f"/api/models/{MODEL}@trial/predict", json={"chart_id": market.chart_id})
    assert (direct.json()["model_version"], direct.json()["shadow"]) == (2, False)
