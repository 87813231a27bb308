"""The main job survives SIGKILL; the embedded server keeps every row and is shared."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from candlelab.demo import REGIME_LABELS, demo_charts, shift_bars
from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec, hourly_regimes
from candlelab.store.embedded import POSTGRES_VERSION, _pgserver
from tests.acceptance.conftest import Cli, candlelab_command, cli_environment

# Whole commands in subprocesses, seconds each: run on the first server only (`make test`);
# the integration tests run the same code on both.
pytestmark = pytest.mark.slow

DEMO_BARS = sum(len(bars) for _, _, bars in demo_charts(MarketSpec()))
# The volatile weeks that arrive after training, on the labelled (every other) charts.
SHIFT_BARS = sum(len(shift_bars(MarketSpec(), i)) for i in INSTRUMENTS[::2])
ALL_BARS = DEMO_BARS + SHIFT_BARS
VOLATILITY = {"std_5", "std_20", "std_60", "atr_14", "natr_14", "range", "bb_width"}
CALENDAR = {"hour", "weekday", "minutes_to_close"}
DRIFTED = ("select string_agg(name, ',') from alerts, jsonb_object_keys(figures -> 'psi') name "
           "where kind = 'feature_drift' and model_version = {}")  # fmt: skip
RUN_METRICS = "select metrics from training_runs where run_id like '{}%'"


def candle_count(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM candles").fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def interrupt_demo_mid_load(url: str, tmp_path: Path, signum: int) -> tuple[int, str]:
    """Start `candlelab demo`, send `signum` once some bars are committed, and wait for it.

    Returns the exit code and what it wrote to stderr.
    """
    process = subprocess.Popen(
        candlelab_command("demo"),
        env=cli_environment(tmp_path, DATABASE_URL=url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while candle_count(url) == 0:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the demo ended or stalled before any bar landed: {process.poll()}")
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_ctrl_c_stops_the_demo_with_one_line_and_a_rerun_completes(
    cli: Cli, empty_database_url: str, tmp_path: Path
) -> None:
    code, stderr = interrupt_demo_mid_load(empty_database_url, tmp_path, signal.SIGINT)
    assert code == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert candle_count(empty_database_url) < DEMO_BARS

    assert cli("demo", "--market-only", DATABASE_URL=empty_database_url).returncode == 0
    assert candle_count(empty_database_url) == DEMO_BARS


def psql(url: str, query: str) -> str:
    psql_binary = _pgserver().utils.POSTGRES_VERSIONS[POSTGRES_VERSION] / "psql"
    result = subprocess.run(
        [str(psql_binary), url, "-Atc", query], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def printed_table(stdout: str, title: str) -> list[list[str]]:
    """The cells of each row of the table printed under a title starting with `title`
    (Rich's box lines: a row between │, the table ends at └)."""
    lines = stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows: list[list[str]] = []
    for line in lines[first + 1 :]:
        if line.startswith("└"):
            return rows
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    raise AssertionError(f"table {title!r} has no end")


def assert_the_labelling_loop_printed(stdout: str, url: str) -> None:
    """The run's walk-forward table (its pooled scores those recorded in training_runs),
    its proposals against the known regimes, and how to open MLflow's UI."""
    run = re.search(r"^model: +demo-regimes version 1, run (\w{12}),", stdout, re.MULTILINE)
    assert run, stdout
    folds = printed_table(stdout, "walk-forward validation (spans target)")
    assert [row[0] for row in folds] == ["1", "2", "3", "all"]
    recorded = json.loads(psql(url, RUN_METRICS.format(run[1])))
    heads = ("balanced_accuracy", "macro_f1", "log_loss", "roc_auc")
    assert [float(cell) for cell in folds[-1][5:]] == [round(recorded[h], 3) for h in heads]
    agreement = printed_table(stdout, "proposals against the market's known regimes")
    truth, bars = regime_bars()
    assert [row[0] for row in agreement] == list(truth)
    for label, proposed, precision, recall in agreement:
        shown = int(proposed.replace(",", ""))
        hits = shown * float(precision.removesuffix(" %")) / 100
        assert hits > shown * truth[label] / bars  # better than proposing bars at random
        # The recall is the same hits over the regime's bars (both shown rounded to 1 %).
        assert abs(truth[label] * float(recall.removesuffix(" %")) / 100 - hits) <= (
            (shown + truth[label]) / 200
        )
    assert "MLflow UI: candlelab mlflow-ui" in stdout


def regime_bars() -> tuple[dict[str, int], int]:
    """Per label, the bars of its regime on the proposed-on (every other) hourly charts;
    all their bars."""
    spec, proposed_on = MarketSpec(), set(INSTRUMENTS[1::2])
    counts, total = dict.fromkeys(REGIME_LABELS.values(), 0), 0
    for instrument, timeframe, stored in demo_charts(spec):
        if timeframe != "1h" or instrument not in proposed_on:
            continue
        times, regimes = hourly_regimes(instrument, spec)
        kept = regimes[times >= stored.time[0]]  # the chart keeps the last days only
        for regime, label in REGIME_LABELS.items():
            counts[label] += int((kept == regime).sum())
        total += len(kept)
    return counts, total


@pytest.mark.embedded
def test_a_demo_killed_mid_load_then_run_again_keeps_every_row_across_a_stop_and_start(
    cli: Cli, embedded_home: Path, tmp_path: Path
) -> None:
    # One whole demo (30 s): the run that finishes what a SIGKILL left is checked as a
    # first run is, then the server it filled is stopped and started again.
    home = {"CANDLELAB_HOME": str(embedded_home)}
    url = cli("db", "url", **home).stdout.strip()  # the server up, its database empty
    code, _ = interrupt_demo_mid_load(url, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    at_kill = candle_count(url)
    assert 0 < at_kill < DEMO_BARS

    demo = cli("demo", **home)  # every stage, over what is stored
    assert demo.returncode == 0, demo.stderr
    assert f"24 charts, {DEMO_BARS:,} bars ({DEMO_BARS - at_kill:,} new this run)" in demo.stdout
    assert "db url" in demo.stdout
    assert "version 1 champion, version 2 challenger at 20%" in demo.stdout
    assert_the_labelling_loop_printed(demo.stdout, url)
    assert "models:    candlelab models show demo-regimes; the Models page at " in demo.stdout
    [where] = [line for line in demo.stdout.splitlines() if line.startswith("signals:")]
    assert where.startswith('signals:   psql "$(candlelab db url)" -c "select ')
    shown = psql(url, where.split(' -c "', 1)[1].removesuffix('"'))  # as printed, run
    assert len(shown.splitlines()) == 10  # the newest signals

    assert psql(url, "select count(*) from candles") == str(ALL_BARS)
    for version in (1, 2):  # the volatile weeks flag how prices move, not when bars open
        drifted = set(psql(url, DRIFTED.format(version)).split(","))
        assert drifted >= VOLATILITY
        assert not drifted & CALENDAR
    queued = "select model_name || ' ' || status || ' ' || attempts from retrain_queue"
    assert psql(url, queued) == "demo-regimes completed 1"  # the alerts asked, a worker did it
    served = psql(url, "select string_agg(distinct alias, ',' order by alias) from signals")
    assert served == "challenger,champion"  # 16 charts at 20 %: both, for this seed
    moves = "select string_agg(alias || ' ' || version, ',' order by id) from model_deployments"
    assert psql(url, moves) == "champion 1,challenger 2,challenger 3"  # 3: the retrain's
    assert cli("db", "stop", **home).returncode == 0
    stopped = json.loads(cli("db", "status", "--json", **home).stdout)
    assert stopped["running"] is False

    assert cli("db", "start", **home).returncode == 0
    assert psql(url, "select count(*) from candles") == str(ALL_BARS)
    assert json.loads(cli("db", "status", "--json", **home).stdout)["up_to_date"] is True


@pytest.mark.embedded
def test_two_processes_starting_together_share_one_server(
    tmp_path: Path, embedded_home: Path
) -> None:
    env = cli_environment(tmp_path, CANDLELAB_HOME=str(embedded_home))
    starts = [
        subprocess.Popen(
            candlelab_command("db", "url"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in starts]
    assert [process.returncode for process in starts] == [0, 0], outputs
    urls = {stdout.strip() for stdout, _ in outputs}
    assert len(urls) == 1
    postmasters = subprocess.run(
        ["pgrep", "-f", f"postgres -D {embedded_home / 'pg'}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert len(postmasters) == 1
    assert psql(urls.pop(), "select current_database()") == "candle_annotator"
