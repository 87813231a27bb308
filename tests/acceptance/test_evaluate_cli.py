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
    cli: Cli, database_url: str, conn: Connection
) -> None:
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
