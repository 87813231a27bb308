"""The main job on a fresh machine: a synthetic market stored through the ingest path,
label types to start labelling with, and trend proposals to review.

Each chart is one ingest (validated, one transaction) and only missing bars are added;
a chart's proposals are made once, in their own transaction. So the job can be killed at
any moment and run again to the same final rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from candlelab.features.blocks import datetime64
from candlelab.labels.proposals import propose, trend_proposals
from candlelab.labels.spans import NewSpan, add_span
from candlelab.market.candles import Bars
from candlelab.market.charts import upsert_chart
from candlelab.market.ingest import IngestOptions, IngestReport, ingest_frame
from candlelab.market.quality import runs, utc_datetime
from candlelab.market.synthetic_market import (
    INSTRUMENTS,
    MARKETS,
    Instrument,
    MarketSpec,
    daily_bars,
    hourly_bars,
    hourly_regimes,
    shifted_bars,
)
from candlelab.market.timeframes import Timeframe
from candlelab.store.database import Connection
from candlelab.store.queries import load_queries

SOURCE = "synthetic"
QUERIES = load_queries(__file__)
LABELS = (  # name, colour, hotkey, direction, description
    ("uptrend", "#26a69a", "1", 1, "Price rising: higher highs and higher lows."),
    ("downtrend", "#ef5350", "2", -1, "Price falling: lower highs and lower lows."),
    ("range", "#7e57c2", "3", 0, "Sideways between a support and a resistance."),
)
# After the year: two weeks in which every move is three times as large as before (the
# year's own volatile regime is 2.2 times), what a drift check must notice.
SHIFT_DAYS, SHIFT_SCALE = 14, 3.0
ANNOTATION_TYPES = (("breakout", "#2962ff", "arrowUp"), ("reversal", "#ff9800", "circle"))


def demo_charts(spec: MarketSpec) -> Iterator[tuple[Instrument, str, Bars]]:
    """Every (instrument, timeframe, bars) the demo stores: all daily bars, recent hourly ones."""
    for instrument in INSTRUMENTS:
        hourly = hourly_bars(instrument, spec)
        yield instrument, "1d", daily_bars(hourly, MARKETS[instrument.market].timezone)
        since = hourly.time[-1] - np.timedelta64(spec.hourly_days, "D")
        yield instrument, "1h", hourly.slice(int(np.searchsorted(hourly.time, since)), len(hourly))


def store_market(
    conn: Connection,
    spec: MarketSpec,
    on_chart: Callable[[IngestReport], None],
    labels: dict[int, int] | None = None,
) -> list[IngestReport]:
    """Ingest the synthetic market, one chart per transaction; report each as it lands.
    With `labels` (direction → label id), each chart also gets its trend proposals."""
    reports = []
    for instrument, timeframe, bars in demo_charts(spec):
        options = _ingest_options(instrument, timeframe)
        reports.append(ingest_frame(conn, bars.to_frame(), options, name=options.key.name))
        if labels and reports[-1].ok:
            propose_trends(conn, upsert_chart(conn, options.key), bars, labels)
        on_chart(reports[-1])
    return reports


def shift_bars(spec: MarketSpec, instrument: Instrument) -> Bars:
    """What the instrument does after the demo's year: SHIFT_DAYS of hourly bars at
    SHIFT_SCALE times its volatility."""
    return shifted_bars(instrument, spec, days=SHIFT_DAYS, volatility_scale=SHIFT_SCALE)


def store_shift(conn: Connection, spec: MarketSpec,
                instruments: tuple[Instrument, ...]) -> list[IngestReport]:  # fmt: skip
    """The shifted weeks appended to the instruments' hourly charts, one chart per
    transaction (bars already stored are left as they are); a report per instrument."""
    reports = []
    for instrument in instruments:
        options = _ingest_options(instrument, "1h")
        bars = shift_bars(spec, instrument).to_frame()
        reports.append(ingest_frame(conn, bars, options, name=options.key.name))
    return reports


def _ingest_options(instrument: Instrument, timeframe: str) -> IngestOptions:
    market = MARKETS[instrument.market]
    return IngestOptions(
        symbol=instrument.symbol,
        timeframe=Timeframe.parse(timeframe),
        source=SOURCE,
        chart_timezone=market.timezone,
        calendar=market.calendar,
        offset=market.hourly_offset if timeframe == "1h" else "0m",
        max_reject_ratio=0.0,  # generated data has no excuse
    )


def seed_labels(conn: Connection) -> dict[int, int]:
    """The demo's label and annotation types (kept if already there); direction → label id."""
    for name, color, hotkey, direction, description in LABELS:
        conn.execute(QUERIES["seed_label_type"], {"name": name, "color": color, "hotkey": hotkey,
                     "direction": direction, "description": description})  # fmt: skip
    for name, color, shape in ANNOTATION_TYPES:
        conn.execute(
            QUERIES["seed_annotation_type"], {"name": name, "color": color, "shape": shape}
        )
    names = [label[0] for label in LABELS]
    ids: dict[str, int] = dict(conn.execute(QUERIES["label_ids"], {"names": names}).fetchall())
    conn.commit()
    return {d: ids[name] for name, _, _, d, _ in LABELS if d and name in ids}


