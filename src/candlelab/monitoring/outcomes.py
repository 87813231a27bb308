"""Outcomes: every matured signal judged under its model version's target definition.

A version's target is the one its training run's dataset recorded (`training_runs` →
`datasets.definition`), so a signal is judged as training labelled and scored its bars
(`judgement`). Signals still to judge are those with no `evaluated_at`: never judged, or
voided since by a bar written at or before the last bar their judgement read (a
correction, a backfill, a deletion: `mark_outcomes_stale` in the loading transaction).
Judging them again is what `candlelab evaluate` does; a judged signal is never touched,
so a re-run writes nothing. They are found from `outcome_queue`: per chart and version,
the bar from which its signals may be pending (added by the insert of signals and by
voiding).

Charts are judged in batches, each batch one transaction: the charts' load locks taken
(a chart being loaded is skipped, `chart busy`, and judged by the next run), the batch's
queue rows and pending signals read, each chart's candles read once (one read for the
batch, on its connection), judged with NumPy per chart and version, the judgements
written through a staging table filled by one binary COPY (an update in place: no index
holds a column it writes), and the queue rows read replaced by one per chart for the
signals left pending. A batch is written while the next is judged, on a second
connection. An interrupted run keeps the batches it committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import groupby
from typing import Any

import numpy as np
import numpy.typing as npt

from candlelab.errors import InvalidTarget, NotFound
from candlelab.market.calendars import CONTINUOUS
from candlelab.market.candles import LOCK_CLASS
from candlelab.market.charts import Chart, all_charts
from candlelab.market.quality import missing_bars, utc_datetime
from candlelab.market.timeframes import Timeframe
from candlelab.monitoring.judgement import (
    NOT_MATURED,
    OUTCOMES,
    SKIPS,
    STORED,
    VERDICTS,
    WITHOUT_TRADE,
    ChartBars,
    Verdicts,
    judge,
)
from candlelab.store.binary_copy import POSTGRES_EPOCH, CopyColumn, binary_copy_buffer
from candlelab.store.database import Connection, connect
from candlelab.store.queries import load_queries
from candlelab.training.targets import DIRECTIONAL, TargetDefinition, target_definition

QUERIES = load_queries(__file__)
CHARTS_PER_BATCH = 20
NO_TARGET, CHART_BUSY = "no target", "chart busy"  # skipped before any judgement
SKIPPED = (*SKIPS, NO_TARGET, CHART_BUSY)
SIDES = dict(zip(DIRECTIONAL, (-1, 0, 1), strict=True))  # barrier and return targets
Times = npt.NDArray[np.datetime64]


@dataclass(frozen=True)
class EvaluationReport:
    """How many signals took each verdict (VERDICTS and SKIPPED words), over `charts`."""

    charts: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: EvaluationReport) -> EvaluationReport:
        return EvaluationReport(self.charts + other.charts,
                                dict(Counter(self.counts) + Counter(other.counts)))  # fmt: skip

    def of(self, words: Sequence[str]) -> dict[str, int]:
        return {word: self.counts.get(word, 0) for word in words}

    @property
    def judged(self) -> int:
        return sum(self.of(OUTCOMES).values())

    def summary(self) -> dict[str, Any]:
        return {"charts": self.charts, "judged": self.judged, "outcomes": self.of(OUTCOMES),
                "ambiguous": self.counts.get("ambiguous", 0),
                "without_trade": self.of(WITHOUT_TRADE), "skipped": self.of(SKIPPED)}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """The charts to judge (a signal there may have matured), and the signals of the other
    charts with signals to judge: none can have matured, their candles are not read."""

    charts: list[int]
    waiting: EvaluationReport


def plan(conn: Connection, model_name: str | None = None,
         chart_ids: Sequence[int] = ()) -> Plan:  # fmt: skip
    """What a run has to judge, of the model and charts named (all if none); a model or
    chart that does not exist is refused. Read from the queue, per chart and version:
    the signals of a chart none of whose versions' least queued bar is a horizon before
    its newest bar are only counted."""
    _check_names(conn, model_name, chart_ids)
    params = {"model_name": model_name, "chart_ids": list(chart_ids) or None}
    targets, ready, queued = Targets(conn), set[int](), set[int]()
    for chart_id, name, version, since, newest, timeframe in conn.execute(
        QUERIES["pending_versions"], params
    ):
        definition = targets.definition(name, version)
        horizon = definition.judgement.horizon if definition else 0  # no target: say so
        if newest is not None and newest >= since + _shortest(timeframe, horizon):
            ready.add(chart_id)
        queued.add(chart_id)
    idle = sorted(queued - ready)
    params["chart_ids"] = idle
    row = conn.execute(QUERIES["waiting_signals"], params).fetchone() if idle else None
    not_matured = {VERDICTS[NOT_MATURED]: int(row[0])} if row and row[0] else {}
    return Plan(sorted(ready), EvaluationReport(len(idle), not_matured))


def _shortest(timeframe: str, bars: int) -> timedelta:
    """The least time `bars` bars can span: a day's bar can last 23 hours (a change of
    clock), so longer bars count 9/10 of their shortest length, whatever their calendar."""
    length = Timeframe.parse(timeframe)
    micros = length.micros if length.intraday and length.micros else 0.9 * length.shortest
    return timedelta(microseconds=bars * micros)


def _check_names(conn: Connection, model_name: str | None, chart_ids: Sequence[int]) -> None:
    if model_name is not None:
        known = conn.execute(QUERIES["known_model"], {"model_name": model_name}).fetchone()
        if not known or not known[0]:
            raise NotFound(f"no model {model_name!r} has signals or a training run; "
                           "`candlelab models list` names the models")  # fmt: skip
    charts = {chart.id for chart in all_charts(conn)}
    for chart_id in chart_ids:
        if chart_id not in charts:
            raise NotFound(f"no chart {chart_id}; `candlelab charts` lists them")


def evaluate(url: str, chart_ids: Sequence[int],
             model_name: str | None = None) -> Generator[EvaluationReport, None, None]:  # fmt: skip
    """Judge the charts' pending signals (of one model, or every one), a batch of charts a
    transaction; each batch's report once it is committed. Closed early (an interrupt),
    it lets the batch being written commit, rolls back the one being judged and keeps
    those committed.

    Two connections take turns: while one batch's judgements are written and committed
    (the server's work, in a thread that waits on it), the next batch is read and judged
    on the other. The batches lock different charts, so they touch different rows."""
    with connect(url) as catalog, connect(url) as one, connect(url) as two:
        charts = {chart.id: chart for chart in all_charts(catalog)}
        targets, turns = Targets(catalog), (one, two)
        # Leaving the executor waits for the write in flight, before its connection closes.
        with ThreadPoolExecutor(max_workers=1) as writing:
            written: Future[EvaluationReport] | None = None
            for turn, first in enumerate(range(0, len(chart_ids), CHARTS_PER_BATCH)):
                batch = [charts[c] for c in chart_ids[first : first + CHARTS_PER_BATCH]]
                judged = _judge_batch(turns[turn % 2], batch, targets, model_name)
                if written is not None:
                    yield written.result()
                written = writing.submit(judged.commit)
            if written is not None:
                yield written.result()


def judge_all(url: str, model_name: str | None = None,
              chart_ids: Sequence[int] = ()) -> EvaluationReport:  # fmt: skip
    """`plan` then `evaluate` to the end, without progress: the whole run's report (what
    the workers' scheduled check and the demo do; `candlelab evaluate` shows a bar)."""
    with connect(url) as conn:
        planned = plan(conn, model_name, chart_ids)
    report = planned.waiting
    for done in evaluate(url, planned.charts, model_name):
        report += done
    return report


class Targets:
    """Each model version's target definition and its classes' sides, read once a run."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.found: dict[tuple[str, int], TargetDefinition | None] = {}
        rows = conn.execute(QUERIES["label_directions"]).fetchall()
        self.label_sides = {str(name): int(direction) for name, direction in rows}

    def definition(self, model_name: str, version: int) -> TargetDefinition | None:
        key = (model_name, version)
        if key not in self.found:
            params = {"model_name": model_name, "model_version": version}
            row = self.conn.execute(QUERIES["version_target"], params).fetchone()
            self.found[key] = None if row is None else _definition(row[0])
        return self.found[key]

    def sides(self, definition: TargetDefinition, preds: Sequence[str]) -> npt.NDArray[np.int64]:
        """Each predicted class's side: a word the target does not know takes none (0)."""
        known = self.label_sides if definition.kind == "spans" else SIDES
        return np.array([known.get(pred, 0) for pred in preds], dtype=np.int64)


def _definition(recorded: dict[str, Any]) -> TargetDefinition | None:
    """The recorded definition; None when this candlelab cannot read it (a key of another
    version): its signals are skipped as having no target, not judged by other rules."""
    try:
        return target_definition({k: v for k, v in recorded.items() if k != "hash"})
    except InvalidTarget:
        return None


PENDING = np.dtype([("id", ">i8"), ("time", ">i8")])  # pending_signals' packed signals


@dataclass(frozen=True)
class VersionSignals:
    """One chart's signals of one model version still to judge: ids and bar opens, and
    each one's class as an index into `words`."""

    chart_id: int
    model_name: str
    model_version: int
    id: npt.NDArray[np.int64]
    time: Times
    words: list[str]
    word: npt.NDArray[np.int64]

    @classmethod
    def of(cls, rows: list[tuple[Any, ...]]) -> VersionSignals:
        """From pending_signals' rows of one chart and version (a row per class)."""
        packed = [np.frombuffer(row[5], dtype=PENDING) for row in rows]
        both = np.concatenate(packed)
        micros = both["time"].astype(np.int64).astype("m8[us]")
        word = np.repeat(np.arange(len(rows)), [len(p) for p in packed])
        chart_id, name, version = rows[0][0], rows[0][2], rows[0][3]
        return cls(chart_id, name, version, both["id"].astype(np.int64),
                   POSTGRES_EPOCH + micros, [row[4] for row in rows], word)  # fmt: skip


@dataclass(frozen=True)
class Pending:
    """A batch's signals still to judge, by chart and version, of every model, and the
    queue rows read with them, by chart."""

    versions: list[VersionSignals]
    queued: dict[int, list[int]]

    @classmethod
    def read(cls, conn: Connection, chart_ids: Sequence[int]) -> Pending:
        with conn.cursor(binary=True) as cursor:
            rows = cursor.execute(QUERIES["pending_signals"], {"chart_ids": list(chart_ids)})
            found = rows.fetchall()
        queued = {int(row[0]): list(row[1]) for row in found}
        signals = [row for row in found if row[2] is not None]
        runs = groupby(signals, key=lambda row: (row[0], row[2], row[3]))
        return cls([VersionSignals.of(list(run)) for _, run in runs], queued)

    def of(self, model_name: str | None) -> list[VersionSignals]:
        """The versions of the model (all if None)."""
        return [v for v in self.versions if model_name in (None, v.model_name)]


@dataclass(frozen=True)
class JudgedBatch:
    """A batch judged on its connection, its locks held: what `commit` writes."""

    conn: Connection
    report: EvaluationReport
    writer: OutcomeWriter
    queue: QueueSettlement

    def commit(self) -> EvaluationReport:
        """The judgements and the queue's settlement written, the transaction committed."""
        self.writer.write()
        self.queue.write(self.conn)
        self.conn.commit()
        return self.report


def _judge_batch(conn: Connection, charts: list[Chart], targets: Targets,
                 model_name: str | None) -> JudgedBatch:  # fmt: skip
    params = {"chart_ids": [c.id for c in charts], "lock_class": LOCK_CLASS}
    locked = {row[0] for row in conn.execute(QUERIES["lock_charts"], params)}
    pending = Pending.read(conn, [c.id for c in charts])
    mine = pending.of(model_name)
    counts: Counter[str] = Counter()
    counts[CHART_BUSY] = sum(len(v.id) for v in mine if v.chart_id not in locked)
    # A chart judged by another run since the batch was chosen has nothing pending.
    firsts = _first_signals([v for v in mine if v.chart_id in locked])
    bars = _chart_bars(conn, [c for c in charts if c.id in firsts], firsts)
    writer, queue = OutcomeWriter(conn), QueueSettlement(locked, pending)
    for signals in pending.versions:
        if signals.chart_id not in locked:
            continue
        if model_name not in (None, signals.model_name):  # another model's: left as they were
            queue.left(signals, signals.time)
            continue
        definition = targets.definition(signals.model_name, signals.model_version)
        if definition is None:
            counts[NO_TARGET] += len(signals.id)
            queue.left(signals, signals.time)
            continue
        sides = targets.sides(definition, signals.words)[signals.word]
        verdicts = judge(bars[signals.chart_id], signals.time, sides, definition.judgement)
        counts.update(_tally(verdicts))
        writer.add(signals.id, verdicts)
        queue.judged(signals, verdicts)
    return JudgedBatch(conn, EvaluationReport(len(charts), +counts), writer, queue)


def _tally(verdicts: Verdicts) -> Counter[str]:
    """How many signals took each verdict."""
    found = np.bincount(verdicts.verdict, minlength=len(VERDICTS)).tolist()
    return Counter(dict(zip(VERDICTS, found, strict=True)))


def _first_signals(versions: list[VersionSignals]) -> dict[int, np.datetime64]:
    """Each chart's first signal to judge."""
    firsts: dict[int, np.datetime64] = {}
    for v in versions:
        first = v.time.min()
        firsts[v.chart_id] = min(firsts.get(v.chart_id, first), first)
    return firsts


class QueueSettlement:
    """What a batch leaves in `outcome_queue` for its locked charts: the rows it read go,
    a row per chart from its first signal left pending comes, and the reach of the
    judgements it wrote (`judged_to` - bar) widens the chart's."""

    def __init__(self, locked: set[int], pending: Pending) -> None:
        self.read = [i for chart, ids in pending.queued.items() if chart in locked for i in ids]
        self.since: dict[tuple[int, str, int], np.datetime64] = {}
        self.reach: dict[int, np.timedelta64] = {}

    def left(self, signals: VersionSignals, times: Times) -> None:
        """Of a chart's signals of one version, those at `times` left pending."""
        if len(times):
            self.since[signals.chart_id, signals.model_name, signals.model_version] = times.min()

    def judged(self, signals: VersionSignals, verdicts: Verdicts) -> None:
        stored, times, chart_id = verdicts.verdict < STORED, signals.time, signals.chart_id
        self.left(signals, times[~stored])
        spans = (verdicts.judged_to - times)[stored & ~np.isnat(verdicts.judged_to)]
        if len(spans):
            widest = spans.max()
            self.reach[chart_id] = max(self.reach.get(chart_id, widest), widest)

    def write(self, conn: Connection) -> None:
        if not (self.read or self.since or self.reach):
            return
        micros = [int(r.astype("m8[us]").astype(np.int64)) for r in self.reach.values()]
        charts, names, versions = zip(*self.since, strict=True) if self.since else ((), (), ())
        params = {"read": self.read, "charts": list(charts), "names": list(names),
                  "versions": list(versions),
                  "since": [utc_datetime(t) for t in self.since.values()],
                  "judged": list(self.reach), "reach": micros}  # fmt: skip
        conn.execute(QUERIES["settle_queue"], params)


# A bar as chart_bars packs it: µs since 2000, then open, high, low and close.
BAR = np.dtype([("time", ">i8"), ("open", ">f8"), ("high", ">f8"), ("low", ">f8"),
                ("close", ">f8")])  # fmt: skip


def _chart_bars(conn: Connection, charts: list[Chart],
                firsts: dict[int, np.datetime64]) -> dict[int, ChartBars]:  # fmt: skip
    """Each chart's bars, read in one go for the charts on the batch's connection, and
    the bars its calendar expects from its first signal to judge on that it lacks."""
    packed = {chart.id: (0, b"") for chart in charts}
    with conn.cursor(binary=True) as cursor:
        found = cursor.execute(QUERIES["chart_bars"], {"chart_ids": list(packed)})
        packed |= {int(chart_id): (count, bars) for chart_id, count, bars in found}
    return {chart.id: _bars(chart, *packed[chart.id], firsts[chart.id]) for chart in charts}


def _bars(chart: Chart, count: int, packed: bytes, first: np.datetime64) -> ChartBars:
    rows = np.frombuffer(packed, dtype=BAR)
    if len(rows) != count:  # string_agg skips a bar with a NULL price
        raise ValueError(f"chart {chart.id}: {count} bars counted, {len(rows)} packed")
    time = POSTGRES_EPOCH + rows["time"].astype(np.int64).astype("m8[us]")
    o, h, low, c = (rows[name].astype(np.float64) for name in ("open", "high", "low", "close"))
    return ChartBars(time, o, h, low, c, _missing(chart, time, first))


def _missing(chart: Chart, times: Times, first: np.datetime64) -> Times:
    if not len(times) or first > times[-1] or _unbroken(chart, times, first):
        return np.zeros(0, dtype="M8[us]")
    return missing_bars(chart, times, first, times[-1]).astype("M8[us]")


def _unbroken(chart: Chart, times: Times, first: np.datetime64) -> bool:
    """Whether a 24/7 chart of bars of one fixed length (minutes and hours, or days and
    weeks in UTC) holds every bar from `first` on: it does when they follow each other a
    bar apart. Asking the calendar cost 2.6 ms a chart, as much as judging its signals."""
    timeframe = Timeframe.parse(chart.timeframe)
    fixed = timeframe.intraday or chart.timezone == "UTC"
    if chart.calendar != CONTINUOUS or not fixed or timeframe.micros is None:
        return False
    held = times[np.searchsorted(times, first) :]
    step = np.timedelta64(timeframe.micros, "us")
    return bool(len(held) and held[0] == first and (np.diff(held) == step).all())


class OutcomeWriter:
    """A batch's judgements, gathered then written in one COPY and one UPDATE."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.parts: list[tuple[npt.NDArray[np.int64], Verdicts]] = []

    def add(self, ids: npt.NDArray[np.int64], verdicts: Verdicts) -> None:
        stored = verdicts.verdict < STORED
        if stored.any():
            self.parts.append((ids[stored], _taken(verdicts, stored)))

    def write(self) -> int:
        if not self.parts:
            return 0
        self.conn.execute(QUERIES["create_staged_outcomes"])
        with self.conn.cursor().copy(QUERIES["copy_staged_outcomes"]) as copy:
            copy.write(binary_copy_buffer(_columns(self.parts)))
        params = {"outcomes": list(OUTCOMES), "reasons": list(WITHOUT_TRADE)}
        return self.conn.execute(QUERIES["write_outcomes"], params).rowcount


def _taken(verdicts: Verdicts, rows: npt.NDArray[np.bool_]) -> Verdicts:
    return Verdicts(*(getattr(verdicts, f)[rows] for f in Verdicts.__dataclass_fields__))


def _columns(parts: list[tuple[npt.NDArray[np.int64], Verdicts]]) -> list[CopyColumn]:
    """The staged_outcomes columns: an outcome's index, or a reason's counted after them."""
    ids = np.concatenate([ids for ids, _ in parts])
    v = Verdicts(*(np.concatenate([getattr(p, f) for _, p in parts])
                   for f in Verdicts.__dataclass_fields__))  # fmt: skip
    outcome = v.verdict < len(OUTCOMES)
    return [
        CopyColumn("bigint", ids),
        CopyColumn("bigint", v.verdict, ~outcome),
        CopyColumn("bigint", v.verdict - len(OUTCOMES), outcome),
        CopyColumn("double precision", v.realized_rr, np.isnan(v.realized_rr)),
        CopyColumn("bigint", v.held, v.held < 0),
        CopyColumn("double precision", v.mae, np.isnan(v.mae)),
        CopyColumn("double precision", v.mfe, np.isnan(v.mfe)),
        CopyColumn("timestamptz", v.judged_to, np.isnat(v.judged_to)),
    ]
