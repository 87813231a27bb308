"""`candlelab train` and `candlelab runs` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from candlelab.features.registry import stored_set
from candlelab.store.database import Connection
from candlelab.training.tracking import tracking_uri
from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.quality_cases import as_csv, clean_bars
from tests.fixtures.training_data import label_strong_rsi

# Whole commands, the first of each test in a subprocess (seconds each): run on the first
# server only (`make test`); the integration tests run the same code on both.
pytestmark = pytest.mark.slow

FEATURES = """\
name = "mine"

[[features]]
name = "rsi_14"
talib = "RSI"
timeperiod = 14

[[features]]
name = "ret_3"
expr = "close / ref(close, 3) - 1"
"""
TARGET = """\
name = "tight"
kind = "triple-barrier"
unit = "fraction"
take_profit = 0.01
stop_loss = 0.01
horizon = 8
"""


@pytest.fixture
def built(cli_here: Cli, database_url: str, tmp_path: Path) -> Path:
    """Two hourly charts with the set `mine` built; the target file's path. The commands
    run in this process: setting up, not what the test is about (a process each, 1.5 s)."""
    cli = cli_here
    for seed, symbol in ((1, "BTCUSDT"), (2, "ETHUSDT")):
        path = tmp_path / f"{symbol}.csv"
        path.write_text(as_csv(clean_bars(seed, 500)))
        done = cli("ingest", str(path), "--symbol", symbol, "--timeframe", "1h",
                   DATABASE_URL=database_url)  # fmt: skip
        assert done.returncode == 0, done.stderr
    (tmp_path / "mine.toml").write_text(FEATURES)
    done = cli("features", "build", str(tmp_path / "mine.toml"), DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    target = tmp_path / "tight.toml"
    target.write_text(TARGET)
    return target


def test_train_then_list_and_show_the_run(
    cli_then_here: Cli, database_url: str, built: Path
) -> None:
    cli = cli_then_here
    trained = cli("train", "--features", "mine", "--target", str(built), "--symbol", "btc*",
                  "--symbol", "ETHUSDT", "--param", "num_boost_round=10", "--folds", "3",
                  "--embargo", "2", "--json", DATABASE_URL=database_url)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert (result["model_name"], result["model_version"]) == ("mine-tight", 1)
    assert [f["number"] for f in result["folds"]] == [1, 2, 3]

    listed = json.loads(cli("runs", "--json", DATABASE_URL=database_url).stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [(result["run_id"], "finished")]
    shown = cli("runs", "show", result["run_id"][:8], "--json", DATABASE_URL=database_url)
    detail = json.loads(shown.stdout)
    assert detail["dataset_version"] == result["dataset_version"]
    assert len(detail["chart_ids"]) == 2
    text = cli("runs", DATABASE_URL=database_url).stdout
    assert result["run_id"][:12] in text


def test_a_params_file_sets_the_model_and_a_param_flag_wins_over_it(
    cli_here: Cli, database_url: str, built: Path, tmp_path: Path
) -> None:
    cli = cli_here
    params = tmp_path / "params.toml"
    params.write_text("num_boost_round = 7\nlearning_rate = 0.2\nnum_leaves = 9\n")
    trained = cli("train", "--features", "mine", "--target", str(built), "--folds", "2",
                  "--params-file", str(params), "--param", "learning_rate=0.3", "--json",
                  DATABASE_URL=database_url)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run_id = json.loads(trained.stdout)["run_id"]
    shown = cli("runs", "show", run_id, "--json", DATABASE_URL=database_url)
    recorded = json.loads(shown.stdout)["params"]
    expected = {"model.num_boost_round": 7, "model.num_leaves": 9, "model.learning_rate": 0.3}
    assert {k: recorded[k] for k in expected} == expected  # training_runs
    client = MlflowClient(tracking_uri(database_url))
    logged = client.get_run(run_id).data.params
    assert {k: logged[k] for k in expected} == {k: str(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("num_leafs = 3\n", "unknown lightgbm parameter 'num_leafs'; did you mean num_leaves"),
        ("num_leaves = 9\nlearning_rate = \n", "line 2"),  # not TOML
        ('learning_rate = "fast"\n', "learning_rate: 'fast' is not a float"),
        ("[lightgbm]\nnum_leaves = 9\n", "unknown lightgbm parameter 'lightgbm'"),
    ],
)
def test_a_bad_params_file_fails_with_one_line_naming_it(
    cli_here: Cli, database_url: str, tmp_path: Path, text: str, expected: str
) -> None:
    params = tmp_path / "params.toml"
    params.write_text(text)
    failed = cli_here("train", "--features", "mine", "--params-file", str(params),
                      DATABASE_URL=database_url)  # fmt: skip
    assert_one_line_error(failed, f"--params-file {params}: ", expected)


def test_train_help_shows_the_ready_targets(cli: Cli) -> None:
    shown = cli("train", "--help")
    assert shown.returncode == 0
    for name in ("spans:", "triple-barrier:", "forward-return:"):
        assert name in shown.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "xgboost"], "unknown model 'xgboost'"),
        (["--param", "num_leafs=3"], "did you mean num_leaves"),
        (["--param", "oops"], "--param 'oops': write it as name=value"),
        (["--window", "rolling"], "--window: 'rolling'"),
    ],
)
def test_a_bad_model_or_option_fails_with_one_line_before_any_data_is_read(
    cli: Cli, database_url: str, args: list[str], expected: str
) -> None:
    failed = cli("train", "--features", "mine", *args, DATABASE_URL=database_url)
    assert_one_line_error(failed, expected)


def test_bad_data_requests_fail_with_one_line_and_no_run(
    cli_then_here: Cli, database_url: str, built: Path
) -> None:
    cli = cli_then_here
    for args, expected in ((["--symbol", "XRP*"], "--symbol 'XRP*' matches no chart's symbol"),
                           (["--folds", "90"], "would train on 0 rows")):  # fmt: skip
        failed = cli("train", "--features", "mine", "--target", str(built), *args,
                     DATABASE_URL=database_url)  # fmt: skip
        assert_one_line_error(failed, expected)
    assert json.loads(cli("runs", "--json", DATABASE_URL=database_url).stdout) == []


def test_a_missing_target_file_and_an_unbuilt_set_are_named(
    cli_then_here: Cli, database_url: str, built: Path, tmp_path: Path
) -> None:
    cli = cli_then_here
    missing = tmp_path / "nope.toml"
    assert_one_line_error(cli("train", "--features", "mine", "--target", str(missing),
                              DATABASE_URL=database_url), str(missing))  # fmt: skip
    assert_one_line_error(cli("train", "--features", "core", DATABASE_URL=database_url),
                          "core")  # fmt: skip


def test_a_spans_model_proposes_on_the_other_chart(
    cli_then_here: Cli, database_url: str, built: Path, conn: Connection
) -> None:
    cli = cli_then_here
    stored = stored_set(conn, "mine")
    btc = conn.execute("SELECT id FROM charts WHERE symbol = 'BTCUSDT'").fetchone()
    assert btc is not None
    label_strong_rsi(conn, database_url, stored, int(btc[0]))
    trained = cli("train", "--features", "mine", "--target", "spans", "--symbol", "BTCUSDT",
                  "--folds", "2", "--param", "num_boost_round=20", "--param",
                  "min_data_in_leaf=10", DATABASE_URL=database_url)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    made = cli("propose", "--model", "mine-spans", "--symbol", "ETH*", "--json",
               DATABASE_URL=database_url)  # fmt: skip
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["version"] == 1
    [chart] = report["charts"]
    assert chart["written"] == chart["proposed"] > 0
    again = json.loads(cli("propose", "--model", "mine-spans/1", "--symbol", "ETH*", "--json",
                           DATABASE_URL=database_url).stdout)  # fmt: skip
    assert again["charts"][0]["written"] == 0
    assert_one_line_error(cli("propose", "--model", "mine-spans@champion",
                              DATABASE_URL=database_url), "mine-spans")  # fmt: skip
