"""Signals of shadows: a version that predicted beside the one that served, never served.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 21:00:00

A shadow's signal is logged like a served one, with `shadow` true; a signal stays one
per (chart, bar, model, version), whichever way it was made first.
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE signals ADD COLUMN shadow boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE signals DROP COLUMN shadow")
