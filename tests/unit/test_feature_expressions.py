"""Feature expressions: the whitelist, canonical form, history, values, point in time."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlelab.errors import InvalidFeature
from candlelab.features import rolling
from candlelab.features.expressions import Expression, parse

Array = npt.NDArray[np.float64]
COLUMNS = ("open", "high", "low", "close", "volume")


def candles(length: int = 300, seed: int = 3) -> dict[str, Array]:
    """Random positive OHLCV columns with a NaN hole in the close."""
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(size=length))
    columns = {
        "open": close + rng.normal(size=length),
        "high": close + 2,
        "low": close - 2,
        "close": close,
        "volume": rng.lognormal(size=length),
    }
    columns["close"][length // 2] = np.nan
    return columns


def ending_at(values: dict[str, Array], start: int, stop: int) -> dict[str, Array]:
    return {name: array[..., start:stop] for name, array in values.items()}


def assert_point_in_time_and_incremental(expression: Expression, values: dict[str, Array]) -> None:
    """Truncated at t, nothing up to t changes; the last `history` bars give t's value."""
    full = expression.evaluate(values)
    history = expression.history(dict.fromkeys(values, 0))
    length = full.shape[-1]
    for t in np.random.default_rng(len(expression.text)).integers(0, length, 10).tolist():
        truncated = expression.evaluate(ending_at(values, 0, t + 1))
        assert np.array_equal(truncated, full[..., : t + 1], equal_nan=True)
        recent = expression.evaluate(ending_at(values, t - history if t > history else 0, t + 1))
        assert np.array_equal(recent[..., -1], full[..., t], equal_nan=True)


def test_spacing_parentheses_and_how_a_number_is_written_give_one_canonical_form() -> None:
    forms = ["close/ref(close,1) - 1", "close / ref(close, 1) - 1.0", "((close)/ref(close, 1))-1e0"]
    expressions = [parse(text) for text in forms]
    assert {e.canonical for e in expressions} == {"close / ref(close, 1) - 1"}
    assert len(set(expressions)) == 1
    assert parse("close * 2") != parse("2 * close")  # no algebra: only the writing is canonical
    assert parse("close * 0.5").canonical == "close * 0.5"
    assert parse(expressions[0].canonical) == expressions[0]


def test_names_are_the_columns_and_features_referred_to_not_the_functions() -> None:
    assert parse("mean(close, 3) + log(volume) - ref(close, 1)").names == {"close", "volume"}
    assert parse("mean + max(mean, 2)").names == {"mean"}  # a column may be called so


@pytest.mark.parametrize(
    ("text", "histories", "history"),
    [
        ("mean(ref(x, 5), 10)", {"x": 0}, 14),
        ("close / ref(close, 1) - 1", {"close": 0}, 1),
        ("delta(rsi, 3)", {"rsi": 13}, 16),
        ("rsi + close", {"rsi": 13, "close": 0}, 13),
        ("corr(rsi, close, 5)", {"rsi": 13, "close": 0}, 17),
        ("log(close) * 2 > sqrt(ref(close, 4))", {"close": 0}, 4),
        ("zscore(mean(close, 3), 2) + std(close, 20)", {"close": 0}, 19),
    ],
)
def test_history_adds_each_window_to_what_it_reads(
    text: str, histories: dict[str, int], history: int
) -> None:
    assert parse(text).history(histories) == history


def test_the_history_of_a_chain_of_windows_is_exactly_what_it_needs() -> None:
    x = candles()["open"]
    expression = parse("mean(ref(open, 5), 10)")
    full = expression.evaluate({"open": x})
    assert np.isnan(full[:14]).all()
    assert not np.isnan(full[14:]).any()
    assert np.isnan(expression.evaluate({"open": x[100 - 13 : 101]})[-1])


def test_a_rolling_operator_in_an_expression_is_the_operator() -> None:
    values = candles()
    for name, op in rolling.OPERATORS.items():
        series = "open, high" if op.series == 2 else "open"
        got = parse(f"{name}({series}, 5)").evaluate(values)
        expected = op.compute(*(values[c] for c in ("open", "high")[: op.series]), 5)
        np.testing.assert_array_equal(got, expected)


