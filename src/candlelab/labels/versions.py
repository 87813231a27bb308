"""Optimistic concurrency: a change names the version it was made from.

Rows people edit (spans, point annotations) carry a `version` that every change bumps.
The change's statement matches only `id AND version`; when it matched nothing, the row
was changed (or deleted) since the editor read it, and the editor gets the row as it is
now instead of a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, LiteralString, Protocol

from candlelab.errors import VersionConflict
from candlelab.store.database import Connection, translated


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


def change(conn: Connection, query: LiteralString, params: dict[str, Any],
           current: Callable[[], Versioned], what: str) -> None:  # fmt: skip
    """Run a versioned change; VersionConflict with the current row if it matched nothing
    (the `current` lookup raises NotFound if the row is gone)."""
    with translated():
        done = conn.execute(query, params)
    if done.fetchone() is None:
        now = current()
        raise VersionConflict(
            f"{what} is at version {now.version}, not {params['version']}: "
            "someone changed it since you read it",
            now,
        )
