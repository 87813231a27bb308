"""`candlelab evaluate --report` raises alerts, `candlelab alerts` lists and acknowledges
them, and a configured webhook receives a new one."""

from __future__ import annotations

import json
import threading

from candlelab.store.database import Connection
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import store
from tests.integration.test_alerts import HOUR, Webhook, add_signal, newest_bar


def test_evaluate_raises_alerts_that_can_be_listed_acknowledged_and_sent(
    cli_then_here: Cli, database_url: str, conn: Connection
) -> None:
    cli = cli_then_here
    chart = store(conn, "BTCUSDT", clean_bars(1, 50))
    end = newest_bar(conn, chart)
    for i in range(40):  # a losing week; its chart's bars are from 2025: stale
        add_signal(conn, chart, end - i * HOUR, -0.5, latency=2000.0)
    conn.commit()

    done = cli("evaluate", "--report", "--json", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["alerts"]["raised"]) == 3
    listed = json.loads(cli("alerts", "--json", DATABASE_URL=database_url).stdout)
    assert sorted(a["kind"] for a in listed) == ["latency", "performance", "stale_data"]
    again = cli("evaluate", "--report", DATABASE_URL=database_url)
    assert "alerts: 0 raised, 3 still open, 0 resolved" in again.stdout

    first = listed[0]["id"]
    acked = cli("alerts", "ack", str(first), "--by", "ana", DATABASE_URL=database_url)
    assert acked.returncode == 0, acked.stderr
    assert "ack ana" in cli("alerts", DATABASE_URL=database_url).stdout
    assert_one_line_error(cli("alerts", "ack", "999", "--by", "ana", DATABASE_URL=database_url),
                          "alert 999 does not exist")  # fmt: skip

    hook = Webhook(failures=1)
    threading.Thread(target=hook.server.serve_forever, daemon=True).start()
    try:
        hooked = {"CANDLELAB_ALERT_WEBHOOK": hook.url, "CANDLELAB_ALERT_RETRY_SECONDS": "0.01"}
        sent = cli("evaluate", "--report", DATABASE_URL=database_url, **hooked)
    finally:
        hook.server.shutdown()
        hook.server.server_close()
    assert sent.returncode == 0, sent.stderr
    assert sorted(a["kind"] for a in hook.received) == ["latency", "performance", "stale_data"]
    conn.execute("UPDATE signals SET realized_rr = 1.0, latency_ms = 5")
    conn.execute("UPDATE charts SET last_bar = now() - interval '1 hour'")
    conn.commit()
    quiet = cli("evaluate", "--report", DATABASE_URL=database_url)
    assert "alerts: 0 raised, 0 still open, 3 resolved" in quiet.stdout, quiet.stdout
    assert cli("alerts", "--all", "--json", DATABASE_URL=database_url).stdout.count('"id"') == 3
