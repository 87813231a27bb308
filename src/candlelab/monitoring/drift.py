"""Drift: do the bars a model version serves still look like the ones it learned from?

A version's training run recorded, per feature, the distribution of the rows its final
model was fit on, and the distribution of that model's predictions there
(`training.references`). A serving window is the version's signals that carry their
feature vector (served ones, shadows included; a backtest's signals store none and are
skipped, counted) whose bars are at most `window` older than its newest such bar. Per
feature it gets:

- PSI, the population stability index, sum((a - e) * ln(a / e)) over the reference's
  bins plus one bin for NaN, with e and a the reference's and the window's shares; an
  empty bin's share counts as EPSILON (1e-4), else one empty bin makes it infinite;
- KS, the two-sample Kolmogorov-Smirnov statistic, sup |F_ref - F_window|: the raw
  training rows are not stored, so F_ref is the reference's 101 percentiles, linear
  between them, and the sup is taken at those percentiles (and just below each), which
  is off by at most 0.01;
- the Wasserstein-1 distance, the integral of |Q_ref(u) - Q_window(u)| over u in [0, 1],
  from both samples' 101 percentiles (trapezoids), divided by the reference's standard
  deviation: a shift of a whole standard deviation reads 1.

The predictions get a PSI over their classes, and the version's judged trades in the
window their expectancy and win rate against its run's walk-forward estimate
(`monitoring.performance_drift`). The status is PSI's, by the field's
conventions: below 0.1 `ok`, from 0.1 `warn`, from 0.25 `alert` (PSI_WARN, PSI_ALERT;
each configurable); KS and the distance say what kind of change it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidValue, NotFound
from candlelab.monitoring.performance_drift import (
    MARGIN,
    MIN_TRADES,
    PerformanceDrift,
    performance_drift,
)
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries
from candlelab.training.references import PREDICTION, Reference

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]
PSI_WARN, PSI_ALERT = 0.1, 0.25
EPSILON = 1e-4  # the share an empty bin counts as in PSI
WINDOW = timedelta(days=7)
STATUSES = ("ok", "warn", "alert")


@dataclass(frozen=True)
class Thresholds:
    warn: float = PSI_WARN
    alert: float = PSI_ALERT
    expectancy_margin: float = MARGIN  # R below the walk-forward estimate: warn; twice: alert
    min_trades: int = MIN_TRADES  # judged trades in the window before performance is judged

    def __post_init__(self) -> None:
        if not 0 < self.warn <= self.alert:
            raise InvalidValue(f"PSI thresholds: need 0 < warn ({self.warn}) <= alert "
                               f"({self.alert})")  # fmt: skip
        if self.expectancy_margin < 0 or self.min_trades < 1:
            raise InvalidValue(f"performance thresholds: need expectancy margin "
                               f"({self.expectancy_margin}) >= 0 and min trades "
                               f"({self.min_trades}) >= 1")  # fmt: skip

    def status(self, psi: float) -> str:
        return "alert" if psi >= self.alert else "warn" if psi >= self.warn else "ok"


@dataclass(frozen=True)
class Measure:
    """One feature's drift (kind `feature`) or the predictions' (`prediction`)."""

    kind: str
    name: str
    psi: float
    ks: float | None  # None: no value on one side to compare
    wasserstein: float | None  # in reference standard deviations
    nan_share: float  # in the window
    reference_nan_share: float
    status: str


@dataclass(frozen=True)
class VersionDrift:
    model_name: str
    model_version: int
    window_start: datetime
    window_end: datetime
    signals: int  # with features, compared
    without_features: int  # a backtest's, in the window: skipped
    measures: list[Measure]  # worst first
    performance: PerformanceDrift | None = None

    @property
    def drifted(self) -> list[str]:
        """The names at alert level, worst first; `performance` last if it is."""
        names = [m.name for m in self.measures if m.status == "alert"]
        losing = self.performance is not None and self.performance.status == "alert"
        return [*names, "performance"] if losing else names


@dataclass(frozen=True)
class DriftReport:
    versions: list[VersionDrift] = field(default_factory=list)
    unreferenced: list[tuple[str, int]] = field(default_factory=list)  # trained before them
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def drifted(self) -> bool:
        return any(v.drifted for v in self.versions)


def psi(expected: Floats, actual: Floats, epsilon: float = EPSILON) -> float:
    """PSI of two histograms on the same bins (counts or shares)."""
    e = np.maximum(expected / max(expected.sum(), 1), epsilon)
    a = np.maximum(actual / max(actual.sum(), 1), epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(quantiles: Floats, values: Floats) -> float | None:
    """sup |F_ref - F| with F_ref linear between the reference's evenly spaced quantiles
    (0th..100th) and F the values' empirical CDF, both read at each quantile and just
    below it. Between two quantiles F_ref rises by one step (0.01) at most and F never
    falls, so the sup between them is within a step of the sup at their ends."""
    return _ks_sorted(quantiles, np.sort(values[~np.isnan(values)]))


def _ks_sorted(quantiles: Floats, ordered: Floats) -> float | None:
    """`ks_statistic` of the window's known values, sorted."""
    if not len(ordered) or not len(quantiles):
        return None
    gaps = [np.abs(_reference_cdf(quantiles, quantiles, side)
                   - np.searchsorted(ordered, quantiles, side=side) / len(ordered))
            for side in ("right", "left")]  # fmt: skip
    # side right: the share of values at or below each quantile, F(q_j); left: below it.
    return float(max(gap.max() for gap in gaps))


