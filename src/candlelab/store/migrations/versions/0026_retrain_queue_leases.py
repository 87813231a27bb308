"""The retrain queue made safe: priority 1 = low … 5 = high, leases, backoff, time limits.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 23:40:00

The pending index now reads the highest priority first (0001 had 1 as the most urgent;
the spec and `jobs.queue` have 5). Nothing wrote the table before this revision, so no
stored priority is turned round. New columns: the worker holding a job, the lease (a
fencing token raised by every claim), max_attempts, run_after (backoff, schedules) and
timeout_seconds. A partial unique index keeps one open (pending or processing) request
per model; open duplicates stored before it are folded into the oldest one (highest
priority, reasons joined) and the others marked failed, saying so.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

CHECKS = {
    "lease": "lease >= 0",
    "max_attempts": "max_attempts >= 1",
    "timeout_seconds": "timeout_seconds > 0",
}
FOLD_DUPLICATES = """
    WITH open AS (
        SELECT id, model_name, priority, reason,
               first_value(id) OVER (PARTITION BY model_name ORDER BY inserted_at, id) AS keeper
        FROM retrain_queue WHERE status IN ('pending', 'processing')
    ), folded AS (
        UPDATE retrain_queue q SET priority = f.priority, reason = f.reason
        FROM (SELECT keeper, max(priority) AS priority,
                     string_agg(reason, '; ' ORDER BY id) AS reason
              FROM open GROUP BY keeper HAVING count(*) > 1) f
        WHERE q.id = f.keeper
    )
    UPDATE retrain_queue q
    SET status = 'failed', completed_at = now(),
        error_message = 'merged into request ' || o.keeper || ' by migration 0026'
    FROM open o WHERE q.id = o.id AND o.id <> o.keeper"""


def upgrade() -> None:
    op.add_column("retrain_queue", sa.Column("worker_id", sa.Text()))
    op.add_column("retrain_queue", sa.Column("lease", sa.BigInteger(),
                                             server_default=sa.text("0"), nullable=False))  # fmt: skip
    op.add_column("retrain_queue", sa.Column("max_attempts", sa.Integer(),
                                             server_default=sa.text("3"), nullable=False))  # fmt: skip
    op.add_column("retrain_queue", sa.Column("run_after", sa.DateTime(timezone=True),
                                             server_default=sa.text("now()"), nullable=False))  # fmt: skip
    op.add_column("retrain_queue", sa.Column("timeout_seconds", sa.Integer()))
    for name, condition in CHECKS.items():
        op.create_check_constraint(op.f(f"ck_retrain_queue_{name}"), "retrain_queue", condition)
    op.execute("DROP INDEX ix_retrain_queue_pending")
    op.execute("CREATE INDEX ix_retrain_queue_pending ON retrain_queue "
               "(priority DESC, inserted_at) WHERE status = 'pending'")  # fmt: skip
    op.execute(FOLD_DUPLICATES)
    op.execute("CREATE UNIQUE INDEX uq_retrain_queue_model_name_open ON retrain_queue "
               "(model_name) WHERE status IN ('pending', 'processing')")  # fmt: skip


def downgrade() -> None:
    op.execute("DROP INDEX uq_retrain_queue_model_name_open")
    op.execute("DROP INDEX ix_retrain_queue_pending")
    op.execute("CREATE INDEX ix_retrain_queue_pending ON retrain_queue "
               "(priority, inserted_at) WHERE status = 'pending'")  # fmt: skip
    for name in CHECKS:
        op.drop_constraint(op.f(f"ck_retrain_queue_{name}"), "retrain_queue")
    for column in ("timeout_seconds", "run_after", "max_attempts", "lease", "worker_id"):
        op.drop_column("retrain_queue", column)
