"""Performance: each model version's figures per chart and overall, per window, stored.

A window is a UTC day, week (from Monday), month, or 'all' of a version's signals
(window_start 1970-01-01, no end), of one chart or of all of them (chart_id NULL); its
figures are `figures.figures` of its signals (by their bar's open). `update` keeps
`model_performance` current, incrementally:
- a version none of whose signals was written or judged since its overall 'all' row was
  computed is not read at all (one grouped scan of `signals` says which);
- the others' signals are read in one query, and a window is computed (and upserted)
  only if it holds a signal written or judged since the window's row was computed, or has
  no row: closed windows stay as stored, the open one and 'all' follow new signals;
- a judgement voided by a corrected bar and judged again has a new `evaluated_at`, so its
  windows are computed again by the run after the new judgement.
Not seen (docs/monitoring.md says what to do): a voided judgement not yet judged again
(its windows keep the old result until it is), a deleted signal, and a signal whose
writing transaction began before the run's and committed after the read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from candlelab.monitoring.figures import WindowSignals, figures
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
KINDS = ("day", "week", "month", "all")
ALL_CHARTS = 0  # chart_id NULL in the table; no chart has id 0
EPOCH = np.datetime64(0, "us")
Micros = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VersionSignals:
    """One version's signals in time order, with when each was last written or judged."""

    chart_id: Micros
    time: npt.NDArray[np.datetime64]
    changed: Micros
    rr: npt.NDArray[np.float64]
    proba: npt.NDArray[np.float64]
    latency: npt.NDArray[np.float64]

    def window(self, rows: Micros) -> WindowSignals:
        return WindowSignals(self.time[rows], self.rr[rows], self.proba[rows],
                             self.latency[rows])  # fmt: skip


def update(conn: Connection, model_name: str | None = None) -> int:
    """Bring model_performance up to date for one model's versions or every one's, in the
    caller's transaction (committed by the caller); how many windows were (re)computed."""
    changed = conn.execute(QUERIES["changed_versions"], {"model_name": model_name}).fetchall()
    if not changed:
        return 0
    params = {"names": [n for n, _ in changed], "versions": [v for _, v in changed]}
    stored = _stored(conn, params)
    written = 0
    with conn.cursor(binary=True) as cursor:
        for name, version, *columns in cursor.execute(QUERIES["version_signals"], params):
            windows = _window_rows(_arrays(columns), stored.get((name, version), {}))
            rows = [_keyed(name, version, row) for row in windows]
            conn.cursor().executemany(QUERIES["upsert_window"], rows)
            written += len(rows)
    return written


def _keyed(name: str, version: int, row: dict[str, Any]) -> dict[str, Any]:
    return {"model_name": name, "model_version": version, **row}


WindowKey = tuple[int, str, int]  # chart (0: all), kind, window start in microseconds
Stored = dict[tuple[str, int], dict[WindowKey, int]]  # by version: when each was computed


def _stored(conn: Connection, params: dict[str, Any]) -> Stored:
    found: Stored = {}
    rows = conn.execute(QUERIES["stored_windows"], params)
    for name, version, chart, kind, start, computed in rows:
        found.setdefault((name, version), {})[(chart, kind, start)] = computed
    return found


def _arrays(columns: list[list[Any]]) -> VersionSignals:
    charts, times, changed, rr, proba, latency = columns
    floats = (np.array(c, dtype=np.float64) for c in (rr, proba, latency))
    return VersionSignals(np.array(charts, dtype=np.int64),
                          np.array(times, dtype=np.int64).astype("M8[us]"),
                          np.array(changed, dtype=np.int64), *floats)  # fmt: skip


def _window_rows(signals: VersionSignals, stored: dict[WindowKey, int]) -> Iterator[dict[str, Any]]:
    """The figures of each window holding a signal changed since its row was computed."""
    for kind in KINDS:
        starts = window_starts(signals.time, kind).astype(np.int64)
        for chart in (signals.chart_id, np.zeros_like(signals.chart_id)):
            for (chart_id, start), rows in _groups(chart, starts):
                computed = stored.get((chart_id, kind, start))
                if computed is not None and signals.changed[rows].max() <= computed:
                    continue
                yield _row(signals, rows, chart_id, kind, start)


def _groups(chart: Micros, start: Micros) -> Iterator[tuple[tuple[int, int], Micros]]:
    """The rows of each (chart, window start), in time order within each (a stable sort of
    rows in time order)."""
    order = np.lexsort((start, chart))
    key_chart, key_start = chart[order], start[order]
    cut = np.flatnonzero((np.diff(key_chart) != 0) | (np.diff(key_start) != 0)) + 1
    bounds = np.concatenate([[0], cut, [len(order)]]).tolist()
    for lo, hi in pairwise(bounds):
        yield (int(key_chart[lo]), int(key_start[lo])), order[lo:hi]


def window_starts(time: npt.NDArray[np.datetime64], kind: str) -> npt.NDArray[np.datetime64]:
    """Each bar's window's start: its UTC day, its week's Monday, its month's first day,
    or 1970-01-01 for 'all'."""
    days = time.astype("M8[D]")
    if kind == "day":
        return days.astype("M8[us]")
    if kind == "week":  # 1970-01-01 was a Thursday: 3 days after a Monday
        return (days - (days.astype(np.int64) + 3) % 7).astype("M8[us]")
    if kind == "month":
        return time.astype("M8[M]").astype("M8[us]")
    return np.full(len(time), EPOCH)


def window_end(start: np.datetime64, kind: str) -> np.datetime64 | None:
    """The window's exclusive end; None for 'all'."""
    if kind == "all":
        return None
    if kind == "month":
        end: np.datetime64 = (start.astype("M8[M]") + 1).astype("M8[us]")
        return end
    end = start + np.timedelta64(1 if kind == "day" else 7, "D").astype("m8[us]")
    return end


def _row(signals: VersionSignals, rows: Micros, chart_id: int, kind: str,
         start: int) -> dict[str, Any]:  # fmt: skip
    first = np.datetime64(start, "us")
    end = window_end(first, kind)
    found = figures(signals.window(rows))
    return {**found, "reliability": Jsonb(found["reliability"]),
            "chart_id": None if chart_id == ALL_CHARTS else chart_id, "window_kind": kind,
            "window_start": _utc(first), "window_end": None if end is None else _utc(end),
            "first_signal": _utc(signals.time[rows[0]]),
            "last_signal": _utc(signals.time[rows[-1]])}  # fmt: skip


def _utc(time: np.datetime64) -> datetime:
    return datetime.fromtimestamp(int(time.astype("M8[us]").astype(np.int64)) / 1e6, UTC)


@dataclass(frozen=True)
class VersionReport:
    """A version's overall figures: its 'all' window and its newest windows of one kind."""

    model_name: str
    model_version: int
    overall: dict[str, Any]
    windows: list[dict[str, Any]]


def report(conn: Connection, model_name: str | None = None, window_kind: str = "week",
           newest: int = 4) -> list[VersionReport]:  # fmt: skip
    """The stored overall figures of every version (of one model, or all), by version."""
    params = {"model_name": model_name, "window_kind": window_kind, "newest": newest}
    found: dict[tuple[str, int], VersionReport] = {}
    for row in conn.cursor(row_factory=dict_row).execute(QUERIES["overall_windows"], params):
        for hidden in ("id", "rank", "chart_id"):
            del row[hidden]
        key = (row["model_name"], row["model_version"])
        entry = found.setdefault(key, VersionReport(*key, {}, []))
        if row["window_kind"] == "all":
            entry.overall.update(row)
        else:
            entry.windows.append(row)
    return list(found.values())
