"""Feature increments checked and written by the server, many charts in one statement.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:00:00

An increment (`features/increments.py`) writes each chart in its own transaction. Taking
the chart's locks, checking that its build and new bars are still those computed from,
appending the block and moving the build on took a BEGIN, two statements and a COMMIT
per chart, four round trips; `append_feature_increment` does one chart's in one call,
and the procedure `append_feature_increments` calls it for each of many charts,
committing after each: one round trip for them all, each chart still done or untouched
if the build is killed.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

APPEND_FEATURE_INCREMENT = """
CREATE FUNCTION append_feature_increment(
    load_class integer, lock_class integer, feature_set bigint, chart bigint,
    built_to timestamptz, newest timestamptz, digest text, block_first timestamptz,
    block_bars integer, block_width integer, block_times bytea, block_vectors bytea,
    block_nans bigint[], new_state bytea
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- The locks of features/builds.sql's lock_build, in its order (load lock first).
    PERFORM pg_advisory_xact_lock(load_class, chart::integer);
    PERFORM pg_advisory_xact_lock(lock_class, hashtext(feature_set::text || ':' || chart::text));
    PERFORM set_config('synchronous_commit', 'off', true);
    -- Each statement below takes its snapshot now (read committed): it sees the bars of a
    -- load that held the load lock, and the stale mark its correction set.
    PERFORM FROM feature_builds
    WHERE feature_set_id = feature_set AND chart_id = chart AND last_bar = built_to
      AND stale_from IS NULL
    FOR UPDATE;
    IF NOT FOUND OR candles_digest(chart, built_to, newest) <> digest THEN
        RETURN false;
    END IF;
    INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, bars, width,
                                times, vectors, nans)
    VALUES (feature_set, chart, block_first, newest, block_bars, block_width, block_times,
            block_vectors, coalesce(block_nans, array_fill(0::bigint, ARRAY[block_width])));
    UPDATE feature_builds
    SET last_bar = newest, bars = bars + block_bars, built_at = now(), state = new_state,
        warmup = CASE WHEN block_nans IS NULL THEN warmup ELSE ARRAY(
            SELECT w + n FROM unnest(warmup, block_nans) WITH ORDINALITY AS u(w, n, k)
            ORDER BY k
        ) END
    WHERE feature_set_id = feature_set AND chart_id = chart;
    RETURN true;
END
$$"""

APPEND_FEATURE_INCREMENTS = """
CREATE PROCEDURE append_feature_increments(
    load_class integer, lock_class integer, feature_set bigint, charts bigint[],
    built_to timestamptz[], newest timestamptz[], digests text[], block_first timestamptz[],
    block_bars integer[], block_width integer, block_times bytea[], block_vectors bytea[],
    block_nans bigint[], new_states bytea[], INOUT written boolean[]
) LANGUAGE plpgsql AS $$
BEGIN
    written := '{}';
    FOR i IN 1 .. cardinality(charts) LOOP
        written := written || append_feature_increment(
            load_class, lock_class, feature_set, charts[i], built_to[i], newest[i], digests[i],
            block_first[i], block_bars[i], block_width, block_times[i], block_vectors[i],
            block_nans[(i - 1) * block_width + 1 : i * block_width], new_states[i]);
        COMMIT;  -- each chart its own transaction: a killed build keeps those done
    END LOOP;
END
$$"""


def upgrade() -> None:
    op.execute(APPEND_FEATURE_INCREMENT)
    op.execute(APPEND_FEATURE_INCREMENTS)


def downgrade() -> None:
    op.execute(
        "DROP PROCEDURE append_feature_increments(integer, integer, bigint, bigint[], "
        "timestamptz[], timestamptz[], text[], timestamptz[], integer[], integer, bytea[], "
        "bytea[], bigint[], bytea[], boolean[])"
    )
    op.execute(
        "DROP FUNCTION append_feature_increment(integer, integer, bigint, bigint, timestamptz, "
        "timestamptz, text, timestamptz, integer, integer, bytea, bytea, bigint[], bytea)"
    )
