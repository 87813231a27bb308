"""`candlelab retrain` and `candlelab worker` as a user runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from candlelab.store.database import Connection
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.served_models import MODEL, served_market, trained

pytestmark = pytest.mark.slow  # whole commands, a worker's in a subprocess


def test_request_cancel_retry_then_a_worker_retrains_once(
    cli: Cli,
    cli_json: Callable[..., Any],
    conn: Connection,
    database_url: str,
    artifact_root: str,
) -> None:
    candlelab = cli_json

    never = cli("retrain", "nobody", "--reason", "r", DATABASE_URL=database_url)
    assert_one_line_error(never, "model 'nobody' has no finished training run to repeat")
    trained(database_url, artifact_root, served_market(conn))

    first = candlelab("retrain", MODEL, "--reason", "drift", "--priority", "2")
    assert candlelab("retrain", MODEL, "--reason", "by hand", "--priority", "4") == {
        "id": first["id"], "merged": True}  # fmt: skip
    [listed] = candlelab("retrain", "list")
    assert (listed["priority"], listed["reason"]) == (4, "drift; by hand")
    cancelled = candlelab("retrain", "cancel", str(first["id"]), "--by", "ann")
    assert cancelled["was"] == "pending"
    assert cancelled["request"]["error_message"] == "cancelled by ann"
    again = cli("retrain", "cancel", str(first["id"]), DATABASE_URL=database_url)
    assert_one_line_error(again, f"retrain request {first['id']} is failed")
    assert candlelab("retrain", "retry", str(first["id"]))["status"] == "pending"

    tally = candlelab("worker", "--once", "--heartbeat-timeout", "10")
    assert (tally["completed"], tally["jobs"]) == (1, 1)
    shown = candlelab("retrain", "show", str(first["id"]))
    assert (shown["status"], shown["attempts"]) == ("completed", 1)
    [model] = candlelab("models", "list")
    assert [(v["version"], v["aliases"]) for v in model["versions"]] == [
        (1, []), (2, ["challenger"])]  # fmt: skip
    assert candlelab("worker", "--once")["jobs"] == 0  # nothing due: it stops at once
