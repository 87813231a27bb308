"""Quality: what is wrong with bars already stored, each finding with a code, range and values.

Ingest refuses bars that are wrong on their own (high below low, a time off the grid);
what only shows against the calendar or the neighbouring bars is found here:

| code          | what                                                              |
|---------------|-------------------------------------------------------------------|
| gap           | bars the chart's calendar expects are missing (a run of them)     |
| off_calendar  | bars at times the calendar is closed (holidays, a DST-shifted feed) |
| duplicate_bar | a bar repeats the previous one exactly (a "live" bar stored twice)|
| price_jump    | a close-to-close move beyond `jump_threshold` robust deviations   |
| unit_jump     | prices move by a power of ten and back: bars in the wrong unit    |
| split_like    | a lasting jump by a split ratio (2:1, 3:2, 1:10…), unadjusted     |
| zero_volume   | a run of at least `zero_volume_bars` bars without volume          |
| stale         | a run of at least `stale_bars` flat bars repeating one price      |

Jumps are judged against the chart's own recent volatility: the median absolute log
return over `scale_window` bars around each bar, which the jumps themselves barely move.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from candlelab.market.calendars import expected_bars, owed_bars
from candlelab.market.candles import candle_arrays, read_candles
from candlelab.market.charts import Chart
from candlelab.market.quality_rules import QualityRules
from candlelab.market.timeframes import Timeframe

Array = npt.NDArray[Any]
# Median |x| of a normal variable, in standard deviations: turns a median into a scale.
NORMAL_MAD = 0.6745
SPLIT_RATIOS = (1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 15, 20, 25, 30, 40, 50)
CODES = (
    "gap", "off_calendar", "duplicate_bar", "price_jump", "unit_jump", "split_like",
    "zero_volume", "stale",
)  # fmt: skip


@dataclass(frozen=True)
class Finding:
    chart_id: int
    code: str
    start: datetime  # the first bar concerned (for a gap: the first missing bar)
    end: datetime  # the last bar concerned
    bars: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return ", ".join(f"{k} {_shown(v)}" for k, v in self.values.items())


@dataclass(frozen=True)
class ChartQuality:
    chart: Chart
    bars: int
    findings: list[Finding]


def check_charts(url: str, charts: list[Chart], rules: QualityRules) -> Iterator[ChartQuality]:
    """Each chart's findings, as its bars are read and checked."""
    for chart in charts:
        bars = candle_arrays(read_candles(url, [chart.id]))
        yield ChartQuality(chart, len(bars["time"]), check_bars(chart, bars, rules))


def check_bars(chart: Chart, bars: dict[str, Array], rules: QualityRules) -> list[Finding]:
    """Every finding for one chart's bars (NumPy columns, time ascending, UTC)."""
    if not len(bars["time"]):
        return []
    found = Findings(chart.id, bars["time"])
    _calendar(found, chart, bars["time"])
    _duplicates(found, bars)
    _jumps(found, bars["time"], bars["close"], rules)
    _streaks(found, bars, rules)
    return sorted(found.items, key=lambda f: (f.start, CODES.index(f.code)))


class Findings:
    """Collects one chart's findings; runs of bars are given as index ranges."""

    def __init__(self, chart_id: int, times: Array) -> None:
        self.chart_id, self.times, self.items = chart_id, times, list[Finding]()

    def add(self, code: str, first: int, last: int, **values: Any) -> None:
        self.add_times(code, self.times[first], self.times[last], int(last - first + 1), **values)

    def add_times(self, code: str, start: Any, end: Any, bars: int, **values: Any) -> None:
        finding = Finding(self.chart_id, code, utc_datetime(start), utc_datetime(end), bars, values)
        self.items.append(finding)


def _calendar(found: Findings, chart: Chart, times: Array) -> None:
    allowed = _expected(chart, times[0], times[-1], owed=False)  # the calendar worked once
    timeframe = Timeframe.parse(chart.timeframe)
    expected = owed_bars(chart.calendar, timeframe, chart.timezone, allowed)
    for start, end, bars in _missing_runs(expected, times):
        found.add_times("gap", start, end, bars, missing=bars, calendar=chart.calendar)
    for first, last in runs(~np.isin(times, allowed)):
        found.add("off_calendar", first, last, calendar=chart.calendar)


def gaps(
    chart: Chart, times: Array, first: np.datetime64, last: np.datetime64
) -> list[tuple[np.datetime64, np.datetime64, int]]:
    """Runs of bars the calendar expects in [first, last] and `times` lacks: (first missing
    bar, last missing bar, how many)."""
    return _missing_runs(_expected(chart, first, last), times)


def missing_bars(chart: Chart, times: Array, first: np.datetime64, last: np.datetime64) -> Array:
    """The bar starts the calendar expects in [first, last] that `times` lacks, in order."""
    expected = _expected(chart, first, last)
    return expected[~np.isin(expected, times)]


def _missing_runs(expected: Array, times: Array) -> list[tuple[np.datetime64, np.datetime64, int]]:
    missing = ~np.isin(expected, times)
    return [(expected[a], expected[b], b - a + 1) for a, b in runs(missing)]


def _expected(chart: Chart, first: np.datetime64, last: np.datetime64, owed: bool = True) -> Array:
    """The bars the chart owes in [first, last]; with `owed=False`, every bar it may have
    (the FX week's Sunday stubs are allowed, not owed)."""
    return expected_bars(
        chart.calendar, Timeframe.parse(chart.timeframe), timezone=chart.timezone,
        offset=chart.bar_offset, first=first, last=last, owed=owed,
    )  # fmt: skip


