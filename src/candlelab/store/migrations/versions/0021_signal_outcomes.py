"""Signals' outcomes: what a judgement found, what it read, and a corrected bar voiding it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 04:00:00

Beside `outcome`, `realized_rr` and `evaluated_at`, a judged signal keeps its holding time
in bars, its maximum adverse and favourable excursions in R, the last bar it read
(`judged_to`) and, for a signal judged without a trade, why (`outcome_reason`). An
outcome is one of four words. A bar written at or before a judgement's `judged_to`
voids it (`mark_outcomes_stale`): the trigger on candles calls it for updates and
deletes, the statements that insert bars call it beside `mark_features_stale`. Pending
signals and the voiding are each served by a partial index.

Going down, every judgement is dropped with its columns except the three the table had.
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


# As store/schema.py has them at this revision.
MARK_OUTCOMES_STALE = """
CREATE FUNCTION mark_outcomes_stale(chart bigint, first timestamptz) RETURNS void
LANGUAGE sql AS $$
UPDATE signals SET outcome = NULL, outcome_reason = NULL, realized_rr = NULL, held_bars = NULL,
                   mae_r = NULL, mfe_r = NULL, judged_to = NULL, evaluated_at = NULL
WHERE chart_id = chart AND judged_to >= first
$$"""
CANDLES_CHANGED = """
CREATE OR REPLACE FUNCTION candles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM mark_features_stale(chart_id, first), mark_outcomes_stale(chart_id, first)
        FROM (
            SELECT chart_id, min(time) AS first FROM (
                SELECT chart_id, time FROM old_rows UNION ALL SELECT chart_id, time FROM new_rows
            ) changed GROUP BY chart_id
        ) charts;
    ELSE
        PERFORM mark_features_stale(chart_id, first), mark_outcomes_stale(chart_id, first)
        FROM (SELECT chart_id, min(time) AS first FROM old_rows GROUP BY chart_id) charts;
    END IF;
    RETURN NULL;
END
$$"""
# As 0011 made it.
CANDLES_CHANGED_0011 = """
CREATE OR REPLACE FUNCTION candles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM mark_features_stale(chart_id, min(time)) FROM (
            SELECT chart_id, time FROM old_rows UNION ALL SELECT chart_id, time FROM new_rows
        ) changed GROUP BY chart_id;
    ELSE
        PERFORM mark_features_stale(chart_id, min(time)) FROM old_rows GROUP BY chart_id;
    END IF;
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    # No code wrote an outcome before this revision: what a column holds that is not one
    # of the words is no judgement (0018 made numbers into text).
    op.execute("UPDATE signals SET outcome = NULL "
               "WHERE outcome NOT IN ('win', 'loss', 'timeout', 'ambiguous')")  # fmt: skip
    op.execute(
        "ALTER TABLE signals ADD COLUMN outcome_reason text, ADD COLUMN held_bars integer, "
        "ADD COLUMN mae_r double precision, ADD COLUMN mfe_r double precision, "
        "ADD COLUMN judged_to timestamptz, "
        "ADD CONSTRAINT ck_signals_outcome CHECK (outcome IS NULL OR outcome IN "
        "('win', 'loss', 'timeout', 'ambiguous'))"
    )
    op.execute("CREATE INDEX ix_signals_chart_id_time ON signals (chart_id, time) "
               "WHERE evaluated_at IS NULL")  # fmt: skip
    op.execute("CREATE INDEX ix_signals_chart_id_judged_to ON signals (chart_id, judged_to) "
               "WHERE judged_to IS NOT NULL")  # fmt: skip
    op.execute(MARK_OUTCOMES_STALE)
    op.execute(CANDLES_CHANGED)


def downgrade() -> None:
    op.execute(CANDLES_CHANGED_0011)
    op.execute("DROP FUNCTION mark_outcomes_stale(bigint, timestamptz)")
    op.execute("DROP INDEX ix_signals_chart_id_judged_to")
    op.execute("DROP INDEX ix_signals_chart_id_time")
    op.execute(
        "ALTER TABLE signals DROP CONSTRAINT ck_signals_outcome, DROP COLUMN judged_to, "
        "DROP COLUMN mfe_r, DROP COLUMN mae_r, DROP COLUMN held_bars, DROP COLUMN outcome_reason"
    )
