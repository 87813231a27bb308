"""The shared rules for symbols and for the text people write."""

import pytest

from candlelab.errors import InvalidField
from candlelab.labels import fields
from candlelab.market.symbols import MAX_LENGTH, normalized_symbol


@pytest.mark.parametrize(
    ("given", "stored"), [("btcusdt", "BTCUSDT"), ("  BRK.B ", "BRK.B"), ("ES=F", "ES=F")]
)
def test_a_symbol_is_trimmed_and_upper_cased(given: str, stored: str) -> None:
    assert normalized_symbol(given) == stored


@pytest.mark.parametrize(
    "given", ["", "   ", "BTC\nUSDT", "BTC\x00", "\u202eTDSUCTB", "X" * (MAX_LENGTH + 1)]
)
def test_a_symbol_that_breaks_the_rule_is_refused_naming_the_field(given: str) -> None:
    with pytest.raises(InvalidField) as refused:
        normalized_symbol(given, field="--symbol")
    assert refused.value.field == "--symbol"


def test_names_are_trimmed_and_compared_without_case() -> None:
    assert fields.name("name", " UPTREND ") == "UPTREND"
    assert fields.name_key("UPTREND ") == fields.name_key("uptrend")


@pytest.mark.parametrize("given", ["", " ", "up\x00trend", "up\ntrend", "x" * 81])
def test_a_bad_name_is_refused(given: str) -> None:
    with pytest.raises(InvalidField, match=r"^name: "):
        fields.name("name", given)


def test_a_note_keeps_its_line_breaks_but_not_a_nul() -> None:
    assert fields.text("note", "two\nlines\ttabbed") == "two\nlines\ttabbed"
    with pytest.raises(InvalidField, match="U\\+0000"):
        fields.text("note", "a\x00b")


def test_a_colour_is_hex_only_and_the_error_quotes_a_cut_value() -> None:
    assert fields.color("color", "#A1b2C3") == "#A1b2C3"
    with pytest.raises(InvalidField) as refused:
        fields.color("color", "javascript:alert(1)" + "x" * 500)
    assert "…" in str(refused.value)
    assert len(str(refused.value)) < 200
