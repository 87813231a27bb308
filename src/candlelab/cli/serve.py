"""`candlelab serve`: the annotator's web app and REST API (OpenAPI at /docs); and
`candlelab mlflow-ui`: MLflow's UI beside it, where its links to a model's run lead."""

from __future__ import annotations

import os
import sys
from typing import Annotated
from urllib.parse import urlsplit

import typer

from candlelab.cli import workspace
from candlelab.cli.output import out
from candlelab.errors import ConfigError


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond 127.0.0.1 tokens are needed.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the web app and its REST API over the database (OpenAPI at /docs).

    On 127.0.0.1 (the default) no login is needed. On any other address candlelab refuses
    to start unless CANDLELAB_TOKEN_HASHES is set; every route then wants a token, as
    `Authorization: Bearer <token>`, or a browser session started by signing in with one.
    """
    import uvicorn

    from candlelab.web.access import Access, is_loopback
    from candlelab.web.app import create_app

    ws = workspace(ctx)
    access = Access(ws.settings.token_hashes.split(","))
    if access.open and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without access tokens: set CANDLELAB_TOKEN_HASHES "
            "to the SHA-256 of each token (printf %s TOKEN | sha256sum), or serve on 127.0.0.1"
        )
    with ws.connect():  # the schema is current, the database answers
        pass
    out.print(
        f"candlelab on http://{host}:{port} (API docs at /docs); Ctrl-C stops it", soft_wrap=True
    )
    app = create_app(ws.database_url, access, ws.settings.artifact_location, ws.settings.mlflow_ui,
                     freeze_heap=True)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning")


def mlflow_ui(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind. MLflow's UI has no sign-in: keep it local.")
    ] = "127.0.0.1",
) -> None:
    """Start MLflow's UI over candlelab's database (schema mlflow), on the port of
    CANDLELAB_MLFLOW_UI, where the web app's links to a model version's run lead.

    It runs beside `candlelab serve` (another terminal), not behind its sign-in.
    """
    from candlelab.training.tracking import tracking_uri

    ws = workspace(ctx)
    command = mlflow_ui_command(tracking_uri(ws.database_url), ws.settings.mlflow_ui,
                                ws.settings.artifact_location, host)  # fmt: skip
    out.print(f"MLflow's UI on {ws.settings.mlflow_ui} (Ctrl-C stops it)", soft_wrap=True)
    os.execv(sys.executable, command)


def mlflow_ui_command(backend: str, base_url: str, artifact_location: str,
                      host: str) -> list[str]:  # fmt: skip
    """`python -m mlflow ui` on `backend`, at the port (and path) of `base_url`."""
    where = urlsplit(base_url)
    port = where.port or (443 if where.scheme == "https" else 80)
    prefix = ["--static-prefix", where.path.rstrip("/")] if where.path.strip("/") else []
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", backend,
            "--default-artifact-root", artifact_location, "--host", host, "--port", str(port),
            *prefix]  # fmt: skip
