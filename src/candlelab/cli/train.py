"""`candlelab train` and `candlelab runs`: training from the database, and its record."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from candlelab.cli import workspace
from candlelab.cli.options import LARGEST_ID
from candlelab.cli.output import emit_json, out, table
from candlelab.errors import ConfigError, InvalidValue
from candlelab.training.targets import READY

if TYPE_CHECKING:
    from candlelab.store.database import Connection
    from candlelab.training.trainer import TrainingRequest, TrainingResult
    from candlelab.workspace import Workspace

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Charts = Annotated[
    list[int] | None,
    typer.Option("--chart", help="A chart id (repeat for several).", min=1, max=LARGEST_ID),
]
Symbols = Annotated[
    list[str] | None,
    typer.Option("--symbol", help="A symbol or shell-style pattern ('BTC*'); repeat for several."),
]


def train(
    ctx: typer.Context,
    features: Annotated[
        str, typer.Option(help="A built feature set: NAME, NAME@VERSION.")
    ] = "core",
    target: Annotated[
        str,
        typer.Option(help="A ready target (spans, triple-barrier, forward-return) or a TOML file."),
    ] = "triple-barrier",
    chart: Charts = None,
    symbol: Symbols = None,
    start: Annotated[
        datetime | None, typer.Option(help="First bar (UTC unless an offset).")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="End of the data, exclusive.")] = None,
    model: Annotated[str, typer.Option(help="lightgbm, logistic or hgb.")] = "lightgbm",
    param: Annotated[
        list[str] | None, typer.Option(help="A model parameter as name=value (repeat).")
    ] = None,
    params_file: Annotated[
        Path | None, typer.Option(help="A TOML file of model parameters (flags win).")
    ] = None,
    folds: Annotated[int, typer.Option(help="Walk-forward test blocks.", min=1, max=100)] = 5,
    window: Annotated[str, typer.Option(help="expanding or sliding.")] = "expanding",
    train_blocks: Annotated[
        int, typer.Option(help="Blocks a sliding window trains on.", min=1)
    ] = 2,
    embargo: Annotated[
        int, typer.Option(help="Bars dropped before each test block, per chart.", min=0)
    ] = 0,
    threshold: Annotated[
        float, typer.Option(help="Probability a signal needs to be acted on.", min=0, max=1)
    ] = 0.5,
    experiment: Annotated[str, typer.Option(help="MLflow experiment.")] = "candlelab",
    name: Annotated[
        str | None, typer.Option(help="Registered model name.  [default: FEATURES-TARGET]")
    ] = None,
    json: Json = False,
) -> None:
    """(The help text is TRAIN_HELP, which lists the ready targets' settings.)"""
    from candlelab.training.estimators import model_spec
    from candlelab.training.folds import WINDOWS, FoldPlan

    if window not in WINDOWS:
        raise ConfigError(f"--window: {window!r}; choose one of {', '.join(WINDOWS)}")
    model_spec(model, {}, 2)  # the model first: a params file is checked against it
    params = _params(param or [], params_file, model)
    model_spec(model, params, 2)  # the model and its parameters, before any data is read
    space = workspace(ctx)
    plan = FoldPlan(folds=folds, window=window, train_blocks=train_blocks, embargo=embargo)
    options = {"model": model, "params": params, "folds": plan, "threshold": threshold,
               "experiment": experiment, "model_name": name}  # fmt: skip
    request = _request(space, features, target, chart or [], symbol or [], start, end, options)
    result = _run(space, request, json)
    _print_result(result, json)


def _ready_targets() -> str:
    """Each ready target's settings, read from its definition (stdlib only: --help stays fast)."""
    from candlelab.training.targets import ready_target

    lines = []
    for name in READY:
        settings = ready_target(name).canonical()
        shown = ", ".join(f"{k}={v}" for k, v in settings.items() if k not in ("name", "kind"))
        lines.append(f"[bold]{name}[/bold]: {shown}")
    return "\n\n".join(lines)


TRAIN_HELP = f"""Train a model straight from the database: the feature store's values, targets from
the candles or the labellers' spans, walk-forward folds with purging, one MLflow run, a
registered model version, and a row in training_runs.

Ready targets (--target NAME, no file needed; a TOML file defines others, docs/training.md):

{_ready_targets()}
"""


def _params(pairs: list[str], path: Path | None, model: str) -> dict[str, object]:
    """The file's parameters, each --param flag over them."""
    from candlelab.training.estimators import parsed_params

    given = _params_file(path, model) if path is not None else {}
    return {**given, **parsed_params(pairs)}


def _params_file(path: Path, model: str) -> dict[str, object]:
    """The parameters in a TOML file, checked against the model: whatever is wrong with
    them (a parameter the model lacks, a value of the wrong type) names the file."""
    from candlelab.training.estimators import model_spec

    try:
        given = tomllib.loads(path.read_text(encoding="utf-8"))
        model_spec(model, given, 2)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, InvalidValue) as exc:
        raise ConfigError(f"--params-file {path}: {exc}") from None
    return given


