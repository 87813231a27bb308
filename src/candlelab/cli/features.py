"""`candlelab features build | list | show`: the feature store from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID
from candlelab.cli.output import emit_json, out, table
from candlelab.errors import NotFound

if TYPE_CHECKING:
    from candlelab.features.builds import ChartBuild
    from candlelab.features.definitions import FeatureSet
    from candlelab.features.materialisation import BuildReport
    from candlelab.store.database import Connection

app = typer.Typer(help="Feature sets: build (materialise), list and show.", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SetArgument = Annotated[
    str,
    typer.Argument(
        help="A TOML file, a bundled set (core), or a stored set: NAME, NAME@VERSION, "
        "NAME@HASH-PREFIX."
    ),
]


def resolve(conn: Connection, reference: str) -> FeatureSet:
    """A set from a file, the bundled sets, or the store (the newest version of a name)."""
    from candlelab.features.definitions import BUNDLED, bundled_feature_set, load_feature_set
    from candlelab.features.registry import stored_set

    path = Path(reference)
    if reference.endswith(".toml") or path.is_file():
        return load_feature_set(path)
    if reference in BUNDLED:
        return bundled_feature_set(reference)
    try:
        return stored_set(conn, reference).feature_set()
    except NotFound:
        bundled = ", ".join(BUNDLED)
        raise NotFound(
            f"feature set {reference!r}: no such file, bundled set ({bundled}) or stored set; "
            "`candlelab features list` shows the stored ones"
        ) from None


@app.command("build")
def build(
    ctx: typer.Context,
    feature_set: SetArgument = "core",
    chart: Annotated[
        list[int] | None,
        typer.Option(
            "--chart",
            help="A chart id (repeat for several); default: every chart.",
            min=1,
            max=LARGEST_ID,
        ),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Compute every bar again, not only new and stale ones (after "
            "TRUNCATE or a restored backup, which mark nothing stale)."
        ),
    ] = False,
    json: Json = False,
) -> None:
    """Compute and store a feature set's values: only bars not built yet, and ranges
    made stale by corrected history. Each chart is its own transaction; interrupt and
    run again to finish."""
    from candlelab.features.materialisation import build_features
    from candlelab.market.charts import all_charts

    with workspace(ctx).connect() as conn:
        features = resolve(conn, feature_set)
        total = len(chart) if chart else len(all_charts(conn))
        conn.rollback()  # what was read above; the build commits chart by chart
        with _progress(json) as progress:
            task = progress.add_task(f"building {features.name}", total=total)

            def advance(done: ChartBuild) -> None:
                progress.update(task, advance=1, description=f"chart {done.chart_id}")

            report = build_features(conn, features, chart, advance, rebuild=rebuild)
    _print_build(report, json)


def _progress(quiet: bool) -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    return Progress(*columns, console=out, transient=True, disable=quiet)


def _print_build(report: BuildReport, json: bool) -> None:
    stored = report.feature_set
    if json:
        emit_json({"feature_set": stored.name, "version": stored.version,
                   "hash": stored.version_hash, "columns": len(stored.columns),
                   "charts": [c.__dict__ for c in report.charts]})  # fmt: skip
        return
    built = [c for c in report.charts if c.bars_written]
    out.print(
        f"feature set {stored.label} ({stored.version_hash[:12]}, {len(stored.columns)} columns): "
        f"{report.bars_written:,} bars computed on {len(built)} of {len(report.charts)} charts",
        soft_wrap=True,
    )


@app.command("list")
def list_sets(ctx: typer.Context, json: Json = False) -> None:
    """Every stored version of every set, with what is materialised."""
    from candlelab.features.registry import set_summaries

    with workspace(ctx).connect() as conn:
        summaries = set_summaries(conn)
    rows = [[s.stored.name, s.stored.version, s.stored.version_hash[:12], len(s.stored.columns),
             s.charts, s.bars, s.stale_charts, s.stored.created_at] for s in summaries]  # fmt: skip
    if json:
        emit_json([dict(zip(LIST_COLUMNS, row, strict=True)) for row in rows])
        return
    table("feature sets", LIST_COLUMNS, rows)


LIST_COLUMNS = (
    "name",
    "version",
    "hash",
    "columns",
    "charts",
    "bars",
    "stale_charts",
    "created_at",
)


@app.command("show")
def show(ctx: typer.Context, feature_set: SetArgument = "core", json: Json = False) -> None:
    """A stored version: its columns and definitions, and per chart the bars built, the
    NaN (warm-up) count per column and any stale range."""
    from candlelab.features.builds import chart_builds
    from candlelab.features.registry import stored_set

    with workspace(ctx).connect() as conn:
        stored = stored_set(conn, feature_set)
        builds = chart_builds(conn, stored)
    features = stored.definition["features"]
    if json:
        emit_json({"name": stored.name, "version": stored.version, "hash": stored.version_hash,
                   "created_at": stored.created_at, "features": features,
                   "charts": [b.__dict__ for b in builds]})  # fmt: skip
        return
    out.print(f"feature set {stored.label}, hash {stored.version_hash}", soft_wrap=True)
    nans = _column_nans(builds, len(stored.columns))
    table("columns", ("#", "name", "definition", "NaN", "description"),
          [[j + 1, f["name"], _described(f), nans[j], f.get("description", "")]
           for j, f in enumerate(features)])  # fmt: skip
    table("charts built", ("chart", "symbol", "first bar", "last bar", "bars", "stale from"),
          [[b.chart_id, f"{b.symbol} {b.timeframe}", b.first_bar, b.last_bar, b.bars,
            b.stale_from or ""] for b in builds])  # fmt: skip


def _column_nans(builds: list[Any], width: int) -> list[int]:
    totals = [0] * width
    for each in builds:
        for j, count in enumerate(each.warmup[:width]):
            totals[j] += count
    return totals


def _described(feature: dict[str, Any]) -> str:
    text = feature.get("expr") or feature.get("calendar")
    if text is None:
        params = ", ".join(f"{k}={v}" for k, v in feature.get("params", {}).items())
        text = f"{feature['talib']}({params}).{feature['output']}"
    return f"{text} on {feature['timeframe']}" if "timeframe" in feature else str(text)
