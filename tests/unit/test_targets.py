"""Target definitions: ready ones by name, TOML files checked whole, versions by hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from candlelab.errors import InvalidTarget
from candlelab.training.targets import (
    READY,
    load_target,
    ready_target,
    resolve_target,
    target_definition,
)

TOML = """\
name = "wide"
kind = "triple-barrier"
description = "two ATRs up, one down"
take_profit = 2.0
stop_loss = 1
horizon = 30
"""


def test_the_ready_targets_need_no_file() -> None:
    for name in READY:
        assert ready_target(name).name == name
    assert ready_target("forward-return").judgement.take_profit is None  # judged at the horizon
    assert ready_target("spans").spans is not None


def test_an_unknown_ready_target_names_the_closest() -> None:
    with pytest.raises(InvalidTarget, match="did you mean triple-barrier"):
        ready_target("triple-barier")


def test_a_toml_file_is_read_with_defaults_for_what_it_omits(tmp_path: Path) -> None:
    path = tmp_path / "wide.toml"
    path.write_text(TOML)
    target = resolve_target(str(path))
    assert (target.kind, target.judgement.horizon, target.judgement.stop_loss) == (
        "triple-barrier", 30, 1.0)  # fmt: skip
    assert target.judgement.atr_period == 14
    assert target.description.startswith("two")


def test_the_version_changes_with_a_parameter_not_with_spelling_or_words() -> None:
    base = target_definition({"name": "t", "kind": "triple-barrier", "stop_loss": 1})
    same = target_definition({"name": "t", "kind": "triple-barrier", "stop_loss": 1.0,
                              "take_profit": 2.0, "description": "words"})  # fmt: skip
    other = target_definition({"name": "t", "kind": "triple-barrier", "stop_loss": 1.5})
    assert base.version_hash == same.version_hash != other.version_hash


@pytest.mark.parametrize(
    ("line", "text", "message"),
    [
        (3, 'kind = "spans"\nhorizn = 4', "unknown key 'horizn'.*did you mean horizon"),
        (2, 'kind = "spanz"', "kind must be one of spans, triple-barrier, forward-return"),
        (3, 'kind = "spans"\nhorizon = 0', "horizon must be a whole number of bars >= 1"),
        (3, 'kind = "spans"\nhorizon = 2.5', "horizon must be a int"),
        (3, 'kind = "spans"\nfees_bps = -1', "fees_bps must be >= 0"),
        (3, 'kind = "spans"\noverlap = "longest"', "overlap must be one of shortest"),
        (3, 'kind = "triple-barrier"\nstop_loss = "none"', "needs stop_loss"),
        (3, 'kind = "triple-barrier"\nmode = "sign"', "unknown key 'mode' for a triple"),
        (3, 'kind = "forward-return"\nmode = "up"', "mode must be one of sign, band, value"),
        (3, 'kind = "spans"\nunit = "pips"', "unit must be one of atr, fraction"),
    ],
)
def test_a_bad_definition_names_the_file_line_and_what_is_wrong(
    tmp_path: Path, line: int, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\n{text}\n')
    with pytest.raises(InvalidTarget, match=message) as raised:
        load_target(path)
    assert str(raised.value).startswith(f"{path}, line {line}: ")


def test_a_bad_name_and_bad_toml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidTarget, match="a target needs a name"):
        target_definition({"name": "Has Space", "kind": "spans"})
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(InvalidTarget, match="not valid TOML"):
        load_target(path)


def test_a_barrier_can_be_removed_and_a_forward_return_given_barriers() -> None:
    spans = target_definition({"name": "s", "kind": "spans", "take_profit": "none"})
    assert spans.judgement.take_profit is None
    assert spans.judgement.stop_loss == 1.0
    ret = target_definition({"name": "r", "kind": "forward-return", "stop_loss": 1.0})
    assert ret.judgement.stop_loss == 1.0
    assert ret.judgement.take_profit is None