def test_arithmetic_gives_nan_never_inf() -> None:
    x = np.array([2.0, 0.0, -1.0, np.nan, 1000.0])
    values = {"x": x}

    def value(text: str) -> Array:
        return parse(text).evaluate(values)

    np.testing.assert_array_equal(value("1 / x"), [0.5, np.nan, -1, np.nan, 0.001])
    logs = [np.log(2), np.nan, np.nan, np.nan, np.log(1000)]
    np.testing.assert_array_equal(value("log(x)"), logs)
    np.testing.assert_array_equal(value("sqrt(x)"), [np.sqrt(2), 0, np.nan, np.nan, np.sqrt(1000)])
    np.testing.assert_array_equal(value("exp(x)"), [np.exp(2), 1, np.exp(-1), np.nan, np.nan])
    np.testing.assert_array_equal(value("x ** 0.5"), [np.sqrt(2), 0, np.nan, np.nan, np.sqrt(1000)])
    np.testing.assert_array_equal(value("x ** 0"), [1, 1, 1, np.nan, 1])  # IEEE: nan ** 0 == 1
    np.testing.assert_array_equal(value("1 ** x"), [1, 1, 1, np.nan, 1])
    np.testing.assert_array_equal(value("-x * 2 + 1"), [-3, 1, 3, np.nan, -1999])
    np.testing.assert_array_equal(value("abs(x) - sign(x)"), [1, 0, 2, np.nan, 999])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x < y", [1, 0, 0, np.nan, np.nan]),
        ("x <= y", [1, 1, 0, np.nan, np.nan]),
        ("x > y", [0, 0, 1, np.nan, np.nan]),
        ("x >= y", [0, 1, 1, np.nan, np.nan]),
        ("x == y", [0, 1, 0, np.nan, np.nan]),
        ("x != y", [1, 0, 1, np.nan, np.nan]),
        ("greater(x, y)", [2, 2, 3, np.nan, np.nan]),
        ("less(x, y)", [1, 2, 1, np.nan, np.nan]),
    ],
)
def test_comparisons_give_one_or_zero_and_nan_stays_nan(text: str, expected: list[float]) -> None:
    values = {"x": np.array([1.0, 2, 3, np.nan, 1]), "y": np.array([2.0, 2, 1, 1, np.nan])}
    np.testing.assert_array_equal(parse(text).evaluate(values), expected)


def test_a_batch_of_charts_equals_each_chart_alone() -> None:
    rows = [candles(200, seed) for seed in range(3)]
    batch = {name: np.stack([row[name] for row in rows]) for name in COLUMNS}
    expression = parse("zscore(close, 20) * corr(close, volume, 10) - rank(delta(high, 2), 7)")
    values = expression.evaluate(batch)
    for i, row in enumerate(rows):
        assert np.array_equal(values[i], expression.evaluate(row), equal_nan=True)
    assert_point_in_time_and_incremental(expression, batch)


def test_an_expression_of_one_name_hands_out_a_copy() -> None:
    values = candles(10)
    out = parse("close").evaluate(values)
    out[:] = 0
    assert (values["close"] != 0).any()


def test_a_name_with_no_values_or_history_is_refused_with_the_closest() -> None:
    expression = parse("clse + 1")
    with pytest.raises(InvalidFeature, match=r"^unknown column or feature 'clse'; closest: close$"):
        expression.evaluate(candles(10))
    with pytest.raises(InvalidFeature, match=r"^unknown column or feature 'clse'; closest: close"):
        expression.history(dict.fromkeys(COLUMNS, 0))


def test_inputs_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        parse("open + close").evaluate({"open": np.ones(3), "close": np.ones(4)})


NOT_ALLOWED = [
    # (text, what is refused, its source, its column)
    ("close.shift(1)", "attribute access", "close.shift", 1),
    ("__import__('os').system('true')", "attribute access", "__import__('os').system", 1),
    ("close[1]", "a subscript", "close[1]", 1),
    ("(lambda: close)()", "a lambda", "lambda: close", 2),
    ("close + 'a'", "a string", "'a'", 9),
    ("close + b'a'", "bytes", "b'a'", 9),
    ("True + close", "the constant True", "True", 1),
    ("close * None", "the constant None", "None", 9),
    ("1j * close", "a complex number", "1j", 1),
    ("close + 1e999", "a number this large", "1e999", 9),
    ("close // 2", "the operator '//'", "close // 2", 1),
    ("close % 2", "the operator '%'", "close % 2", 1),
    ("close @ open", "the operator '@'", "close @ open", 1),
    ("close & open", "the operator '&'", "close & open", 1),
    ("not close", "the operator 'not'", "not close", 1),
    ("~close", "the operator '~'", "~close", 1),
    ("+close", "the operator 'unary +'", "+close", 1),
    ("close and open", "'and'/'or'", "close and open", 1),
    ("open < close < high", "a chained comparison", "open < close < high", 1),
    ("close is open", "the comparison 'is'", "close is open", 1),
    ("close in open", "the comparison 'in'", "close in open", 1),
    ("close if open else high", "a conditional (if … else)", "close if open else high", 1),
    ("(x := close)", "an assignment (:=)", "x := close", 2),
    ("[close]", "a list", "[close]", 1),
    ("close, open", "a tuple", "close, open", 1),
    ("{close}", "a set", "{close}", 1),
    ("{close: 1}", "a dict", "{close: 1}", 1),
    ("[c for c in close]", "a comprehension", "[c for c in close]", 1),
    ("f'{close}'", "an f-string", "f'{close}'", 1),
    ("mean(close, n=3)", "a keyword argument", "n=3", 13),
    ("abs(*close)", "a starred argument", "*close", 5),
    ("mean(close)(3)", "a call of anything but a function's name", "mean(close)(3)", 1),
    ("close +\u00e9.x", "attribute access", "\u00e9.x", 8),  # columns count characters
]


