"""Schema migrations: Alembic owns the application's tables in schema `public`.

`upgrade` holds a server-wide advisory lock, so processes upgrading together take turns.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from candlelab.store.database import advisory_lock, engine

UPGRADE_LOCK = "candlelab schema upgrade"


def upgrade(url: str, revision: str = "head") -> None:
    with advisory_lock(url, UPGRADE_LOCK):
        command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    with advisory_lock(url, UPGRADE_LOCK):
        command.downgrade(_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    db = engine(url)
    try:
        with db.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        db.dispose()


def head() -> str:
    """The newest revision this candlelab ships."""
    revision = ScriptDirectory.from_config(_config("")).get_current_head()
    assert revision is not None, "the migrations folder has no revisions"
    return revision


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["url"] = url
    return config