def _request(space: Workspace, features: str, target: str, charts: list[int],
             symbols: list[str], start: datetime | None, end: datetime | None,
             options: dict[str, Any]) -> TrainingRequest:  # fmt: skip
    from candlelab.features.registry import stored_set
    from candlelab.training.datasets import DatasetRequest, chart_selection
    from candlelab.training.targets import resolve_target
    from candlelab.training.trainer import TrainingRequest

    definition = resolve_target(target)
    with space.connect() as conn:
        stored = stored_set(conn, features)
        chosen = chart_selection(conn, stored, charts, symbols)
    data = DatasetRequest(stored, definition, chosen, _utc(start), _utc(end))
    return TrainingRequest(data, **options)


def _run(space: Workspace, request: TrainingRequest, quiet: bool) -> TrainingResult:
    from candlelab.training.trainer import train as train_model

    with _runs_looked_at(space):
        pass  # only the dead runs failed: the training opens connections of its own
    with out.status("training", spinner="dots") as status:
        report = (lambda _: None) if quiet else status.update
        return train_model(space.database_url, space.settings.artifact_location, request, report)


def _print_result(result: TrainingResult, json: bool) -> None:
    if json:
        emit_json(result)
        return
    out.print(f"run {result.run_id}: model {result.model_name} version "
              f"{result.model_version}, {result.rows:,} rows, dataset "
              f"{result.dataset_version[:12]}", soft_wrap=True)  # fmt: skip
    names = list(result.folds[0].metrics) if result.folds else []
    rows = [[f.number, f.test_start[:10], f.train_rows, f.test_rows, f.purged,
             *(f.metrics[k] for k in names)] for f in result.folds]  # fmt: skip
    rows.append(["all", "", "", "", "", *(result.metrics.get(k, "") for k in names)])
    table("walk-forward", ("fold", "test from", "train", "test", "purged", *names), rows)
    out.print("MLflow UI: candlelab mlflow-ui")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


runs_app = typer.Typer(help="Training runs, newest first.", invoke_without_command=True)


@runs_app.callback()
def runs(ctx: typer.Context, limit: Annotated[int, typer.Option(min=1)] = 20,
         json: Json = False) -> None:  # fmt: skip
    """Training runs, newest first, with their headline metrics."""
    if ctx.invoked_subcommand is not None:
        return
    from candlelab.training.runs import newest_runs

    with _runs_looked_at(workspace(ctx)) as conn:
        found = newest_runs(conn, limit)
    if json:
        emit_json(found)
        return
    heads = ("balanced_accuracy", "log_loss", "expectancy_r", "rmse")
    table("training runs", ("run", "model", "experiment", "status", "rows", *heads, "created"),
          [[r.run_id[:12], r.model_type, r.experiment_name, r.status, r.total_samples or "",
            *(_short(r.metrics.get(h)) for h in heads), r.created_at] for r in found])  # fmt: skip


@runs_app.command("show")
def show(ctx: typer.Context, run: Annotated[str, typer.Argument(help="A run id or a prefix.")],
         json: Json = False) -> None:  # fmt: skip
    """One run: every column of training_runs."""
    from candlelab.training.runs import run_detail

    with _runs_looked_at(workspace(ctx)) as conn:
        detail = run_detail(conn, run)
    if json:
        emit_json(detail)
        return
    table(f"run {detail.run_id}", ("field", "value"),
          [[k, _short(v)] for k, v in detail.__dict__.items()])  # fmt: skip


@contextmanager
def _runs_looked_at(space: Workspace) -> Iterator[Connection]:
    """A connection after the runs whose process died were marked failed (every command
    that looks at runs does it: no separate clean-up job)."""
    from candlelab.training.runs import reap_stale_runs

    with space.connect() as conn:
        reap_stale_runs(conn)
        conn.commit()
        yield conn


def _short(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else "" if value is None else value
