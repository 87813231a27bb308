"""A model version's record over the API and on the Models pages: read from the tables and
the monitoring modules as they are, nothing recomputed; alerts acknowledged behind the
access rule every route has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from candlelab.monitoring.alerts import alerts
from candlelab.monitoring.comparison import champion_challenger
from candlelab.monitoring.performance import report
from candlelab.store.database import Connection
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL, ServedMarket

TOKEN = "a token for the monitoring tests"


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    return monitored(conn, database_url, artifact_root)


@pytest.fixture
def client(database_url: str, artifact_root: str, market: ServedMarket) -> Iterator[TestClient]:
    with TestClient(create_app(database_url, artifact_location=artifact_root)) as test_client:
        yield test_client


def test_a_versions_record_is_the_stored_windows_its_drift_and_its_alerts(
    client: TestClient, conn: Connection
) -> None:
    answer = client.get(f"/api/models/{MODEL}/versions/1/monitoring")
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    (stored,) = [r for r in report(conn, MODEL, "week", 12) if r.model_version == 1]
    assert shown["overall"]["trades"] == stored.overall["trades"] == 405  # every other bar
    assert shown["overall"]["expectancy_r"] == pytest.approx(stored.overall["expectancy_r"])
    assert [w["window_start"][:10] for w in shown["weeks"]] == [
        "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"]  # fmt: skip
    assert [w["trades"] for w in shown["weeks"]] == [w["trades"] for w in stored.windows[::-1]]
    days = shown["days"]
    assert len(days) == 34  # 810 hourly bars from Monday 2025-01-06
    total = conn.execute("SELECT sum(realized_rr) FROM signals WHERE model_version = 1").fetchone()
    assert total is not None
    assert days[-1]["curve_r"] == pytest.approx(total[0])
    # The curve's deepest drawdown is the one the 'all' window stores: the same days.
    deepest = max(d["drawdown_r"] for d in days)
    assert deepest == pytest.approx(stored.overall["max_drawdown_r"])
    drift = shown["drift"]
    assert drift["signals"] == 7 * 24
    statuses = {m["name"]: m["status"] for m in drift["measures"]}
    assert drift["measures"][0]["name"] == "range_1"  # worst first
    assert (statuses["range_1"], statuses["ret_5"], statuses["rsi_14"]) == ("alert", "warn", "ok")
    kinds = {a["kind"] for a in shown["alerts"]}
    assert kinds == {"feature_drift", "performance"}  # v1 lost its last week
    assert all(a["model_version"] == 1 for a in shown["alerts"])


def test_champion_against_challenger_is_the_comparisons_verdict(
    client: TestClient, conn: Connection
) -> None:
    shown = client.get(f"/api/models/{MODEL}/comparison").json()
    expected = champion_challenger(conn, MODEL)
    assert expected is not None
    assert (shown["champion"], shown["challenger"]) == (1, 2)
    assert shown["verdict"] == expected.verdict
    assert shown["expectancy_diff"] == pytest.approx(expected.expectancy_diff)


def test_an_acknowledged_alert_leaves_the_lists_and_stays_open(
    client: TestClient, conn: Connection
) -> None:
    (alert,) = [a for a in alerts(conn) if (a["kind"], a["model_version"]) == ("performance", 1)]
    answer = client.post(f"/api/alerts/{alert['id']}/acknowledge", json={"by": "ana"})
    assert answer.status_code == 204
    shown = client.get(f"/api/models/{MODEL}/versions/1/monitoring").json()
    assert alert["id"] not in {a["id"] for a in shown["alerts"]}
    still = {a["id"]: a for a in client.get("/api/alerts").json()}
    assert still[alert["id"]]["acknowledged_by"] == "ana"
    assert client.post("/api/alerts/999999/acknowledge", json={"by": "ana"}).status_code == 404
    refused = client.post(f"/api/alerts/{alert['id']}/acknowledge", json={"by": ""})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "by"]


def test_acknowledging_wants_a_token_beyond_loopback(
    database_url: str, artifact_root: str, market: ServedMarket, conn: Connection
) -> None:
    alert_id = alerts(conn)[0]["id"]
    app = create_app(database_url, Access([token_hash(TOKEN)]), artifact_location=artifact_root)
    with TestClient(app) as client:
        path, body = f"/api/alerts/{alert_id}/acknowledge", {"by": "ana"}
        assert client.post(path, json=body).status_code == 401
        assert alerts(conn)[0]["acknowledged_by"] is None
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post(path, json=body, headers=bearer).status_code == 204


def test_the_pages_draw_each_version_in_service_with_its_drift_and_alerts(
    client: TestClient, conn: Connection
) -> None:
    page = client.get("/models").text
    for kind in ("result-curve", "weekly", "calibration", "latency"):
        assert page.count(f'class="plot {kind}"') == 2, kind  # champion and challenger
    assert page.count('<table class="drift">') == 2
    assert 'tr class="alert" data-feature="range_1"' in page
    compared = champion_challenger(conn, MODEL)
    assert compared is not None
    assert f"champion v1: {compared.verdict}" in page
    assert "Open alerts about charts" in page  # the chart's bars are a year old: stale
    version = client.get(f"/models/{MODEL}/versions/2").text
    assert version.count('class="plot result-curve"') == 1
    assert 'data-alert="' in version


def test_before_any_record_the_page_says_what_makes_one(
    client: TestClient, conn: Connection
) -> None:
    conn.execute("DELETE FROM model_performance")
    conn.execute("DELETE FROM signals")
    conn.commit()
    shown = client.get(f"/api/models/{MODEL}/versions/1/monitoring").json()
    assert (shown["overall"], shown["days"], shown["weeks"]) == ({}, [], [])
    assert "no served signals" in shown["drift"]["unavailable"]
    page = client.get(f"/models/{MODEL}/versions/1").text
    assert "No record stored yet" in page
