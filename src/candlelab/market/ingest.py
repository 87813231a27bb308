"""Ingest: candle files and frames into charts, validated, each input in one transaction.

For each input: read (`candle_files`), judge every row (`validation`), then either refuse
the input whole (too many problems, or any under --strict, or a conflict under
--on-conflict error) or write its good bars (`candles.load_bars`) in one transaction.
The report's counts always add up: loaded + updated + unchanged + rejected = rows read.
A new chart given no calendar gets the one its first input's bars point to, and the report
says so.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from candlelab.errors import ConflictingBars
from candlelab.market.calendar_inference import infer_calendar
from candlelab.market.candle_files import RawCandles, raw_from_frame, read_candle_file
from candlelab.market.candles import LoadCounts, OnConflict, load_bars
from candlelab.market.charts import ChartKey, ensure_chart, set_calendar
from candlelab.market.resampling import refresh_derived
from candlelab.market.symbols import normalized_symbol
from candlelab.market.timeframes import Timeframe, checked_timezone
from candlelab.market.validation import Rules, Validated, validate, validate_many
from candlelab.store.database import Connection, translated

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
        )


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
) -> list[IngestReport]:
    """Ingest every candle table in `paths` into one chart; see `ingest_jobs`."""
    return ingest_jobs(conn, ((path, options) for path in paths), on_report)


def ingest_jobs(
    conn: Connection,
    jobs: Iterable[tuple[Path, IngestOptions]],
    on_report: Callable[[IngestReport], None] = lambda report: None,
) -> list[IngestReport]:
    """Ingest each (file, options) job: every candle table in it, one transaction each.

    Small inputs judged by the same rules are validated together, in a thread, while the
    previous ones are written: the database and the client work at the same time.
    Unreadable files raise.
    """
    now = datetime.now(UTC)  # one "now" for the whole call, so rules compare equal
    reports: list[IngestReport] = []
    judged = _judged_ahead(jobs, now)
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


Judged = tuple[RawCandles, "IngestOptions", Validated]
Batch = list[tuple[RawCandles, "IngestOptions", Rules]]


def _judged_ahead(jobs: Iterable[tuple[Path, IngestOptions]], now: datetime) -> Iterator[Judged]:
    """(input, options, verdict) triples, produced ahead by a worker thread.

    If the consumer stops early (an error, an interrupt), the worker stops too.
    """
    ready: queue.Queue[Judged | BaseException | None] = queue.Queue(BATCH_FILES)
    stop = threading.Event()

    def hand_over(item: Judged | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in _batches(jobs, now):
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


def _batches(jobs: Iterable[tuple[Path, IngestOptions]], now: datetime) -> Iterator[Batch]:
    """Inputs grouped while they share rules. The first batch is small, so writing starts
    at once; each next one doubles, up to BATCH_ROWS rows or BATCH_FILES inputs."""
    batch: Batch = []
    rows, limit = 0, FIRST_BATCH_ROWS
    for path, options in jobs:
        for raw in read_candle_file(path, options.format):
            rules = options.rules(now)
            if batch and (rules != batch[0][2] or rows >= limit or len(batch) >= BATCH_FILES):
                yield batch
                batch, rows, limit = [], 0, min(limit * 2, BATCH_ROWS)
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
    return _store(conn, raw, options, validate(raw.frame, options.rules()))


def _store(
    conn: Connection, raw: RawCandles, options: IngestOptions, validated: Validated
) -> IngestReport:
    """Refuse the input, or write its good bars in one transaction; report either way."""
    started = time.perf_counter()
    report = _judged(raw, options, validated)
    report.refused = _refusal(validated, options)
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


def _refusal(validated: Validated, options: IngestOptions) -> str | None:
    problems = validated.problems
    if problems.is_empty():
        return None
    first = problems.row(0, named=True)
    where = f"line {first['line']}: {first['code']} in {first['field']} ({first['value']!r})"
    if options.strict:
        return f"--strict: {where}"
    ratio = problems.height / max(validated.rows_read, 1)
    if ratio > options.max_reject_ratio:
        return (
            f"{problems.height} of {validated.rows_read} rows have problems ({ratio:.1%}), "
            f"more than --max-reject-ratio {options.max_reject_ratio:.1%}; first: {where}"
        )
    return None


def _count(report: IngestReport, counts: LoadCounts) -> None:
    report.loaded, report.updated = counts.inserted, counts.updated
    report.unchanged, report.differing = counts.unchanged, counts.differing
