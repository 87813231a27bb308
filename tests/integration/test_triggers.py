"""Raised drift and performance alerts ask for a retrain of their model: one request,
merged, naming the alerts; latency and stale data ask nothing; `off` asks nothing."""

from __future__ import annotations

import pytest

from candlelab.errors import ConfigError
from candlelab.jobs.triggers import retrain_for_alerts
from candlelab.store.database import Connection
from tests.fixtures.monitored_models import monitored
from tests.fixtures.served_models import MODEL

OPEN = "SELECT id, kind, severity, model_version FROM alerts WHERE resolved_at IS NULL ORDER BY id"


@pytest.fixture
def raised(
    conn: Connection, database_url: str, artifact_root: str
) -> list[tuple[int, str, str, int]]:
    monitored(conn, database_url, artifact_root)
    return [(row[0], row[1], row[2], row[3]) for row in conn.execute(OPEN)]


def queue(conn: Connection) -> list[tuple[str, str, int, int | None, str]]:
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT model_name, status, priority, signal_id, reason FROM retrain_queue")]  # fmt: skip


def test_the_alerts_of_a_model_ask_for_one_retrain_naming_each(
    conn: Connection, raised: list[tuple[int, str, str, int]]
) -> None:
    asking = [a for a in raised if a[1] in {"feature_drift", "prediction_drift", "performance"}
              and a[2] == "alert"]  # fmt: skip
    assert asking, raised  # the fixture's range_1 drift at least
    requested = retrain_for_alerts(conn, [a[0] for a in raised])
    assert [r.alert_id for r in requested] == [a[0] for a in asking]
    assert [r.merged for r in requested] == [False] + [True] * (len(asking) - 1)
    ((model, status, priority, signal_id, reason),) = queue(conn)
    assert (model, status, priority) == (MODEL, "pending", 4)
    assert all(f"alert {a[0]}: " in reason for a in asking)
    newest = conn.execute("SELECT id FROM signals WHERE model_version = %s ORDER BY time DESC, "
                          "id DESC LIMIT 1", (asking[0][3],)).fetchone()  # fmt: skip
    assert newest is not None
    assert signal_id == newest[0]  # what the first check saw last


def test_off_latency_and_stale_data_ask_nothing(
    conn: Connection, raised: list[tuple[int, str, str, int]]
) -> None:
    assert retrain_for_alerts(conn, [a[0] for a in raised], "off") == []
    others = [a[0] for a in raised if a[1] in {"latency", "stale_data"}]
    assert retrain_for_alerts(conn, others) == []
    assert queue(conn) == []
    with pytest.raises(ConfigError, match="'sometimes' is not one of off, alert, warn"):
        retrain_for_alerts(conn, [1], "sometimes")
