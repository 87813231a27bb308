"""`candlelab db`: migrate the schema, see where the database is, run the embedded server.

URLs and paths are printed on one line whatever the terminal's width (soft_wrap), so they
copy and paste whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out
from candlelab.errors import OperationalError
from candlelab.store.urls import describe, redact

app = typer.Typer(
    help="The database: schema migrations and the embedded server.", no_args_is_help=True
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@dataclass(frozen=True)
class DatabaseStatus:
    url: str
    where: str
    embedded: bool
    running: bool
    revision: str | None
    head: str
    up_to_date: bool
    mlflow_schema: bool


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Create or upgrade every table: candlelab's (schema public) and MLflow's (schema mlflow)."""
    from candlelab.store import migrations
    from candlelab.training.tracking import SCHEMA as MLFLOW_SCHEMA

    ws = workspace(ctx)
    ws.upgrade()
    out.print(
        f"schema at revision {migrations.head()} (head); MLflow tables current in schema "
        f"{MLFLOW_SCHEMA}; {ws.where()}",
        soft_wrap=True,
    )


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' removes every table.")],
) -> None:
    """Undo migrations down to REVISION (candlelab's tables only; MLflow's are left alone)."""
    from candlelab.store import migrations

    url = workspace(ctx).database_url
    migrations.downgrade(url, revision)
    out.print(f"schema at revision {migrations.current(url) or 'base'}")


@app.command()
def status(ctx: typer.Context, json: Json = False) -> None:
    """Where the database is, whether it runs, and whether its schema is current."""
    ws = workspace(ctx)
    server = ws.embedded
    running = server.status().running if server else True
    report = _status(ws.database_url if running else None, ws.where(), server is not None)
    if json:
        emit_json(report)
        return
    for field, value in report.__dict__.items():
        out.print(f"{field:>14}: {value}", soft_wrap=True)


@app.command()
def url(
    ctx: typer.Context,
    mlflow: Annotated[
        bool, typer.Option("--mlflow", help="The MLflow tracking URI instead.")
    ] = False,
) -> None:
    """Print the database URL for psql, pandas or SQLAlchemy (starting the embedded server)."""
    from candlelab.training.tracking import tracking_uri

    database_url = workspace(ctx).database_url
    print(tracking_uri(database_url) if mlflow else database_url)


@app.command()
def start(ctx: typer.Context) -> None:
    """Start the embedded server (it keeps running until `candlelab db stop`)."""
    from candlelab.store.database import connect

    ws = workspace(ctx)
    database_url = ws.database_url
    if ws.embedded is None:
        connect(database_url).close()
        out.print(
            f"DATABASE_URL is set; candlelab uses {describe(database_url)}, which answers",
            soft_wrap=True,
        )
        return
    out.print(f"running: {ws.where()}\nurl: {database_url}", soft_wrap=True)


@app.command()
def stop(ctx: typer.Context) -> None:
    """Stop the embedded server; every row stays in $CANDLELAB_HOME/pg."""
    server = workspace(ctx).embedded
    if server is None:
        raise OperationalError(
            "DATABASE_URL is set: candlelab does not run that server, stop it yourself"
        )
    stopped = server.stop()
    stopped_in = f"stopped the server in {server.pgdata}"
    out.print(stopped_in if stopped else "the server was not running", soft_wrap=True)


def _status(database_url: str | None, where: str, embedded: bool) -> DatabaseStatus:
    from candlelab.store import migrations
    from candlelab.store.database import connect
    from candlelab.training.tracking import SCHEMA as MLFLOW_SCHEMA

    head = migrations.head()
    if database_url is None:
        return DatabaseStatus("", where, embedded, False, None, head, False, False)
    revision = migrations.current(database_url)
    with connect(database_url) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %(schema)s", {"schema": MLFLOW_SCHEMA}
        ).fetchone()
    return DatabaseStatus(
        redact(database_url), where, embedded, True, revision, head, revision == head, bool(found)
    )
