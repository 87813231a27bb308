"""Prediction: one registered model version's output for a chart's bar, logged as a signal.

A model is named by a reference: NAME, routed among the versions serving it (the
champion, challengers by their traffic shares, by a hash of (chart, bar): `routing`), or
NAME@ALIAS or NAME/VERSION, asked directly. Beside a routed request each shadow predicts
the same bar, and its signal is logged (`shadow`) and never returned; a shadow that fails
is logged and fails nothing. A version is loaded once per process (`ModelShelf`), only
through `training.artifacts.load_model` (its sha256 checked), never from a path a request
names; the serving sets are kept per process while it watches the moves (`serving_sets`).

Time: a prediction for bar t is made at t's close, on the vector of t, which reads only
bars closed by then. The vector comes from the feature store: the chart's newest stored
one, the stored one at t, or, when t is newer than what is materialised, computed on the
fly from the bars before it, as a build would compute it (`history` bars back,
cumulative features anchored on their stored value).

A new prediction of a stored vector is three statements, each a round trip to
PostgreSQL and a chance to wait for a core on a busy server: the chart and its bar
(`asked_bar`), the version's signal there and the stored vectors (`bar_state`), the
signal's INSERT (`signals.add_signal`), committed at once. On a connection in autocommit
(the web app's predict route) that is all; in a transaction, BEGIN and COMMIT are two more.

Refused, with `NotPredictable` naming chart, bar and reason: a bar the chart lacks, a
bar that has not closed, and a bar inside the features' warm-up: among the chart's
first bars, fewer than the set's longest feature needs for its first value (TA-Lib's
lookback, the expression windows: `features.warmup`), the refusal naming the columns
still warming up. The warm-up rows of a training set are few and unlike the rest, and a
signal there would not be one to act on. A column that is NaN past the warm-up has no
value by definition or by the data (`minutes_to_close` on a 24/7 chart, a ratio over a
zero volume): training kept those rows, LightGBM reading NaN as missing, and so
prediction predicts them. The rule is one for a single bar and for a backtest, which
skips the bars inside the warm-up and counts them. A vector without a NaN is predicted
without looking further.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from candlelab.errors import DataError, NotFound, NotPredictable, UnknownReference
from candlelab.features.bars import chart_bars, read_start
from candlelab.features.blocks import datetime64, packed_times, vector_at
from candlelab.features.computation import compute, cumulative_features, history
from candlelab.features.definitions import FeatureSet
from candlelab.features.materialisation import stored_anchors
from candlelab.features.reading import FeatureMatrix, first_beyond, read_features
from candlelab.features.registry import StoredSet
from candlelab.features.warmup import (
    Warmups,
    bar_closes,
    bar_index,
    closes_of,
    longer_warm,
    warm_from,
    warmups,
)
from candlelab.market.calendars import closed
from candlelab.market.charts import Chart
from candlelab.market.charts import chart as chart_by_id
from candlelab.market.timeframes import Timeframe
from candlelab.models.routing import CHAMPION, routed
from candlelab.models.serving_sets import ServingSets
from candlelab.models.signals import (
    BulkWriter,
    NewSignal,
    Signal,
    SignalBatch,
    add_signal,
    feature_values,
    serve_shadowed,
    stored_from,
)
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.proposals import ModelReference, TrainedModel, trained_model

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Times = npt.NDArray[np.datetime64]
SHOWN_COLUMNS = 5  # columns a warm-up refusal names
REFUSED_SECONDS = 30.0  # a version whose load was refused is tried again after this
log = logging.getLogger(__name__)


def served_reference(text: str) -> ModelReference:
    """A reference as prediction reads it: a bare NAME is NAME@champion."""
    return _champion_if_bare(ModelReference.parse(text))


def _champion_if_bare(reference: ModelReference) -> ModelReference:
    return replace(reference, alias=CHAMPION) if is_routed(reference) else reference


def is_routed(reference: ModelReference) -> bool:
    """A bare NAME: routed among the versions serving it; the others are asked directly."""
    return reference.alias is None and reference.version is None


@dataclass(frozen=True)
class ServedModel:
    model: TrainedModel
    feature_set: FeatureSet  # the stored set's definition, to compute vectors on the fly
    warmups: Warmups  # each column's warm-up in bars (`features.warmup`)
    alias: str | None = None  # the alias it was asked by


class ModelShelf:
    """Model versions loaded once per process and kept, by (name, version), and the
    models' serving sets (`servings`: kept while it watches, else read per request). An
    alias is looked up in the registry at each request, so a moved one serves its new
    version. `after_load` runs once a version is loaded (a server freezes its heap then)."""

    def __init__(self, url: str, artifact_location: str,
                 after_load: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        self.url, self.artifact_location, self.after_load = url, artifact_location, after_load
        self.servings = ServingSets(url)
        self._loaded: dict[tuple[str, int], ServedModel] = {}
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self._refused: dict[tuple[str, int], tuple[float, DataError]] = {}
        self._lock = threading.Lock()

    def served(self, conn: Connection, reference: ModelReference) -> ServedModel:
        """The version the reference names now (a bare name: its champion), loaded."""
        reference = _champion_if_bare(reference)
        version = reference.version or alias_version(conn, reference.name, reference.alias)
        return self.version(reference.name, version, reference.alias)

    def version(self, name: str, version: int, alias: str | None = None) -> ServedModel:
        """The version, loaded once whatever the concurrent requests; a request for a
        version being loaded waits for it, one for another version does not. A refused
        load (a changed artifact, a regression model) is refused again without a new
        download for REFUSED_SECONDS: a broken shadow costs one download a while."""
        key = (name, version)
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            if key not in self._loaded:
                self._loaded[key] = self._load(key)
                self.after_load()
        return replace(self._loaded[key], alias=alias)

    def _load(self, key: tuple[str, int]) -> ServedModel:
        refused = self._refused.get(key)
        if refused is not None and clock.monotonic() - refused[0] < REFUSED_SECONDS:
            raise refused[1]
        try:
            return _load(self.url, self.artifact_location, *key)
        except DataError as exc:
            self._refused[key] = (clock.monotonic(), exc)
            raise


def alias_version(conn: Connection, name: str, alias: str | None) -> int:
    row = conn.execute(QUERIES["alias_version"], {"name": name, "alias": alias}).fetchone()
    if row is None:
        raise NotFound(f"model {name!r}: no version holds alias {alias!r}; promote one "
                       "(`candlelab models promote`), or name a version: NAME/VERSION")  # fmt: skip
    return int(row[0])


def _load(url: str, artifact_location: str, name: str, version: int) -> ServedModel:
    model = trained_model(url, artifact_location, ModelReference(name, version=version))
    if not model.classes:
        raise DataError(f"model {name} version {version} predicts a number (a regression "
                        "target); a signal is a class: train a classification target")  # fmt: skip
    features = model.features.feature_set()
    return ServedModel(model, features, warmups(features))


def predict(conn: Connection, served: ServedModel, chart_id: int, *,
            time: datetime | None = None, started: float | None = None) -> Signal:  # fmt: skip
    """The model's signal for the chart's bar opening at `time` (None: its newest closed
    bar): the stored one when this version gave it before, else a new one, committed.
    `started` (time.perf_counter()) is when the request came in: latency counts from it."""
    started = clock.perf_counter() if started is None else started
    chart, bar = asked_bar(conn, chart_id, time)
    return _predicted(conn, served, Asked(chart, bar, started))


def predict_reference(conn: Connection, shelf: ModelShelf, reference: ModelReference,
                      chart_id: int, *, time: datetime | None = None,
                      started: float | None = None, later: Later | None = None,
                      ) -> Signal:  # fmt: skip
    """The reference's signal for the bar: a bare NAME routed, the others asked directly."""
    if is_routed(reference):
        return predict_routed(conn, shelf, reference.name, chart_id, time=time,
                              started=started, later=later)  # fmt: skip
    served = shelf.served(conn, reference)
    return predict(conn, served, chart_id, time=time, started=started)


