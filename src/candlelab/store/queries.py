"""Named SQL queries, kept as plain SQL in a `.sql` file beside the module that owns the table.

A file holds blocks like:

    -- chart_candles --
    -- A chart's candles, oldest first.
    SELECT ... WHERE chart_id = %(chart_id)s ...

The SQL is read from files shipped with the package, never built from input, which is
why the type checker is told each query is a LiteralString.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import LiteralString

HEADER = re.compile(r"^-- (\w+) --$", re.MULTILINE)


def load_queries(module_file: str) -> dict[str, LiteralString]:
    """The queries in the `.sql` file named like `module_file` (charts.py -> charts.sql)."""
    text = Path(module_file).with_suffix(".sql").read_text()
    names_and_bodies = HEADER.split(text)[1:]
    return {
        name: _strip_comments(body)
        for name, body in zip(names_and_bodies[::2], names_and_bodies[1::2], strict=True)
    }


def _strip_comments(body: str) -> LiteralString:
    lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
    return "\n".join(lines).strip().rstrip(";")  # mypy reads LiteralString as str
