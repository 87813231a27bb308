"""Database objects candlelab makes on demand, not by a migration: their names.

`candlelab signals index NAME` (`models/signals.py`) makes an index on one feature of
`signals.features`, named FEATURE_INDEX_PREFIX + NAME. A database may hold any of them, so a
comparison of the database with the schema's metadata (Alembic's autogenerate) leaves
them out through `managed_name`. Kept apart from `schema`, which imports SQLAlchemy: a
prediction imports this module and needs none of it.
"""

from __future__ import annotations

FEATURE_INDEX_PREFIX = "ix_signals_feature_"


def managed_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether an object reflected from the database belongs to the migrations' schema:
    Alembic's `include_name` hook (migrations/env.py), so that autogenerate reports no
    feature index as a difference."""
    return not (type_ == "index" and name is not None and name.startswith(FEATURE_INDEX_PREFIX))
