"""Signals: every prediction a model version made for a chart's bar, one row each.

A signal is written once per (chart, bar, model version): a repeated request reads the
stored one back, and a backtest keeps the signals that are there. Its `pred` is the
predicted class as a word (the target's class names: long / short / none, or the label
names), `proba` that class's probability, `label` the human label of the bar where an
accepted span covers it, and `features` the vector used, by the set's column names.
A shadow's signal (`shadow`) was logged beside the served one and never returned; a
version has one signal per bar: when it later serves a bar it shadowed, that signal
becomes the answer, no longer a shadow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import sql
from psycopg.types.json import Jsonb

from candlelab.store.binary_copy import CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
Floats = npt.NDArray[np.float64]


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
    features: dict[str, float | None]
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
    return None if row is None else replace(Signal(*row), new=False)


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
    its probability, and the feature vectors."""

    chart_id: npt.NDArray[np.int64]
    time: npt.NDArray[np.datetime64]
    pred: npt.NDArray[np.int64]
    proba: Floats
    values: Floats

    def columns(self) -> list[CopyColumn]:
        fixed = [
            CopyColumn("bigint", self.chart_id),
            CopyColumn("timestamptz", self.time),
            CopyColumn("bigint", self.pred),
            CopyColumn("double precision", self.proba),
        ]
        return fixed + [CopyColumn("double precision", np.ascontiguousarray(self.values[:, j]))
                        for j in range(self.values.shape[1])]  # fmt: skip


@dataclass(frozen=True)
class BulkWriter:
    """Batches of signals of one version written through a staging table in the caller's
    transaction: one binary COPY each, then one INSERT … ON CONFLICT DO NOTHING."""

    conn: Connection
    model_name: str
    model_version: int
    alias: str | None
    classes: tuple[str, ...]
    columns: tuple[str, ...]  # the feature set's

    def __post_init__(self) -> None:
        features = sql.SQL(", ").join(sql.SQL("{} double precision").format(sql.Identifier(name))
                                      for name in self.columns)  # fmt: skip
        self.conn.execute(sql.SQL(QUERIES["create_staged_signals"]).format(features=features))

    def write(self, batch: SignalBatch) -> int:
        """The batch's new signals (those the version had not given yet): how many."""
        with self.conn.cursor().copy(QUERIES["copy_staged_signals"]) as writer:
            writer.write(binary_copy_buffer(batch.columns()))
        written = self.conn.execute(QUERIES["add_staged_signals"], self._params()).rowcount
        self.conn.execute(QUERIES["empty_staged_signals"])
        return written

    def _params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version,
                "alias": self.alias, "classes": list(self.classes)}  # fmt: skip
