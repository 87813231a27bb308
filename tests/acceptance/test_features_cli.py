"""`candlelab features build | list | show` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.conftest import Cli, assert_one_line_error
from tests.fixtures.quality_cases import as_csv, clean_bars

MINE = """\
name = "mine"

[[features]]
name = "rsi_14"
talib = "RSI"
timeperiod = 14

[[features]]
name = "rsi_change"
expr = "delta(rsi_14, 3)"
"""


def ingest(cli: Cli, database_url: str, tmp_path: Path, bars: int) -> None:
    path = tmp_path / "btc.csv"
    path.write_text(as_csv(clean_bars(21, bars)))
    loaded = cli("ingest", str(path), "--symbol", "BTCUSDT", "--timeframe", "1h",
                 DATABASE_URL=database_url)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr


def test_build_then_list_and_show_a_set_from_a_file(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    ingest(cli, database_url, tmp_path, 300)
    definition = tmp_path / "mine.toml"
    definition.write_text(MINE)
    built = cli("features", "build", str(definition), "--json", DATABASE_URL=database_url)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert (report["feature_set"], report["version"], report["columns"]) == ("mine", 1, 2)
    assert report["charts"][0]["bars_written"] == 300

    again = cli("features", "build", "mine", DATABASE_URL=database_url)
    assert again.returncode == 0, again.stderr
    assert "0 bars computed on 0 of 1 charts" in again.stdout

    listed = json.loads(cli("features", "list", "--json", DATABASE_URL=database_url).stdout)
    assert [(s["name"], s["version"], s["charts"], s["bars"]) for s in listed] == [
        ("mine", 1, 1, 300)
    ]
    shown = json.loads(
        cli("features", "show", "mine@1", "--json", DATABASE_URL=database_url).stdout
    )
    assert [f["name"] for f in shown["features"]] == ["rsi_14", "rsi_change"]
    assert shown["charts"][0]["warmup"] == [14, 17]
    text = cli("features", "show", "mine", DATABASE_URL=database_url).stdout
    assert "delta(rsi_14, 3)" in text
    assert "RSI(timeperiod=14).real" in text


def test_a_bad_definition_is_one_error_line_naming_file_line_and_feature(
    cli_then_here: Cli, database_url: str, tmp_path: Path
) -> None:
    cli = cli_then_here
    ingest(cli, database_url, tmp_path, 50)
    definition = tmp_path / "bad.toml"
    definition.write_text(MINE.replace("delta(rsi_14, 3)", "delta(rsi_14, 0)"))
    result = cli("features", "build", str(definition), DATABASE_URL=database_url)
    assert_one_line_error(result, f"{definition}, line 10, feature 'rsi_change'", "delta")
    listed = cli("features", "list", "--json", DATABASE_URL=database_url)
    assert json.loads(listed.stdout) == []  # nothing was written
    unknown = cli("features", "show", "nope", DATABASE_URL=database_url)
    assert_one_line_error(unknown, "'nope' is not stored")
