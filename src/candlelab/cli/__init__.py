"""The `candlelab` command line: `main` builds the settings, each module adds its commands.

Each command imports what it works with (pandas, Alembic, MLflow, FastAPI...) inside its
own function: every run imports the command modules to parse the arguments, and a command
should pay only for its own stage, not for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import typer

if TYPE_CHECKING:
    from candlelab.workspace import Workspace


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace the root callback built for this invocation."""
    return cast("Workspace", ctx.find_root().obj)
