"""The `candlelab` command line: `main` builds the settings, each module adds its commands."""

from typing import cast

import typer

from candlelab.workspace import Workspace


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace the root callback built for this invocation."""
    return cast(Workspace, ctx.find_root().obj)
