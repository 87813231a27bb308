"""Ingest: candle files and frames into charts, validated, each input in one transaction.

For each input: read (`candle_files`), judge every row (`validation`), then either refuse
the input whole (too many problems, or any under --strict, or a conflict under
--on-conflict error) or write its good bars (`candles.load_bars`) in one transaction.
The report's counts always add up: loaded + updated + unchanged + rejected = rows read.
A new chart given no calendar gets the one its first input's bars point to, and the report
says so.

Small inputs are validated ahead in batches and committed in groups. A big one (more than
one chunk of `candle_files`) streams: each chunk is validated (in a thread, one chunk
ahead) and copied in, all inside the input's one transaction, so memory stays flat
whatever the file's size; the verdict (reject ratio, --strict) is over the whole input
and a refused input is rolled back whole, its new chart with it. Across chunks, rows that
go back in time are counted (the latest time is carried), and a time an earlier chunk
already had is found in a bitmap of the minutes seen (`_Seen`, at most a bit per minute
of the input's span). Such a repeat is rejected alone: as duplicate_identical when it
equals the bar stored for that time at that point, else duplicate_conflicting. Unlike a
conflicting repeat within one chunk, where every copy is rejected, the earlier copy,
already written, stays (the repeat still counts against the input, so --strict or the
ratio can refuse the whole input).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from candlelab.errors import ConflictingBars, InputError
from candlelab.market.calendar_inference import infer_calendar
from candlelab.market.candle_files import (
    MAX_EXPANDED,
    Limits,
    RawCandles,
    raw_from_frame,
    read_candle_file,
)
from candlelab.market.candles import PRICE_COLUMNS, LoadCounts, OnConflict, load_bars
from candlelab.market.charts import ChartKey, ensure_chart, set_calendar
from candlelab.market.file_formats import shown
from candlelab.market.resampling import refresh_derived
from candlelab.market.symbols import normalized_symbol
from candlelab.market.timeframes import Timeframe, checked_timezone
from candlelab.market.validation import (
    BENIGN,
    EARLIEST,
    EMPTY_REJECTIONS,
    Problem,
    Rules,
    Validated,
    validate,
    validate_many,
)
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)

EXAMPLES = 10
BATCH_ROWS = 250_000  # validated in one pass; big enough that Polars' per-call cost vanishes
BATCH_FILES = 200
FIRST_BATCH_ROWS = 5_000
GROUP_ROWS = 250_000  # inputs committed together, at most this many rows
GROUP_SECONDS = 1.0  # or this long


@dataclass(frozen=True)
class IngestOptions:
    """Where the bars go and how strictly they are judged."""

    symbol: str
    timeframe: Timeframe
    source: str = "file"
    format: str | None = None  # None: recognised from the name and the first line
    timezone: str = "UTC"  # the zone of naive times in the input
    chart_timezone: str = "UTC"
    calendar: str | None = None  # None: a new chart's is inferred from its first bars
    offset: str = "0m"
    on_conflict: OnConflict = "skip"
    max_reject_ratio: float = 0.01
    strict: bool = False
    allow_non_positive: bool = False
    keep_incomplete: bool = False
    now: datetime | None = None  # "now" for future and incomplete bars; the clock if None
    earliest: datetime = EARLIEST  # a bar before this is a problem (too_early_time)
    max_expanded: int = MAX_EXPANDED  # bytes a .gz or .zip may expand to

    def __post_init__(self) -> None:
        # The chart's rules hold before a row is read: a bad zone or offset would otherwise
        # surface as a Polars error from deep inside validation.
        object.__setattr__(self, "symbol", normalized_symbol(self.symbol))
        object.__setattr__(self, "offset", self.timeframe.bar_offset(self.offset))
        checked_timezone(self.timezone)
        checked_timezone(self.chart_timezone, "chart_timezone")

    @property
    def key(self) -> ChartKey:
        return ChartKey(self.symbol, self.timeframe.name, self.source)

    def rules(self, now: datetime | None = None) -> Rules:
        return Rules(
            timeframe=self.timeframe,
            timezone=self.timezone,
            chart_timezone=self.chart_timezone,
            offset=self.offset,
            allow_non_positive=self.allow_non_positive,
            keep_incomplete=self.keep_incomplete,
            now=self.now or now or datetime.now(UTC),
            earliest=self.earliest,
        )

    @property
    def limits(self) -> Limits:
        return Limits(max_expanded=self.max_expanded)


@dataclass
class IngestReport:
    """What happened to one input."""

    input: str
    format: str
    chart: str
    rows_read: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reordered: int = 0
    differing: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    refused: str | None = None
    calendar: str | None = None  # the chart's (None when refused before there was one)
    calendar_inferred: bool = False
    calendar_note: str = ""  # where the calendar came from, when the user did not say it
    seconds: float = 0.0
    rejections: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)

    @property
    def ok(self) -> bool:
        return self.refused is None

    def summary(self) -> dict[str, Any]:
        """The report without the full rejection table, for --json."""
        return {k: v for k, v in self.__dict__.items() if k != "rejections"}


def ingest_files(
    conn: Connection,
    paths: Iterable[Path],
    options: IngestOptions,
    on_report: Callable[[IngestReport], None] = lambda report: None,
    names: Mapping[Path, str] | None = None,
) -> list[IngestReport]:
    """Ingest every candle table in `paths` into one chart; see `ingest_jobs`."""
    return ingest_jobs(conn, ((path, options) for path in paths), on_report, names)


def ingest_jobs(
    conn: Connection,
    jobs: Iterable[tuple[Path, IngestOptions]],
    on_report: Callable[[IngestReport], None] = lambda report: None,
    names: Mapping[Path, str] | None = None,
) -> list[IngestReport]:
    """Ingest each (file, options) job: every candle table in it, one transaction each.

    Small inputs judged by the same rules are validated together, in a thread, while the
    previous ones are written: the database and the client work at the same time. A big
    input streams (see the module's note). Unreadable files, and files with no rows,
    raise. `names`: how a file is called in reports and errors, when not by its path (an
    upload's own name).
    """
    now = datetime.now(UTC)  # one "now" for the whole call, so rules compare equal
    reports: list[IngestReport] = []
    judged = _judged_ahead(jobs, now, names or {})
    for first in judged:
        group = _commit_group(conn, first, judged)
        reports += group
        for report in group:  # told once committed: a reported load is a durable one
            on_report(report)
    return reports


def _commit_group(conn: Connection, first: Judged, more: Iterator[Judged]) -> list[IngestReport]:
    """Store inputs, each in its own savepoint, under one commit, until the group is full.

    Each input still lands whole or not at all; what the group saves is a WAL flush per
    input, a fifth of the time of a first load of many small files.
    """
    started = time.monotonic()
    with translated(), conn.transaction():
        group = [_store(conn, *first)]
        rows = group[0].rows_read
        for item in more:
            group.append(_store(conn, *item))
            rows += group[-1].rows_read
            if rows >= GROUP_ROWS or time.monotonic() - started >= GROUP_SECONDS:
                break
    return group


@dataclass(frozen=True)
class _Streamed:
    """The verdict of a big input: to be judged as it is written. The worker reading the
    inputs waits for `done` (the input's file is still being read)."""

    rules: Rules
    done: threading.Event = field(default_factory=threading.Event)


Judged = tuple[RawCandles, "IngestOptions", Validated | _Streamed]
Batch = list[tuple[RawCandles, "IngestOptions", Rules]]


def _judged_ahead(
    jobs: Iterable[tuple[Path, IngestOptions]], now: datetime, names: Mapping[Path, str]
) -> Iterator[Judged]:
    """(input, options, verdict) triples, produced ahead by a worker thread.

    If the consumer stops early (an error, an interrupt), the worker stops too.
    """
    ready: queue.Queue[Judged | BaseException | None] = queue.Queue(BATCH_FILES)
    stop = threading.Event()

    def hand_over(item: Judged | BaseException | None) -> bool:
        return _put(ready, item, stop)

    def hand_over_streamed(raw: RawCandles, options: IngestOptions, rules: Rules) -> bool:
        streamed = _Streamed(rules)
        if not hand_over((raw, options, streamed)):
            return False
        while not streamed.done.wait(0.1):
            if stop.is_set():
                return False
        return True

    def work() -> None:
        try:
            for batch in _batches(jobs, now, names):
                if batch[0][0].streamed:
                    if not hand_over_streamed(*batch[0]):
                        return
                    continue
                verdicts = validate_many([raw.frame for raw, _, _ in batch], batch[0][2])
                for (raw, options, _), validated in zip(batch, verdicts, strict=True):
                    if not hand_over((raw, options, validated)):
                        return
            hand_over(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(exc)

    worker = threading.Thread(target=work, name="candlelab-validate", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _batches(
    jobs: Iterable[tuple[Path, IngestOptions]], now: datetime, names: Mapping[Path, str]
) -> Iterator[Batch]:
    """Inputs grouped while they share rules. The first batch is small, so writing starts
    at once; each next one doubles, up to BATCH_ROWS rows or BATCH_FILES inputs. A big
    input (streamed) is a batch of its own."""
    batch: Batch = []
    rows, limit = 0, FIRST_BATCH_ROWS
    for path, options in jobs:
        for raw in read_candle_file(path, options.format, names.get(path), options.limits):
            if raw.frame.is_empty():  # a header and nothing else: no chart is made for it
                raise InputError(f"{raw.name}: no rows, only a header")
            rules = options.rules(now)
            full = rows >= limit or len(batch) >= BATCH_FILES
            if batch and (rules != batch[0][2] or full or raw.streamed):
                yield batch
                batch, rows, limit = [], 0, min(limit * 2, BATCH_ROWS)
            if raw.streamed:
                yield [(raw, options, rules)]
                continue
            batch.append((raw, options, rules))
            rows += raw.frame.height
    if batch:
        yield batch


def ingest_frame(
    conn: Connection, frame: object, options: IngestOptions, name: str = "frame"
) -> IngestReport:
    """Ingest a pandas or Polars DataFrame or an Arrow table, exactly as a file would be."""
    return ingest_raw(conn, raw_from_frame(frame, name), options)


def ingest_raw(conn: Connection, raw: RawCandles, options: IngestOptions) -> IngestReport:
    """Ingest one input already read; a frame with no rows is no error (nothing to do)."""
    return _store_judged(conn, raw, options, validate(raw.frame, options.rules()))


def _store(
    conn: Connection, raw: RawCandles, options: IngestOptions, verdict: Validated | _Streamed
) -> IngestReport:
    """A file's input: streamed, or judged already."""
    if isinstance(verdict, _Streamed):
        try:
            return _store_streamed(conn, raw, options, verdict.rules)
        finally:
            verdict.done.set()
    return _store_judged(conn, raw, options, verdict)


def _store_judged(
    conn: Connection, raw: RawCandles, options: IngestOptions, validated: Validated
) -> IngestReport:
    """Refuse the input, or write its good bars in one transaction; report either way."""
    started = time.perf_counter()
    report = _judged(raw, options, validated)
    report.refused = _refusal(validated.problems, validated.rows_read, options)
    if report.refused is None:
        try:
            with translated(), conn.transaction():  # a lost connection reads as one error
                chart_id = _chart(conn, options, validated.bars, report)
                counts = load_bars(conn, chart_id, validated.bars, options.on_conflict)
                if counts.inserted or counts.updated:  # charts resampled from this one follow
                    times = validated.bars["time"]
                    refresh_derived(conn, chart_id, times.min(), times.max())  # type: ignore[arg-type]
                _count(report, counts)
        except ConflictingBars as exc:
            report.refused = str(exc)
    if report.refused is not None:
        report.rejected, report.unchanged = report.rows_read, 0
    report.seconds = time.perf_counter() - started
    return report


def _chart(
    conn: Connection, options: IngestOptions, bars: pl.DataFrame, report: IngestReport
) -> int:
    """The chart's id, the chart created on first use; the report says its calendar and why.
    One statement for a chart that exists: a folder of files re-loaded pays nothing more."""
    found = ensure_chart(
        conn, options.key, options.chart_timezone, options.calendar, options.offset
    )
    report.calendar = found.calendar
    if found.created and options.calendar is None:  # a new chart, no calendar given
        times = bars["time"].dt.replace_time_zone(None).to_numpy()
        told = infer_calendar(times, options.timeframe, options.chart_timezone, options.offset)
        if told.calendar != found.calendar:  # made as 24/7 until told
            set_calendar(conn, found.id, told.calendar)
        report.calendar, report.calendar_inferred = told.calendar, True
        report.calendar_note = f"inferred from the bars: {told.why}"
    elif options.calendar not in (None, found.calendar):
        report.calendar_note = f"the chart's own: {options.calendar} applies to a new chart only"
    return found.id


def _judged(raw: RawCandles, options: IngestOptions, validated: Validated) -> IngestReport:
    rejections = validated.rejections
    by_code = {}
    if rejections.height:
        by_code = dict(rejections.group_by("code").len().sort("code").iter_rows())
    return IngestReport(
        input=raw.name,
        format=raw.format,
        chart=options.key.name,
        rows_read=validated.rows_read,
        rejected=rejections.height,
        reordered=validated.reordered,
        by_code={str(code): int(n) for code, n in by_code.items()},
        examples=rejections.head(EXAMPLES).to_dicts(),
        rejections=rejections,
    )


def _refusal(problems: pl.DataFrame, rows_read: int, options: IngestOptions) -> str | None:
    """Why the input is refused, judged over all its rows; `problems` in line order."""
    if problems.is_empty():
        return None
    first = problems.row(0, named=True)
    value = shown(first["value"]) if first["value"] is not None else None
    where = f"line {first['line']}: {first['code']} in {first['field']} ({value!r})"
    if options.strict:
        return f"--strict: {where}"
    ratio = problems.height / max(rows_read, 1)
    if ratio > options.max_reject_ratio:
        return (
            f"{problems.height} of {rows_read} rows have problems ({ratio:.1%}), "
            f"more than --max-reject-ratio {options.max_reject_ratio:.1%}; first: {where}"
        )
    return None


def _count(report: IngestReport, counts: LoadCounts) -> None:
    report.loaded, report.updated = counts.inserted, counts.updated
    report.unchanged, report.differing = counts.unchanged, counts.differing


class _Refused(Exception):
    """Raised inside a streamed input's transaction to roll it back."""


def _store_streamed(
    conn: Connection, raw: RawCandles, options: IngestOptions, rules: Rules
) -> IngestReport:
    """A big input chunk by chunk, in one transaction: judged as it is written, refused
    (rolled back whole) when, all read, it has too many problems."""
    started = time.perf_counter()
    load = _StreamLoad(conn, raw, options)
    try:
        with translated(), conn.transaction():
            for validated in _ahead(_validated_chunks(raw, rules)):
                load.chunk(validated)
            load.finish()
    except _Refused:
        pass
    except ConflictingBars as exc:
        load.report.refused = str(exc)
    report = load.result()
    report.seconds = time.perf_counter() - started
    return report


def _validated_chunks(raw: RawCandles, rules: Rules) -> Iterator[Validated]:
    latest: datetime | None = None
    for chunk in raw.chunks():
        validated = validate(chunk, rules, after=latest)
        latest = max((t for t in (latest, validated.latest) if t is not None), default=None)
        yield validated


class _StreamLoad:
    """The state of one streamed input: its counts, rejections, chart and times seen."""

    def __init__(self, conn: Connection, raw: RawCandles, options: IngestOptions) -> None:
        self.conn, self.options = conn, options
        self.report = IngestReport(raw.name, raw.format, options.key.name)
        self.rejections: list[pl.DataFrame] = []
        self.problems = 0
        self.seen = _Seen()
        self.chart_id: int | None = None
        self.counts = LoadCounts(0, 0, 0, 0)
        self.span: tuple[Any, Any] | None = None  # the times written, first and last

    def chunk(self, validated: Validated) -> None:
        self.report.rows_read += validated.rows_read
        self.report.reordered += validated.reordered
        bars, repeats = self._repeats(validated.bars)
        rejected = pl.concat([validated.rejections, repeats]) if repeats.height else None
        self._reject(validated.rejections if rejected is None else rejected)
        if self.options.strict and self.problems:
            return  # refused whatever follows: only counted from here
        self._write(bars)

    def _reject(self, rejections: pl.DataFrame) -> None:
        if rejections.height:
            self.rejections.append(rejections)
            self.problems += rejections.filter(~pl.col("code").is_in(_BENIGN)).height

    def _repeats(self, bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The bars whose time an earlier chunk had, split off and coded; the rest noted."""
        micros = bars["time"].dt.epoch("us").to_numpy()
        if self.seen.latest is None or not micros.size or micros.min() > self.seen.latest:
            self.seen.add(micros)
            return bars, EMPTY_REJECTIONS
        again = self.seen.holds(micros)
        kept = bars.filter(pl.Series(~again))
        self.seen.add(micros[~again])
        return kept, self._coded_repeats(bars.filter(pl.Series(again)))

    def _coded_repeats(self, repeats: pl.DataFrame) -> pl.DataFrame:
        stored = self._stored(repeats["time"])
        same = repeats.join(stored, on=["time", *PRICE_COLUMNS], how="semi", nulls_equal=True)
        identical = repeats["line"].is_in(same["line"].implode())
        code = pl.when(identical).then(pl.lit(str(Problem.DUPLICATE_IDENTICAL)))
        return repeats.select(
            "line",
            code.otherwise(pl.lit(str(Problem.DUPLICATE_CONFLICTING))).alias("code"),
            pl.lit("time").alias("field"),
            pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%SZ").alias("value"),  # bars are UTC
        )

    def _stored(self, times: pl.Series) -> pl.DataFrame:
        schema: dict[str, pl.DataType] = {"time": times.dtype}
        schema.update({name: pl.Float64() for name in PRICE_COLUMNS})
        if self.chart_id is None:
            return pl.DataFrame(schema=schema)
        params = {"chart_id": self.chart_id, "times": times.unique().to_list()}
        rows = self.conn.execute(QUERIES["stored_bars"], params).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")

    def _write(self, bars: pl.DataFrame) -> None:
        if bars.is_empty():
            return
        if self.chart_id is None:  # a new chart's calendar is told from the first chunk
            self.chart_id = _chart(self.conn, self.options, bars, self.report)
        counts = load_bars(self.conn, self.chart_id, bars, self.options.on_conflict)
        self.counts = _added(self.counts, counts)
        if counts.inserted or counts.updated:
            first: Any = bars["time"].min()
            last: Any = bars["time"].max()
            span = self.span or (first, last)
            self.span = (min(span[0], first), max(span[1], last))

    def finish(self) -> None:
        """Refuse the input (raising _Refused: the transaction rolls back), or finish it."""
        problems = self._rejections().filter(~pl.col("code").is_in(_BENIGN))
        self.report.refused = _refusal(problems, self.report.rows_read, self.options)
        if self.report.refused is not None:
            raise _Refused
        if self.span is not None and self.chart_id is not None:  # derived charts follow
            refresh_derived(self.conn, self.chart_id, *self.span)

    def _rejections(self) -> pl.DataFrame:
        if not self.rejections:
            return EMPTY_REJECTIONS
        return pl.concat(self.rejections).sort("line")

    def result(self) -> IngestReport:
        report = self.report
        rejections = self._rejections()
        report.rejected, report.rejections = rejections.height, rejections
        report.examples = rejections.head(EXAMPLES).to_dicts()
        by_code = rejections.group_by("code").len().sort("code").iter_rows()
        report.by_code = {str(code): int(n) for code, n in by_code}
        if report.refused is None:
            _count(report, self.counts)
        else:  # rolled back: no chart was made or told its calendar
            report.rejected = report.rows_read
            report.calendar, report.calendar_inferred, report.calendar_note = None, False, ""
        return report


_BENIGN = [str(code) for code in BENIGN]


def _added(a: LoadCounts, b: LoadCounts) -> LoadCounts:
    return LoadCounts(
        a.inserted + b.inserted,
        a.updated + b.updated,
        a.unchanged + b.unchanged,
        a.differing + b.differing,
    )


class _Seen:
    """The times of the bars an input's earlier chunks kept: a bit per minute of the span
    seen so far (whole minutes, all bars of 1m and longer; any other time is kept as is)."""

    MINUTE = 60_000_000  # µs

    def __init__(self) -> None:
        self.base = 0  # the minute of bit 0, a multiple of 8
        self.bits = np.zeros(0, np.uint8)
        self.odd = np.zeros(0, np.int64)
        self.latest: int | None = None

    def add(self, micros: npt.NDArray[np.int64]) -> None:
        if not micros.size:
            return
        self.latest = max(int(micros.max()), self.latest if self.latest is not None else -(2**63))
        minutes, within = np.divmod(micros, self.MINUTE)
        if (within != 0).any():
            self.odd = np.union1d(self.odd, micros[within != 0])
        minutes = minutes[within == 0]
        if minutes.size:
            self._cover(int(minutes.min()), int(minutes.max()))
            index = minutes - self.base
            np.bitwise_or.at(self.bits, index >> 3, (1 << (index & 7)).astype(np.uint8))

    def holds(self, micros: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        minutes, within = np.divmod(micros, self.MINUTE)
        index = minutes - self.base
        inside = (within == 0) & (index >= 0) & (index < self.bits.size * 8)
        safe = np.where(inside, index, 0)
        found: npt.NDArray[np.bool_] = inside & ((self.bits[safe >> 3] >> (safe & 7)) & 1 == 1)
        return found | np.isin(micros, self.odd)

    def _cover(self, first: int, last: int) -> None:
        """Grow the bitmap to cover minutes first..last."""
        if not self.bits.size:
            self.base = first - first % 8
        base = min(self.base, first - first % 8)
        end = max(self.base + self.bits.size * 8, last + 1)
        if base == self.base and end == self.base + self.bits.size * 8:
            return
        bits = np.zeros((end - base + 7) // 8, np.uint8)
        start = (self.base - base) // 8
        bits[start : start + self.bits.size] = self.bits
        self.base, self.bits = base, bits


T = TypeVar("T")


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each produced by a worker thread while the one before is used: a chunk is
    validated while the previous one is written. The worker stops when the consumer does."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(1)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if not _put(ready, (True, item), stop):
                    return
            _put(ready, (False, None), stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(ready, (False, exc), stop)

    worker = threading.Thread(target=work, name="candlelab-chunks", daemon=True)
    worker.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _put(ready: queue.Queue[T], item: T, stop: threading.Event) -> bool:
    """Queue `item` unless `stop` is set first: a worker never blocks on a consumer gone."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
