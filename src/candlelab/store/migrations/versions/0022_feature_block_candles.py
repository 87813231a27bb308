"""Each feature block carries the candles its bars were computed from.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 23:00:00

A training set needs the candles of its bars beside their features (the targets, the
dataset's digest). Read from `candles`, the server deforms one heap row per bar: for 5M
bars that read cost as much as the whole feature read. `feature_blocks.candles` packs
each block's bars' open, high, low, close and volume (float8send: big-endian, 40 bytes
a bar) so one small column is read instead.

A trigger fills it from `candles` on every insert of a block, so every write path (a
build, an increment, a merge, a cut) stores it, always from the rows the build's lock
protects. It is NULL where the chart's candles in the block's range are not the block's
bars (a build gone stale); readers then read `candles`. Bars written or changed after a
build mark it stale (`mark_features_stale`), and a stale build is rebuilt before it is
read for training: so the candles of a current build's blocks are the table's.

The blocks stored before are filled in here, by the same function.
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


# As store/schema.py has them at this revision.
BLOCK_CANDLES = """
CREATE FUNCTION block_candles(chart bigint, first timestamptz, last timestamptz, bars integer)
RETURNS bytea LANGUAGE sql STABLE AS $$
SELECT CASE WHEN count(*) = bars THEN string_agg(float8send(open) || float8send(high)
    || float8send(low) || float8send(close) || float8send(volume), '' ORDER BY time) END
FROM candles
WHERE chart_id = chart AND time BETWEEN first AND last
$$"""
FILL_BLOCK_CANDLES = """
CREATE FUNCTION fill_block_candles() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.candles := block_candles(NEW.chart_id, NEW.first_time, NEW.last_time, NEW.bars);
    RETURN NEW;
END
$$"""
TRIGGER = (
    "CREATE TRIGGER feature_blocks_candles BEFORE INSERT ON feature_blocks "
    "FOR EACH ROW EXECUTE FUNCTION fill_block_candles()"
)


def upgrade() -> None:
    op.execute(
        "ALTER TABLE feature_blocks ADD COLUMN candles bytea, "
        "ADD CONSTRAINT ck_feature_blocks_candles "
        "CHECK (candles IS NULL OR octet_length(candles) = 40 * bars)"
    )
    op.execute("ALTER TABLE feature_blocks ALTER COLUMN candles SET STORAGE EXTERNAL")
    op.execute(BLOCK_CANDLES)
    op.execute(FILL_BLOCK_CANDLES)
    op.execute(TRIGGER)
    op.execute("UPDATE feature_blocks SET candles = block_candles(chart_id, first_time, "
               "last_time, bars)")  # fmt: skip


def downgrade() -> None:
    op.execute("DROP TRIGGER feature_blocks_candles ON feature_blocks")
    op.execute("DROP FUNCTION fill_block_candles()")
    op.execute("DROP FUNCTION block_candles(bigint, timestamptz, timestamptz, integer)")
    op.execute("ALTER TABLE feature_blocks DROP COLUMN candles")