def _duplicates(found: Findings, bars: dict[str, Array]) -> None:
    same = np.ones(len(bars["time"]) - 1, dtype=bool)
    for name in ("open", "high", "low", "close", "volume"):
        same &= bars[name][1:] == bars[name][:-1]
    same &= bars["volume"][1:] > 0  # silent bars repeating a price are `stale` instead
    for first, last in runs(same):
        found.add("duplicate_bar", first + 1, last + 1, repeats=utc_datetime(bars["time"][first]))


def _streaks(found: Findings, bars: dict[str, Array], rules: QualityRules) -> None:
    for first, last in runs(bars["volume"] == 0, rules.zero_volume_bars):
        found.add("zero_volume", first, last)
    close = bars["close"]
    flat = (bars["high"] == bars["low"]) & (bars["open"] == close)
    flat[1:] &= close[1:] == close[:-1]
    for first, last in runs(flat, rules.stale_bars):
        found.add("stale", first, last, price=float(close[first]))


def _jumps(found: Findings, times: Array, close: Array, rules: QualityRules) -> None:
    """Flag moves beyond the threshold; name the ones a unit or split mix-up explains."""
    moves = log_returns(close)
    scale = np.empty_like(moves)
    # Moves across a pause in trading (overnight, a weekend) are larger by nature: they
    # are measured against each other, the rest against the rest.
    steps = np.diff(times)
    for kind in _over_pause(steps), ~_over_pause(steps):
        scale[kind] = robust_scale(moves[kind], rules.scale_window)
    jumps = np.flatnonzero(np.abs(moves) > rules.jump_threshold * scale) + 1
    consumed: set[int] = set()
    for at in map(int, jumps):
        if at not in consumed:
            consumed |= _classify(found, at, close=close, moves=moves, jumps=jumps,
                                  scale=float(scale[at - 1]), rules=rules)  # fmt: skip


def _over_pause(steps: Array) -> npt.NDArray[np.bool_]:
    result: npt.NDArray[np.bool_] = steps > np.median(steps) if len(steps) else steps > 0
    return result


def _classify(
    found: Findings,
    at: int,
    *,
    close: Array,
    moves: Array,
    jumps: Array,
    scale: float,
    rules: QualityRules,
) -> set[int]:
    """Report the jump into bar `at`; the bar indexes it accounts for (the way back too)."""
    move = moves[at - 1]
    values = {"from": float(close[at - 1]), "to": float(close[at])}
    power = _nearest(abs(move), [np.log(10.0**k) for k in range(1, 7)], rules)
    back = _reversal(moves, jumps, at, move, rules) if power is not None else None
    if back is not None or (power is not None and power > 0):
        end = (back or len(close)) - 1
        found.add("unit_jump", at, end, factor=float(np.exp(move)), **values)
        return {at, back} if back else {at}
    ratio = _nearest(abs(move), [np.log(r) for r in SPLIT_RATIOS], rules)
    if ratio is not None:
        found.add("split_like", at, at, ratio=_split_name(move, SPLIT_RATIOS[ratio]), **values)
        return {at}
    found.add("price_jump", at, at, change=float(np.expm1(move)),
              deviations=float(abs(move) / scale), **values)  # fmt: skip
    return {at}


def _reversal(moves: Array, jumps: Array, at: int, move: float, rules: QualityRules) -> int | None:
    """The later jump that undoes `move` (bars back in the right unit), if any."""
    for later in jumps[jumps > at]:
        if abs(moves[later - 1] + move) < rules.ratio_tolerance:
            return int(later)
    return None


def _nearest(size: float, targets: list[float], rules: QualityRules) -> int | None:
    distances = np.abs(np.array(targets) - size)
    best = int(np.argmin(distances))
    return best if distances[best] < rules.ratio_tolerance else None


def _split_name(move: float, ratio: float) -> str:
    """A 2:1 split halves the price; a 1:10 reverse split multiplies it by ten."""
    text = f"{ratio:g}:1"
    if ratio != int(ratio):  # 1.5 reads as 3:2
        text = f"{ratio * 2:g}:2"
    return text if move < 0 else ":".join(reversed(text.split(":")))


def log_returns(close: Array) -> Array:
    """Close-to-close log returns; NaN where a price is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(close > 0, np.log(np.where(close > 0, close, 1.0)), np.nan)
    result: Array = np.diff(logs)
    return result


def robust_scale(moves: Array, window: int) -> Array:
    """Each move's local volatility, as a standard deviation: the median |move| over the
    `window` bars before it or the `window` after it, whichever is larger, so a calm
    stretch does not make the first bars of a volatile one look like jumps."""
    size = pl.Series(np.abs(moves)).fill_nan(None)
    before = size.rolling_median(window, min_samples=window // 4)
    after = size.reverse().rolling_median(window, min_samples=window // 4).reverse()
    overall = size.filter(size > 0).median()
    fallback = float(overall) if isinstance(overall, float) else np.inf
    local = np.fmax(before.to_numpy(), after.to_numpy())  # NaN where a window is short
    local = np.where(np.isnan(local), fallback, local)
    result: Array = np.where(local > 0, local, fallback) / NORMAL_MAD
    return result


def runs(mask: Array, minimum: int = 1) -> Iterator[tuple[int, int]]:
    """(first, last) index of every run of True at least `minimum` long."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for first, stop in zip(starts, stops, strict=True):
        if stop - first >= minimum:
            yield int(first), int(stop - 1)


def utc_datetime(moment: np.datetime64) -> datetime:
    """A UTC datetime64 as an aware datetime."""
    value: datetime = moment.astype("M8[us]").item()
    return value.replace(tzinfo=UTC)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)
