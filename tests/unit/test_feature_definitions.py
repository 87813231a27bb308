"""Feature set definitions: read from TOML or a mapping, checked whole, versioned by hash."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from candlelab.errors import InvalidFeature
from candlelab.features.computation import (
    ChartBars,
    compute,
    feature_histories,
    feature_warmups,
    history,
)
from candlelab.features.definitions import (
    FeatureSet,
    bundled_feature_set,
    feature_set,
    load_feature_set,
    parse_feature_set,
)
from candlelab.market.timeframes import Timeframe
from tests.fixtures.quality_cases import clean_bars

GOOD = """\
name = "mine"

[[features]]
name = "rsi_14"
talib = "RSI"
timeperiod = 14

[[features]]
name = "rsi_fast"
expr = "rsi_14 - mean(rsi_14, 5)"
"""


def refused(text: str) -> str:
    with pytest.raises(InvalidFeature) as caught:
        parse_feature_set(text, "mine.toml")
    return str(caught.value)


def test_a_good_file_reads_in_order_and_computes_in_dependency_order(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD.replace('name = "rsi_14"\ntalib', 'name = "rsi_14"\ntalib', 1))
    reordered = feature_set({"name": "mine", "features": [
        {"name": "rsi_fast", "expr": "rsi_14 - mean(rsi_14, 5)"},
        {"name": "rsi_14", "talib": "RSI", "timeperiod": 14}]})  # fmt: skip
    assert reordered.columns == ("rsi_fast", "rsi_14")
    assert [f.name for f in reordered.computation_order] == ["rsi_14", "rsi_fast"]
    assert load_feature_set(path).columns == ("rsi_14", "rsi_fast")


def test_an_unknown_function_names_the_file_line_feature_and_the_closest_names() -> None:
    message = refused(GOOD.replace('talib = "RSI"', 'talib = "RSX"'))
    assert message.startswith("mine.toml, line 5, feature 'rsi_14': ")
    assert "RSX" in message
    assert "RSI" in message


def test_an_unknown_parameter_names_its_line() -> None:
    message = refused(GOOD.replace("timeperiod = 14", "timeperod = 14"))
    assert message.startswith("mine.toml, line 6, feature 'rsi_14': ")
    assert "timeperiod" in message


def test_a_window_of_zero_names_the_operator() -> None:
    message = refused(GOOD.replace("mean(rsi_14, 5)", "mean(rsi_14, 0)"))
    assert message.startswith("mine.toml, line 10, feature 'rsi_fast': ")
    assert "mean(rsi_14, 0)" in message


def test_a_missing_operand_is_refused() -> None:
    message = refused(GOOD.replace("mean(rsi_14, 5)", "mean(rsi_14)"))
    assert "line 10" in message
    assert "takes 2 arguments" in message


def test_an_unknown_column_is_named_with_the_closest() -> None:
    message = refused(GOOD.replace("rsi_14 - mean", "rsi_41 - mean"))
    assert message.startswith("mine.toml, line 10, feature 'rsi_fast': reads 'rsi_41'")
    assert "closest: rsi_14" in message


def test_a_cycle_is_named() -> None:
    text = (
        GOOD
        + '\n[[features]]\nname = "a"\nexpr = "b + 1"\n\n[[features]]\nname = "b"\nexpr = "a * 2"\n'
    )
    message = refused(text)
    assert "line 13, feature 'a'" in message
    assert "a -> b -> a" in message


def test_a_feature_reading_itself_is_a_cycle() -> None:
    assert "x -> x" in refused('name = "s"\n[[features]]\nname = "x"\nexpr = "ref(x, 1)"\n')


def test_two_kinds_or_none_are_refused() -> None:
    assert "exactly one of" in refused(GOOD.replace("timeperiod = 14", 'expr = "close"'))
    assert "exactly one of" in refused('name = "s"\n[[features]]\nname = "x"\n')


def test_names_must_be_identifiers_and_not_candle_columns() -> None:
    assert "needs a name" in refused(GOOD.replace('name = "rsi_14"', 'name = "RSI 14"'))
    assert "name of a candle column" in refused(GOOD.replace('name = "rsi_14"', 'name = "close"'))


def test_a_set_name_may_hold_dashes_and_dots_and_is_checked_however_the_set_is_made() -> None:
    for name in ("core-24-7", "Mine.v2", "_x", "0"):
        made = feature_set({"name": name, "features": [{"name": "r", "expr": "close"}]})
        assert feature_set(made.definition(), "stored").name == name
    for bad in ("core@1", "a b", "a/b", ".hidden", "-x", "", "x" * 64):
        assert f"got {bad!r}" in refused(GOOD.replace('name = "mine"', f'name = "{bad}"'))
        with pytest.raises(InvalidFeature, match=f"feature set name {re.escape(repr(bad))}"):
            FeatureSet(bad, ())


def test_unknown_keys_and_bad_values_are_refused_with_their_line() -> None:
    message = refused(GOOD.replace('expr = "rsi_14', 'exprs = "x"\nexpr = "rsi_14'))
    assert message.startswith("mine.toml, line 10, feature 'rsi_fast': unknown key 'exprs'")
    assert "timeframe" in refused(
        GOOD.replace("timeperiod = 14", 'timeperiod = 14\ntimeframe = "1q"')
    )
    assert "calendar" in refused('name = "s"\n[[features]]\nname = "h"\ncalendar = "hours"\n')
    assert "not valid TOML" in refused("name = ")
    assert "has no [[features]]" in refused('name = "s"\n')


def test_a_longer_timeframe_feature_reads_candle_columns_only() -> None:
    text = GOOD + '\n[[features]]\nname = "d"\ntimeframe = "1d"\nexpr = "rsi_14 + 1"\n'
    assert "reads candle columns only" in refused(text)


def test_a_mapping_names_the_feature_position() -> None:
    with pytest.raises(
        InvalidFeature, match=r"^feature set, features\[1\], feature 'b': unknown TA-Lib"
    ):
        feature_set({"name": "s", "features": [{"name": "a", "expr": "close"},
                                               {"name": "b", "talib": "NOPE"}]})  # fmt: skip


def test_the_version_follows_values_not_spelling_or_descriptions() -> None:
    base = parse_feature_set(GOOD, "a")
    spelled = parse_feature_set(
        GOOD.replace("timeperiod = 14", 'params = { timeperiod = 14 }\ninput = "close"')
        .replace("rsi_14 - mean(rsi_14, 5)", "rsi_14-mean( rsi_14 ,5 )")
        .replace("expr =", 'description = "fast"\nexpr ='),
        "b",
    )
    assert spelled.version_hash == base.version_hash
    changed = parse_feature_set(GOOD.replace("timeperiod = 14", "timeperiod = 15"), "c")
    assert changed.version_hash != base.version_hash
    renamed = parse_feature_set(GOOD.replace('name = "mine"', 'name = "yours"'), "d")
    assert renamed.version_hash != base.version_hash
    assert base.definition()["talib"]


def test_a_stored_definition_reads_back_as_the_same_version() -> None:
    core = bundled_feature_set("core")
    assert feature_set(core.definition()).version_hash == core.version_hash


def test_the_core_set_has_about_fifty_documented_features() -> None:
    core = bundled_feature_set("core")
    assert 50 <= len(core.columns) <= 70
    assert all(f.description for f in core.features)
    assert len(set(core.columns)) == len(core.columns)


def test_history_is_the_longest_warm_up_and_at_least_one_with_a_cumulative_feature() -> None:
    core = bundled_feature_set("core")
    histories = feature_histories(core)
    assert histories["ret_60"] == 60
    assert histories["close_sma_20"] == 19
    assert histories["std_20"] == 20  # std over 20 returns, each reading one bar back
    assert histories["hour"] == 0
    assert histories["obv"] == 0  # anchored on its stored value instead
    assert history(core) == max(histories.values())
    only_obv = feature_set({"name": "o", "features": [{"name": "o", "talib": "OBV"}]})
    assert history(only_obv) == 1


def test_on_a_random_walk_no_feature_predicts_the_next_return() -> None:
    """A feature that read the next bar would correlate with the next return; on a pure
    random walk none may (|r| < 0.05 over 20,000 bars, about 7 standard errors)."""
    core = bundled_feature_set("core")
    bars = clean_bars(42, 20_000)
    columns = {"open": bars.open, "high": bars.high, "low": bars.low,
               "close": bars.close, "volume": bars.volume}  # fmt: skip
    values = compute(core, ChartBars(bars.time, columns, Timeframe(1, "h")))
    following = np.log(bars.close[1:] / bars.close[:-1])
    for j, name in enumerate(core.columns):
        x, y = values[:-1, j], following
        known = ~np.isnan(x)
        if known.sum() < 1000 or np.std(x[known]) == 0:
            continue  # no values (minutes_to_close on a 24/7 chart) or a constant
        r = np.corrcoef(x[known], y[known])[0, 1]
        assert abs(r) < 0.05, (name, r)


def test_each_core_warm_up_is_where_its_feature_has_its_first_value() -> None:
    """On a 24/7 chart: every column's first value at the bar its warm-up says, but
    minutes_to_close, which has none by definition and no warm-up."""
    core = bundled_feature_set("core")
    bars = clean_bars(3, 400)
    columns = {"open": bars.open, "high": bars.high, "low": bars.low,
               "close": bars.close, "volume": bars.volume}  # fmt: skip
    values = compute(core, ChartBars(bars.time, columns, Timeframe(1, "h")))
    warmups = feature_warmups(core)
    firsts = {name: int(np.argmax(~np.isnan(values[:, j]))) for j, name in enumerate(core.columns)}
    assert np.isnan(values[:, core.columns.index("minutes_to_close")]).all()
    assert warmups.pop("minutes_to_close") == 0
    assert {name: warmups[name] for name in firsts if name in warmups} == {
        name: first for name, first in firsts.items() if name != "minutes_to_close"}  # fmt: skip
    assert (warmups["ret_60"], warmups["ema_20"], warmups["std_60"], warmups["hour"]) == (
        60, 19, 60, 0)  # fmt: skip
    assert max(warmups.values()) < max(feature_histories(core).values())  # no EMA tail


@pytest.mark.parametrize("field", ["set", "feature"])
def test_a_name_ending_in_a_newline_is_refused(field: str) -> None:
    # `$` in a pattern also matches before a final newline: a name is matched whole.
    data = {"name": "mine", "features": [{"name": "rsi_14", "talib": "RSI", "timeperiod": 14}]}
    if field == "set":
        data["name"] = "mine\n"
    else:
        data["features"][0]["name"] = "rsi_14\n"  # type: ignore[index]
    with pytest.raises(InvalidFeature, match="name"):
        feature_set(data)
