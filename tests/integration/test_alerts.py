"""Alerts on the real database: raised once and updated while the condition holds,
resolved when it no longer does, reopened within the cooldown; the checks' rules; the
webhook against a local HTTP server; /metrics."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from candlelab.monitoring.alerts import (
    Finding,
    Found,
    Rules,
    acknowledge,
    alerts,
    deliver,
    evaluation_found,
    latency_found,
    performance_found,
    record,
    stale_found,
)
from candlelab.monitoring.performance import update
from candlelab.store.database import Connection
from candlelab.web.access import Access, token_hash
from candlelab.web.app import create_app
from tests.fixtures.charts import XNYS_HOURLY, stored_chart
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import store

HOUR = timedelta(hours=1)
KEY = "latency:m/1"


def finding(p99: float = 900.0, subject: str = "m/1") -> Finding:
    return Finding("latency", subject, "alert", f"p99 {p99}", {"p99_ms": p99},
                   model_name="m", model_version=1)  # fmt: skip


def found(*findings: Finding, checked: tuple[str, ...] = (KEY,)) -> Found:
    return Found(list(findings), list(checked))


def column(conn: Connection, name: str, alert_id: int) -> Any:
    row = conn.execute(
        f"SELECT {name} FROM alerts WHERE id = %s", (alert_id,)
    ).fetchone()  # test SQL
    assert row is not None
    return row[0]


def test_an_alert_is_raised_once_updated_while_it_holds_and_resolved_after(
    conn: Connection,
) -> None:
    first = record(conn, found(finding(900.0)), HOUR)
    conn.commit()
    assert len(first.raised) == 1
    assert not first.updated
    alert_id = first.raised[0]
    seen = column(conn, "last_seen", alert_id)
    again = record(conn, found(finding(950.0)), HOUR)
    conn.commit()
    assert (again.raised, again.updated) == ([], [alert_id])
    assert column(conn, "figures", alert_id) == {"p99_ms": 950.0}
    assert column(conn, "last_seen", alert_id) > seen
    assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (1,)
    gone = record(conn, found(), HOUR)
    assert gone.resolved == [alert_id]
    assert column(conn, "resolved_at", alert_id) is not None


def test_a_check_resolves_only_the_keys_it_looked_at(conn: Connection) -> None:
    other = finding(subject="m/2")
    raised = record(conn, found(finding(), other, checked=(KEY, "latency:m/2")), HOUR).raised
    quiet = record(conn, found(checked=(KEY,)), HOUR)  # a check of version 1 only
    assert quiet.resolved == [raised[0]]
    assert [a["id"] for a in alerts(conn)] == [raised[1]]


def test_within_the_cooldown_a_resolved_alert_is_reopened_and_after_it_a_new_one_raised(
    conn: Connection,
) -> None:
    alert_id = record(conn, found(finding()), HOUR).raised[0]
    record(conn, found(), HOUR)
    conn.execute("UPDATE alerts SET resolved_at = now() - interval '59 minutes'")
    reopened = record(conn, found(finding(700.0)), HOUR)
    assert (reopened.raised, reopened.updated) == ([], [alert_id])
    assert column(conn, "resolved_at", alert_id) is None
    record(conn, found(), HOUR)
    conn.execute("UPDATE alerts SET resolved_at = now() - interval '61 minutes'")
    later = record(conn, found(finding()), HOUR)
    assert len(later.raised) == 1
    assert later.raised[0] != alert_id
    assert len(alerts(conn, everything=True)) == 2


def test_an_acknowledged_alert_stays_acknowledged_while_it_holds(conn: Connection) -> None:
    alert_id = record(conn, found(finding()), HOUR).raised[0]
    acknowledge(conn, alert_id, "ana")
    record(conn, found(finding(990.0)), HOUR)
    (shown,) = alerts(conn)
    assert (shown["acknowledged_by"], shown["figures"]) == ("ana", {"p99_ms": 990.0})


def add_signal(conn: Connection, chart_id: int, time: datetime, rr: float | None, *,
               latency: float = 5.0, version: int = 1) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO signals (chart_id, time, model_name, model_version, pred, latency_ms,"
        " realized_rr, outcome, evaluated_at, features) VALUES (%s, %s, 'm', %s, 'long', %s,"
        " %s, 'win', now(), %s)",
        (chart_id, time, version, latency, rr, Jsonb({"ret_1": 0.1})),
    )  # fmt: skip


def add_run(conn: Connection, version: int, expectancy: float) -> None:
    conn.execute(
        "INSERT INTO training_runs (run_id, model_type, experiment_name, metrics, model_name,"
        " model_version, status) VALUES (%s, 'lightgbm', 'e', %s, 'm', %s, 'finished')",
        (f"run{version}", Jsonb({"expectancy_r": expectancy}), version),
    )  # fmt: skip


@pytest.fixture
def chart(conn: Connection) -> int:
    return store(conn, "BTCUSDT", clean_bars(1, 50))


def newest_bar(conn: Connection, chart_id: int) -> datetime:
    row = conn.execute("SELECT last_bar FROM charts WHERE id = %s", (chart_id,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_performance_alerts_a_losing_week_and_warns_short_of_the_walk_forward_estimate(
    conn: Connection, chart: int
) -> None:
    end = newest_bar(conn, chart)
    for i in range(40):  # hourly trades: version 1 loses, version 2 wins less than trained
        add_signal(conn, chart, end - i * HOUR, -0.2, version=1)
        add_signal(conn, chart, end - i * HOUR, 0.1, version=2)
    add_signal(conn, chart, end - timedelta(days=30), 50.0, version=1)  # outside the week
    add_run(conn, 2, 0.5)
    rules = Rules()
    result = performance_found(conn, None, rules)
    assert result.checked == ["performance:m/1", "performance:m/2"]
    assert [(f.subject, f.severity) for f in result.findings] == [("m/1", "alert"),
                                                                   ("m/2", "warn")]  # fmt: skip
    assert result.findings[0].figures["trades"] == 40
    assert result.findings[1].figures["walk_forward_expectancy_r"] == 0.5
    assert not performance_found(conn, None, Rules(min_trades=41)).findings


def test_latency_alerts_a_p99_over_the_limit_over_the_last_day(
    conn: Connection, chart: int
) -> None:
    end = newest_bar(conn, chart)
    for i in range(30):
        add_signal(conn, chart, end - i * HOUR, None, latency=900.0 if i == 0 else 10.0)
    add_signal(conn, chart, end - timedelta(days=3), None, latency=5000.0)  # outside the day
    rules = Rules(latency_p99_ms=500.0)
    (slow,) = latency_found(conn, "m", rules).findings
    assert slow.figures["signals"] == 24  # the newest bar and the 23 hours before it
    assert 500 < slow.figures["p99_ms"] < 900
    assert not latency_found(conn, "m", Rules(latency_p99_ms=1000.0)).findings


def test_a_served_chart_whose_bars_are_overdue_is_stale(conn: Connection, chart: int) -> None:
    store(conn, "ETHUSDT", clean_bars(2, 50))  # no model serves it: not watched
    add_signal(conn, chart, newest_bar(conn, chart), None)
    (stale,) = stale_found(conn, None, Rules()).findings  # the bars are from 2025
    assert (stale.kind, stale.chart_id, stale.model_name) == ("stale_data", chart, None)
    three_bars_after_close = newest_bar(conn, chart) + 4 * HOUR  # a time given: 3, not over 3
    assert not stale_found(conn, None, Rules(), now=three_bars_after_close).findings
    conn.execute("UPDATE charts SET last_bar = now() - interval '3 hours' WHERE id = %s",
                 (chart,))  # fmt: skip
    add_signal(conn, chart, newest_bar(conn, chart), None)  # still served
    fresh = stale_found(conn, None, Rules())
    assert (fresh.checked, fresh.findings) == ([f"stale_data:chart/{chart}"], [])
    recorded = record(conn, evaluation_found(conn, None, Rules()), HOUR)
    assert not recorded.raised


# An hourly NYSE chart whose newest bar is Friday 5 Dec 2025's last (20:30 UTC, the session
# 14:30-21:00): the weekend owes no bar, Monday 8 Dec owes one an hour from 14:30.
FRIDAY = [f"2025-12-05T{hour}:30" for hour in range(14, 21)]


@pytest.mark.parametrize(
    ("now", "overdue"),
    [
        ("2025-12-05T23:00", None),  # Friday night: its last bar closed, nothing owed since
        ("2025-12-06T15:00", None),  # Saturday
        ("2025-12-07T22:00", None),  # Sunday night
        ("2025-12-08T17:29", None),  # Monday: two bars closed, fresh by the calendar
        ("2025-12-08T17:30", 3.0),  # the third has closed
        ("2025-12-09T16:00", 8.0),  # Tuesday: Monday's seven bars and Tuesday's first
        # Silent for years: counted over 14 days and 4 bar lengths past its newest bar
        # (to Saturday 20 Dec 00:30: ten sessions of seven bars), not the thousands owed.
        ("2030-01-01T00:00", 70.0),
    ],
)
def test_a_calendar_chart_is_stale_by_the_bars_its_sessions_owe(
    conn: Connection, now: str, overdue: float | None
) -> None:
    chart_id = stored_chart(conn, FRIDAY, XNYS_HOURLY)
    add_signal(conn, chart_id, newest_bar(conn, chart_id), None)
    at = datetime.fromisoformat(now).replace(tzinfo=UTC)
    result = stale_found(conn, None, Rules(), now=at)
    assert result.checked == [f"stale_data:chart/{chart_id}"]
    assert [f.figures["overdue_bars"] for f in result.findings] == ([] if overdue is None
                                                                    else [overdue])  # fmt: skip


class Webhook:
    """A local HTTP server that fails its first `failures` requests (500), then takes them."""

    def __init__(self, failures: int) -> None:
        self.failures, self.received = failures, list[dict[str, Any]]()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.failures -= 1
                self.send_response(500 if hook.failures >= 0 else 204)
                self.end_headers()
                if hook.failures < 0:
                    hook.received.append(json.loads(body))

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def webhook(request: pytest.FixtureRequest) -> Iterator[Webhook]:
    hook = Webhook(request.param)
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.mark.parametrize("webhook", [2], indirect=True)
def test_the_webhook_gets_a_new_alert_after_two_failures_once(
    conn: Connection, webhook: Webhook
) -> None:
    alert_id = record(conn, found(finding()), HOUR).raised[0]
    conn.commit()
    waits: list[float] = []
    assert deliver(conn, webhook.url, 0.01, waits.append) == (1, 0)
    assert waits == [0.01, 0.02]  # backoff doubled
    (sent,) = webhook.received
    assert (sent["id"], sent["kind"], sent["figures"]) == (alert_id, "latency", {"p99_ms": 900.0})
    assert column(conn, "delivery_attempts", alert_id) == 3
    assert column(conn, "delivered_at", alert_id) is not None
    record(conn, found(finding(990.0)), HOUR)  # an update is not new: not sent again
    conn.commit()
    assert deliver(conn, webhook.url, 0.01, waits.append) == (0, 0)


@pytest.mark.parametrize("webhook", [100], indirect=True)
def test_a_failing_webhook_is_recorded_and_tried_again_when_its_wait_is_over(
    conn: Connection, webhook: Webhook
) -> None:
    alert_id = record(conn, found(finding()), HOUR).raised[0]
    conn.commit()
    assert deliver(conn, webhook.url, 0.0) == (0, 1)
    assert "500" in column(conn, "delivery_error", alert_id)
    assert column(conn, "delivery_attempts", alert_id) == 4
    assert deliver(conn, webhook.url, 0.0) == (0, 0)  # the next round waits 5 minutes
    conn.execute("UPDATE alerts SET next_delivery_at = now() - interval '1 second'")
    conn.commit()
    webhook.failures = 0
    assert deliver(conn, webhook.url, 0.0) == (1, 0)
    assert column(conn, "delivery_error", alert_id) is None


def test_an_unreachable_webhook_fails_nothing_but_the_delivery(conn: Connection) -> None:
    record(conn, found(finding()), HOUR)
    conn.commit()
    assert deliver(conn, "http://127.0.0.1:9/nothing", 0.0) == (0, 1)


TOKEN = "metrics-token"


def test_metrics_are_read_from_the_tables_behind_the_access_rule(
    conn: Connection, chart: int, database_url: str
) -> None:
    end = newest_bar(conn, chart)
    for i in range(10):
        add_signal(conn, chart, end - i * HOUR, (1.0, -0.5)[i % 2], latency=float(i))
    update(conn)
    record(conn, found(finding()), HOUR)
    record(conn, Found([Finding("stale_data", f"chart/{chart}", "alert", "old", {},
                                chart_id=chart)], []), HOUR)  # fmt: skip
    conn.commit()
    with TestClient(create_app(database_url, Access([token_hash(TOKEN)]))) as client:
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = set(answer.text.splitlines())
    assert 'candlelab_model_signals{model="m",version="1"} 10.0' in lines
    assert 'candlelab_model_win_rate{model="m",version="1"} 0.5' in lines
    assert 'candlelab_model_expectancy_r{model="m",version="1"} 0.25' in lines
    assert 'candlelab_model_latency_ms{model="m",quantile="0.5",version="1"} 4.5' in lines
    assert 'candlelab_model_open_alerts{model="m",version="1"} 1.0' in lines
    assert "candlelab_chart_open_alerts 1.0" in lines
    # Never drift-checked: no PSI sample at all (0 would read as "no drift").
    assert not [line for line in lines if line.startswith("candlelab_model_worst_psi{")]


def test_a_check_of_everything_resolves_a_chart_no_longer_served(
    conn: Connection, chart: int
) -> None:
    add_signal(conn, chart, newest_bar(conn, chart), None)
    (alert_id,) = record(conn, evaluation_found(conn, None, Rules()), HOUR).raised
    conn.execute("DELETE FROM signals")
    assert not record(conn, evaluation_found(conn, "m", Rules()), HOUR).resolved  # one model
    assert record(conn, evaluation_found(conn, None, Rules()), HOUR).resolved == [alert_id]
