"""`candlelab models` as a user runs it: promote, A/B shares, history, rollback, sync."""

from __future__ import annotations

import getpass
import json
from typing import Any

import pytest
from mlflow import MlflowClient

from candlelab.store.database import Connection
from candlelab.training.datasets import DatasetRequest
from candlelab.training.folds import FoldPlan
from candlelab.training.targets import target_definition
from candlelab.training.tracking import tracking_uri
from candlelab.training.trainer import TrainingRequest, train
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL
from tests.fixtures.training_data import built_market
from tests.integration.test_policy import challenger_results

# Whole commands, the first of each test in a subprocess (seconds each): run on the first
# server only (`make test`); the integration tests run the same code on both.
pytestmark = pytest.mark.slow

NAME = "small-tb"


@pytest.fixture
def trained(conn: Connection, database_url: str, artifact_root: str) -> None:
    """Two registered versions of small-tb, trained on two built charts."""
    stored, charts, _ = built_market(conn, 400)
    target = target_definition({"name": "tb", "kind": "triple-barrier", "unit": "fraction",
                                "take_profit": 0.01, "stop_loss": 0.01, "horizon": 10})  # fmt: skip
    request = TrainingRequest(DatasetRequest(stored, target, tuple(charts)),
                              params={"num_boost_round": 5, "min_data_in_leaf": 20},
                              folds=FoldPlan(folds=2), experiment="test")  # fmt: skip
    for _ in range(2):
        train(database_url, artifact_root, request)


def test_promote_a_champion_and_a_challenger_then_roll_back(
    cli_then_here: Cli, database_url: str, trained: None
) -> None:
    cli = cli_then_here

    def models(*args: str) -> Any:
        done = cli("models", *args, "--json", DATABASE_URL=database_url)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = models("promote", NAME, "1", "--alias", "champion", "--reason", "first model")
    assert (first["version"], first["changed_by"]) == (1, getpass.getuser())
    models("promote", NAME, "2", "--alias", "challenger", "--traffic", "0.2", "--reason",
           "A/B test", "--by", "ann")  # fmt: skip
    [listed] = models("list")
    assert listed["agrees"] is True
    assert [(v["version"], v["aliases"], v["traffic_share"]) for v in listed["versions"]] == [
        (1, ["champion"], 0.8), (2, ["challenger"], 0.2)]  # fmt: skip

    models("promote", NAME, "2", "--alias", "champion", "--reason", "won the test")
    back = models("rollback", NAME, "--reason", "latency")
    assert (back["action"], back["version"], back["replaced_version"]) == ("rollback", 1, 2)
    moves = models("history", NAME)
    assert [(m["action"], m["alias"], m["version"], m["changed_by"]) for m in moves] == [
        ("rollback", "champion", 1, getpass.getuser()),
        ("promote", "champion", 2, getpass.getuser()),
        ("promote", "challenger", 2, "ann"),
        ("promote", "champion", 1, getpass.getuser())]  # fmt: skip
    shown = cli("models", "show", NAME, DATABASE_URL=database_url)
    assert shown.returncode == 0, shown.stderr
    assert "challenger" in shown.stdout
    assert "rollback" in shown.stdout
    text = cli("models", "history", NAME, DATABASE_URL=database_url).stdout
    assert "won the test" in text


REFUSED = [
    (["promote", NAME, "9", "--alias", "champion", "--reason", "r"], "has no version 9"),
    (["promote", "nope", "1", "--alias", "champion", "--reason", "r"], "'nope'"),
    (["promote", NAME, "2", "--alias", "challenger", "--traffic", "1.5", "--reason", "r"],
     "--traffic 1.5"),
    (["promote", NAME, "2", "--alias", "shadow", "--shadow", "--traffic", "0.1", "--reason",
      "r"], "it takes no --traffic"),
    (["promote", NAME, "1", "--alias", "latest", "--reason", "r"], "give --traffic"),
    (["promote", NAME, "1", "--alias", "v1", "--traffic", "0.1", "--reason", "r"],
     "'v1' is reserved"),
    (["rollback", NAME], "no recorded move to roll back"),
    (["retire", NAME, "--alias", "champion"], "no alias 'champion' to retire"),
    (["show", "nope"], "no registered model 'nope'"),
]  # fmt: skip


def test_a_refused_move_fails_with_one_line_and_writes_nothing(
    cli_then_here: Cli, database_url: str, trained: None
) -> None:
    # One pair of trained versions for every refusal (each case had trained its own:
    # ~5 s a case), each refusal in this process but the first (a process each: 3 s);
    # none may write a move, so the history is still empty after them all.
    cli = cli_then_here
    for args, expected in REFUSED:
        assert_one_line_error(cli("models", *args, DATABASE_URL=database_url), expected)
    moves = cli("models", "history", NAME, "--json", DATABASE_URL=database_url)
    assert json.loads(moves.stdout) == []


def test_an_alias_moved_in_mlflow_is_reported_then_synced(
    cli_then_here: Cli, database_url: str, trained: None
) -> None:
    cli = cli_then_here
    done = cli("models", "promote", NAME, "1", "--alias", "champion", "--reason", "r",
               DATABASE_URL=database_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "alias champion names version 1, serving the rest (was none)" in done.stdout
    client = MlflowClient(tracking_uri(database_url), registry_uri=tracking_uri(database_url))
    client.set_registered_model_alias(NAME, "champion", "2")

    listed = cli("models", "list", DATABASE_URL=database_url).stdout
    assert "moved outside candlelab" in listed
    assert "candlelab models sync small-tb" in listed
    refused = cli("models", "promote", NAME, "1", "--alias", "champion", "--reason", "r",
                  DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(refused, "run `candlelab models sync small-tb` first")
    synced = cli("models", "sync", NAME, "--json", DATABASE_URL=database_url)
    assert [(m["action"], m["version"], m["replaced_version"])
            for m in json.loads(synced.stdout)] == [("sync", 2, 1)]  # fmt: skip
    again = cli("models", "sync", NAME, DATABASE_URL=database_url)
    assert "nothing to sync" in again.stdout
    [state] = json.loads(cli("models", "list", "--json", DATABASE_URL=database_url).stdout)
    assert state["agrees"] is True


def test_decide_says_what_the_policy_would_do_then_does_it(
    cli_then_here: Cli, conn: Connection, database_url: str, artifact_root: str
) -> None:
    cli = cli_then_here
    monitored(conn, database_url, artifact_root)
    challenger_results(conn, 2.0)  # the challenger wins every trade
    dry = cli("models", "decide", MODEL, "--dry-run", DATABASE_URL=database_url)
    assert dry.returncode == 0, dry.stderr
    assert f"model {MODEL}: dry run, would promote: v2: challenger better at 95 %" in dry.stdout
    done = cli("models", "decide", MODEL, "--json", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert decision["action"] == "promote"
    assert [(m["alias"], m["action"], m["version"]) for m in decision["moves"]] == [
        ("challenger", "retire", None), ("champion", "promote", 2)]  # fmt: skip
    again = cli("models", "decide", MODEL, DATABASE_URL=database_url)
    assert "none: no champion and challenger to compare" in again.stdout
