"""Rolling window operators over float64 arrays, time along the last axis.

Every operator is window-local: its value at bar t is a fixed function of the n bars
x[t-n+1..t] alone, computed by the same tree of operations wherever the window sits in
the series (blocks of 1, 2, 4… bars merged pairwise, never a running sum across the
series). So computing on the last `history` bars gives the value at t bit for bit, and a
series truncated at t keeps every value up to t. The tree also takes log2(n) passes over
the series instead of n, and merges moments as Chan et al. do, so a variance never
subtracts two large sums.

The first bars of a series, before a whole window exists (the warm-up), and every window
that holds a NaN are NaN. Inputs are 1-D (one chart) or N-D (a batch of equal-length
charts, one per row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidFeature

Array = npt.NDArray[np.float64]
# A statistic of blocks of bars: parallel arrays, item j describing the block from bar j.
Stats = tuple[Array, ...]
# Merges the statistics of an older block of a bars with those of the next b bars.
Merge = Callable[[Stats, Stats, int, int], Stats]


@dataclass(frozen=True)
class Operator:
    """A window operator as the expression language calls it: `name(x…, n)`."""

    name: str
    compute: Callable[..., Array]
    series: int = 1  # how many series come before the window
    least: int = 1  # the smallest window that means something
    lag: int = 0  # bars before the window that the value still reads (ref, delta)

    def history(self, window: int) -> int:
        """How many bars before t influence the value at t."""
        return window - 1 + self.lag

    def checked(self, window: object) -> int:
        """The window, refused with InvalidFeature unless a whole number of bars >= least."""
        if type(window) is not int or window < self.least:
            raise InvalidFeature(
                f"{self.name}: the window must be a whole number of bars "
                f">= {self.least}, not {window!r}"
            )
        return window


def _series(x: npt.ArrayLike) -> Array:
    """The input as a contiguous float64 array of at least one dimension."""
    array = np.ascontiguousarray(x, dtype=np.float64)
    if array.ndim == 0:
        raise ValueError("a series has at least one dimension (time, the last)")
    return array


def _from(stats: Stats, start: int, count: int) -> Stats:
    """The statistics of `count` blocks from block `start` on."""
    return tuple(s[..., start : start + count] for s in stats)


def _windows(leaf: Stats, n: int, merge: Merge) -> Stats:
    """The statistics of every window of n bars (item j: the window from bar j) in a
    series of n bars at least.

    Blocks double (1, 2, 4… bars); a window is the blocks of its binary digits, smallest
    and oldest first. The order of every operation depends on n alone.
    """
    length = leaf[0].shape[-1]
    block, size = leaf, 1
    window: Stats | None = None
    covered = 0
    while size <= n:
        if n & size:
            if window is None:
                window = block
            else:
                count = length - covered - size + 1
                window = merge(_from(window, 0, count), _from(block, covered, count), covered, size)
            covered += size
        if 2 * size <= n:
            count = length - 2 * size + 1
            block = merge(_from(block, 0, count), _from(block, size, count), size, size)
        size *= 2
    assert window is not None  # n >= 1 has a binary digit
    return window


def _merge_sum(a: Stats, b: Stats, _: int, __: int) -> Stats:
    return (a[0] + b[0],)


def _merge_max(a: Stats, b: Stats, _: int, __: int) -> Stats:
    return (np.maximum(a[0], b[0]),)  # NaN propagates


def _merge_min(a: Stats, b: Stats, _: int, __: int) -> Stats:
    return (np.minimum(a[0], b[0]),)


def _merge_moments(a: Stats, b: Stats, na: int, nb: int) -> Stats:
    """(mean, sum of squared deviations) of two blocks, merged without cancellation; equal
    means merge exactly, so a constant window has exactly zero variance."""
    d = b[0] - a[0]
    mean = a[0] + d * (nb / (na + nb))
    spread = a[1] + b[1]
    spread += d * d * (na * nb / (na + nb))
    return mean, spread


def _merge_comoments(a: Stats, b: Stats, na: int, nb: int) -> Stats:
    """(mean x, mean y, deviations² x, deviations² y, co-deviations) of two blocks."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    weight = na * nb / (na + nb)
    mx, my = a[0] + dx * (nb / (na + nb)), a[1] + dy * (nb / (na + nb))
    xx, yy, xy = a[2] + b[2], a[3] + b[3], a[4] + b[4]
    xx += dx * dx * weight
    yy += dy * dy * weight
    xy += dx * dy * weight
    return mx, my, xx, yy, xy


