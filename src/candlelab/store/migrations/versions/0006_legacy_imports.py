"""Legacy SQLite imports: a ledger of table groups imported, and where each row's id went.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 01:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legacy_imports",
        sa.Column("file_sha256", sa.Text(), nullable=False),
        sa.Column("table_group", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("remapped", sa.Boolean(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("file_sha256", "table_group", name=op.f("pk_legacy_imports")),
    )
    op.create_table(
        "legacy_ids",
        sa.Column("file_sha256", sa.Text(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("legacy_id", sa.BigInteger(), nullable=False),
        sa.Column("new_id", sa.BigInteger(), nullable=False),
        sa.Column("merged", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint(
            "file_sha256", "table_name", "legacy_id", name=op.f("pk_legacy_ids")
        ),
    )


def downgrade() -> None:
    op.drop_table("legacy_ids")
    op.drop_table("legacy_imports")