@dataclass(frozen=True)
class Trial:
    """A shadow's prediction still to make: the version by its alias, and the bar."""

    shadow: ModelReference
    chart: Chart
    bar: datetime


Later = Callable[[list[Trial]], None]  # runs the shadows after the answer is sent


def predict_routed(conn: Connection, shelf: ModelShelf, name: str, chart_id: int,
                   *, time: datetime | None = None, started: float | None = None,
                   later: Later | None = None) -> Signal:  # fmt: skip
    """The signal of the version the model's serving set routes (chart, bar) to, written
    with its alias; then each shadow's on the same bar, logged and not returned: here,
    or handed to `later` (a web app runs them once the answer is sent)."""
    started = clock.perf_counter() if started is None else started
    chart, bar = asked_bar(conn, chart_id, time)
    serving, shadows = routed(shelf.servings.serving(conn, name), chart.id, bar)
    if serving is None:
        alias_version(conn, name, CHAMPION)  # the refusal that says what to do
        raise NotFound(f"model {name!r}: the draw of chart {chart.id} at {bar.isoformat()} "
                       "falls to no version: promote a champion")  # fmt: skip
    served = shelf.version(name, serving.version, serving.alias)
    signal = _predicted(conn, served, Asked(chart, bar, started))
    trials = [Trial(ModelReference(name, s.alias, s.version), chart, bar) for s in shadows
              if s.version != serving.version]  # fmt: skip
    if trials and later is not None:
        later(trials)
    elif trials:
        shadow_signals(conn, shelf, trials)
    return signal


