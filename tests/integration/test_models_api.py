"""The Models API and pages, and a chart's signals by window, on a real database with a
LightGBM model trained, registered and promoted through candlelab."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from candlelab.market.quality import utc_datetime
from candlelab.models.prediction import ModelShelf, backtest, served_reference
from candlelab.store.database import Connection
from candlelab.training.runs import run_detail
from candlelab.training.tracking import Tracking
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.fixtures.served_models import MODEL, ServedMarket, promoted

TOKEN = "correct horse battery staple"
MLFLOW_UI = "http://mlflow.example:5000"


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    """The served market, MODEL's version 1 promoted to champion by `tester`."""
    return promoted(conn, database_url, artifact_root)


@pytest.fixture
def client(database_url: str, artifact_root: str, market: ServedMarket) -> Iterator[TestClient]:
    app = create_app(database_url, artifact_location=artifact_root, mlflow_ui=MLFLOW_UI + "/")
    with TestClient(app) as test_client:
        yield test_client


def backtested(database_url: str, artifact_root: str, conn: Connection, chart_id: int) -> None:
    served = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    assert backtest(database_url, served, [chart_id]).written > 0


def test_the_models_say_which_version_holds_which_alias_and_whether_mlflow_agrees(
    client: TestClient, database_url: str, artifact_root: str
) -> None:
    (model,) = client.get("/api/models").json()
    assert (model["name"], model["agrees"]) == (MODEL, True)
    assert [(v["version"], v["aliases"], v["traffic_share"], v["shadow"])
            for v in model["versions"]] == [(1, ["champion"], 1.0, False)]  # fmt: skip
    assert [(a["alias"], a["version"], a["recorded"]) for a in model["aliases"]] == [
        ("champion", 1, 1)
    ]
    # An alias moved in MLflow's UI, not through candlelab: the two disagree, and say where.
    Tracking(database_url, artifact_root).client.set_registered_model_alias(MODEL, "other", "1")
    state = client.get(f"/api/models/{MODEL}").json()["model"]
    assert state["agrees"] is False
    assert [(a["alias"], a["version"], a["recorded"], a["agrees"]) for a in state["aliases"]] == [
        ("champion", 1, 1, True), ("other", 1, None, False)
    ]  # fmt: skip
    page = client.get("/models")
    assert page.status_code == 200
    assert "registry and record disagree" in page.text


def test_a_model_shows_every_move_and_its_newest_signals(
    client: TestClient, market: ServedMarket, conn: Connection, database_url: str,
    artifact_root: str,
) -> None:  # fmt: skip
    served = client.post(f"/api/models/{MODEL}/predict", json={"chart_id": market.chart_id})
    assert served.status_code == 200, served.text
    backtested(database_url, artifact_root, conn, market.other_id)
    detail = client.get(f"/api/models/{MODEL}").json()
    [move] = detail["history"]
    assert (move["action"], move["alias"], move["version"], move["replaced_version"],
            move["traffic_share"], move["changed_by"], move["reason"]) == (
        "promote", "champion", 1, None, 1.0, "tester", "first in service")  # fmt: skip
    newest = conn.execute(
        "SELECT id FROM signals WHERE model_name = %s ORDER BY time DESC, chart_id LIMIT 20",
        [MODEL],
    ).fetchall()
    assert [s["id"] for s in detail["signals"]] == [row[0] for row in newest]
    assert detail["signals"][0]["id"] == served.json()["id"]  # the chart's newest bar
    page = client.get(f"/models/{MODEL}")
    assert page.status_code == 200
    for shown in ("first in service", "tester", "promote", "BTCUSDT 1h", "champion"):
        assert shown in page.text, shown


def test_a_version_shows_its_walk_forward_metrics_and_links_to_its_run_in_mlflow(
    client: TestClient, conn: Connection, database_url: str, artifact_root: str
) -> None:
    version = client.get(f"/api/models/{MODEL}/versions/1").json()
    run_id = version["version"]["run_id"]
    experiment = Tracking(database_url, artifact_root).client.get_run(run_id).info.experiment_id
    assert version["experiment_id"] == experiment
    assert version["mlflow_run"] == f"{MLFLOW_UI}/#/experiments/{experiment}/runs/{run_id}"
    assert version["mlflow_version"] == f"{MLFLOW_UI}/#/models/{MODEL}/versions/1"
    run = run_detail(conn, run_id)
    assert (version["metrics"], version["params"]) == (run.metrics, run.params)
    assert [fold["number"] for fold in version["folds"]] == [0, 1, 2]  # pooled, then each
    pooled = version["folds"][0]["metrics"]
    finite = {k: v for k, v in run.metrics.items() if v is not None and math.isfinite(v)}
    assert pooled.keys() == finite.keys()
    assert all(math.isclose(pooled[k], v) for k, v in finite.items())
    page = client.get(f"/models/{MODEL}/versions/1")
    assert page.status_code == 200
    assert f'href="{MLFLOW_UI}/#/experiments/{experiment}/runs/{run_id}"' in page.text
    assert "Fold 2" in page.text
    assert "candlelab mlflow-ui" in page.text  # says how to start what the link leads to
    assert client.get(f"/api/models/{MODEL}/versions/9").status_code == 404