def _merge_trend(a: Stats, b: Stats, na: int, nb: int) -> Stats:
    """(mean, co-deviation with the bar's index in its block) of two blocks: the index means
    of the two blocks lie (na + nb) / 2 apart."""
    d = b[0] - a[0]
    co = a[1] + b[1]
    co += d * (na * nb / 2)
    return a[0] + d * (nb / (na + nb)), co


Leaf = Callable[[tuple[Array, ...]], Stats]
Finish = Callable[[Stats, tuple[Array, ...]], Array]

# Windows computed at once: the block arrays of a chunk stay in the cache, which makes
# the pairwise tree several times faster on long series than whole-series passes. A
# window's value does not depend on the chunk it falls in.
CHUNK = 1 << 13


def _rolling(inputs: tuple[Array, ...], n: int, leaf: Leaf, merge: Merge, finish: Finish) -> Array:
    """Each window's `finish(stats, inputs)` placed at the window's last bar, NaN before.

    `finish` sees the chunk's inputs cut so that item j of its result is the window from
    bar j; it returns one value per window.
    """
    shape = inputs[0].shape
    out = np.full(shape, np.nan)
    windows = shape[-1] - n + 1
    rows = int(np.prod(shape[:-1]))  # the builtins max and min are shadowed below
    step = CHUNK // rows if CHUNK // rows > 4 * n else 4 * n
    for start in range(0, windows, step):
        stop = start + step if start + step < windows else windows
        chunk = tuple(i[..., start : stop + n - 1] for i in inputs)
        out[..., start + n - 1 : stop + n - 1] = finish(_windows(leaf(chunk), n, merge), chunk)
    return out


def _first(stats: Stats, _: tuple[Array, ...]) -> Array:
    return stats[0]


def _current(chunk: tuple[Array, ...], n: int) -> Array:
    """The last bar of every window of n bars (item j: the window from bar j)."""
    return chunk[0][..., n - 1 :]


def _plain(chunk: tuple[Array, ...]) -> Stats:
    return chunk


