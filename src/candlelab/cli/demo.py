"""`candlelab demo` (the main job on a fresh machine) and `candlelab charts`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, err, out, table
from candlelab.errors import CandlelabError

if TYPE_CHECKING:
    from candlelab.features.builds import ChartBuild
    from candlelab.features.materialisation import BuildReport
    from candlelab.market.charts import ChartSummary
    from candlelab.market.ingest import IngestReport
    from candlelab.store.database import Connection
    from candlelab.workspace import Workspace

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 7,
    hourly_days: Annotated[int, typer.Option(help="Days of hourly bars per symbol.", min=1)] = 365,
    market_only: Annotated[
        bool,
        typer.Option(
            "--market-only",
            help="Store the market and build its features only: charts to annotate, no model.",
        ),
    ] = False,
) -> None:
    """Start the database, migrate it, store a synthetic market (12 symbols, 1d and 1h),
    build the default feature set, label half the hourly charts from their known regimes,
    train a model on those spans, and propose spans on the other half; put it in service
    as champion beside a challenger at 20 % of the traffic, and predict the newest bar of
    every chart; then two more volatile weeks arrive on the labelled charts, are served,
    and the drift check compares them with the training data; judge the backtests of both
    versions, compare them, list the open alerts; let a worker take the retrain request the
    drift alerts made (retrain, register, promote the new version as challenger); summarise.

    `--market-only` stops after the features: the charts to annotate, and no model.

    Safe to interrupt and run again: every chart is one transaction and no bar is stored
    twice; labels are drawn once per chart; each run trains (and registers) a new version.
    """
    from candlelab.cli.demo_drift import drift_step
    from candlelab.cli.demo_loop import labelling_loop
    from candlelab.cli.demo_monitoring import monitoring_step
    from candlelab.cli.demo_retrain import retrain_step
    from candlelab.cli.demo_serving import serving_step
    from candlelab.demo import seed_labels, store_market
    from candlelab.market.charts import chart_summaries
    from candlelab.market.synthetic_market import INSTRUMENTS, MarketSpec

    ws = workspace(ctx)
    started = time.monotonic()
    out.print(f"database: {ws.where()}")
    ws.upgrade()
    spec = MarketSpec(seed=seed, hourly_days=hourly_days)
    with ws.connect() as conn, _progress() as progress:
        task = progress.add_task("storing charts", total=len(INSTRUMENTS) * 2)

        def advance(report: IngestReport) -> None:
            progress.update(task, advance=1, description=report.chart)

        seed_labels(conn)
        reports = store_market(conn, spec, advance)
        conn.commit()
        _check_stored(reports)
        built = _build_features(conn, progress)
        summaries = chart_summaries(conn)
    new = sum(report.loaded for report in reports)
    _summary(summaries, new, time.monotonic() - started)
    _features_summary(built)
    if market_only:
        _how_to_connect(ws.where())
        _how_to_annotate(summaries)
        return
    loop, labelled = labelling_loop(ws, spec)
    out.print(f"{waiting(ws)} proposal(s) waiting for review")
    versions = serving_step(ws, loop, labelled)
    drift_step(ws, spec, versions)
    monitoring_step(ws, versions)
    retrain_step(ws)
    _how_to_connect(ws.where())
    out.print(f"this run:  candlelab runs show {loop.run_id[:12]}", soft_wrap=True)
    _how_to_annotate(summaries)


def _check_stored(reports: list[IngestReport]) -> None:
    refused = [f"{r.chart}: {r.refused}" for r in reports if not r.ok]
    if refused:
        raise CandlelabError("the synthetic market was refused: " + "; ".join(refused))


def waiting(ws: Workspace) -> int:
    from candlelab.demo import waiting_proposals

    with ws.connect() as conn:
        return waiting_proposals(conn)


def _build_features(conn: Connection, progress: Progress) -> BuildReport:
    """The default feature set on every chart: only what is new since the last run."""
    from candlelab.features.definitions import bundled_feature_set
    from candlelab.features.materialisation import build_features
    from candlelab.market.charts import all_charts

    charts = len(all_charts(conn))
    conn.rollback()  # build_features commits chart by chart, outside any transaction
    task = progress.add_task("building features (core)", total=charts)

    def advance(done: ChartBuild) -> None:
        progress.update(task, advance=1)

    return build_features(conn, bundled_feature_set("core"), None, advance)


def _features_summary(report: BuildReport) -> None:
    stored = report.feature_set
    built = sum(1 for c in report.charts if c.bars_written)
    out.print(
        f"features:  {stored.label} ({len(stored.columns)} columns, hash "
        f"{stored.version_hash[:12]}): {report.bars_written:,} bars computed on {built} charts; "
        f"see `candlelab features show core`",
        soft_wrap=True,
    )


def charts(
    ctx: typer.Context,
    json: Json = False,
    recount: Annotated[
        bool,
        typer.Option(help="Count every chart's bars again first (after writing candles by SQL)."),
    ] = False,
) -> None:
    """Every chart with its bar count, first and last bar, source and calendar."""
    from candlelab.market.charts import chart_summaries, recount_bars

    with workspace(ctx).connect() as conn:
        if recount:
            off = recount_bars(conn)
            conn.commit()
            err.print(f"recounted every chart; {len(off)} had figures that were off")
        summaries = chart_summaries(conn)
    if json:
        emit_json(summaries)
        return
    columns = ("id", "symbol", "timeframe", "source", "calendar", "bars", "first", "last")
    rows = [
        (c.id, c.symbol, c.timeframe, c.source, c.calendar, c.bars, c.first_bar, c.last_bar)
        for c in summaries
    ]
    table("charts", columns, rows)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    )


def _summary(summaries: list[ChartSummary], new: int, seconds: float) -> None:
    by_symbol: dict[str, dict[str, ChartSummary]] = {}
    for chart in summaries:
        by_symbol.setdefault(chart.symbol, {})[chart.timeframe] = chart
    rows = [_symbol_row(symbol, charts) for symbol, charts in by_symbol.items()]
    table("the synthetic market", ("symbol", "1d bars", "1h bars", "from", "to"), rows)
    total = sum(c.bars for c in summaries)
    out.print(f"{len(summaries)} charts, {total:,} bars ({new:,} new this run) in {seconds:.1f} s")


def _symbol_row(symbol: str, charts: dict[str, ChartSummary]) -> tuple[object, ...]:
    firsts = [c.first_bar for c in charts.values() if c.first_bar]
    lasts = [c.last_bar for c in charts.values() if c.last_bar]
    bars = [charts[tf].bars if tf in charts else 0 for tf in ("1d", "1h")]
    return (
        symbol,
        *bars,
        min(firsts).date() if firsts else None,
        max(lasts).date() if lasts else None,
    )


HINTS = """\
psql:      psql "$(candlelab db url)" -c "select count(*) from candles"
MLflow UI: candlelab mlflow-ui
the loop:  candlelab retrain schedule demo-regimes --every 1d, then candlelab worker
           (it also judges, checks drift and applies the A/B policy on a schedule)
stop:      candlelab db stop"""


def _how_to_annotate(summaries: list[ChartSummary]) -> None:
    """Where the labeller starts: the annotator on the first chart with proposals."""
    chart = next((c for c in summaries if c.spans), summaries[0] if summaries else None)
    page = f"http://127.0.0.1:8000/charts/{chart.id}" if chart else "http://127.0.0.1:8000/"
    out.print(f"annotate:  make serve (or candlelab serve), then open {page}", soft_wrap=True)


def _how_to_connect(where: str) -> None:
    out.print(f"data:      {where}", soft_wrap=True)
    out.print(HINTS, soft_wrap=True)