def test_a_version_registered_outside_candlelab_shows_without_metrics(
    client: TestClient, database_url: str, artifact_root: str
) -> None:
    mlflow = Tracking(database_url, artifact_root).client
    run = mlflow.create_run("0")
    mlflow.log_metric(run.info.run_id, "accuracy", 0.5)
    mlflow.create_model_version(MODEL, f"{run.info.artifact_uri}/model", run.info.run_id)
    version = client.get(f"/api/models/{MODEL}/versions/2")
    assert version.status_code == 200, version.text
    shown = version.json()
    assert (shown["model_type"], shown["metrics"], shown["params"]) == (None, {}, {})
    assert shown["folds"] == [{"number": 0, "metrics": {"accuracy": 0.5}}]
    page = client.get(f"/models/{MODEL}/versions/2")
    assert "not trained by candlelab" in page.text


def test_a_charts_signals_come_by_window_of_bars_and_by_model(
    client: TestClient, market: ServedMarket, conn: Connection, database_url: str,
    artifact_root: str,
) -> None:  # fmt: skip
    backtested(database_url, artifact_root, conn, market.other_id)
    times = [utc_datetime(t) for t in market.bars.time]
    url = f"/api/charts/{market.other_id}/signals"
    window = {"start": times[700].isoformat(), "end": times[720].isoformat()}
    marks = client.get(url, params=window).json()
    assert marks["complete"] is True
    assert [m["time"] for m in marks["items"]] == [
        t.isoformat().replace("+00:00", "Z") for t in times[700:720]
    ]
    assert {(m["model_name"], m["model_version"], m["alias"]) for m in marks["items"]} == {
        (MODEL, 1, "champion")
    }
    assert all(0 <= m["proba"] <= 1 and m["pred"] for m in marks["items"])
    assert client.get(url, params={**window, "model": MODEL}).json() == marks
    assert client.get(url, params={**window, "model": "other"}).json()["items"] == []
    cut = client.get(url, params={**window, "limit": 5}).json()
    assert (cut["items"], cut["complete"]) == (marks["items"][:5], False)
    empty = client.get(f"/api/charts/{market.chart_id}/signals", params=window).json()
    assert empty == {"items": [], "complete": True}  # no signal on the other chart
    assert client.get("/api/charts/999999/signals", params=window).status_code == 404
    assert client.get(url, params={**window, "model": "../x"}).status_code == 422
    assert client.get(url, params={"start": window["start"]}).status_code == 422


def test_model_names_are_checked_and_an_unknown_one_is_404(client: TestClient) -> None:
    assert client.get("/api/models/nosuch").status_code == 404
    assert client.get("/models/nosuch").status_code == 404
    for name in ("..%2Fetc", "a b", "-lead", "x" * 101, "tb@champion"):
        assert client.get(f"/api/models/{name}").status_code in (404, 422), name
    assert client.get(f"/api/models/{MODEL}/versions/0").status_code == 422


def test_the_models_routes_want_a_token_beyond_loopback(
    database_url: str, artifact_root: str, market: ServedMarket
) -> None:
    app = create_app(database_url, Access([token_hash(TOKEN)]), artifact_root)
    window = "start=2020-01-01&end=2030-01-01"
    paths = ["/api/models", f"/api/models/{MODEL}", f"/api/models/{MODEL}/versions/1",
             "/models", f"/api/charts/{market.chart_id}/signals?{window}"]  # fmt: skip
    with TestClient(app) as client:
        for path in paths:
            assert client.get(path).status_code == 401, path
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert client.get(path, headers=bearer).status_code == 200, path


def test_with_no_registered_model_the_page_says_how_to_make_one(
    database_url: str, artifact_root: str
) -> None:
    with TestClient(create_app(database_url, artifact_location=artifact_root)) as client:
        assert client.get("/api/models").json() == []
        page = client.get("/models")
        assert page.status_code == 200
        assert "No registered model" in page.text
