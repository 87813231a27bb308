"""The Models page in a real browser: champion and challenger side by side with their
plots, the verdict and the drift table coloured by PSI; an alert acknowledged is gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from candlelab.monitoring.comparison import champion_challenger
from candlelab.store.database import Connection
from candlelab.web.app import create_app
from candlelab.web.serving import serving
from tests.browser.conftest import SHOTS, Watched
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL

PLOTS = ("result-curve", "weekly", "calibration", "latency")


@pytest.fixture
def site(conn: Connection, database_url: str, artifact_root: str) -> Iterator[str]:
    monitored(conn, database_url, artifact_root)
    with serving(create_app(database_url, artifact_location=artifact_root)) as url:
        yield url


def test_the_models_page_shows_each_version_in_service_and_an_alert_acknowledged_goes(
    watched: Watched, site: str, conn: Connection
) -> None:
    page = watched.page
    page.goto(f"{site}/models")
    model = page.locator(f"section.model[data-model={MODEL}]")
    cards = model.locator("section.card")
    expect(cards).to_have_count(2)
    champion, challenger = cards.nth(0), cards.nth(1)
    expect(champion.locator("h3")).to_contain_text("champion")
    expect(challenger.locator("h3")).to_contain_text("challenger")
    for card in (champion, challenger):
        for kind in PLOTS:
            expect(card.locator(f"svg.plot.{kind}")).to_be_visible()
    expect(champion.locator("svg.result-curve polyline.curve")).to_have_count(1)
    expect(champion.locator("svg.weekly rect.bar.rate")).to_have_count(5)  # five weeks
    compared = champion_challenger(conn, MODEL)
    assert compared is not None
    expect(model.locator(".verdict")).to_contain_text(f"champion v1: {compared.verdict}")
    drift = champion.locator("table.drift")
    expect(drift.locator("tbody tr").first).to_have_attribute("data-feature", "range_1")
    expect(drift.locator("tr[data-feature=range_1]")).to_have_class("alert")
    expect(drift.locator("tr[data-feature=ret_5]")).to_have_class("warn")
    expect(drift.locator("tr[data-feature=rsi_14]")).to_have_class("ok")
    watched.shot("models-monitoring")  # the top of the page, as one opens it
    model.screenshot(path=SHOTS / "models-monitoring-model.png")  # docs/images/monitoring.png

    performance = champion.locator("table.alerts tr", has_text="expectancy")
    expect(performance).to_have_count(1)
    page.locator("#acknowledger").fill("ana")
    page.locator("#acknowledger").dispatch_event("change")
    performance.get_by_role("button", name="Acknowledge").click()
    expect(performance).to_have_count(0)
    conn.commit()  # a fresh snapshot: the server's write is committed
    acknowledged = conn.execute("SELECT model_version, acknowledged_by FROM alerts "
                                "WHERE acknowledged_at IS NOT NULL").fetchall()  # fmt: skip
    assert acknowledged == [(1, "ana")]
    page.reload()
    expect(champion.locator("table.alerts tr", has_text="expectancy")).to_have_count(0)
    expect(champion.locator("table.alerts button.acknowledge").first).to_be_visible()
    challenger.locator("h3 a").click()  # the version's own page: the same record, alone
    card = page.locator("#version section.card[data-version='2']")
    for kind in PLOTS:
        expect(card.locator(f"svg.plot.{kind}")).to_be_visible()
    expect(card.locator("table.drift tbody tr")).to_have_count(4)
    page.screenshot(path=SHOTS / "version-monitoring.png", full_page=True)
    assert watched.errors == []
