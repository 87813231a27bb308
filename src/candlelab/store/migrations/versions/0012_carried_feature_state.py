"""Feature builds carry their recursive indicators' state; a digest of a chart's bars.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:00:00

An increment continues a built chart from its stored values and, for the recursive
TA-Lib functions (EMA, Wilder's smoothing), from their internal state after the last
built bar (`features/continuation.py`), instead of reading hundreds of bars of warm-up.
`state` is NULL where no state is carried yet (builds before this revision included):
the next increment of such a chart reads the full warm-up and stores one.
`candles_digest` fingerprints a chart's bars in a range, so an increment computed outside
the chart's lock can prove, when it writes under it, that the bars it read are unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CANDLES_DIGEST = """
CREATE FUNCTION candles_digest(chart bigint, after timestamptz, upto timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN  -- PL/pgSQL: its plan is kept for the session, a SQL function's made on every call
    RETURN (SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.time), ''))
            FROM candles c WHERE c.chart_id = chart AND c.time > after AND c.time <= upto);
END
$$"""


def upgrade() -> None:
    op.add_column("feature_builds", sa.Column("state", sa.LargeBinary()))
    op.execute(CANDLES_DIGEST)


def downgrade() -> None:
    op.execute("DROP FUNCTION candles_digest(bigint, timestamptz, timestamptz)")
    op.drop_column("feature_builds", "state")
