"""Drift references: per training run, each feature's distribution and the predictions'.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-05 22:30:00

One row per feature of the run's feature set and one for its final model's predictions,
on the rows that model was fit on: the inner quantile bin edges and the rows per bin
(NaN apart), the percentiles, mean, standard deviation and NaN share; for the
predictions the rows per class. `candlelab drift` compares a serving window against
them. A run trained before this revision has none.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_references",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("edges", ARRAY(sa.Double()), nullable=False),
        sa.Column("counts", ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("missing", sa.BigInteger(), nullable=False),
        sa.Column("quantiles", ARRAY(sa.Double()), nullable=False),
        sa.Column("categories", ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("mean", sa.Double()),
        sa.Column("std", sa.Double()),
        sa.Column("nan_share", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["training_runs.run_id"],
            ondelete="CASCADE",
            name=op.f("fk_drift_references_run_id_training_runs"),
        ),
        sa.PrimaryKeyConstraint("run_id", "kind", "name", name=op.f("pk_drift_references")),
        sa.CheckConstraint(
            "kind IN ('feature', 'prediction')", name=op.f("ck_drift_references_kind")
        ),
    )


def downgrade() -> None:
    op.drop_table("drift_references")
