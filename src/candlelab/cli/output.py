"""How commands speak: rich tables for people, --json for scripts, one line per error."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    """Write `value` as JSON on stdout (dataclasses become objects, times ISO-8601)."""
    sys.stdout.write(json.dumps(_plain(value), indent=2) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column, justify="right" if column in NUMERIC else "left")
    for row in rows:
        view.add_row(*(_cell(value) for value in row))
    out.print(view)


def error(message: str) -> None:
    """One line on stderr whatever the message holds: line breaks joined, other control
    characters (a terminal escape in a file name) shown escaped, brackets never markup."""
    err.print(f"[bold red]error:[/] {escape(one_line(message))}", soft_wrap=True)


def one_line(message: str) -> str:
    joined = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in joined)


NUMERIC = {"bars", "1d bars", "1h bars", "new", "id", "rows", "gaps", "missing", "fetched",
           "rejected", "still missing", "PSI", "KS", "W/std", "NaN"}  # fmt: skip


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
