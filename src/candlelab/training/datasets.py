"""Datasets: a feature-set version, a target definition, charts and a time range, read
straight from the feature store and the candles, and versioned by what they hold.

The version hashes the definition (feature-set and target versions, charts, range) with
the data itself: a digest of every candle read (chart, time, OHLCV), the id and version
of every span a person judged, and the digest of the labels taught. Over whole charts,
with a target of the market, the candles' digest is made from the hash sums stored
beside the feature blocks (training/candle_digests.py), so the candles are not read;
otherwise (a time range cuts blocks, a spans target reads the candles anyway) it hashes
the candles read. Unchanged data makes
the same version again; one edited span or corrected bar makes a new one. The `datasets`
table keeps each version once, with its row count, class counts and the digest of its
per-row labels, so a later re-read can prove it is the same data. The rows themselves are
not copied.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from itertools import groupby
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg.types.json import Jsonb

from candlelab.errors import DatasetError, NotFound
from candlelab.features.builds import chart_builds
from candlelab.features.reading import FeatureMatrix, block_candles, read_features
from candlelab.features.registry import StoredSet
from candlelab.market.candles import packed_candles
from candlelab.market.charts import all_charts
from candlelab.market.quality import utc_datetime
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.barriers import Prices
from candlelab.training.candle_digests import stored_candles_digest
from candlelab.training.estimators import MATRIX
from candlelab.training.span_labels import LabelledSpan
from candlelab.training.target_blocks import kept_for, kept_training_set
from candlelab.training.target_values import ChartSpans, TargetValues, target_values
from candlelab.training.targets import TargetDefinition

QUERIES = load_queries(__file__)


@dataclass(frozen=True)
class DatasetRequest:
    features: StoredSet
    target: TargetDefinition
    chart_ids: tuple[int, ...]
    start: datetime | None = None
    end: datetime | None = None

    def definition(self) -> dict[str, Any]:
        return {
            "features": {"set": self.features.label, "hash": self.features.version_hash},
            "target": {**self.target.canonical(), "hash": self.target.version_hash},
            "charts": sorted(self.chart_ids),
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class Dataset:
    """The rows read (every bar of the range), their target values, and the evidence."""

    request: DatasetRequest
    matrix: FeatureMatrix
    values: TargetValues
    spans: tuple[tuple[int, int], ...]  # (id, version) of every judged span (not proposals)
    candles_digest: str

    @cached_property
    def taught(self) -> npt.NDArray[np.int64]:
        """The rows whose target is known: the training rows."""
        return np.flatnonzero(self.values.known)

    @cached_property
    def span(self) -> tuple[datetime | None, datetime | None]:
        """The first and last taught bar (None, None when nothing is taught)."""
        times = self.matrix.time[self.taught]
        if not len(times):
            return None, None
        return utc_datetime(times.min()), utc_datetime(times.max())

    @cached_property
    def label_digest(self) -> str:
        y = np.where(self.values.known, self.values.y, np.nan)  # one NaN bit pattern
        return _sha256([y, self.values.judged_to])

    @cached_property
    def version(self) -> str:
        # The labels' digest too: a proposal waiting for review takes its bars out of
        # what is taught, which the judged spans alone would not show.
        evidence = {**self.request.definition(), "candles": self.candles_digest,
                    "spans": [list(s) for s in self.spans],
                    "labels": self.label_digest}  # fmt: skip
        text = json.dumps(evidence, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def chart_selection(conn: Connection, stored: StoredSet, chart_ids: Sequence[int] = (),
                    symbols: Sequence[str] = ()) -> tuple[int, ...]:  # fmt: skip
    """The charts asked for by id and by symbol pattern (shell-style, any case: 'BTC*');
    none asked for: every chart the feature set is built on. A pattern or id that finds
    no chart is refused."""
    charts = {c.id: c for c in all_charts(conn)}
    if not chart_ids and not symbols:
        return tuple(sorted(b.chart_id for b in chart_builds(conn, stored)))
    chosen = set()
    for chart_id in chart_ids:
        if chart_id not in charts:
            raise NotFound(f"no chart {chart_id}; `candlelab charts` lists them")
        chosen.add(chart_id)
    for pattern in symbols:
        found = {i for i, c in charts.items() if fnmatch.fnmatchcase(c.symbol, pattern.upper())}
        if not found:
            raise NotFound(f"--symbol {pattern!r} matches no chart's symbol")
        chosen |= found
    return tuple(sorted(chosen))


def assemble_dataset(url: str, request: DatasetRequest) -> Dataset:
    """The dataset's rows and targets; refused when the feature set is not built and
    current on every chart, or when nothing would be taught."""
    with connect(url) as conn:
        check_materialised(conn, request)
        spans = _teaching_spans(conn, request) if request.target.kind == "spans" else []
    matrix, values, digest = _read(url, request, spans)
    judged = tuple((s.id, s.version) for _, s, _ in spans if s.status != "proposed")
    dataset = Dataset(request, matrix, values, judged, digest)
    _check_teaches(dataset)
    return dataset


def check_materialised(conn: Connection, request: DatasetRequest) -> None:
    """Every chart has a current build of the feature set over the range."""
    check_built(conn, request.features, request.chart_ids, request.end)


def check_built(conn: Connection, features: StoredSet, chart_ids: Sequence[int],
                end: datetime | None) -> None:  # fmt: skip
    """Every chart has a build of `features` that is not stale and reaches `end` (None:
    the chart's newest bar)."""
    builds = {b.chart_id: b for b in chart_builds(conn, features)}
    build_command = f"candlelab features build {features.label}"
    for chart_id in chart_ids:
        build = builds.get(chart_id)
        if build is None:
            problem = "is not built"
        elif build.stale_from is not None:
            problem = f"is stale from {build.stale_from.isoformat()} (bars changed since)"
        elif build.behind and (end is None or end > build.last_bar):
            problem = f"ends at {build.last_bar.isoformat()}, before the chart's newest bar"
        else:
            continue
        raise DatasetError(f"feature set {features.label} {problem} on chart "
                           f"{chart_id}; run `{build_command} --chart {chart_id}`")  # fmt: skip


def record_dataset(conn: Connection, dataset: Dataset) -> None:
    """The version's row in `datasets` (kept as first recorded: same version, same data)."""
    conn.execute(QUERIES["record_dataset"], {
        "version": dataset.version, "feature_set_id": dataset.request.features.id,
        "target_hash": dataset.request.target.version_hash,
        "definition": Jsonb(dataset.request.definition()),
        "chart_ids": sorted(dataset.request.chart_ids),
        "data_start": dataset.span[0], "data_end": dataset.span[1],
        "rows": len(dataset.taught), "classes": list(dataset.values.classes),
        "class_counts": Jsonb(_counts(dataset.values)),
        "ambiguous": int(dataset.values.ambiguous[dataset.taught].sum()),
        "candles_digest": dataset.candles_digest, "label_digest": dataset.label_digest,
        "spans": Jsonb([list(s) for s in dataset.spans]),
    })  # fmt: skip


@dataclass(frozen=True)
class RecordedDataset:
    version: str
    feature_set_id: int
    target_hash: str
    definition: dict[str, Any]
    chart_ids: list[int]
    data_start: datetime | None
    data_end: datetime | None
    rows: int
    classes: list[str]
    class_counts: dict[str, int]
    ambiguous: int
    candles_digest: str
    label_digest: str
    created_at: datetime

    def proves(self, dataset: Dataset) -> bool:
        """Whether `dataset`, read again, holds the recorded candles and labels."""
        return (self.version, self.candles_digest, self.label_digest) == (
            dataset.version, dataset.candles_digest, dataset.label_digest)  # fmt: skip


def recorded_dataset(conn: Connection, version: str) -> RecordedDataset | None:
    row = conn.execute(QUERIES["dataset"], {"version": version}).fetchone()
    return RecordedDataset(*row) if row else None


def _teaching_spans(
    conn: Connection, request: DatasetRequest
) -> list[tuple[int, LabelledSpan, int]]:
    """(chart id, span, its label's direction) of the spans that can teach."""
    rows = conn.execute(QUERIES["teaching_spans"], {"chart_ids": list(request.chart_ids)})
    found = []
    for chart_id, span_id, version, label, direction, start, end, status, updated in rows:
        span = LabelledSpan(span_id, version, label, start, end, status, updated)
        found.append((chart_id, span, direction))
    return found


Spans = Sequence[tuple[int, LabelledSpan, int]]  # (chart id, span, its label's direction)


def _read(url: str, request: DatasetRequest,
          spans: Spans) -> tuple[FeatureMatrix, TargetValues, str]:  # fmt: skip
    """The feature matrix, the target values and the candles' digest: read with the
    values kept beside the blocks where the target's values are kept (`target_blocks`),
    the digest from the blocks' hash sums. Else the candles are read and judged in a
    thread, on a connection of their own, while the feature blocks are read: the candles
    stored beside the blocks are a small read, and the targets are computed while the
    server still sends the features."""
    kept_target = kept_for(request.target, request.start, request.end)
    if kept_target:
        kept = kept_training_set(url, request.features, request.chart_ids, request.target)
        if kept is not None:
            return kept.matrix, kept.values, kept.candles_digest
    matrix, values = _read_candles(url, request, spans)
    if not kept_target:
        return matrix, values, _candles_sha256(matrix)
    # A block without candles (a build gone stale since it was checked): the digest as
    # a kept read makes it, that the same bars make the same version.
    with connect(url) as conn:
        digest = stored_candles_digest(conn, request.features.id, request.chart_ids)
    return matrix, values, digest


def _read_candles(url: str, request: DatasetRequest,
                  spans: Spans) -> tuple[FeatureMatrix, TargetValues]:  # fmt: skip
    """The feature matrix with its candles, and their target values."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        judged = pool.submit(_judged_candles, url, request, spans)
        matrix = read_features(url, request.features, request.chart_ids, request.start,
                               request.end, dtype=MATRIX)  # fmt: skip
        candles, values = judged.result()
    if np.array_equal(candles["chart_id"], matrix.chart_id) and np.array_equal(
        candles["time"], matrix.time
    ):
        return replace(matrix, candles=candles), values
    # Values on only some of the bars (the candles changed between the two reads): the
    # reader aligns the candles with the values, and the targets are those bars'.
    matrix = read_features(url, request.features, request.chart_ids, request.start,
                           request.end, with_candles=True, dtype=MATRIX)  # fmt: skip
    return matrix, _values(request.target, matrix.candles or {}, spans)


def _candles_sha256(matrix: FeatureMatrix) -> str:
    """The digest of the candles read: chart, time and OHLCV of every row, in order."""
    candles = matrix.candles or {}
    arrays = [matrix.chart_id, matrix.time.view(np.int64)]
    arrays += [candles[c] for c in ("open", "high", "low", "close", "volume")]
    return _sha256(arrays)


def _judged_candles(url: str, request: DatasetRequest,
                    spans: Spans) -> tuple[dict[str, npt.NDArray[Any]], TargetValues]:  # fmt: skip
    """The candles of the request's bars (chart, time, OHLCV) and their target values:
    those stored beside the feature blocks, or, where a block has none, the table's."""
    candles = block_candles(url, request.features, request.chart_ids, request.start,
                            request.end)  # fmt: skip
    if candles is None:
        candles = packed_candles(url, request.chart_ids, request.start, request.end)
    return candles, _values(request.target, candles, spans)


def _values(target: TargetDefinition, candles: dict[str, npt.NDArray[Any]],
            spans: Spans) -> TargetValues:  # fmt: skip
    """The target's values on bars given by their candles (chart_id, time, OHLC)."""
    chart_id, time = candles["chart_id"], candles["time"]
    prices = Prices.of(chart_id, candles["open"], candles["high"], candles["low"],
                       candles["close"])  # fmt: skip
    by_chart = {chart: [s for _, s, _ in group] for chart, group in groupby(spans, lambda s: s[0])}
    charts = []
    for first in prices.starts:
        times = time[int(first) : int(prices.ends[first])]
        charts.append(ChartSpans(times, by_chart.get(int(chart_id[first]), [])))
    directions = {s.label: direction for _, s, direction in spans}
    return target_values(target, prices, charts, directions)


def _check_teaches(dataset: Dataset) -> None:
    """Something to learn: labelled bars of at least two classes (or values to regress)."""
    values, where = dataset.values, _where(dataset.request)
    if not values.known.any():
        hint = " (no accepted spans cover them)" if dataset.request.target.kind == "spans" else ""
        raise DatasetError(f"no labelled bars in {where}{hint}")
    if values.classes and sum(1 for n in _counts(values).values() if n) < 2:
        only = next(name for name, n in _counts(values).items() if n)
        raise DatasetError(f"every labelled bar in {where} is {only!r}: a model needs two classes")


def _counts(values: TargetValues) -> dict[str, int]:
    return values.class_counts() if values.classes else {"rows": int(values.known.sum())}


def _where(request: DatasetRequest) -> str:
    charts = ", ".join(map(str, request.chart_ids))
    since = f" from {request.start.isoformat()}" if request.start else ""
    until = f" until {request.end.isoformat()}" if request.end else ""
    return f"chart {charts}{since}{until}"


def _sha256(arrays: Sequence[npt.NDArray[Any]]) -> str:
    """The digest of the arrays' bytes, one after the other, hashed where they lie (a
    `tobytes` copy wrote as much fresh memory again)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)
    return digest.hexdigest()
