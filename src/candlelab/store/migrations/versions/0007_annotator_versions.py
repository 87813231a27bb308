"""The annotator: row versions for optimistic concurrency, and an annotation's price level.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("span_annotations", "annotations"):
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        )
    op.add_column("annotations", sa.Column("price", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("annotations", "price")
    for table in ("span_annotations", "annotations"):
        op.drop_column(table, "version")
