"""Each chart's bar count, first and last bar, kept with its candles.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "charts",
        sa.Column("bar_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("charts", sa.Column("first_bar", sa.DateTime(timezone=True), nullable=True))
    op.add_column("charts", sa.Column("last_bar", sa.DateTime(timezone=True), nullable=True))
    # The bars stored before this revision, counted once.
    op.execute(
        "UPDATE charts c SET bar_count = s.bars, first_bar = s.first_bar, last_bar = s.last_bar "
        "FROM (SELECT chart_id, count(*) AS bars, min(time) AS first_bar, max(time) AS last_bar "
        "FROM candles GROUP BY chart_id) s WHERE s.chart_id = c.id"
    )


def downgrade() -> None:
    for column in ("last_bar", "first_bar", "bar_count"):
        op.drop_column("charts", column)
