"""What every command starts from: the settings, and the database they point at.

The store's modules (Alembic, SQLAlchemy, psycopg, MLflow) are imported where they are
used: a command refused for a bad option never connects, and should not wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from candlelab.errors import SchemaOutOfDate
from candlelab.store.urls import describe

if TYPE_CHECKING:
    from candlelab.settings import Settings
    from candlelab.store.database import Connection
    from candlelab.store.embedded import EmbeddedServer


@dataclass
class Workspace:
    settings: Settings

    @property
    def embedded(self) -> EmbeddedServer | None:
        """The embedded server, or None when DATABASE_URL names a server of the user's."""
        from candlelab.store.embedded import EmbeddedServer

        return None if self.settings.database_url else EmbeddedServer(self.settings.home)

    @cached_property
    def database_url(self) -> str:
        """The database's URL, starting the embedded server first when it is the one in use."""
        server = self.embedded
        return server.start() if server else str(self.settings.database_url)

    def where(self) -> str:
        """Where the data lives, for people: a data directory or a server address."""
        server = self.embedded
        return (
            f"embedded PostgreSQL, data in {server.pgdata}"
            if server
            else describe(self.database_url)
        )

    def upgrade(self) -> None:
        """Bring candlelab's tables and MLflow's to the newest schema (idempotent)."""
        from candlelab.store import migrations
        from candlelab.training.tracking import upgrade_tracking_schema

        migrations.upgrade(self.database_url)
        upgrade_tracking_schema(self.database_url, self.settings.artifact_location)

    def connect(self) -> Connection:
        """A connection to a database whose schema is current; refuse one that is not."""
        from candlelab.store import migrations
        from candlelab.store.database import connect

        at, head = migrations.current(self.database_url), migrations.head()
        if at != head:
            raise SchemaOutOfDate(
                f"the database at {describe(self.database_url)} is at schema revision {at}, "
                f"this candlelab needs {head}: run `candlelab db upgrade`"
            )
        return connect(self.database_url)
