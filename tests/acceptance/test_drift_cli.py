"""`candlelab drift` as cron runs it: exit 0 when quiet, 1 when something drifted (named,
worst first), 2 when it cannot check; --json for scripts."""

from __future__ import annotations

import json

from candlelab.features.materialisation import build_features
from candlelab.store.database import Connection
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.served_models import BUILT, MODEL, champion, served_market
from tests.fixtures.training_data import SMALL, store
from tests.integration.test_drift import judge_all, serve, volatile_bars


def test_drift_exits_by_what_it_finds(
    cli_then_here: Cli, conn: Connection, database_url: str, artifact_root: str
) -> None:
    cli = cli_then_here
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    assert_one_line_error(cli("drift", "--model", MODEL, DATABASE_URL=database_url),
                          "no served signals")  # fmt: skip
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)

    quiet = cli("drift", "--window", "60d", DATABASE_URL=database_url)
    assert quiet.returncode == 0, quiet.stderr
    assert "nothing at alert level" in quiet.stdout
    assert "performance: no judged trade in the window" in quiet.stdout
    assert "PSI thresholds: warn 0.1, alert 0.25" in quiet.stdout

    bars = volatile_bars(3, BUILT)
    wild = store(conn, "SOLUSDT", bars)
    build_features(conn, SMALL, [wild])
    conn.commit()
    serve(conn, database_url, artifact_root, wild, bars)
    drifted = cli("drift", "--model", MODEL, "--window", "60d", DATABASE_URL=database_url)
    assert drifted.returncode == 1, drifted.stderr
    assert "drifted: range_1, ret_5" in drifted.stdout
    assert f"retrain requested: {MODEL} (job " in drifted.stdout  # the alert asked for it
    assert drifted.stdout.index("range_1") < drifted.stdout.index("rsi_14")  # worst first
    listed = json.loads(cli("alerts", "--json", DATABASE_URL=database_url).stdout)
    (feature_alert,) = [a for a in listed if a["kind"] == "feature_drift"]
    assert "range_1, ret_5" in feature_alert["message"]
    assert "alerts: 0 raised" in cli("drift", "--model", MODEL, "--window", "60d",
                                     DATABASE_URL=database_url).stdout  # fmt: skip

    report = cli("drift", "--model", MODEL, "--version", "1", "--window", "60d", "--json",
                 DATABASE_URL=database_url)  # fmt: skip
    assert report.returncode == 1, report.stderr
    found = json.loads(report.stdout)
    assert found["drifted"] is True
    (version,) = found["versions"]
    assert version["drifted"][:2] == ["range_1", "ret_5"]
    assert version["signals"] == 240
    lenient = cli("drift", "--window", "60d", "--psi-warn", "5", "--psi-alert", "10",
                  DATABASE_URL=database_url)  # fmt: skip
    assert lenient.returncode == 0, lenient.stderr

    judge_all(conn, "-1.0")  # every trade lost: the window earns far less than validated
    losing = cli("drift", "--window", "60d", "--psi-warn", "5", "--psi-alert", "10",
                 DATABASE_URL=database_url)  # fmt: skip
    assert losing.returncode == 1, losing.stderr
    assert "performance: 240 judged trades, expectancy -1.000 R, win rate 0%" in losing.stdout
    assert "drifted: performance" in losing.stdout


def test_drift_cannot_check_exits_2_with_one_line(
    cli_then_here: Cli, conn: Connection, database_url: str, artifact_root: str
) -> None:
    cli = cli_then_here
    market = served_market(conn)
    champion(database_url, artifact_root, market)
    serve(conn, database_url, artifact_root, market.chart_id, market.bars)
    conn.execute("DELETE FROM drift_references")  # as a run trained before them has
    conn.commit()
    for args, words in (
        (("--model", "nope"), "no model 'nope'"),
        (("--model", MODEL), "has no drift reference"),
        (("--window", "soon"), "--window 'soon'"),
        (("--psi-warn", "0.5", "--psi-alert", "0.2"), "PSI thresholds"),
        (("--version", "1"), "--version needs --model"),
    ):
        done = cli("drift", *args, DATABASE_URL=database_url)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert_one_line_error(done, words)
    every = cli("drift", DATABASE_URL=database_url)
    assert every.returncode == 0, every.stderr
    assert f"model {MODEL} version 1: no drift reference" in every.stdout