def _centred(chunk: tuple[Array, ...]) -> Stats:
    """Leaves of (value, 0) for each input and 0 for each product of deviations: a block of
    one bar deviates from nothing."""
    zero = np.zeros_like(chunk[0])
    return (*chunk, *(zero,) * (len(chunk) * (len(chunk) + 1) // 2))


def _shifted(series: Array, n: int) -> Array:
    out = np.full(series.shape, np.nan)
    if n < series.shape[-1]:
        out[..., n:] = series[..., : series.shape[-1] - n]
    return out


def ref(x: npt.ArrayLike, n: int) -> Array:
    """The value n bars before (n >= 1)."""
    n = OPERATORS["ref"].checked(n)
    return _shifted(_series(x), n)


def delta(x: npt.ArrayLike, n: int) -> Array:
    """The change over n bars: x - ref(x, n)."""
    n, series = OPERATORS["delta"].checked(n), _series(x)
    return series - _shifted(series, n)


def sum(x: npt.ArrayLike, n: int) -> Array:
    """The sum of the last n bars."""
    n = OPERATORS["sum"].checked(n)
    return _rolling((_series(x),), n, _plain, _merge_sum, _first)


def mean(x: npt.ArrayLike, n: int) -> Array:
    """The mean of the last n bars."""
    n = OPERATORS["mean"].checked(n)
    return _rolling((_series(x),), n, _plain, _merge_sum, lambda s, _: s[0] / n)


def max(x: npt.ArrayLike, n: int) -> Array:
    """The highest of the last n bars."""
    n = OPERATORS["max"].checked(n)
    return _rolling((_series(x),), n, _plain, _merge_max, _first)


def min(x: npt.ArrayLike, n: int) -> Array:
    """The lowest of the last n bars."""
    n = OPERATORS["min"].checked(n)
    return _rolling((_series(x),), n, _plain, _merge_min, _first)


def var(x: npt.ArrayLike, n: int) -> Array:
    """The sample variance (ddof=1) of the last n bars."""
    n = OPERATORS["var"].checked(n)
    return _rolling((_series(x),), n, _centred, _merge_moments, lambda s, _: s[1] / (n - 1))


def std(x: npt.ArrayLike, n: int) -> Array:
    """The sample standard deviation (ddof=1) of the last n bars."""
    n = OPERATORS["std"].checked(n)

    def deviation(s: Stats, _: tuple[Array, ...]) -> Array:
        return np.sqrt(s[1] / (n - 1))

    return _rolling((_series(x),), n, _centred, _merge_moments, deviation)


def zscore(x: npt.ArrayLike, n: int) -> Array:
    """(x - mean) / std over the last n bars; NaN where the window is constant."""
    n = OPERATORS["zscore"].checked(n)

    def scored(s: Stats, chunk: tuple[Array, ...]) -> Array:
        spread = np.where(s[1] > 0, s[1], np.nan)
        return (_current(chunk, n) - s[0]) / np.sqrt(spread / (n - 1))

    return _rolling((_series(x),), n, _centred, _merge_moments, scored)


def rank(x: npt.ArrayLike, n: int) -> Array:
    """The percentile rank of the bar among the last n: the fraction of them <= it, in (0, 1]."""
    n = OPERATORS["rank"].checked(n)

    def nan(chunk: tuple[Array, ...]) -> Stats:
        return (np.isnan(chunk[0]).astype(np.float64),)

    def ranked(s: Stats, chunk: tuple[Array, ...]) -> Array:
        current = _current(chunk, n)
        below = np.zeros(current.shape)
        for k in range(n):  # counts are whole numbers: exact in any order
            below += chunk[0][..., k : k + current.shape[-1]] <= current
        below[s[0] > 0] = np.nan  # the window holds a NaN
        return below / n

    return _rolling((_series(x),), n, nan, _merge_max, ranked)


def corr(x: npt.ArrayLike, y: npt.ArrayLike, n: int) -> Array:
    """The Pearson correlation of x and y over the last n bars; NaN where either is constant."""
    n, xs, ys = OPERATORS["corr"].checked(n), _series(x), _series(y)
    if xs.shape != ys.shape:
        raise ValueError(f"corr of series of shapes {xs.shape} and {ys.shape}")

    def correlated(s: Stats, _: tuple[Array, ...]) -> Array:
        scale = s[2] * s[3]
        ratio = s[4] / np.sqrt(np.where(scale > 0, scale, np.nan))
        return np.clip(ratio, -1.0, 1.0)  # rounding may step past ±1

    return _rolling((xs, ys), n, _centred, _merge_comoments, correlated)


def slope(x: npt.ArrayLike, n: int) -> Array:
    """The least-squares slope of the last n bars against 0..n-1: the trend per bar."""
    n = OPERATORS["slope"].checked(n)

    def trend(s: Stats, _: tuple[Array, ...]) -> Array:
        return s[1] / (n * (n * n - 1) / 12)  # over the index's squared deviations

    return _rolling((_series(x),), n, _centred, _merge_trend, trend)


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("ref", ref, lag=1),
        Operator("delta", delta, lag=1),
        Operator("mean", mean),
        Operator("sum", sum),
        Operator("max", max),
        Operator("min", min),
        Operator("std", std, least=2),
        Operator("var", var, least=2),
        Operator("zscore", zscore, least=2),
        Operator("rank", rank, least=2),
        Operator("corr", corr, series=2, least=2),
        Operator("slope", slope, least=2),
    )
}