@pytest.mark.parametrize(("text", "what", "source", "column"), NOT_ALLOWED)
def test_what_is_not_in_the_language_is_refused_naming_what_and_where(
    text: str, what: str, source: str, column: int
) -> None:
    with pytest.raises(InvalidFeature) as refused:
        parse(text)
    message = f"{what} is not allowed in an expression: {source!r} at column {column}"
    assert str(refused.value) == message


def test_a_refusal_after_the_first_line_names_its_line() -> None:
    with pytest.raises(InvalidFeature, match=r"'high\.x' at column 2 of line 2$"):
        parse("(close +\n high.x)")


WINDOWS_REFUSED = [
    ("mean(close, 0)", ">= 1"),
    ("mean(close, -5)", ">= 1"),
    ("ref(close, 2.0)", ">= 1"),
    ("max(close, n)", ">= 1"),
    ("sum(close, True)", ">= 1"),
    ("delta(close, 10 ** 3)", ">= 1"),
    ("std(close, 1)", ">= 2"),
    ("rank(close, 1)", ">= 2"),
    ("corr(close, open, 1)", ">= 2"),
]


@pytest.mark.parametrize(("text", "least"), WINDOWS_REFUSED)
def test_a_window_that_is_no_whole_number_literal_is_refused_naming_the_call(
    text: str, least: str
) -> None:
    with pytest.raises(InvalidFeature) as refused:
        parse(text)
    assert str(refused.value) == f"{text}: the window must be a whole number of bars {least}"


OTHER_REFUSALS = [
    ("mean(close, 100001)", "mean(close, 100001): the window is at most 100000 bars"),
    ("mean(close)", "mean(x, n) takes 2 arguments, not 1: 'mean(close)' at column 1"),
    ("corr(close, 5)", "corr(x, y, n) takes 3 arguments, not 2: 'corr(close, 5)' at column 1"),
    ("log(close, 2)", "log(x) takes 1 argument, not 2: 'log(close, 2)' at column 1"),
    ("greater(close)", "greater(x, y) takes 2 arguments, not 1: 'greater(close)' at column 1"),
    ("meen(close, 3)", "unknown function 'meen'; closest: mean, min"),
    ("ema(close, 3)", "unknown function 'ema'; closest: max, mean, delta"),
    (
        "foo(close)",
        "unknown function 'foo'; known: abs, corr, delta, exp, greater, less, log, max, mean, "
        "min, rank, ref, sign, slope, sqrt, std, sum, var, zscore",
    ),
    ("close +* 2", "'close +* 2' is not an expression: invalid syntax at column 8"),
    ("", "'' is not an expression: invalid syntax"),
    ("close\0", "'close\\x00' is not an expression: source code string cannot contain null bytes"),
    ("1 + 2", "'1 + 2' refers to no column or feature"),
    ("-" * 60 + "close", "'" + "-" * 60 + "close' nests deeper than 50 levels"),
    ("close+" * 400 + "close", "an expression is at most 2000 characters: 'close+close+"),
    ("(" * 300 + "close" + ")" * 300, "is not an expression: too many nested parentheses"),
]


@pytest.mark.parametrize(("text", "message"), OTHER_REFUSALS)
def test_a_bad_call_or_no_expression_at_all_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidFeature) as refused:
        parse(text)
    assert message in str(refused.value)
    assert len(str(refused.value)) < 300


def test_an_expression_is_text() -> None:
    with pytest.raises(InvalidFeature, match=r"^an expression is text, not int$"):
        parse(5)  # type: ignore[arg-type]


# Random expressions of the language, written as a person would.
_leaves = st.sampled_from([*COLUMNS, "2", "0.5", "-1", "0"])


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = st.tuples(st.sampled_from(["log", "exp", "sqrt", "abs", "sign", "-"]), inner)
    binary = st.tuples(
        inner,
        st.sampled_from(["+", "-", "*", "/", "**", "<", ">=", "==", "!="]),
        inner,
    )
    pair = st.tuples(st.sampled_from(["greater", "less"]), inner, inner)
    window = st.tuples(st.sampled_from(sorted(rolling.OPERATORS)), inner, inner, st.integers(2, 6))
    return st.one_of(
        unary.map(lambda u: f"{u[0]}({u[1]})"),
        binary.map(lambda b: f"({b[0]}) {b[1]} ({b[2]})"),
        pair.map(lambda p: f"{p[0]}({p[1]}, {p[2]})"),
        window.map(lambda w: f"{w[0]}({w[1]}, {w[2] + ', ' if w[0] == 'corr' else ''}{w[3]})"),
    )


expressions = st.recursive(_leaves, _grow, max_leaves=6).filter(
    lambda text: any(c in text for c in COLUMNS)
)


@settings(max_examples=200, deadline=None)
@given(expressions)
def test_any_expression_is_point_in_time_incremental_and_canonical(text: str) -> None:
    expression = parse(text)
    assert parse(expression.canonical) == expression
    assert parse(expression.canonical).canonical == expression.canonical
    values = candles(80)
    assert_point_in_time_and_incremental(expression, values)
