"""`candlelab retrain schedule | unschedule | schedules` and the worker running what they
schedule, as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from candlelab.store.database import Connection
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.served_models import MODEL, served_market, trained


def test_bad_periods_are_refused_naming_the_option_and_the_value(
    cli_then_here: Cli, database_url: str
) -> None:
    cli = cli_then_here
    for args, expected in (
        (("retrain", "schedule", MODEL, "--every", "1x"), "--every '1x'"),
        (("retrain", "schedule", MODEL, "--every", "0d"), "--every '0d'"),
        (("worker", "--once", "--drift-every", "soon"), "--drift-every 'soon'"),
    ):
        refused = cli(*args, DATABASE_URL=database_url)
        assert refused.returncode == 2
        assert_one_line_error(refused, expected, "a number and a unit, m, h, d or w")
    assert json.loads(cli("retrain", "schedules", "--json", DATABASE_URL=database_url).stdout) == []


def test_a_schedule_needs_a_trained_model_and_something_to_fire_on(
    cli_then_here: Cli, database_url: str
) -> None:
    cli = cli_then_here
    never = cli("retrain", "schedule", "nobody", "--every", "1d", DATABASE_URL=database_url)
    assert_one_line_error(never, "model 'nobody' has no finished training run to repeat")
    bare = cli("retrain", "schedule", "nobody", DATABASE_URL=database_url)
    assert_one_line_error(bare, "needs a period (--every) or a spans threshold")
    gone = cli("retrain", "unschedule", "nobody", DATABASE_URL=database_url)
    assert_one_line_error(gone, "model 'nobody' has no scheduled retrain")


@pytest.mark.slow  # trains a model, and the worker retrains it
def test_a_scheduled_retrain_is_run_by_a_worker_once_it_is_due(
    cli: Cli,
    cli_json: Callable[..., Any],
    conn: Connection,
    database_url: str,
    artifact_root: str,
) -> None:
    candlelab = cli_json

    trained(database_url, artifact_root, served_market(conn))
    made = candlelab("retrain", "schedule", MODEL, "--every", "1d", "--priority", "3")
    assert made["replaced"] is False
    assert (made["schedule"]["every"], made["schedule"]["priority"]) == ("1d", 3)
    assert candlelab("worker", "--once")["jobs"] == 0  # the retrain is not due for a day

    conn.execute("UPDATE schedules SET next_run_at = now() - interval '1 minute' "
                 "WHERE kind = 'retrain'")  # fmt: skip
    conn.commit()
    tally = candlelab("worker", "--once", "--heartbeat-timeout", "10")
    assert (tally["tasks"], tally["tasks_failed"], tally["completed"]) == (1, 0, 1)
    [request] = candlelab("retrain", "list")
    assert (request["status"], request["reason"], request["priority"]) == (
        "completed", "schedule: every 1d", 3)  # fmt: skip
    ran = {s["kind"]: s for s in candlelab("retrain", "schedules")}
    assert set(ran) == {"retrain", "evaluate", "drift", "decide"}  # the worker's checks
    assert ran["retrain"]["last_result"] == f"made retrain request {request['id']}: " \
                                            "schedule: every 1d"  # fmt: skip
    assert all(s["last_error"] is None for s in ran.values())

    shown = cli("retrain", "schedules", DATABASE_URL=database_url)
    assert "every 1d" in shown.stdout
    assert candlelab("retrain", "unschedule", MODEL)["model_name"] == MODEL
    assert {s["kind"] for s in candlelab("retrain", "schedules")} == {
        "evaluate", "drift", "decide"}  # fmt: skip
