"""Charts: one series, a symbol at a timeframe from a source.

A chart is made only with a symbol by the one rule (`symbols.normalized_symbol`, so
`btcusdt` names the chart `BTCUSDT`), a bounded timeframe, a known timezone and a bar
offset shorter than one bar (`timeframes`): the library refuses what the CLI refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from candlelab.errors import InvalidField, UnknownReference
from candlelab.market.symbols import normalized_symbol
from candlelab.market.timeframes import Timeframe, checked_timezone
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)


@dataclass(frozen=True)
class ChartKey:
    symbol: str
    timeframe: str
    source: str

    def __post_init__(self) -> None:
        # Frozen, yet the symbol is stored normalised: every key to one chart is equal.
        object.__setattr__(self, "symbol", normalized_symbol(self.symbol))
        normalized_symbol(self.source, "source")  # printable, like a symbol, but keeps its case
        object.__setattr__(self, "source", self.source.strip())
        _timeframe(self.timeframe)

    @property
    def name(self) -> str:
        return f"{self.symbol} {self.timeframe} ({self.source})"


@dataclass(frozen=True)
class Chart:
    """A chart's own properties: what resampling, quality checks and backfills go by."""

    id: int
    symbol: str
    timeframe: str
    source: str
    timezone: str
    calendar: str
    bar_offset: str
    base_chart_id: int | None


@dataclass(frozen=True)
class ChartSummary:
    id: int
    symbol: str
    timeframe: str
    source: str
    name: str
    timezone: str
    calendar: str
    bars: int
    first_bar: datetime | None
    last_bar: datetime | None
    spans: int = 0
    annotations: int = 0


@dataclass(frozen=True)
class EnsuredChart:
    """A chart as `ensure_chart` found or made it."""

    id: int
    calendar: str
    created: bool


def upsert_chart(
    conn: Connection,
    key: ChartKey,
    timezone: str = "UTC",
    calendar: str = "24/7",
    bar_offset: str = "0m",
) -> int:
    """The chart's id, creating the chart on first use (an existing chart keeps its settings)."""
    return ensure_chart(conn, key, timezone, calendar, bar_offset).id


def ensure_chart(
    conn: Connection, key: ChartKey, timezone: str, calendar: str | None, bar_offset: str
) -> EnsuredChart:
    """The chart, created on first use, in one statement; with no calendar a new chart is
    24/7 until `set_calendar` (ingest tells it from the bars)."""
    offset = _timeframe(key.timeframe).bar_offset(bar_offset, "bar_offset")
    params = {
        **key.__dict__, "name": key.name, "timezone": checked_timezone(timezone),
        "calendar": calendar, "bar_offset": offset,
    }  # fmt: skip
    with translated():
        row = conn.execute(QUERIES["upsert_chart"], params).fetchone()
    assert row is not None, "an upsert returns its row"
    return EnsuredChart(int(row[0]), row[1], bool(row[2]))


def _timeframe(text: str) -> Timeframe:
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise InvalidField("timeframe", str(exc)) from None


def set_calendar(conn: Connection, chart_id: int, calendar: str) -> None:
    conn.execute(QUERIES["set_calendar"], {"chart_id": chart_id, "calendar": calendar})


def chart(conn: Connection, chart_id: int) -> Chart:
    row = conn.execute(QUERIES["chart"], {"chart_id": chart_id}).fetchone()
    if row is None:
        raise UnknownReference(f"chart {chart_id} does not exist")
    return Chart(*row)


def all_charts(conn: Connection) -> list[Chart]:
    return [Chart(*row) for row in conn.execute(QUERIES["all_charts"])]


def chart_summaries(conn: Connection) -> list[ChartSummary]:
    rows = conn.execute(QUERIES["chart_summaries"], {"chart_id": None})
    return [ChartSummary(*row) for row in rows]


def chart_summary(conn: Connection, chart_id: int) -> ChartSummary | None:
    row = conn.execute(QUERIES["chart_summaries"], {"chart_id": chart_id}).fetchone()
    return ChartSummary(*row) if row else None


def chart_range(conn: Connection, chart_id: int) -> tuple[datetime | None, datetime | None]:
    """A chart's first and last bar (None, None when it has none): two index lookups, as
    cheap on a chart of millions of bars as on one of ten."""
    row = conn.execute(QUERIES["chart_range"], {"chart_id": chart_id}).fetchone()
    return (row[0], row[1]) if row else (None, None)


def recount_bars(conn: Connection) -> list[int]:
    """Count every chart's bars again; the ids of the charts whose kept figures were off.
    candlelab's own writes keep them current: this is for candles written by hand."""
    return sorted(row[0] for row in conn.execute(QUERIES["recount_bars"]))


def delete_chart(conn: Connection, chart_id: int) -> bool:
    """Delete a chart with its bars and labels; False when there was no such chart."""
    with translated():
        return conn.execute(QUERIES["delete_chart"], {"chart_id": chart_id}).rowcount == 1
