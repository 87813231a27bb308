"""Feature blocks whose bars are evenly spaced say by how much (`step_us`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 09:00:00

A point-in-time join then finds a bar's place in such a block by arithmetic, without
reading and searching the block's bar times. The blocks stored before this revision are
measured once here: each one's times are read and its step set when they are even.
"""

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

STEP_CHECK = (
    "step_us IS NULL OR (step_us > 0 AND bars > 1"
    " AND last_time = first_time + (bars - 1) * step_us * interval '1 microsecond')"
)
BLOCKS = sa.text(
    "SELECT feature_set_id, chart_id, first_time, times FROM feature_blocks WHERE bars > 1"
)
SET_STEP = sa.text(
    "UPDATE feature_blocks SET step_us = :step WHERE feature_set_id = :set_id"
    " AND chart_id = :chart_id AND first_time = :first"
)


def upgrade() -> None:
    op.add_column("feature_blocks", sa.Column("step_us", sa.BigInteger()))
    steps = _even_steps(op.get_bind())
    if steps:
        op.get_bind().execute(SET_STEP, steps)
    op.create_check_constraint(op.f("ck_feature_blocks_step"), "feature_blocks", STEP_CHECK)


def _even_steps(bind: sa.Connection) -> list[dict[str, object]]:
    """The step of each stored block whose bar times are evenly spaced, streamed (the
    blocks' times may be more than memory holds at once)."""
    steps: list[dict[str, object]] = []
    rows = bind.execute(BLOCKS, execution_options={"stream_results": True, "yield_per": 1000})
    for set_id, chart_id, first, times in rows:
        gaps = np.diff(np.frombuffer(times, "<i8"))
        if (gaps == gaps[0]).all():
            steps.append({"set_id": set_id, "chart_id": chart_id, "first": first,
                          "step": int(gaps[0])})  # fmt: skip
    return steps


def downgrade() -> None:
    op.drop_constraint(op.f("ck_feature_blocks_step"), "feature_blocks", type_="check")
    op.drop_column("feature_blocks", "step_us")
