"""The active-learning loop in a real browser: a spans model trained on one labelled chart
proposes on another; the labeller lists the proposals least confident first, accepts one and
rejects one by hotkey; the next training run, on the same request, reads a new dataset."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from candlelab.labels.spans import NewSpan, add_span, label_types
from candlelab.market.candles import Bars
from candlelab.store.database import Connection
from candlelab.training.datasets import DatasetRequest, assemble_dataset
from candlelab.training.folds import FoldPlan
from candlelab.training.proposals import ModelReference, propose, trained_model
from candlelab.training.targets import ready_target
from candlelab.training.trainer import TrainingRequest, train
from tests.browser.conftest import Watched
from tests.browser.test_annotator import ready, review_in_list
from tests.fixtures.training_data import built_market, label_strong_rsi, opened

PARAMS: dict[str, object] = {"num_boost_round": 30, "min_data_in_leaf": 10}


def listed_proposals(page: Page) -> list[int]:
    """The ids of the proposals in the span list, in its order."""
    ids = page.locator("#span-list li.proposed").evaluate_all(
        "lis => lis.map(l => l.dataset.spanId)"
    )
    return [int(i) for i in ids]


def proposals(conn: Connection, chart_id: int) -> dict[int, tuple[str, str | None, float | None]]:
    """Each model span of the chart: its status, reviewer and confidence."""
    rows = conn.execute("SELECT id, status, reviewed_by, confidence FROM span_annotations"
                        " WHERE chart_id = %s AND source = 'model'", (chart_id,))  # fmt: skip
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def unsure_proposal(conn: Connection, chart_id: int, bars: Bars) -> int:
    """A model span without a confidence (as the API can make), early in the chart; its id."""
    [up] = [t.id for t in label_types(conn) if t.name == "up"]
    new = NewSpan(chart_id, up, opened(bars, 20), opened(bars, 22), "model", "proposed")
    made = add_span(conn, new)
    conn.commit()
    return made


def dataset_versions(conn: Connection) -> dict[str, str]:
    rows = conn.execute("SELECT run_id, dataset_version FROM training_runs").fetchall()
    conn.commit()
    return {str(run): str(version) for run, version in rows}


def test_reviewing_the_least_confident_proposals_gives_the_next_run_a_new_dataset(
    watched: Watched, site: str, conn: Connection, database_url: str, artifact_root: str
) -> None:
    # ETHUSDT's strong-RSI runs spread over its whole range, so every fold, before and after
    # the reviews, trains on both classes; BTCUSDT's would all fall late.
    stored, (other, labelled), (bars, _) = built_market(conn, 800)
    label_strong_rsi(conn, database_url, stored, labelled)
    data = DatasetRequest(stored, ready_target("spans"), (labelled, other))
    request = TrainingRequest(data, params=PARAMS, folds=FoldPlan(folds=2), model_name="upper")
    first = train(database_url, artifact_root, request)
    model = trained_model(database_url, artifact_root, ModelReference.parse("upper"))
    [report] = propose(database_url, model, [other])
    assert report.written >= 3
    assert assemble_dataset(database_url, data).version == first.dataset_version  # not yet
    unsure = unsure_proposal(conn, other, bars)
    confidence = {i: c for i, (_, _, c) in proposals(conn, other).items() if c is not None}
    conn.commit()

    page = watched.page
    page.goto(f"{site}/charts/{other}")
    ready(page)
    page.locator("#span-order").select_option(label="least confident first")
    order = listed_proposals(page)
    assert order[-1] == unsure  # no confidence: after those the model gave one
    order = order[:-1]
    assert sorted(order) == sorted(confidence)  # every proposal is listed …
    assert [confidence[i] for i in order] == sorted(confidence.values())  # … least sure first
    assert confidence[order[0]] < confidence[order[-1]]
    first_item = page.locator("#span-list li").first  # proposals lead the whole list
    expect(first_item).to_have_attribute("data-span-id", str(order[0]))
    expect(first_item).to_contain_text(f"{round(confidence[order[0]] * 100)}% · upper v1")
    watched.shot("proposals-least-confident-first")

    page.reload()
    ready(page)
    expect(page.locator("#span-order")).to_have_value("confidence")  # remembered
    page.locator("#reviewer").fill("rita")
    page.locator("#reviewer").dispatch_event("change")
    review_in_list(page, 0, "a", "accepted")
    review_in_list(page, 0, "r", "rejected")  # the next least confident, now the first listed
    assert listed_proposals(page) == [*order[2:], unsure]
    watched.shot("proposals-reviewed")

    stored_now = proposals(conn, other)
    conn.commit()
    assert stored_now[order[0]][:2] == ("accepted", "rita")
    assert stored_now[order[1]][:2] == ("rejected", "rita")
    assert {stored_now[i][0] for i in order[2:]} == {"proposed"}
    second = train(database_url, artifact_root, request)
    versions = dataset_versions(conn)
    assert versions[first.run_id] == first.dataset_version
    assert versions[second.run_id] != versions[first.run_id]
    assert watched.errors == []
