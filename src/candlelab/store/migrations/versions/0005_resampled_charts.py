"""Resampled charts: a chart may be derived from a base chart, with its bars' offset.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("charts", sa.Column("base_chart_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "charts",
        sa.Column("bar_offset", sa.Text(), server_default=sa.text("'0m'"), nullable=False),
    )
    op.create_foreign_key(
        op.f("fk_charts_base_chart_id_charts"),
        "charts",
        "charts",
        ["base_chart_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_charts_base_chart_id"), "charts", ["base_chart_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_charts_base_chart_id"), table_name="charts")
    op.drop_constraint(op.f("fk_charts_base_chart_id_charts"), "charts", type_="foreignkey")
    op.drop_column("charts", "bar_offset")
    op.drop_column("charts", "base_chart_id")