@dataclass(frozen=True)
class Asked:
    """A chart's bar to predict, and when the request came in (time.perf_counter())."""

    chart: Chart
    bar: datetime
    started: float


def _predicted(conn: Connection, served: ServedModel, asked: Asked, *,
               shadow: bool = False) -> Signal:  # fmt: skip
    """The version's signal for a bar it may predict: the stored one, else a new one."""
    chart, bar = asked.chart, asked.bar
    state = bar_state(conn, served, chart.id, bar)
    found = state.signal
    if found is not None and found.shadow and not shadow:
        return serve_shadowed(conn, found, served.alias)
    if found is not None:
        return _with_features(conn, served, asked, state)
    vector = warm_vector(conn, served, chart, bar, state_vector(conn, served, chart, bar, state))
    signal = model_signal(served, chart.id, bar, vector)
    latency_ms = (clock.perf_counter() - asked.started) * 1000
    return add_signal(conn, replace(signal, shadow=shadow), latency_ms)


def _with_features(conn: Connection, served: ServedModel, asked: Asked,
                   state: BarState) -> Signal:  # fmt: skip
    """A stored signal with its vector: a backtest's (no `features` stored) read from
    the feature store, as every backtest signal's is."""
    found = state.signal
    assert found is not None, "a stored signal's state"
    if found.features is not None:
        return found
    vector = state_vector(conn, served, asked.chart, asked.bar, state)
    return replace(found, features=feature_values(served.model.features.columns, vector))


def shadow_signals(conn: Connection, shelf: ModelShelf, trials: list[Trial]) -> None:
    """Each shadow's signal logged (its version loaded first, once); a failure logged
    too, never raised: a shadow is on trial, the answer stands whatever it does."""
    for trial in trials:
        shadow = trial.shadow
        try:
            served = shelf.version(shadow.name, shadow.version or 0, shadow.alias)
            asked = Asked(trial.chart, trial.bar, clock.perf_counter())
            _predicted(conn, served, asked, shadow=True)
        except Exception:  # anything: logged below, with its traceback
            conn.rollback()
            log.warning("shadow %s (model %s version %s) failed on chart %s, bar %s",
                        shadow.alias, shadow.name, shadow.version, trial.chart.id,
                        trial.bar.isoformat(), exc_info=True)  # fmt: skip


def model_signal(served: ServedModel, chart_id: int, bar: datetime, vector: Floats) -> NewSignal:
    """The model's most probable class on the bar's vector (one past the warm-up)."""
    model = served.model
    check_in_range(model, chart_id, bar, vector)
    proba = model.fitted.predict(vector[None, :])
    best = int(proba[0].argmax())
    values = feature_values(model.features.columns, vector)
    return NewSignal(chart_id, bar, model.name, model.version, served.alias, model.classes[best],
                     float(proba[0, best]), values)  # fmt: skip


def check_in_range(model: TrainedModel, chart_id: int, bar: datetime, vector: Floats) -> None:
    """Refused: a value the model's input type cannot hold (float32's ±3.4e38)."""
    kind = model.fitted.spec.input_dtype
    found = first_beyond(vector, kind)
    if found is not None:
        name, value = model.features.columns[found[0]], vector[found[0]]
        raise NotPredictable(chart_id, bar.isoformat(), f"feature {name!r} is {value:g}, "
                             f"beyond the {kind} range the model takes")  # fmt: skip


