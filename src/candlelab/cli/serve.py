"""`candlelab serve`: the annotator's web app and REST API (OpenAPI at /docs)."""

from __future__ import annotations

from typing import Annotated

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
    app = create_app(ws.database_url, access, ws.settings.artifact_location)
    uvicorn.run(app, host=host, port=port, log_level="warning")
