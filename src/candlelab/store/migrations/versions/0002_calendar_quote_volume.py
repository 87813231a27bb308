"""Charts get a trading calendar; candles keep the quote-asset volume Binance reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_VOLUME_CHECK = (
    "volume >= 0 AND (taker_buy_volume IS NULL OR taker_buy_volume BETWEEN 0 AND volume)"
    " AND (trades IS NULL OR trades >= 0)"
)
NEW_VOLUME_CHECK = OLD_VOLUME_CHECK + " AND (quote_volume IS NULL OR quote_volume >= 0)"


def upgrade() -> None:
    op.add_column(
        "charts",
        sa.Column("calendar", sa.Text(), server_default=sa.text("'24/7'"), nullable=False),
    )
    op.add_column("candles", sa.Column("quote_volume", sa.Double(), nullable=True))
    op.drop_constraint(op.f("ck_candles_volume"), "candles", type_="check")
    op.create_check_constraint(op.f("ck_candles_volume"), "candles", NEW_VOLUME_CHECK)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_candles_volume"), "candles", type_="check")
    op.create_check_constraint(op.f("ck_candles_volume"), "candles", OLD_VOLUME_CHECK)
    op.drop_column("candles", "quote_volume")
    op.drop_column("charts", "calendar")