def asked_bar(conn: Connection, chart_id: int, time: datetime | None) -> tuple[Chart, datetime]:
    """The chart and the bar asked for (`bar_to_predict`), read in one round trip."""
    row = conn.execute(QUERIES["asked_bar"], {"chart_id": chart_id, "time": time}).fetchone()
    if row is None:
        raise UnknownReference(f"chart {chart_id} does not exist")  # as `charts.chart`
    chart = Chart(*row[:-1])
    return chart, bar_to_predict(chart, time, row[-1])


def bar_to_predict(chart: Chart, time: datetime | None, opens: list[datetime]) -> datetime:
    """The bar asked for, once it is the chart's and has closed; None: the newest closed.
    `opens`: the chart's two newest, newest first (None asked), else the time if it is a
    bar's open."""
    if time is None:
        return newest_closed_bar(chart, opens)
    if not opens:
        raise NotPredictable(chart.id, time.isoformat(), "the chart has no bar opening then")
    if not _closed(chart, time):
        raise NotPredictable(chart.id, time.isoformat(), "the bar has not closed yet; a "
                             "prediction is made at its close")  # fmt: skip
    return time


def newest_closed_bar(chart: Chart, opens: list[datetime]) -> datetime:
    """The chart's newest bar, or the one before it while the newest is still open
    (`opens`: the two newest, newest first)."""
    if not opens:
        raise NotPredictable(chart.id, "(newest)", "the chart has no bars")
    newest: datetime = opens[0] if _closed(chart, opens[0]) or len(opens) == 1 else opens[1]
    return newest


def _closed(chart: Chart, bar: datetime) -> bool:
    timeframe = Timeframe.parse(chart.timeframe)
    return closed(timeframe, chart.timezone, datetime64(bar), datetime64(datetime.now(UTC)))


@dataclass(frozen=True)
class BarState:
    """What a prediction reads of a bar in one round trip (`bar_state`)."""

    signal: Signal | None  # the version's stored signal there
    stale_from: datetime | None  # the chart's stored vectors are stale from this bar on
    latest: tuple[datetime, Floats] | None  # the newest stored bar and its vector
    at_bar: Floats | None  # the bar's own stored vector, when before the newest and found


def bar_state(conn: Connection, served: ServedModel, chart_id: int, bar: datetime) -> BarState:
    """The version's signal on the bar and the chart's stored vectors there, in one round
    trip, as `signals.stored_signal`, `windows.built_set`, `reading.latest_vector` and
    `blocks.vector_at` would say in five."""
    model, packed = served.model, packed_times(np.array([datetime64(bar)]))
    params = {"set_id": model.features.id, "chart_id": chart_id, "time": bar, "packed": packed,
              "model_name": model.name, "model_version": model.version}  # fmt: skip
    row = conn.execute(QUERIES["bar_state"], params).fetchone()
    assert row is not None, "one row, whatever is stored"
    stale_from, last, vector, at_bar = row[-4:]
    return BarState(stored_from(row), stale_from, None if last is None else (last, _floats(vector)),
                    None if at_bar is None else _floats(at_bar))  # fmt: skip


def _floats(packed: bytes) -> Floats:
    return np.frombuffer(packed, "<f8").copy()


def bar_vector(conn: Connection, served: ServedModel, chart: Chart,
               bar: datetime) -> Floats:  # fmt: skip
    """The feature vector of the bar: stored, or computed when it is not materialised or
    the candles changed at or before it since its build (the stored one is stale)."""
    return state_vector(conn, served, chart, bar, bar_state(conn, served, chart.id, bar))


def state_vector(conn: Connection, served: ServedModel, chart: Chart, bar: datetime,
                 state: BarState) -> Floats:  # fmt: skip
    """`bar_vector` from what `bar_state` read: the bars are read only when the stored
    vector is stale or missing."""
    stored = served.model.features
    if state.stale_from is not None and state.stale_from <= bar:
        return computed_vector(conn, stored, served.feature_set, chart, bar,
                               stale_from=state.stale_from)  # fmt: skip
    if state.latest is not None and state.latest[0] == bar:
        return state.latest[1]
    if state.latest is not None and bar < state.latest[0]:
        found = state.at_bar if state.at_bar is not None else vector_at(
            conn, stored.id, chart.id, bar, len(stored.columns))  # fmt: skip
        if found is not None:
            return found
    return computed_vector(conn, stored, served.feature_set, chart, bar)


