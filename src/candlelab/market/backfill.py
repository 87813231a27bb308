"""Backfill: fetch the bars a chart's calendar expects and the chart lacks, from a provider.

The gaps are the ones `quality` reports, over the chart's stored range (or a wider
[start, end] to fetch history). Gaps closer together than one page of the provider are
fetched in one request. Every page the provider returns is ingested like a file (same
validation, one transaction, bars already stored left alone), so an interrupted
backfill keeps what it stored and the next run asks only for what is still missing.
Symbols go by the one rule (`symbols.normalized_symbol`), the vendor's name for one too.
A span starts in 1900 at the earliest and may add at most MAX_NEW_BARS bars beyond the
stored range: `--start 0001-01-01` is refused instead of computing two millennia of gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from candlelab.errors import InvalidField
from candlelab.market.candles import candle_arrays, read_candles
from candlelab.market.charts import Chart
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_frame
from candlelab.market.providers import Provider
from candlelab.market.quality import Array, gaps, utc_datetime
from candlelab.market.symbols import normalized_symbol
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection

Window = tuple[np.datetime64, np.datetime64]  # first and last missing bar start
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
MAX_NEW_BARS = 5_000_000  # about 9.5 years of minute bars


@dataclass
class BackfillReport:
    chart_id: int
    chart: str
    provider: str
    gaps: int = 0
    missing: int = 0  # bars missing before the backfill
    fetched: int = 0
    loaded: int = 0
    rejected: int = 0
    still_missing: int = 0
    requests: int = 0
    retries: int = 0
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Span:
    """What to fill: the stored range by default, widened by `start` and `end` (a time
    without an offset is UTC)."""

    start: datetime | None = None
    end: datetime | None = None
    symbol: str | None = None  # the vendor's name for the chart's symbol, if it differs

    def __post_init__(self) -> None:
        if self.symbol is not None:
            object.__setattr__(self, "symbol", normalized_symbol(self.symbol, "vendor symbol"))
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and _utc(moment) < EARLIEST:
                raise InvalidField(name, f"{moment.date()} is before {EARLIEST.date()}")
        if self.start and self.end and _utc(self.end) < _utc(self.start):
            raise InvalidField("end", f"{self.end} is before the start, {self.start}")


def backfill_chart(
    conn: Connection,
    url: str,
    chart: Chart,
    provider: Provider,
    *,
    span: Span = Span(),
    on_page: Callable[[BackfillReport], None] = lambda report: None,
) -> BackfillReport:
    """Fill the chart's gaps from the provider; report what was missing, fetched and stored."""
    _check_symbol(chart)
    report = BackfillReport(chart.id, f"{chart.symbol} {chart.timeframe} ({chart.source})",
                            provider.name)  # fmt: skip
    missing = _gaps(url, chart, span)
    report.gaps, report.missing = len(missing), sum(n for *_, n in missing)
    timeframe = Timeframe.parse(chart.timeframe)
    options = ingest_options(chart)
    conn.commit()  # each page below commits on its own, not inside a caller's transaction
    for first, last in merged([(a, b) for a, b, _ in missing], timeframe, provider):
        start, end = utc_datetime(first), utc_datetime(_bar_after(last, timeframe))
        for page in provider.fetch(span.symbol or chart.symbol, timeframe, start, end):
            name = f"{provider.name} {chart.symbol} from {start:%Y-%m-%d %H:%M}"
            _count(report, ingest_frame(conn, page, options, name=name))
            conn.commit()
            on_page(report)
    report.still_missing = sum(n for *_, n in _gaps(url, chart, span))
    report.requests, report.retries = provider.stats.requests, provider.stats.retries
    report.notes = provider.stats.notes
    return report


def _check_symbol(chart: Chart) -> None:
    """Fetched bars are stored under the chart's key: a symbol stored before the symbol rule
    (`btcusdt`) would send them to another chart (`BTCUSDT`), so it is refused instead."""
    if normalized_symbol(chart.symbol) != chart.symbol:
        raise InvalidField(
            "symbol", f"chart {chart.id}'s symbol {chart.symbol!r} is not as the symbol rule "
            f"stores it ({normalized_symbol(chart.symbol)!r}); rename the chart first",
        )  # fmt: skip


def _count(report: BackfillReport, ingested: IngestReport) -> None:
    report.fetched += ingested.rows_read
    report.loaded += ingested.loaded
    report.rejected += ingested.rejected
    if ingested.refused:
        report.refused.append(f"{ingested.input}: {ingested.refused}")


def ingest_options(chart: Chart) -> IngestOptions:
    """Fetched bars go into the chart as they are, never over bars already stored."""
    return IngestOptions(
        symbol=chart.symbol, timeframe=Timeframe.parse(chart.timeframe), source=chart.source,
        chart_timezone=chart.timezone, calendar=chart.calendar, offset=chart.bar_offset,
        on_conflict="skip",
    )  # fmt: skip


def merged(windows: Sequence[Window], timeframe: Timeframe, provider: Provider) -> list[Window]:
    """Windows closer than one page of the provider, joined: one request instead of many."""
    reach = _bar_length(timeframe) * provider.page_span(timeframe)
    joined: list[Window] = []
    for first, last in windows:
        if joined and first - joined[-1][1] < reach:
            joined[-1] = (joined[-1][0], last)
        else:
            joined.append((first, last))
    return joined


def _gaps(url: str, chart: Chart, span: Span) -> list[tuple[np.datetime64, np.datetime64, int]]:
    times: Array = candle_arrays(read_candles(url, [chart.id], columns=()))["time"]
    bounds = [_moment(span.start)] if span.start else []
    ends = [_moment(span.end)] if span.end else []
    first = min([*bounds, *times[:1]], default=None)
    last = max([*ends, *times[-1:]], default=None)
    if first is None or last is None:
        return []
    _check_reach(Timeframe.parse(chart.timeframe), times, first, last)
    return gaps(chart, times, first, last)


def _check_reach(
    timeframe: Timeframe, times: Array, first: np.datetime64, last: np.datetime64
) -> None:
    """Refuse a span that widens the stored range by more than MAX_NEW_BARS bars."""
    held = times[-1] - times[0] if len(times) else np.timedelta64(0, "us")
    added = int((last - first - held) // _bar_length(timeframe))
    if added > MAX_NEW_BARS:
        raise InvalidField(
            "span", f"from {first} to {last} reaches {added:,} {timeframe.name} bars beyond "
            f"the stored ones; at most {MAX_NEW_BARS:,} per run",
        )  # fmt: skip


def _bar_length(timeframe: Timeframe) -> np.timedelta64:
    return np.timedelta64(timeframe.micros or 31 * 86_400_000_000, "us")


def _bar_after(start: np.datetime64, timeframe: Timeframe) -> np.datetime64:
    """Where the bar opening at `start` ends, for a request's exclusive end."""
    return start + _bar_length(timeframe)


def _moment(value: datetime) -> np.datetime64:
    return np.datetime64(_utc(value).replace(tzinfo=None), "us")


def _utc(value: datetime) -> datetime:
    """A time without an offset is UTC."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
