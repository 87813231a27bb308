"""Roll-out: MLflow's aliases moved with an append-only audit trail, refusals, sync, A/B."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg
import pytest
from mlflow import MlflowClient

from candlelab.errors import InvalidValue, NotFound
from candlelab.models.deployments import (
    DeploymentRefused,
    Move,
    history,
    model_state,
    model_states,
    promote,
    retire,
    rollback,
    serving,
    sync,
)
from candlelab.models.routing import Serving, routed
from candlelab.store.database import Connection, connect
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.targets import TargetDefinition, target_definition
from candlelab.training.tracking import Tracking, tracking_uri
from candlelab.training.trainer import TrainingRequest, train
from tests.fixtures.training_data import built_market

NAME = "small-tb"
TARGET: TargetDefinition = target_definition({
    "name": "tb", "kind": "triple-barrier", "unit": "fraction", "take_profit": 0.01,
    "stop_loss": 0.01, "horizon": 10,
})  # fmt: skip


@pytest.fixture
def trained(conn: Connection, database_url: str, artifact_root: str) -> list[int]:
    """Two versions of model small-tb; the market's chart ids."""
    stored, charts, _ = built_market(conn, 400)
    data = DatasetRequest(stored, TARGET, tuple(charts))
    request = TrainingRequest(data, params={"num_boost_round": 5, "min_data_in_leaf": 20},
                              folds=FoldPlan(folds=2), experiment="test")  # fmt: skip
    for _ in range(2):
        train(database_url, artifact_root, request)
    return charts


@pytest.fixture
def tracking(database_url: str, artifact_root: str) -> Tracking:
    return Tracking(database_url, artifact_root)


def moves(conn: Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT alias, action, version, replaced_version, traffic_share, shadow, changed_by,"
        " reason FROM model_deployments ORDER BY id"
    ).fetchall()


def up(conn: Connection, tracking: Tracking, version: int, alias: str = "champion",
       **options: object) -> Move:  # fmt: skip
    return promote(conn, tracking, NAME, version, alias, reason="better", who="ann",
                   **options)  # type: ignore[arg-type]  # fmt: skip