def computed_vector(conn: Connection, stored: StoredSet, features: FeatureSet, chart: Chart,
                    bar: datetime, *, stale_from: datetime | None = None) -> Floats:  # fmt: skip
    """The bar's vector computed from the chart's bars as a build would: from `history`
    bars before it, cumulative features anchored on their stored value at the first bar
    read (from the chart's first bar when there is none to anchor on, or when that stored
    value is stale: at or after `stale_from`)."""
    bars = chart_bars(conn, chart, features, read_start(conn, chart.id, bar, history(features)))
    stale = stale_from is not None and len(bars) and bars.time[0] >= datetime64(stale_from)
    anchors = {} if stale else stored_anchors(conn, stored, features, chart.id, bars)
    if cumulative_features(features) and not anchors:
        bars = chart_bars(conn, chart, features)
    row = int(np.searchsorted(bars.time, datetime64(bar)))
    return np.asarray(compute(features, bars, anchors)[row], dtype=np.float64)


def warm_vector(conn: Connection, served: ServedModel, chart: Chart, bar: datetime,
                vector: Floats) -> Floats:  # fmt: skip
    """The vector, unless the bar is inside the features' warm-up on its chart; a vector
    without a NaN is not looked at further (inside the warm-up a column is NaN)."""
    if not np.isnan(vector).any():
        return vector
    warm = served.warmups
    index = bar_index(conn, chart.id, bar, warm.most)
    check_warm(chart.id, bar, served.model.features, warm, index=index,
               warm_longer=_warm_longer(conn, chart, warm, bar))  # fmt: skip
    return vector


def _warm_longer(conn: Connection, chart: Chart, warm: Warmups, bar: datetime) -> frozenset[str]:
    """The longer timeframes whose chart is past its warm-up by the bar's close."""
    if not warm.longer_most:
        return frozenset()
    closes = longer_warm(conn, chart, warm.longer_most)
    close = closes_of(chart, datetime64(bar))
    return frozenset(name for name, at in closes.items() if not np.isnat(at) and at <= close)


def check_warm(chart_id: int, bar: datetime, stored: StoredSet, warm: Warmups, *, index: int,
               warm_longer: frozenset[str] = frozenset()) -> None:  # fmt: skip
    """Refuse bar `index` of its chart (0: the first) while a column is warming up there
    (`warm_longer`: the longer charts past their warm-up by then)."""
    warming = warm.still_warming(index, warm_longer)
    if warming:
        shown = ", ".join(warming[:SHOWN_COLUMNS]) + (" …" if len(warming) > SHOWN_COLUMNS else "")
        at = f"bar {index + 1} of the chart" if index < warm.most else "past its first bars"
        longer = "".join(f", and {bars} bars of its {name} chart"
                         for name, bars in warm.longer_most.items())  # fmt: skip
        raise NotPredictable(chart_id, bar.isoformat(), f"before the warm-up of feature set "
                             f"{stored.label}: {shown} ha{'s' if len(warming) == 1 else 've'} "
                             f"no value yet ({at}; the set's warm-up is {warm.most} bars"
                             f"{longer})")  # fmt: skip


def newest_bar_opens(conn: Connection, chart_id: int, bars: int) -> list[datetime]:
    """The opens of the chart's `bars` newest bars, oldest first."""
    params = {"chart_id": chart_id, "bars": bars}
    return [row[0] for row in conn.execute(QUERIES["newest_bar_opens"], params)][::-1]


def predict_newest(conn: Connection, shelf: ModelShelf, reference: ModelReference, *,
                   chart_id: int, bars: int,
                   ) -> tuple[list[Signal], list[NotPredictable]]:  # fmt: skip
    """The model's signals for each of the chart's `bars` newest bars (a bare name routed
    bar by bar), and the refusals of those it cannot predict (not closed yet, before the
    warm-up)."""
    signals, refused = [], []
    for bar in newest_bar_opens(conn, chart_id, bars):
        try:
            signals.append(predict_reference(conn, shelf, reference, chart_id, time=bar))
        except NotPredictable as refusal:
            conn.rollback()
            refused.append(refusal)
    return signals, refused


