"""Model deployments as an append-only audit trail: what each move replaced, shadows, and
the kind of move; rows can no longer be changed or removed.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 18:00:00

A row says what an alias of a registered model names after the move (`version`, NULL
when the move took the alias away), the version it named before (`replaced_version`),
the traffic share and whether the version only predicts in the shadow. MLflow's aliases
are the truth of what serves; these rows are its history (`models/deployments.py`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ACTIONS = "action IN ('promote', 'rollback', 'sync', 'retire')"
REMOVAL = "(version IS NULL) = (action = 'retire') OR action = 'sync'"
SHADOW = "NOT shadow OR traffic_share = 0"

REFUSE_CHANGES = """
CREATE FUNCTION model_deployments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'model_deployments is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege',
              HINT = 'record a new move (candlelab models promote, rollback or sync)';
END
$$"""
TRIGGERS = (
    "CREATE TRIGGER model_deployments_unchanged BEFORE UPDATE OR DELETE ON model_deployments "
    "FOR EACH ROW EXECUTE FUNCTION model_deployments_append_only()",
    "CREATE TRIGGER model_deployments_kept BEFORE TRUNCATE ON model_deployments "
    "FOR EACH STATEMENT EXECUTE FUNCTION model_deployments_append_only()",
)


def upgrade() -> None:
    op.add_column("model_deployments", sa.Column("replaced_version", sa.Integer()))
    op.add_column("model_deployments", sa.Column(
        "shadow", sa.Boolean(), server_default=sa.text("false"), nullable=False))  # fmt: skip
    op.add_column("model_deployments", sa.Column(
        "action", sa.Text(), server_default=sa.text("'promote'"), nullable=False))  # fmt: skip
    op.alter_column("model_deployments", "version", nullable=True)
    op.create_check_constraint(op.f("ck_model_deployments_action"), "model_deployments", ACTIONS)
    op.create_check_constraint(op.f("ck_model_deployments_removal"), "model_deployments", REMOVAL)
    op.create_check_constraint(op.f("ck_model_deployments_shadow"), "model_deployments", SHADOW)
    op.execute(REFUSE_CHANGES)
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER model_deployments_kept ON model_deployments")
    op.execute("DROP TRIGGER model_deployments_unchanged ON model_deployments")
    op.execute("DROP FUNCTION model_deployments_append_only()")
    for name in ("shadow", "removal", "action"):
        op.drop_constraint(op.f(f"ck_model_deployments_{name}"), "model_deployments")
    # The older schema cannot hold a move that took an alias away (no version).
    op.execute("DELETE FROM model_deployments WHERE version IS NULL")
    op.alter_column("model_deployments", "version", nullable=False)
    for column in ("action", "shadow", "replaced_version"):
        op.drop_column("model_deployments", column)
