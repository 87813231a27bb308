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
