"""Stored feature sets (`feature_sets`): every version ever built, immutable, readable.

A version is registered the first time it is built; the same definition is always the
same version. `name` resolves to the newest version, `name@3` to version 3, and
`name@1a2b3c` to the version whose hash starts so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from candlelab.errors import NotFound
from candlelab.features.definitions import FeatureSet, feature_set
from candlelab.store.database import Connection, translated
from candlelab.store.queries import load_queries

QUERIES = load_queries(__file__)
LOCK_CLASS = 0x0CA2  # the first key of the feature store's advisory locks


@dataclass(frozen=True)
class StoredSet:
    """One version of a feature set as stored."""

    id: int
    name: str
    version: int
    version_hash: str
    columns: tuple[str, ...]
    definition: dict[str, Any]
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def feature_set(self) -> FeatureSet:
        """The definition as a set again (checked as when it was first read)."""
        return feature_set(self.definition, f"stored set {self.label}")


def stored_from_row(row: Sequence[Any]) -> StoredSet:
    """A version from the first seven columns of a row in `feature_sets`' order."""
    return StoredSet(int(row[0]), row[1], int(row[2]), row[3], tuple(row[4]), row[5], row[6])


def register(conn: Connection, features: FeatureSet) -> StoredSet:
    """The stored version of `features`, registered now if it is new."""
    version_hash = features.version_hash
    row = conn.execute(QUERIES["set_by_hash"], {"hash": version_hash}).fetchone()
    if row:
        return stored_from_row(row)
    params = {"name": features.name, "hash": version_hash, "columns": list(features.columns),
              "definition": Jsonb(features.definition()), "lock_class": LOCK_CLASS}  # fmt: skip
    with translated():
        conn.execute(QUERIES["lock_set_name"], params)
        row = (
            conn.execute(QUERIES["set_by_hash"], params).fetchone()
            or conn.execute(QUERIES["insert_set"], params).fetchone()
        )
    assert row is not None
    return stored_from_row(row)


def stored_set(conn: Connection, reference: str) -> StoredSet:
    """A stored version by `name`, `name@version` or `name@hash-prefix`."""
    name, _, version = reference.partition("@")
    if not version:
        rows = conn.execute(QUERIES["newest_set"], {"name": name}).fetchall()
    elif version.isdigit():
        rows = conn.execute(
            QUERIES["set_version"], {"name": name, "version": int(version)}
        ).fetchall()
    else:
        rows = conn.execute(
            QUERIES["set_by_hash_prefix"], {"name": name, "prefix": version}
        ).fetchall()
    if len(rows) != 1:
        what = "is ambiguous" if rows else "is not stored"
        raise NotFound(f"feature set {reference!r} {what}; `candlelab features list` shows them")
    return stored_from_row(rows[0])


@dataclass(frozen=True)
class SetSummary:
    """A stored version with what is materialised of it."""

    stored: StoredSet
    charts: int
    bars: int
    stale_charts: int


def set_summaries(conn: Connection) -> list[SetSummary]:
    rows = conn.execute(QUERIES["all_sets"]).fetchall()
    return [
        SetSummary(stored_from_row(row[:7]), int(row[7]), int(row[8]), int(row[9])) for row in rows
    ]
