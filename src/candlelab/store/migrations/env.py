"""Alembic's entry point; run by `candlelab.store.migrations`, never imported directly."""

from alembic import context

from candlelab.store.database import engine
from candlelab.store.on_demand import managed_name
from candlelab.store.schema import metadata

config = context.config


def run_migrations_online() -> None:
    db = engine(config.attributes["url"])
    try:
        with db.connect() as connection:
            context.configure(
                connection=connection, target_metadata=metadata, include_name=managed_name
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        db.dispose()


run_migrations_online()