def _reference_cdf(quantiles: Floats, x: Floats, side: Any) -> Floats:
    """F_ref(x) (side right) or F_ref(x-) (left), linear between the quantiles."""
    levels = np.linspace(0.0, 1.0, len(quantiles))
    i = np.searchsorted(quantiles, x, side=side)
    lo, hi = np.clip(i - 1, 0, len(quantiles) - 1), np.clip(i, 0, len(quantiles) - 1)
    gap = quantiles[hi] - quantiles[lo]
    part = np.divide(x - quantiles[lo], gap, out=np.zeros_like(x), where=gap > 0)
    inside = levels[lo] + part * (levels[hi] - levels[lo])
    return np.where(i == 0, 0.0, np.where(i == len(quantiles), 1.0, inside))


def wasserstein(quantiles: Floats, values: Floats) -> float | None:
    """The Wasserstein-1 distance between the reference (its evenly spaced quantiles) and
    the values: the mean gap of their quantile functions, by trapezoids."""
    return _wasserstein_sorted(quantiles, np.sort(values[~np.isnan(values)]))


def _wasserstein_sorted(quantiles: Floats, ordered: Floats) -> float | None:
    """`wasserstein` of the window's known values, sorted: their quantiles are read off
    by NumPy's default (linear) rule, without a partition per call."""
    if not len(ordered) or not len(quantiles):
        return None
    levels = np.linspace(0.0, 1.0, len(quantiles))
    at = levels * (len(ordered) - 1)
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, len(ordered) - 1)
    found = ordered[low] + (at - low) * (ordered[high] - ordered[low])
    return float(np.trapezoid(np.abs(quantiles - found), levels))


def feature_measure(ref: Reference, values: Floats, thresholds: Thresholds) -> Measure:
    # One sort of the window serves the bins, KS and W: at 1M rows a sort costs about what
    # one of the binary searches of every value did, and there were four of them. In place,
    # in the copy the NaN mask made: a second copy was 3 ms of the 57 a feature took.
    ordered = values[~np.isnan(values)]
    ordered.sort()
    edges = np.asarray(ref.edges, dtype=np.float64)
    below = np.searchsorted(ordered, edges, side="left")  # values under each edge
    counts = np.diff(np.concatenate([[0], below, [len(ordered)]]))
    missing = len(values) - len(ordered)
    expected = np.asarray([*ref.counts, ref.missing], dtype=np.float64)
    found = psi(expected, np.asarray([*counts, missing], dtype=np.float64))
    quantiles = np.asarray(ref.quantiles, dtype=np.float64)
    distance = _wasserstein_sorted(quantiles, ordered)
    scaled = distance / ref.std if distance is not None and ref.std else None
    share = missing / len(values) if len(values) else 0.0
    return Measure(ref.kind, ref.name, found, _ks_sorted(quantiles, ordered), scaled, share,
                   ref.nan_share, thresholds.status(found))  # fmt: skip


def prediction_measure(ref: Reference, counts: dict[str, int], thresholds: Thresholds) -> Measure:
    """PSI over the classes; a word the reference never predicted is a bin of its own."""
    words = [*ref.categories, *sorted(set(counts) - set(ref.categories))]
    expected = np.asarray([*ref.counts] + [0] * (len(words) - len(ref.counts)), dtype=np.float64)
    actual = np.asarray([counts.get(word, 0) for word in words], dtype=np.float64)
    found = psi(expected, actual)
    return Measure(ref.kind, ref.name, found, None, None, 0.0, 0.0, thresholds.status(found))