def test_each_move_changes_mlflow_and_appends_a_row_and_rollback_puts_the_last_back(
    conn: Connection, tracking: Tracking, trained: list[int], database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN model_deployments")
        first = up(conn, tracking, 1)
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [NAME]
    assert (first.version, first.replaced_version, first.changed_by) == (1, None, "ann")
    up(conn, tracking, 2)
    assert tracking.aliases(NAME) == {"champion": 2}

    back = rollback(conn, tracking, NAME, who="bob")
    assert (back.action, back.version, back.replaced_version) == ("rollback", 1, 2)
    assert tracking.aliases(NAME) == {"champion": 1}
    assert [(m.action, m.version, m.replaced_version) for m in history(conn, NAME)] == [
        ("rollback", 1, 2), ("promote", 2, 1), ("promote", 1, None)]  # fmt: skip
    assert moves(conn)[-1][-2:] == ("bob", "rolled back from version 2")


def test_the_audit_rows_refuse_update_delete_and_truncate(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    up(conn, tracking, 1)
    for statement in ("UPDATE model_deployments SET version = 2",
                      "DELETE FROM model_deployments", "TRUNCATE model_deployments"):  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        conn.rollback()
    assert len(moves(conn)) == 1


@pytest.mark.parametrize(
    ("version", "alias", "options", "expected"),
    [
        (7, "champion", {}, "model small-tb has no version 7"),
        (2, "challenger", {"traffic": 0.0}, "--traffic 0.0: a share of requests"),
        (2, "challenger", {"traffic": 1.5}, "--traffic 1.5"),
        (2, "challenger", {"traffic": math.nan}, "--traffic nan"),
        (2, "challenger", {"traffic": 0.2, "shadow": True}, "it takes no --traffic"),
        (2, "challenger", {}, "give --traffic SHARE"),
        (2, "champion", {"traffic": 0.5}, "the champion serves what the other aliases leave"),
        (2, "champion", {"shadow": True}, "the champion serves what the other aliases leave"),
    ],
)
def test_a_refused_promotion_writes_nothing(
    conn: Connection, tracking: Tracking, trained: list[int], *, version: int, alias: str,
    options: dict[str, object], expected: str,
) -> None:  # fmt: skip
    up(conn, tracking, 1)
    with pytest.raises((DeploymentRefused, NotFound), match=expected):
        up(conn, tracking, version, alias, **options)
    assert tracking.aliases(NAME) == {"champion": 1}
    assert len(moves(conn)) == 1


def test_an_unknown_model_and_nothing_to_roll_back_are_refused(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    with pytest.raises(NotFound, match="no registered model 'nope'"):
        promote(conn, tracking, "nope", 1, "champion", reason="r", who="ann")
    with pytest.raises(DeploymentRefused, match="no recorded move to roll back"):
        rollback(conn, tracking, NAME, who="ann")
    up(conn, tracking, 1)
    with pytest.raises(DeploymentRefused, match="nothing to roll back to: version 1 was the"):
        rollback(conn, tracking, NAME, who="ann")
    with pytest.raises(DeploymentRefused, match="needs a --reason"):
        promote(conn, tracking, NAME, 2, "champion", reason=" ", who="ann")
    assert len(moves(conn)) == 1


def test_shares_of_the_challengers_add_to_one_at_most(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    up(conn, tracking, 1)
    up(conn, tracking, 2, "challenger", traffic=0.6)
    with pytest.raises(DeploymentRefused, match=r"would add to 1\.1 \(challenger 0\.6 already\)"):
        up(conn, tracking, 1, "other", traffic=0.5)
    up(conn, tracking, 2, "challenger", traffic=0.5)  # its own share is replaced, not added
    up(conn, tracking, 1, "other", traffic=0.5)
    assert [s.traffic_share for s in serving(conn, tracking, NAME)] == [0.0, 0.5, 0.5]


def model_file(database_url: str, run_id: str) -> Path:
    client = MlflowClient(tracking_uri(database_url))
    return Path(unquote(urlparse(client.get_run(run_id).info.artifact_uri).path)) / "model"


def test_a_changed_artifact_or_registry_tag_is_refused(
    conn: Connection, tracking: Tracking, trained: list[int], database_url: str
) -> None:
    found = tracking.registered_version(NAME, 2)
    assert found is not None
    path = model_file(database_url, found.run_id) / "model.lgb"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(DeploymentRefused, match=r"model small-tb version 2: .* differs from"):
        up(conn, tracking, 2)
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    client.set_model_version_tag(NAME, "1", "candlelab.artifact_sha256", "0" * 64)
    with pytest.raises(DeploymentRefused, match=r"differs from .* in training_runs"):
        up(conn, tracking, 1)
    assert moves(conn) == []
    assert tracking.aliases(NAME) == {}


def test_a_model_whose_feature_set_is_stale_is_refused(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    first = "(SELECT min(time) FROM candles WHERE chart_id = %(chart)s)"
    conn.execute(f"UPDATE candles SET volume = volume + 1 WHERE chart_id = %(chart)s AND time = "
                 f"{first}", {"chart": trained[0]})  # fmt: skip
    conn.commit()
    with pytest.raises(DeploymentRefused, match=r"cannot serve: feature set small@1 is stale"):
        up(conn, tracking, 1)
    assert moves(conn) == []


def test_a_model_whose_feature_set_is_not_built_on_a_chart_it_was_trained_on_is_refused(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    up(conn, tracking, 1)
    # The set's values on the chart gone (deleted to make room, a restore without them):
    # as if it had never been built there.
    for table in ("feature_blocks", "feature_builds"):
        conn.execute(f"DELETE FROM {table} WHERE chart_id = %s", (trained[1],))
    conn.commit()
    expected = (
        rf"version 2 cannot serve: feature set small@1 is not built on chart "
        rf"{trained[1]}; run `candlelab features build small@1 --chart {trained[1]}`"
    )
    with pytest.raises(DeploymentRefused, match=expected):
        up(conn, tracking, 2)
    assert [(m[0], m[2]) for m in moves(conn)] == [("champion", 1)]
    assert tracking.aliases(NAME) == {"champion": 1}


def test_mlflow_refusing_the_alias_leaves_no_row(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    with pytest.raises(InvalidValue, match="'v2' is reserved"):
        up(conn, tracking, 1, "v2", traffic=0.1)
    assert moves(conn) == []


def test_a_row_that_fails_at_commit_puts_the_alias_back(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    up(conn, tracking, 1)
    conn.execute("""
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$;
        CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON model_deployments
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()""")  # fmt: skip
    conn.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="the disk is full"):
        up(conn, tracking, 2)
    assert tracking.aliases(NAME) == {"champion": 1}
    assert len(moves(conn)) == 1


def test_moves_made_in_mlflow_show_as_disagreements_until_sync_records_them(
    conn: Connection, tracking: Tracking, trained: list[int], database_url: str
) -> None:
    up(conn, tracking, 1)
    up(conn, tracking, 1, "challenger", traffic=0.3)
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    client.set_registered_model_alias(NAME, "champion", "2")
    client.delete_registered_model_alias(NAME, "challenger")
    client.set_registered_model_alias(NAME, "staging", "1")
    state = model_state(conn, tracking, NAME)
    assert not state.agrees
    assert [(a.alias, a.version, a.recorded, a.agrees) for a in state.aliases] == [
        ("challenger", None, 1, False), ("champion", 2, 1, False),
        ("staging", 1, None, False)]  # fmt: skip
    with pytest.raises(DeploymentRefused, match="run `candlelab models sync small-tb` first"):
        up(conn, tracking, 1)

    synced = sync(conn, tracking, NAME, who="cy")
    assert [(m.alias, m.action, m.version, m.replaced_version, m.traffic_share)
            for m in synced] == [("challenger", "sync", None, 1, 0.0),
                                 ("champion", "sync", 2, 1, 1.0),
                                 ("staging", "sync", 1, None, 0.0)]  # fmt: skip
    assert model_state(conn, tracking, NAME).agrees
    assert sync(conn, tracking, NAME, who="cy") == []
    assert [s.alias for s in serving(conn, tracking, NAME)] == ["champion"]
    [listed] = model_states(conn, tracking)
    assert [(v.version, v.aliases, v.traffic_share) for v in listed.versions] == [
        (1, ("staging",), 0.0), (2, ("champion",), 1.0)]  # fmt: skip


def test_a_challenger_and_a_shadow_serve_beside_the_champion_until_retired(
    conn: Connection, tracking: Tracking, trained: list[int]
) -> None:
    up(conn, tracking, 1)
    up(conn, tracking, 2, "challenger", traffic=0.2)
    up(conn, tracking, 2, "shadow", shadow=True)
    servings = serving(conn, tracking, NAME)
    assert servings == [Serving("champion", 1, 0.8), Serving("challenger", 2, 0.2),
                        Serving("shadow", 2, 0.0, shadow=True)]  # fmt: skip
    start = datetime(2025, 1, 1, tzinfo=UTC)
    bars = [(chart, start + timedelta(hours=h)) for chart in trained for h in range(5_000)]
    served = [routed(servings, chart, time) for chart, time in bars]
    share = sum(s is not None and s.alias == "challenger" for s, _ in served) / len(bars)
    assert abs(share - 0.2) < 0.02
    assert all(shadows == [servings[2]] for _, shadows in served)
    assert [routed(servings, c, t) for c, t in bars[:500]] == served[:500]

    retired = retire(conn, tracking, NAME, "challenger", reason="lost", who="ann")
    assert (retired.version, retired.replaced_version) == (None, 2)
    assert [s.alias for s in serving(conn, tracking, NAME)] == ["champion", "shadow"]
    back = rollback(conn, tracking, NAME, "challenger", who="ann")
    assert (back.version, back.traffic_share) == (2, 0.2)
    with pytest.raises(DeploymentRefused, match="no alias 'gone' to retire"):
        retire(conn, tracking, NAME, "gone", reason="r", who="ann")


def test_moves_of_one_model_take_turns_so_each_records_what_it_replaced(
    conn: Connection, tracking: Tracking, trained: list[int], database_url: str
) -> None:
    def move(version: int) -> Move:
        with connect(database_url) as own:
            return promote(own, tracking, NAME, version, "champion", reason="race", who="ann")

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(move, [1, 2, 1, 2]))
    chain = sorted(done, key=lambda m: m.id or 0)
    assert chain[0].replaced_version is None
    assert [m.replaced_version for m in chain[1:]] == [m.version for m in chain[:-1]]
    assert tracking.aliases(NAME) == {"champion": chain[-1].version}
