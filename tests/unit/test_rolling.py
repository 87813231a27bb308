"""Rolling window operators: values, warm-up, NaN windows, point in time, incremental."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from candlelab.errors import InvalidFeature
from candlelab.features import rolling

Array = npt.NDArray[np.float64]
WINDOWS = [1, 2, 3, 7, 8, 20, 33]
HOLES = [40, 41, 300]  # NaN bars inside the series


def prices(length: int = 600, seed: int = 7, holes: list[int] = HOLES) -> Array:
    """A random walk around 100 with NaN holes."""
    rng = np.random.default_rng(seed)
    x = 100 + np.cumsum(rng.normal(size=length))
    x[[h for h in holes if h < length]] = np.nan
    return x


def other(length: int = 600) -> Array:
    return prices(length, seed=8, holes=[500])


def _slope(x: Array, n: int) -> Array:
    """Least-squares slope of each window against 0..n-1, window by window."""
    windows = sliding_window_view(x, n)
    index = np.arange(n) - (n - 1) / 2
    slopes = (windows - windows.mean(axis=1, keepdims=True)) @ index / (index @ index)
    return np.concatenate([np.full(n - 1, np.nan), slopes])


def reference(name: str, x: Array, y: Array, n: int) -> Array:
    """The operator as pandas (or a plain per-window formula) computes it."""
    s, r = pd.Series(x), pd.Series(x).rolling(n)
    frames: dict[str, Callable[[], pd.Series | Array]] = {
        "ref": lambda: s.shift(n),
        "delta": lambda: s - s.shift(n),
        "mean": r.mean,
        "sum": r.sum,
        "max": r.max,
        "min": r.min,
        "std": r.std,
        "var": r.var,
        "zscore": lambda: (s - r.mean()) / r.std(),
        "rank": lambda: r.rank(method="max", pct=True),
        "corr": lambda: r.corr(pd.Series(y)),
        "slope": lambda: _slope(x, n),
    }
    return np.asarray(frames[name](), dtype=np.float64)


def compute(name: str, x: Array, y: Array, n: int) -> Array:
    op = rolling.OPERATORS[name]
    return op.compute(x, y, n) if op.series == 2 else op.compute(x, n)


CASES = [(name, n) for name, op in rolling.OPERATORS.items() for n in WINDOWS if n >= op.least]


@pytest.mark.parametrize(("name", "n"), CASES)
def test_each_operator_equals_its_reference(name: str, n: int) -> None:
    x, y = prices(), other()
    expected = reference(name, x, y, n)
    got = compute(name, x, y, n)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "n"), CASES)
def test_the_warm_up_is_history_bars_of_nan_and_a_nan_spoils_each_window_holding_it(
    name: str, n: int
) -> None:
    x = prices(200, holes=[100])
    got = compute(name, x, prices(200, seed=9, holes=[]), n)
    history = rolling.OPERATORS[name].history(n)
    spoiled = {100, 100 + n} if name == "delta" else set(range(100, 100 + n))
    if name == "ref":
        spoiled = {100 + n}
    nan = set(np.flatnonzero(np.isnan(got)).tolist())
    assert nan == set(range(history)) | spoiled


@pytest.mark.parametrize(("name", "n"), CASES)
def test_a_value_uses_no_later_bar_and_the_last_history_bars_give_it_bit_for_bit(
    name: str, n: int
) -> None:
    x, y = prices(20_000, holes=[5000]), other(20_000)  # longer than a chunk
    full = compute(name, x, y, n)
    history = rolling.OPERATORS[name].history(n)
    for t in np.random.default_rng(n).integers(0, len(x), 25).tolist():
        truncated = compute(name, x[: t + 1], y[: t + 1], n)
        assert np.array_equal(truncated, full[: t + 1], equal_nan=True)
        start = t - history if t >= history else 0
        part = compute(name, x[start : t + 1], y[start : t + 1], n)
        assert np.array_equal(part[-1], full[t], equal_nan=True)


@pytest.mark.parametrize(("name", "n"), CASES)
def test_a_batch_of_charts_equals_each_chart_alone(name: str, n: int) -> None:
    xs = np.stack([prices(300, seed=s) for s in range(3)])
    ys = np.stack([other(300)[::-1] + s for s in range(3)])
    batch = compute(name, xs, ys, n)
    for row in range(3):
        assert np.array_equal(batch[row], compute(name, xs[row], ys[row], n), equal_nan=True)


@pytest.mark.parametrize(("name", "n"), CASES)
def test_the_chunk_a_window_falls_in_changes_nothing(
    name: str, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = prices(), other()
    whole = compute(name, x, y, n)
    monkeypatch.setattr(rolling, "CHUNK", 1)
    assert np.array_equal(compute(name, x, y, n), whole, equal_nan=True)


@pytest.mark.parametrize(("name", "n"), CASES)
def test_a_series_shorter_than_the_window_is_all_nan(name: str, n: int) -> None:
    history = rolling.OPERATORS[name].history(n)
    for length in {0, 1, history // 2, history} - {history + 1}:
        x = np.ones(length)
        assert np.isnan(compute(name, x, x, n)).all()


@pytest.mark.parametrize("n", [2, 3, 7, 20])
def test_a_constant_window_has_exactly_no_spread_and_no_zscore_or_correlation(n: int) -> None:
    x = np.full(50, 0.1)
    assert (rolling.std(x, n)[n - 1 :] == 0).all()
    assert (rolling.var(x, n)[n - 1 :] == 0).all()
    assert (rolling.slope(x, n)[n - 1 :] == 0).all()
    assert np.isnan(rolling.zscore(x, n)).all()
    assert np.isnan(rolling.corr(x, prices(50, holes=[]), n)).all()
    assert np.isnan(rolling.corr(prices(50, holes=[]), x, n)).all()


def test_rank_counts_ties_as_at_most_the_bar() -> None:
    x = np.array([1.0, 1.0, 1.0, 0.0, 2.0, 2.0])
    np.testing.assert_array_equal(rolling.rank(x, 3), [np.nan, np.nan, 1.0, 1 / 3, 1.0, 1.0])


def test_the_line_a_slope_fits_is_the_trend_per_bar() -> None:
    x = 3.0 + 0.25 * np.arange(40.0)
    np.testing.assert_allclose(rolling.slope(x, 9)[8:], 0.25, rtol=1e-12)


def test_correlation_stays_within_one() -> None:
    x = prices(holes=[])
    got = rolling.corr(x, 2 * x + 1, 5)[4:]
    assert (np.abs(got) <= 1).all()
    np.testing.assert_allclose(got, 1.0, rtol=1e-12)


@pytest.mark.parametrize("n", [0, -1, 1.5, 2.0, True, "3", None])
@pytest.mark.parametrize("name", sorted(rolling.OPERATORS))
def test_a_window_that_is_no_whole_number_of_bars_is_refused(name: str, n: object) -> None:
    x = prices(30)
    with pytest.raises(InvalidFeature, match=f"^{name}: the window must be a whole number"):
        compute(name, x, x, n)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["std", "var", "zscore", "rank", "corr", "slope"])
def test_a_window_of_one_bar_is_refused_where_it_means_nothing(name: str) -> None:
    x = prices(30)
    with pytest.raises(InvalidFeature, match=f"^{name}: .* >= 2, not 1$"):
        compute(name, x, x, 1)


def test_correlated_series_have_one_shape() -> None:
    with pytest.raises(ValueError, match="shapes"):
        rolling.corr(np.ones(10), np.ones(11), 3)


def test_each_operator_names_its_history() -> None:
    histories = {name: op.history(10) for name, op in rolling.OPERATORS.items()}
    assert histories == {name: 10 if name in ("ref", "delta") else 9 for name in histories}
