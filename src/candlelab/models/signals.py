"""Signals: every prediction a model version made for a chart's bar, one row each.

A signal is written once per (chart, bar, model version): a repeated request reads the
stored one back, and a backtest keeps the signals that are there. Its `pred` is the
predicted class as a word (the target's class names: long / short / none, or the label
names), `proba` that class's probability, `label` the human label of the bar where an
accepted span covers it, and `features` the vector used, by the set's column names; a
backtest's signal has none (NULL): its vector is the feature store's at that bar, of the
version's feature set, and storing it again per signal was most of a backtest's time.
A shadow's signal (`shadow`) was logged beside the served one and never returned; a
version has one signal per bar: when it later serves a bar it shadowed, that signal
becomes the answer, no longer a shadow.

The GIN index on `features` answers containment (`features @> '{"hour": 14}'`), not a
range; `create_feature_index` makes, for one feature, the B-tree index that does
(`(features->>'rsi_14')::double precision < 30`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from candlelab.errors import InvalidValue, quoted
from candlelab.features.blocks import datetime64
from candlelab.features.definitions import NAME as FEATURE_NAME
from candlelab.market.quality import utc_datetime
from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection, first_line
from candlelab.store.on_demand import FEATURE_INDEX_PREFIX
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]
STORED_COLUMNS = 13  # a signal's columns as the queries read them: a Signal but `new`


@dataclass(frozen=True)
class Signal:
    id: int
    chart_id: int
    time: datetime  # the bar's open; the prediction is made at its close
    model_name: str
    model_version: int
    alias: str | None  # the alias the version was asked by; None: by its number
    pred: str
    proba: float
    label: str | None
    features: dict[str, float | None] | None  # None: a backtest's (the feature store's)
    latency_ms: float | None
    created_at: datetime
    shadow: bool = False  # made by a shadow beside the version that served; never served
    new: bool = True  # False: a repeated request, answered with the stored signal


@dataclass(frozen=True)
class SignalMark:
    """A signal as the chart view marks it on its bar."""

    time: datetime
    model_name: str
    model_version: int
    alias: str | None
    pred: str
    proba: float | None


@dataclass(frozen=True)
class NewSignal:
    chart_id: int
    time: datetime
    model_name: str
    model_version: int
    alias: str | None
    pred: str
    proba: float
    features: dict[str, float | None]
    shadow: bool = False


def feature_values(columns: Sequence[str], vector: Floats) -> dict[str, float | None]:
    """A vector by column name, as `signals.features` holds it (NaN as null)."""
    return {name: None if np.isnan(v) else float(v) for name, v in zip(columns, vector.tolist(),
                                                                      strict=True)}  # fmt: skip


def stored_signal(conn: Connection, chart_id: int, time: datetime, model_name: str,
                  model_version: int) -> Signal | None:  # fmt: skip
    params = {"chart_id": chart_id, "time": time, "model_name": model_name,
              "model_version": model_version}  # fmt: skip
    row = conn.execute(QUERIES["stored_signal"], params, prepare=True).fetchone()
    return None if row is None else stored_from(row)


def stored_from(row: Sequence[Any]) -> Signal | None:
    """The stored signal in a row's first STORED_COLUMNS columns (a NULL id: none), as a
    repeated request answers it."""
    return None if row[0] is None else replace(Signal(*row[:STORED_COLUMNS]), new=False)


def serve_shadowed(conn: Connection, shadowed: Signal, alias: str | None) -> Signal:
    """A shadow's stored signal as the answer of its version, now serving the bar under
    `alias` (committed): the version predicted the bar once, as a shadow."""
    row = conn.execute(QUERIES["serve_shadowed"], {"id": shadowed.id, "alias": alias}).fetchone()
    conn.commit()
    assert row is not None, "signals are never deleted"
    return replace(Signal(*row), new=False)


def chart_signals(conn: Connection, chart_id: int, start: datetime, end: datetime, *,
                  model_name: str | None = None,
                  limit: int = 10_000) -> list[SignalMark]:  # fmt: skip
    """The chart's signals on bars opening in [start, end), oldest first, at most `limit`;
    of one model, or of every model (None)."""
    params = {"chart_id": chart_id, "start": start, "end": end, "model_name": model_name,
              "limit": limit}  # fmt: skip
    return [SignalMark(*row) for row in conn.execute(QUERIES["chart_signals"], params)]


def newest_signals(conn: Connection, model_name: str, versions: Sequence[int],
                   limit: int = 20) -> list[Signal]:  # fmt: skip
    """The model's signals on the newest bars, of any of `versions`, newest first."""
    params = {"model_name": model_name, "versions": list(versions), "limit": limit}
    return [Signal(*row) for row in conn.execute(QUERIES["newest_signals"], params)]


