"""Candles lose their per-row foreign key to charts: it tripled the cost of a bulk load.

The one write path (candles.load_bars) checks the chart exists once per batch instead.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:30:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f("fk_candles_chart_id_charts"), "candles", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM candles WHERE chart_id NOT IN (SELECT id FROM charts)")
    op.create_foreign_key(
        op.f("fk_candles_chart_id_charts"),
        "candles",
        "charts",
        ["chart_id"],
        ["id"],
        ondelete="CASCADE",
    )
