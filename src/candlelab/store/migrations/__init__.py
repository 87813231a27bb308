"""Schema migrations: Alembic owns the application's tables in schema `public`.

`upgrade` holds a server-wide advisory lock, so processes upgrading together take turns.
Alembic is imported only to migrate: `current` and `head`, which every command asks,
do without it (`revisions`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from candlelab.store.database import advisory_lock
from candlelab.store.migrations.revisions import current, head

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["current", "downgrade", "head", "upgrade"]
UPGRADE_LOCK = "candlelab schema upgrade"


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    with advisory_lock(url, UPGRADE_LOCK):
        command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    with advisory_lock(url, UPGRADE_LOCK):
        command.downgrade(_config(url), revision)


def _config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["url"] = url
    return config