def add_signal(conn: Connection, signal: NewSignal, latency_ms: float) -> Signal:
    """The signal written (and committed), or the one the version gave there already."""
    params = {**signal.__dict__, "features": Jsonb(signal.features), "latency_ms": latency_ms}
    row = conn.execute(QUERIES["add_signal"], params, prepare=True).fetchone()
    conn.commit()
    if row is not None:
        return Signal(*row)
    found = stored_signal(conn, signal.chart_id, signal.time, signal.model_name,
                          signal.model_version)  # fmt: skip
    assert found is not None, "a conflicting signal cannot vanish: signals are never deleted"
    return found


@dataclass(frozen=True)
class SignalBatch:
    """Many bars' predictions of one model version: (chart, time), the class index and
    its probability."""

    chart_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.datetime64]
    pred: npt.NDArray[np.int64]
    proba: Floats

    def columns(self, labels: Labels) -> list[CopyColumn]:
        """As staged_signals has them; `labels` an index into the label names, -1: none."""
        return [
            CopyColumn("bigint", self.chart_id),
            CopyColumn("timestamptz", self.time),
            CopyColumn("bigint", self.pred),
            CopyColumn("double precision", self.proba),
            CopyColumn("bigint", labels, labels < 0),
        ]


@dataclass(frozen=True)
class BulkWriter:
    """Batches of signals of one version written through a staging table in the caller's
    transaction, without features (a backtest's are the feature store's at that bar):
    one binary COPY each, then a plain INSERT where the version has no signal yet in the
    batch's charts and range, else an INSERT … ON CONFLICT DO NOTHING that keeps them.
    The plain one runs in a savepoint: should a concurrent request write a signal there
    meanwhile, it fails on the unique key and the batch is merged instead."""

    conn: Connection
    model_name: str
    model_version: int
    alias: str | None
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        self.conn.execute(QUERIES["create_staged_signals"])

    def write(self, batch: SignalBatch) -> int:
        """The batch's new signals (those the version had not given yet): how many."""
        names, labels = bar_labels(self.conn, batch.chart_id, batch.time)
        with self.conn.cursor().copy(QUERIES["copy_staged_signals"]) as writer:
            writer.write(binary_copy_buffer(batch.columns(labels)))
        params = {**self._params(), "labels": names}
        written = self._inserted(batch, params)
        self.conn.execute(QUERIES["empty_staged_signals"])
        return written

    def _inserted(self, batch: SignalBatch, params: dict[str, Any]) -> int:
        if not self._has_signals(batch):
            try:
                with self.conn.transaction():  # a savepoint
                    return self.conn.execute(QUERIES["insert_staged_signals"], params).rowcount
            except UniqueViolation:
                pass  # a signal written meanwhile: merge
        return self.conn.execute(QUERIES["merge_staged_signals"], params).rowcount

    def _has_signals(self, batch: SignalBatch) -> bool:
        params = {**self._params(), "chart_ids": np.unique(batch.chart_id).tolist(),
                  "first": utc_datetime(batch.time.min()),
                  "last": utc_datetime(batch.time.max())}  # fmt: skip
        row = self.conn.execute(QUERIES["version_has_signals"], params).fetchone()
        return bool(row and row[0])

    def _params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version,
                "alias": self.alias, "classes": list(self.classes)}  # fmt: skip


Labels = npt.NDArray[np.int64]


