"""Models in service, in a real browser: the Models page shows the promoted model, its
champion and its move, a version's page its walk-forward metrics and MLflow link; the
chart view marks where the model fired, and hides the marks when asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from candlelab.models.prediction import ModelShelf, backtest, served_reference
from candlelab.store.database import Connection
from candlelab.web.app import create_app
from candlelab.web.serving import serving
from tests.browser.conftest import Watched
from tests.browser.test_annotator import ready
from tests.fixtures.served_models import MODEL, ServedMarket, promoted

MARKS = "() => window.candlelab.markers().filter(m => m.id && m.id.startsWith('signal '))"
STYLE = {"long": ("belowBar", "arrowUp"), "short": ("aboveBar", "arrowDown")}


@pytest.fixture
def market(conn: Connection, database_url: str, artifact_root: str) -> ServedMarket:
    """The served market, MODEL v1 promoted to champion and backtested on its chart."""
    market = promoted(conn, database_url, artifact_root)
    served = ModelShelf(database_url, artifact_root).served(conn, served_reference(MODEL))
    assert backtest(database_url, served, [market.chart_id]).written > 0
    return market


@pytest.fixture
def site(database_url: str, artifact_root: str, market: ServedMarket) -> Iterator[str]:
    with serving(create_app(database_url, artifact_location=artifact_root)) as url:
        yield url


def test_the_models_page_shows_the_champion_its_move_and_a_versions_metrics(
    watched: Watched, site: str, tmp_path: Path
) -> None:
    page = watched.page
    page.goto(site)
    page.get_by_role("link", name="Models").click()
    model = page.locator(f"section.model[data-model={MODEL}]")
    expect(model.locator("tr[data-alias=champion]")).to_contain_text("v1")
    expect(model.locator("tr[data-version='1']")).to_contain_text("champion")
    expect(model.locator("table.history tbody tr")).to_have_count(1)
    expect(model.locator("table.history tbody tr")).to_contain_text("first in service")
    expect(model.locator("table.signals tbody tr")).to_have_count(20)
    expect(model).to_contain_text("registry and record agree")
    page.screenshot(path=tmp_path / "models.png", full_page=True)  # docs/images/models.png
    model.locator("table.versions").get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("#metrics thead")).to_contain_text("Fold 2")
    expect(page.locator("#metrics tbody")).to_contain_text("roc_auc")
    link = page.locator("#mlflow-run")
    assert (link.get_attribute("href") or "").startswith("http://127.0.0.1:5000/#/experiments/")
    page.screenshot(path=tmp_path / "version.png", full_page=True)
    assert watched.errors == []


def test_the_chart_marks_where_the_model_fired_and_hides_the_marks(
    watched: Watched, site: str, market: ServedMarket, conn: Connection, tmp_path: Path
) -> None:
    conn.commit()
    rows = conn.execute(
        "SELECT extract(epoch FROM time)::bigint, pred, proba FROM signals "
        "WHERE chart_id = %s AND pred IN ('long', 'short') ORDER BY time",
        [market.chart_id],
    ).fetchall()
    assert {pred for _, pred, _ in rows} == {"long", "short"}  # both kinds to see
    page = watched.page
    page.goto(f"{site}/charts/{market.chart_id}")
    ready(page)  # every bar of the chart is held: each call is marked
    marks = page.evaluate(MARKS)  # 150 bars in view: arrows only, the words would overlap
    assert [(m["time"], m["position"], m["shape"], m.get("text")) for m in marks] == [
        (t, *STYLE[pred], None) for t, pred, _ in rows
    ]
    expect(page.locator("#signal-legend")).to_contain_text(f"{len(rows)} drawn")
    expect(page.locator("#signal-model")).to_contain_text(MODEL)
    page.screenshot(path=tmp_path / "chart-signals.png")
    page.evaluate("([a, b]) => window.candlelab.jumpTo(a, b)", [rows[-5][0], rows[-1][0]])
    page.wait_for_function(f"() => ({MARKS})().every(m => m.text)")
    assert [m["text"] for m in page.evaluate(MARKS)] == [
        f"{pred} {proba:.2f} · {MODEL} v1" for _, pred, proba in rows
    ]
    page.screenshot(path=tmp_path / "chart-signals-near.png")  # docs/images/signals.png
    page.locator("#signals-shown").uncheck()
    page.wait_for_function(f"() => ({MARKS})().length === 0")
    expect(page.locator("#signal-legend")).to_contain_text("hidden")
    page.reload()  # the choice is remembered
    ready(page)
    expect(page.locator("#signals-shown")).not_to_be_checked()
    assert page.evaluate(MARKS) == []
    page.locator("#signals-shown").check()
    page.wait_for_function(f"() => ({MARKS})().length === {len(rows)}")
    assert watched.errors == []
