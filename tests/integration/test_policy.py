"""The policy decides the challenger's fate from the verdict: promoted when better, rolled
back (its alias taken away) when worse, left waiting otherwise; each move audited."""

from __future__ import annotations

import pytest

from candlelab.jobs.policy import decide
from candlelab.models.deployments import history, model_state
from candlelab.store.database import Connection
from candlelab.training.tracking import Tracking
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL


@pytest.fixture
def tracking(conn: Connection, database_url: str, artifact_root: str) -> Tracking:
    monitored(conn, database_url, artifact_root)
    return Tracking(database_url, artifact_root)


def challenger_results(conn: Connection, rr: float) -> None:
    """Every trade of the challenger (v2) judged at `rr`: a record beyond any doubt."""
    conn.execute("UPDATE signals SET realized_rr = %s, outcome = CASE WHEN %s > 0 THEN 'win' "
                 "ELSE 'loss' END WHERE model_version = 2 AND realized_rr IS NOT NULL",
                 (rr, rr))  # fmt: skip
    conn.commit()


def aliases(conn: Connection, tracking: Tracking) -> dict[str, int]:
    return {a.alias: a.version for a in model_state(conn, tracking, MODEL).aliases
            if a.version is not None}  # fmt: skip


def test_without_a_clear_verdict_nothing_moves(conn: Connection, tracking: Tracking) -> None:
    before = len(history(conn, MODEL))
    decision = decide(conn, tracking, MODEL)
    assert (decision.action, decision.moves) == ("wait", [])
    assert decision.reason.startswith("not enough evidence yet")
    assert len(history(conn, MODEL)) == before


def test_a_better_challenger_becomes_champion_with_the_verdict_as_its_reason(
    conn: Connection, tracking: Tracking
) -> None:
    challenger_results(conn, 2.0)
    shown = decide(conn, tracking, MODEL, apply=False)
    assert (shown.action, shown.moves) == ("promote", [])
    assert aliases(conn, tracking) == {"champion": 1, "challenger": 2}

    decision = decide(conn, tracking, MODEL)
    assert decision.action == "promote"
    assert decision.reason.startswith("v2: challenger better at 95 %")
    assert aliases(conn, tracking) == {"champion": 2}
    newest = history(conn, MODEL)[:2]  # newest first
    assert [(m.alias, m.action, m.version, m.changed_by) for m in newest] == [
        ("champion", "promote", 2, "policy"), ("challenger", "retire", None, "policy")]  # fmt: skip
    assert all("expectancy +" in m.reason for m in newest)
    assert decide(conn, tracking, MODEL).action == "none"  # nothing left to judge


def test_a_worse_challenger_is_rolled_back_and_the_champion_serves_alone(
    conn: Connection, tracking: Tracking
) -> None:
    challenger_results(conn, -1.0)
    decision = decide(conn, tracking, MODEL)
    assert decision.action == "roll back"
    assert "challenger worse at 95 %" in decision.reason
    assert aliases(conn, tracking) == {"champion": 1}
    (move,) = decision.moves
    assert (move.alias, move.action, move.replaced_version) == ("challenger", "retire", 2)
