"""Every `candlelab` run imports the command modules to parse its arguments (and --help
reads them all): those modules leave each stage's libraries to the command that runs it."""

from __future__ import annotations

import subprocess
import sys

STAGE_LIBRARIES = {"alembic", "fastapi", "mlflow", "numpy", "pandas", "polars", "psycopg",
                   "pyarrow", "pydantic", "sqlalchemy", "talib", "uvicorn"}  # fmt: skip


def test_the_command_line_parses_without_importing_any_stage() -> None:
    code = "import sys, candlelab.cli.main; print(*sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {name.split(".")[0] for name in loaded} & STAGE_LIBRARIES == set()


def test_a_command_checks_the_schema_revision_without_alembic_or_sqlalchemy() -> None:
    """Every command that connects asks the revision first (`Workspace.connect`); the
    migration tools are imported only to migrate."""
    code = ("import sys, candlelab.workspace, candlelab.store.migrations, "
            "candlelab.store.database; print(*sys.modules)")  # fmt: skip
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {name.split(".")[0] for name in loaded} & {"alembic", "sqlalchemy"} == set()
