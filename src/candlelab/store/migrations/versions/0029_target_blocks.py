"""Target values kept beside the feature blocks.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 03:00:00

A training set's triple-barrier or forward-return values depend only on the candles of
its chart's blocks, yet were computed again by every run: 1.6 s of one core for 5M bars,
beside a feature read of about 2 s. `target_blocks` keeps them per feature block and
target definition (`training/target_blocks.py`), written by the first run that computes
them and read with the candles afterwards.

A stored value must never be stale. A value at a bar reads the bars after it up to the
horizon and, through the ATR, every bar before it; so a feature block inserted, changed or
deleted at `first_time` voids, by trigger, the chart's target blocks from there on, those
whose values looked at a bar from there on (`reaches`), and those whose horizon ran past
the chart's last bar (`reaches` NULL: new bars decide them). Bars corrected, backfilled or
appended reach the blocks only through a build (a changed bar marks the build stale, and
training refuses a stale build until it is rebuilt), and every build writes blocks.
Nothing is stored yet, so nothing is filled in here.
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

# As store/schema.py has them at this revision.
TABLE = """
CREATE TABLE target_blocks (
    feature_set_id bigint NOT NULL,
    chart_id bigint NOT NULL,
    first_time timestamptz NOT NULL,
    target_hash text NOT NULL,
    formula smallint NOT NULL,
    bars integer NOT NULL,
    reaches timestamptz,
    packed bytea NOT NULL,
    CONSTRAINT pk_target_blocks
        PRIMARY KEY (feature_set_id, chart_id, first_time, target_hash, formula),
    CONSTRAINT fk_target_blocks_feature_blocks FOREIGN KEY (feature_set_id, chart_id, first_time)
        REFERENCES feature_blocks (feature_set_id, chart_id, first_time) ON DELETE CASCADE,
    CONSTRAINT ck_target_blocks_packing CHECK (bars > 0 AND octet_length(packed) = 29 * bars)
)"""
VOID_TARGET_BLOCKS = """
CREATE FUNCTION void_target_blocks(feature_set bigint, chart bigint, first timestamptz)
RETURNS void LANGUAGE sql AS $$
DELETE FROM target_blocks
WHERE feature_set_id = feature_set AND chart_id = chart
  AND (first_time >= first OR reaches IS NULL OR reaches >= first)
$$"""
FEATURE_BLOCK_WRITTEN = """
CREATE FUNCTION feature_block_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM void_target_blocks(NEW.feature_set_id, NEW.chart_id, NEW.first_time);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM void_target_blocks(OLD.feature_set_id, OLD.chart_id, OLD.first_time);
    ELSE
        PERFORM void_target_blocks(OLD.feature_set_id, OLD.chart_id,
                                   least(OLD.first_time, NEW.first_time));
        PERFORM void_target_blocks(NEW.feature_set_id, NEW.chart_id,
                                   least(OLD.first_time, NEW.first_time));
    END IF;
    RETURN NULL;
END
$$"""
TRIGGER = (
    "CREATE TRIGGER feature_blocks_targets AFTER INSERT OR UPDATE OR DELETE ON feature_blocks "
    "FOR EACH ROW EXECUTE FUNCTION feature_block_written()"
)


def upgrade() -> None:
    op.execute(TABLE)
    op.execute("ALTER TABLE target_blocks ALTER COLUMN packed SET STORAGE EXTERNAL")
    op.execute(VOID_TARGET_BLOCKS)
    op.execute(FEATURE_BLOCK_WRITTEN)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER feature_blocks_targets ON feature_blocks")
    op.execute("DROP FUNCTION feature_block_written()")
    op.execute("DROP FUNCTION void_target_blocks(bigint, bigint, timestamptz)")
    op.execute("DROP TABLE target_blocks")
