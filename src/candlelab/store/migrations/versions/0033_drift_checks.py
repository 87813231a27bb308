"""Each model version's latest drift check, for /metrics to read.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 09:30:00

`candlelab drift` and the worker's scheduled check computed PSI and kept only the alerts
it raised, so /metrics could not show a version's worst PSI. One row per version
(`monitoring/drift.py`, `store_check`): when it was checked, its window, its signals
compared, its worst feature and that feature's PSI, and its predictions' PSI; each check
replaces the version's row, in the transaction that records its alerts.
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE drift_checks (
            model_name text NOT NULL,
            model_version integer NOT NULL,
            checked_at timestamptz NOT NULL DEFAULT now(),
            window_start timestamptz NOT NULL,
            window_end timestamptz NOT NULL,
            signals integer NOT NULL,
            worst_feature text,
            worst_feature_psi double precision,
            prediction_psi double precision,
            CONSTRAINT pk_drift_checks PRIMARY KEY (model_name, model_version),
            CONSTRAINT ck_drift_checks_worst_feature CHECK
                ((worst_feature IS NULL) = (worst_feature_psi IS NULL))
        )""")  # fmt: skip


def downgrade() -> None:
    op.execute("DROP TABLE drift_checks")
