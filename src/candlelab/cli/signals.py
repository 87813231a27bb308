"""`candlelab signals index | indexes`: an index on one feature of the signals' vectors, so
that a range such as `rsi_14 < 30` is an index scan (docs/models.md, "Querying signals")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from candlelab.cli import workspace
from candlelab.cli.output import emit_json, out, table
from candlelab.cli.train import Json

if TYPE_CHECKING:
    from candlelab.models.signals import FeatureIndex
    from candlelab.store.database import Connection

app = typer.Typer(
    help="Signals: indexes on one feature of their vectors, for range queries.",
    no_args_is_help=True,
)

Feature = Annotated[str, typer.Argument(help="A feature column's name, e.g. rsi_14.")]
Drop = Annotated[bool, typer.Option("--drop", help="Drop the feature's index instead.")]


@app.command("index")
def index(ctx: typer.Context, feature: Feature, drop: Drop = False, json: Json = False) -> None:
    """Make a B-tree index on one feature's value in signals.features (or --drop it), so
    that `WHERE (features->>'rsi_14')::double precision < 30` is an index scan. Built
    CONCURRENTLY: signals are written meanwhile. Idempotent."""
    from candlelab.models import signals

    name = signals.feature_index_name(feature)  # a bad name is refused before connecting
    with _autocommit(ctx) as conn:
        if drop:
            _print_dropped(feature, name, signals.drop_feature_index(conn, feature), json)
        else:
            _print_made(*signals.create_feature_index(conn, feature), json)


@app.command("indexes")
def indexes(ctx: typer.Context, json: Json = False) -> None:
    """The feature indexes on signals (made by `candlelab signals index NAME`)."""
    from candlelab.models.signals import feature_indexes

    with _autocommit(ctx) as conn:
        found = feature_indexes(conn)
    if json:
        emit_json(found)
    elif not found:
        out.print("signals: no feature index; `candlelab signals index NAME` makes one")
    else:
        table("feature indexes on signals", ("feature", "index", "valid", "size"),
              [[f.feature, f.name, "yes" if f.valid else "no (make it again)",
                _size(f.size_bytes)] for f in found])  # fmt: skip


@contextmanager
def _autocommit(ctx: typer.Context) -> Iterator[Connection]:
    """CREATE and DROP INDEX CONCURRENTLY run outside a transaction."""
    with workspace(ctx).connect() as conn:
        conn.autocommit = True
        yield conn


def _print_made(made: FeatureIndex, created: bool, json: bool) -> None:
    if json:
        emit_json({"action": "created" if created else "exists", "index": made})
        return
    now = "made" if created else "already there"
    out.print(f"signals: index {made.name} {now} ({_size(made.size_bytes)}); "
              f"`WHERE (features->>'{made.feature}')::double precision < 30` reads it",
              soft_wrap=True)  # fmt: skip


def _print_dropped(feature: str, name: str, dropped: bool, json: bool) -> None:
    if json:
        emit_json({"action": "dropped" if dropped else "absent", "feature": feature,
                   "name": name})  # fmt: skip
    elif dropped:
        out.print(f"signals: index {name} dropped", soft_wrap=True)
    else:
        out.print(f"signals: no index {name}; nothing to drop", soft_wrap=True)


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1024:,.0f} kB"
