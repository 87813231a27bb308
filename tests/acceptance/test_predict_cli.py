"""`candlelab predict` as a user runs it: newest bars, a count of bars, a backtest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from candlelab.store.database import Connection
from candlelab.training.tracking import Tracking
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.acceptance.test_train_cli import built  # noqa: F401  (a fixture)

# Whole commands, the first of each test in a subprocess (seconds each): run on the first
# server only (`make test`); the integration tests run the same code on both.
pytestmark = pytest.mark.slow

MODEL = "mine-tight"


@pytest.fixture
def champion(cli_here: Cli, database_url: str, built: Path, tmp_path: Path) -> str:  # noqa: F811
    """`mine-tight` version 1, trained on both charts (in this process: set-up) and holding
    alias champion."""
    trained = cli_here("train", "--features", "mine", "--target", str(built), "--param",
                  "num_boost_round=10", "--folds", "2", DATABASE_URL=database_url)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    tracking = Tracking(database_url, (tmp_path / "artifacts").as_uri())
    tracking.client.set_registered_model_alias(MODEL, "champion", "1")
    return MODEL


def signals(conn: Connection) -> list[tuple[object, ...]]:
    query = "SELECT chart_id, time, model_version, alias FROM signals ORDER BY chart_id, time"
    return conn.execute(query).fetchall()


def test_predict_the_newest_bars_once_then_backtest_the_rest(
    cli_then_here: Cli, database_url: str, champion: str, conn: Connection
) -> None:
    cli = cli_then_here
    first = cli("predict", "--model", champion, "--json", DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)
    assert (done["model"], done["refused"]) == (MODEL, [])
    assert {(s["model_version"], s["alias"], s["shadow"]) for s in done["signals"]} == {
        (1, "champion", False)}  # fmt: skip
    assert [s["new"] for s in done["signals"]] == [True, True]
    assert all(s["pred"] in ("short", "none", "long") for s in done["signals"])
    again = json.loads(cli("predict", "--model", champion, "--json",
                           DATABASE_URL=database_url).stdout)  # fmt: skip
    assert [s["id"] for s in again["signals"]] == [s["id"] for s in done["signals"]]
    assert [s["new"] for s in again["signals"]] == [False, False]

    chart_id = done["signals"][0]["chart_id"]
    counted = cli("predict", "--model", f"{MODEL}/1", "--chart", str(chart_id), "--bars", "5",
                  "--json", DATABASE_URL=database_url)  # fmt: skip
    assert counted.returncode == 0, counted.stderr
    five = json.loads(counted.stdout)["signals"]
    assert [s["new"] for s in five] == [True] * 4 + [False]  # the newest was predicted above
    assert len(signals(conn)) == 6

    backtested = cli("predict", "--model", f"{MODEL}@champion", "--start", "2020-01-01",
                     "--json", DATABASE_URL=database_url)  # fmt: skip
    assert backtested.returncode == 0, backtested.stderr
    report = json.loads(backtested.stdout)
    assert report["charts"] == 2
    assert report["predicted"] + report["skipped"] == 1000
    assert report["written"] == report["predicted"] - 6
    assert len(signals(conn)) == report["predicted"]
    text = cli("predict", "--model", champion, DATABASE_URL=database_url)
    assert "signals of mine-tight" in text.stdout


def test_refusals_are_one_line(cli_then_here: Cli, database_url: str, champion: str) -> None:
    cli = cli_then_here
    unknown = cli("predict", "--model", "nosuch", DATABASE_URL=database_url)
    assert_one_line_error(unknown, "no version holds alias 'champion'")
    bad = cli("predict", "--model", champion, "--bars", "0", DATABASE_URL=database_url)
    assert_one_line_error(bad, "--bars '0'")
    path = cli("predict", "--model", "../../etc/passwd", DATABASE_URL=database_url)
    assert path.returncode != 0
    assert "Traceback" not in path.stderr