def propose_trends(conn: Connection, chart_id: int, bars: Bars, labels: dict[int, int]) -> int:
    """The chart's trend proposals, made once (none if it has model spans already), in their
    own transaction; how many."""
    if conn.execute(QUERIES["has_proposals"], {"chart_id": chart_id}).fetchone() == (True,):
        return 0
    times = [utc_datetime(t) for t in bars.time]
    made = propose(conn, chart_id, times, trend_proposals(bars.close), labels)
    conn.commit()
    return made


def waiting_proposals(conn: Connection) -> int:
    """Model spans not reviewed yet, over every chart."""
    row = conn.execute(QUERIES["waiting_proposals"]).fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------- the labelling loop

LABELLER = "demo labeller"
REGIME_LABELS = {0: "uptrend", 1: "downtrend", 2: "range"}  # the volatile regime: unlabelled
SHORTEST_SPAN = 24  # bars: a labeller marks lasting regimes, not every wiggle
NOISE_BARS = 3  # a labeller's edges are off by up to this many bars
MISSED = 0.1  # and some regimes go unmarked


def hourly_charts(conn: Connection, instruments: tuple[Instrument, ...]) -> dict[int, Instrument]:
    """The demo's hourly chart of each instrument: id → instrument."""
    found = {}
    for instrument in instruments:
        key = IngestOptions(instrument.symbol, Timeframe.parse("1h"), source=SOURCE).key
        found[upsert_chart(conn, key)] = instrument
    conn.commit()
    return found


def label_regimes(conn: Connection, spec: MarketSpec, charts: dict[int, Instrument]) -> int:
    """Accepted spans over each chart's known regimes, as a careful but human labeller
    draws them (edges a few bars off, a tenth missed); once per chart. How many."""
    names = list(REGIME_LABELS.values())
    ids: dict[str, int] = dict(conn.execute(QUERIES["label_ids"], {"names": names}).fetchall())
    made = 0
    for chart_id, instrument in charts.items():
        if conn.execute(QUERIES["has_manual_spans"], {"chart_id": chart_id}).fetchone() == (True,):
            continue
        times, regimes = _stored_regimes(conn, chart_id, instrument, spec)
        rng = np.random.default_rng([spec.seed, chart_id])
        for regime, first, last in _regime_runs(regimes, rng, len(times)):
            span = NewSpan(chart_id, ids[REGIME_LABELS[regime]], utc_datetime(times[first]),
                           utc_datetime(times[last]), created_by=LABELLER)  # fmt: skip
            add_span(conn, span)
            made += 1
        conn.commit()
    return made


Regimes = tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]


def _stored_regimes(conn: Connection, chart_id: int, instrument: Instrument,
                    spec: MarketSpec) -> Regimes:  # fmt: skip
    """The regimes of the chart's stored bars (the hourly chart keeps the last days only)."""
    times, regimes = hourly_regimes(instrument, spec)
    first = conn.execute(QUERIES["first_bar"], {"chart_id": chart_id}).fetchone()
    start = np.datetime64(first[0].replace(tzinfo=None), "us") if first and first[0] else times[0]
    keep = times >= start
    return times[keep], regimes[keep]


def _regime_runs(regimes: npt.NDArray[np.int64], rng: np.random.Generator,
                 bars: int) -> Iterator[tuple[int, int, int]]:  # fmt: skip
    """(regime, first, last) of each labelled run, its edges jittered, some left out."""
    for regime in REGIME_LABELS:
        for first, last in runs(regimes == regime, minimum=SHORTEST_SPAN):
            if rng.random() < MISSED:
                continue
            a, b = (int(x) for x in rng.integers(-NOISE_BARS, NOISE_BARS + 1, 2))
            yield regime, min(max(first + a, 0), bars - 1), max(min(last + b, bars - 1), first)


@dataclass(frozen=True)
class Agreement:
    """How the proposals match the known regimes, bar by bar, per label."""

    label: str
    proposed_bars: int
    precision: float  # of the bars proposed as the label, the share truly in its regime
    recall: float  # of the bars truly in the regime, the share proposed as the label


def proposal_agreement(conn: Connection, spec: MarketSpec, charts: dict[int, Instrument],
                       run_id: str) -> list[Agreement]:  # fmt: skip
    """The run's proposals on the charts against the regimes they were labelled from."""
    proposed: dict[str, list[bool]] = {name: [] for name in REGIME_LABELS.values()}
    truth = dict.fromkeys(REGIME_LABELS.values(), 0)
    for chart_id, instrument in charts.items():
        times, regimes = _stored_regimes(conn, chart_id, instrument, spec)
        for regime, name in REGIME_LABELS.items():
            truth[name] += int(np.sum(regimes == regime))
        found = conn.execute(QUERIES["run_proposals"], {"chart_id": chart_id, "run_id": run_id})
        for label, start, end in found:
            inside = (times >= datetime64(start)) & (times <= datetime64(end))
            regime = next(r for r, n in REGIME_LABELS.items() if n == label)
            proposed[label] += (regimes[inside] == regime).tolist()
    return [Agreement(name, len(hits), float(np.mean(hits)) if hits else float("nan"),
                      sum(hits) / truth[name] if truth[name] else float("nan"))
            for name, hits in proposed.items()]  # fmt: skip