@dataclass(frozen=True)
class BacktestReport:
    model_name: str
    model_version: int
    charts: int
    predicted: int  # bars past the features' warm-up
    skipped: int  # bars inside it
    written: int  # new signals (the others the version had given already)


CHARTS_PER_BATCH = 100  # charts read, predicted and copied at once: a few hundred MB at most


def backtest(url: str, served: ServedModel, chart_ids: Sequence[int], *,
             start: datetime | None = None, end: datetime | None = None,
             ) -> BacktestReport:  # fmt: skip
    """Every stored bar of the charts in [start, end) predicted in bulk and written as
    signals in one transaction: batches of charts each read as one matrix, predicted in
    one call, and copied (binary COPY) through a staging table (`BulkWriter`); signals
    the version gave already are kept. A backtest's signals have no `features`: their
    vectors are the feature store's at those bars (the version's set: `read_features`)."""
    model, totals = served.model, np.zeros(3, dtype=np.int64)
    with connect(url) as conn:
        writer = BulkWriter(conn, model.name, model.version, served.alias, model.classes)
        for first in range(0, len(chart_ids), CHARTS_PER_BATCH):
            charts = chart_ids[first : first + CHARTS_PER_BATCH]
            totals += _backtest_batch(url, served, writer, charts, (start, end))
        conn.commit()
    predicted, skipped, written = (int(n) for n in totals)
    return BacktestReport(model.name, model.version, len(chart_ids), predicted, skipped, written)


Bounds = tuple[datetime | None, datetime | None]


def _backtest_batch(url: str, served: ServedModel, writer: BulkWriter, chart_ids: Sequence[int],
                    bounds: Bounds) -> tuple[int, int, int]:  # fmt: skip
    # Read as the model takes them: a float32 model's rows are rounded once, in the read.
    matrix = read_features(url, served.model.features, chart_ids, *bounds,
                           dtype=served.model.fitted.spec.input_dtype)  # fmt: skip
    warm = warm_rows(writer.conn, served, matrix)
    values = matrix.values[warm]
    if not len(values):
        return 0, len(matrix), 0
    proba = served.model.fitted.predict(values)
    best = proba.argmax(axis=1)
    batch = SignalBatch(matrix.chart_id[warm], matrix.time[warm], best,
                        proba[np.arange(len(best)), best])  # fmt: skip
    return len(values), len(matrix) - len(values), writer.write(batch)


def warm_rows(conn: Connection, served: ServedModel, matrix: FeatureMatrix) -> Bools:
    """The rows past the features' warm-up on their chart, as `warm_vector` tells one bar:
    those without a NaN, and those at or after the chart's first bar past the warm-up
    (closing once the longer charts read are past theirs)."""
    warm: Bools = np.asarray(~np.isnan(matrix.values).any(axis=1))
    nan = np.flatnonzero(~warm)
    if not len(nan):
        return warm
    charts = np.unique(matrix.chart_id[nan])
    first = warm_from(conn, [int(c) for c in charts], served.warmups.most)
    firsts = np.array([first[int(c)] for c in charts], dtype="datetime64[us]")
    warm[nan] = matrix.time[nan] >= firsts[np.searchsorted(charts, matrix.chart_id[nan])]
    for each in charts if served.warmups.longer_most else ():
        rows = nan[matrix.chart_id[nan] == each]
        warm[rows] &= _past_longer(conn, chart_by_id(conn, int(each)), served.warmups,
                                   matrix.time[rows])  # fmt: skip
    return warm  # NaT (a chart not past its warm-up) compares False


def _past_longer(conn: Connection, chart: Chart, warm: Warmups, opens: Times) -> Bools:
    """Which of the chart's bars close once every longer chart read is past its warm-up."""
    closes = list(longer_warm(conn, chart, warm.longer_most).values())
    if any(np.isnat(at) for at in closes):
        return np.zeros(len(opens), dtype=np.bool_)
    return np.asarray(bar_closes(chart, opens) >= max(closes))