def bar_labels(conn: Connection, chart_id: npt.NDArray[np.int64],
               time: npt.NDArray[np.datetime64]) -> tuple[list[str], Labels]:  # fmt: skip
    """Each bar's human label, as add_signal's lookup gives it (the newest accepted span
    over it): the label names, and each bar's index into them (-1: none). An interval
    join: the bars sorted once, each span two binary searches, the newest span last."""
    order = np.lexsort((time, chart_id))
    charts, times = chart_id[order], time[order].astype("datetime64[us]")
    labels, names = np.full(len(order), -1, dtype=np.int64), dict[str, int]()
    spans = conn.execute(QUERIES["accepted_spans"], {"chart_ids": np.unique(chart_id).tolist()})
    for span_chart, start, end, name in spans:
        first = int(np.searchsorted(charts, span_chart))
        within = times[first : int(np.searchsorted(charts, span_chart, "right"))]
        lo = first + int(np.searchsorted(within, datetime64(start)))
        hi = first + int(np.searchsorted(within, datetime64(end), "right"))
        labels[order[lo:hi]] = names.setdefault(name, len(names))
    return list(names), labels


# PostgreSQL cuts names at 63 bytes: the feature's name must leave the index's whole.
LONGEST_INDEXED_FEATURE = 63 - len(FEATURE_INDEX_PREFIX)


@dataclass(frozen=True)
class FeatureIndex:
    """An index on one feature's value in `signals.features` (create_feature_index)."""

    feature: str
    name: str
    valid: bool  # False: left by a build interrupted half-way; it serves no query
    size_bytes: int


def feature_index_name(feature: str) -> str:
    """The index of a feature's values, ix_signals_feature_NAME; InvalidValue for a name
    that is not a feature column's or would make the index's name too long."""
    if len(feature) > LONGEST_INDEXED_FEATURE or not FEATURE_NAME.fullmatch(feature):
        raise InvalidValue(
            f"feature {quoted(feature)}: not a feature column name (a-z, 0-9 and _, not "
            f"starting with a digit, at most {LONGEST_INDEXED_FEATURE} characters so that "
            f"{FEATURE_INDEX_PREFIX}NAME fits PostgreSQL's 63)"
        )
    return FEATURE_INDEX_PREFIX + feature


def feature_indexes(conn: Connection) -> list[FeatureIndex]:
    """The feature indexes on `signals`, by name."""
    rows = conn.execute(QUERIES["feature_indexes"], {"prefix": FEATURE_INDEX_PREFIX})
    return [FeatureIndex(*row) for row in rows]


def create_feature_index(conn: Connection, feature: str) -> tuple[FeatureIndex, bool]:
    """The B-tree index on `(features->>FEATURE)::double precision`, partial on signals
    with a value there (a backtest's, without features, cost it nothing), and whether it
    was made now (False: it was there). Built CONCURRENTLY, so signals are written
    meanwhile: `conn` in autocommit; it waits for the transactions open on `signals`. One
    left invalid by an interrupted build is dropped and made again."""
    name = feature_index_name(feature)
    found = _feature_index(conn, name)
    if found is not None and found.valid:
        return found, False
    if found is not None:  # left by an interrupted build: it serves no query
        conn.execute(_index_statement("drop_feature_index", name, feature))
    _build_feature_index(conn, name, feature)
    made = _feature_index(conn, name)
    assert made is not None, "made just now, IF NOT EXISTS"
    return made, True


def _build_feature_index(conn: Connection, name: str, feature: str) -> None:
    try:
        conn.execute(_index_statement("create_feature_index", name, feature))
    except pg_errors.DataError as exc:  # a value that is no number (written by hand)
        # The failed build leaves an invalid index, which every write would still fill.
        conn.execute(_index_statement("drop_feature_index", name, feature))
        raise InvalidValue(f"feature {feature}: a signal's value is not a number "
                           f"({first_line(exc)}); no index was made") from exc  # fmt: skip


def drop_feature_index(conn: Connection, feature: str) -> bool:
    """The feature's index dropped (CONCURRENTLY: `conn` in autocommit); False: none."""
    name = feature_index_name(feature)
    if _feature_index(conn, name) is None:
        return False
    conn.execute(_index_statement("drop_feature_index", name, feature))
    return True


def _feature_index(conn: Connection, name: str) -> FeatureIndex | None:
    return next((found for found in feature_indexes(conn) if found.name == name), None)


def _index_statement(query: str, name: str, feature: str) -> sql.Composed:
    return sql.SQL(QUERIES[query]).format(index=sql.Identifier(name), feature=sql.Literal(feature))
