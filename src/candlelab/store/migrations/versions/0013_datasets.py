"""Datasets: one row per reproducible training set, referenced by the runs trained on it;
a run's heartbeat, registered model version and artifact hash.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:00:00

A dataset version hashes the feature-set version, the target definition, the charts and
range, the candles read and the span versions that taught; its rows stay in the feature
store and the candles (`training/datasets.py`). No run named a dataset before this
revision, so `training_runs.dataset_version` can reference the table at once. A running
run whose heartbeat stops was left by a process that died (`training/runs.py`).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("feature_set_id", sa.BigInteger(), nullable=False),
        sa.Column("target_hash", sa.Text(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("chart_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("data_start", sa.DateTime(timezone=True)),
        sa.Column("data_end", sa.DateTime(timezone=True)),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("classes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("class_counts", postgresql.JSONB(), nullable=False),
        sa.Column("ambiguous", sa.BigInteger(), nullable=False),
        sa.Column("candles_digest", sa.Text(), nullable=False),
        sa.Column("label_digest", sa.Text(), nullable=False),
        sa.Column("spans", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("rows >= 0 AND ambiguous >= 0", name="counts"),
        sa.ForeignKeyConstraint(
            ["feature_set_id"], ["feature_sets.id"], name="fk_datasets_feature_set_id_feature_sets"
        ),
        sa.PrimaryKeyConstraint("version", name="pk_datasets"),
    )
    op.add_column(
        "training_runs",
        sa.Column(
            "heartbeat_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column("training_runs", sa.Column("model_name", sa.Text()))
    op.add_column("training_runs", sa.Column("model_version", sa.Integer()))
    op.add_column("training_runs", sa.Column("artifact_sha256", sa.Text()))
    op.create_foreign_key(
        "fk_training_runs_dataset_version_datasets",
        "training_runs",
        "datasets",
        ["dataset_version"],
        ["version"],
    )


def downgrade() -> None:
    op.drop_constraint("fk_training_runs_dataset_version_datasets", "training_runs")
    for column in ("artifact_sha256", "model_version", "model_name", "heartbeat_at"):
        op.drop_column("training_runs", column)
    op.drop_table("datasets")