def drift(conn: Connection, model_name: str | None = None, model_version: int | None = None,
          window: timedelta = WINDOW,
          thresholds: Thresholds | None = None) -> DriftReport:  # fmt: skip
    """Every served version's drift over its window (of one model, one version)."""
    limits = thresholds or Thresholds()
    report = DriftReport(thresholds=limits)
    for name, version, end in _served(conn, model_name, model_version):
        references = version_references(conn, name, version)
        if not references:
            _refuse_unreferenced(model_name, name, version)
            report.unreferenced.append((name, version))
            continue
        report.versions.append(version_drift(conn, references, (name, version, end - window,
                                                                end), limits))  # fmt: skip
    return report


def _served(conn: Connection, model_name: str | None,
            model_version: int | None) -> list[tuple[str, int, datetime]]:  # fmt: skip
    params = {"model_name": model_name, "model_version": model_version}
    found = [(row[0], row[1], row[2]) for row in conn.execute(QUERIES["served_versions"], params)]
    if found or model_name is None:
        return found
    known = conn.execute(QUERIES["model_known"], params).fetchone()
    if not (known and known[0]):
        raise NotFound(f"no model {model_name!r}: no training run or signal names it")
    which = f"model {model_name!r}" + (f" version {model_version}" if model_version else "")
    raise NotFound(f"{which} has no served signals to compare (a backtest's signals carry "
                   "no features): predict with it first")  # fmt: skip


def _refuse_unreferenced(asked: str | None, name: str, version: int) -> None:
    """A model asked for by name must have its references; among all, it is listed."""
    if asked is not None:
        raise NotFound(f"model {name!r} version {version} has no drift reference: its run "
                       "was trained before candlelab recorded them; train it again")  # fmt: skip


def version_references(conn: Connection, name: str, version: int) -> list[Reference]:
    params = {"model_name": name, "model_version": version}
    return [Reference(*row) for row in conn.execute(QUERIES["version_references"], params)]


def version_drift(conn: Connection, references: Sequence[Reference],
                  window: tuple[str, int, datetime, datetime],
                  thresholds: Thresholds) -> VersionDrift:  # fmt: skip
    name, version, start, end = window
    params = {"model_name": name, "model_version": version, "start": start, "end": end}
    row = conn.execute(QUERIES["window_counts"], params).fetchone()
    signals, without = row if row else (0, 0)
    values = _window_features(conn, params, [r.name for r in references if r.kind != PREDICTION])
    predicted: dict[str, int] = dict(conn.execute(QUERIES["window_predictions"], params).fetchall())
    measures = [prediction_measure(r, predicted, thresholds) if r.kind == PREDICTION
                else feature_measure(r, values[r.name], thresholds)
                for r in references]  # fmt: skip
    measures.sort(key=lambda m: -m.psi)
    performance = performance_drift(conn, window, thresholds.expectancy_margin,
                                    thresholds.min_trades)  # fmt: skip
    return VersionDrift(name, version, start, end, signals, without, measures, performance)


def _window_features(conn: Connection, params: dict[str, Any],
                     names: list[str]) -> dict[str, Floats]:  # fmt: skip
    """Each feature's values in the window (NaN where a signal had none)."""
    rows = conn.execute(QUERIES["window_features"], {**params, "names": names}).fetchall()
    found = {name: np.asarray(values, dtype=np.float64) for name, values in rows}
    return {name: found.get(name, np.array([])) for name in names}


def store_check(conn: Connection, version: VersionDrift) -> None:
    """Keep the version's check as its latest (`drift_checks`): its worst feature and that
    feature's PSI, its predictions' PSI. In the caller's transaction."""
    features = [m for m in version.measures if m.kind != PREDICTION]  # worst first
    predictions = [m.psi for m in version.measures if m.kind == PREDICTION]
    params = {"model_name": version.model_name, "model_version": version.model_version,
              "window_start": version.window_start, "window_end": version.window_end,
              "signals": version.signals,
              "worst_feature": features[0].name if features else None,
              "worst_feature_psi": features[0].psi if features else None,
              "prediction_psi": predictions[0] if predictions else None}  # fmt: skip
    conn.execute(QUERIES["store_check"], params)
