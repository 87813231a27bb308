"""`candlelab evaluate` as a user runs it: counts by outcome and by reason, a re-run that
judges nothing, one-line errors for names that do not exist. (It imports no MLflow.)"""

from __future__ import annotations

import json

from candlelab.store.database import Connection
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.quality_cases import clean_bars
from tests.fixtures.training_data import store
from tests.integration.test_outcomes import TARGET, add_signals, register


def test_evaluate_judges_every_matured_signal_once_and_says_what_it_skipped(
    cli_then_here: Cli, database_url: str, conn: Connection
) -> None:
    cli = cli_then_here
    bars = clean_bars(5, 300)
    chart_id = store(conn, "BTCUSDT", bars)
    register(conn, "m", 1, TARGET)
    rows = [*range(100, 140), 295]  # the last one's horizon has not passed
    add_signals(conn, chart_id, bars, rows, ["long", "short"] * 20 + ["long"])
    add_signals(conn, chart_id, bars, [100], ["none"], version=2)  # no run: no target

    done = cli("evaluate", "--json", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["charts"], report["judged"]) == (1, 40)
    assert "performance" not in report  # only with --report
    assert sum(report["outcomes"].values()) == 40
    assert report["ambiguous"] == report["outcomes"]["ambiguous"]
    assert report["skipped"] == {"not matured": 1, "gap": 0, "no bar": 0, "no target": 1,
                                 "chart busy": 0}  # fmt: skip
    judged = conn.execute("SELECT count(*) FROM signals WHERE outcome IS NOT NULL").fetchone()
    assert judged == (40,)

    again = cli("evaluate", "--model", "m", "--chart", str(chart_id), DATABASE_URL=database_url)
    assert again.returncode == 0, again.stderr
    assert "1 charts, 0 signals judged" in again.stdout
    assert "skipped: 1 not matured, 1 no target" in again.stdout

    assert_one_line_error(cli("evaluate", "--model", "nope", DATABASE_URL=database_url),
                          "no model 'nope' has signals")  # fmt: skip
    assert_one_line_error(cli("evaluate", "--chart", "999", DATABASE_URL=database_url),
                          "no chart 999")  # fmt: skip
    assert cli("evaluate", "--chart", "0", DATABASE_URL=database_url).returncode == 2


def test_evaluate_report_updates_model_performance_and_prints_it_for_scripts(
    cli_then_here: Cli, database_url: str, conn: Connection
) -> None:
    cli = cli_then_here
    bars = clean_bars(5, 300)
    chart_id = store(conn, "BTCUSDT", bars)
    register(conn, "m", 1, TARGET)
    register(conn, "m", 2, TARGET)
    add_signals(conn, chart_id, bars, list(range(100, 200)), ["long", "short"] * 50)
    add_signals(conn, chart_id, bars, list(range(100, 200, 2)), ["long"] * 50, version=2)
    for alias, version in (("champion", 1), ("challenger", 2)):
        conn.execute("INSERT INTO model_deployments (model_name, alias, version) "
                     "VALUES ('m', %s, %s)", (alias, version))  # fmt: skip
    conn.commit()

    done = cli("evaluate", "--report", "--window", "day", "--json", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["judged"] == 150
    by_version = {v["model_version"]: v for v in report["performance"]}
    assert by_version[1]["overall"]["trades"] == 100
    assert by_version[2]["overall"]["trades"] == 50
    assert {w["window_kind"] for w in by_version[1]["windows"]} == {"day"}
    assert 1 <= len(by_version[1]["windows"]) <= 4
    (compared,) = report["comparisons"]
    assert (compared["champion"], compared["challenger"]) == (1, 2)
    assert (compared["n_champion"], compared["n_challenger"]) == (100, 50)
    assert compared["verdict"].startswith(("not enough evidence yet", "challenger"))
    stored = conn.execute("SELECT count(*) FROM model_performance WHERE chart_id IS NULL "
                          "AND window_kind = 'all'").fetchone()  # fmt: skip
    assert stored == (2,)

    shown = cli("evaluate", "--report", DATABASE_URL=database_url)
    assert shown.returncode == 0, shown.stderr
    assert "m v1: all its signals" in shown.stdout
    assert "m v2: all its signals" in shown.stdout
    assert "challenger v2 against champion v1" in shown.stdout
