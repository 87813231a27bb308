"""The GIN index on signal features holds only the signals that carry features.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 22:00:00

A backtest's signals store no features (their vectors are the feature store's at those
bars), yet a GIN index gives every NULL row an entry of its own: 2.7 µs a row, a quarter
of a backtest's write. Partial on `features IS NOT NULL`, it is the same index for every
query on the features: `features @> …` and the jsonpath operators are strict, so the
planner proves the predicate from the query.
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_signals_features")
    op.execute(
        "CREATE INDEX ix_signals_features ON signals USING gin (features jsonb_path_ops) "
        "WHERE features IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_signals_features")
    op.execute("CREATE INDEX ix_signals_features ON signals USING gin (features jsonb_path_ops)")
