"""Feature increments record their blocks' steps (`step_us`, revision 0015).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:00:00

`append_feature_increment(s)` wrote increments' blocks without a step, so a point-in-time
join read the times of every block an increment of several evenly spaced bars wrote. They
take the step as one more argument (NULL: the bars are not evenly spaced, or only one).
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

DROP_PROCEDURE = (
    "DROP PROCEDURE append_feature_increments(integer, integer, bigint, bigint[], "
    "timestamptz[], timestamptz[], text[], timestamptz[], integer[], integer, bytea[], "
    "{steps}bytea[], bigint[], integer[], bytea[], boolean[])"
)
DROP_FUNCTION = (
    "DROP FUNCTION append_feature_increment(integer, integer, bigint, bigint, timestamptz, "
    "timestamptz, text, timestamptz, integer, integer, bytea, {step}bytea, bigint[], bytea)"
)

APPEND_FEATURE_INCREMENT = """
CREATE FUNCTION append_feature_increment(
    load_class integer, lock_class integer, feature_set bigint, chart bigint,
    built_to timestamptz, newest timestamptz, digest text, block_first timestamptz,
    block_bars integer, block_width integer, block_times bytea, block_step bigint,
    block_vectors bytea, block_nans bigint[], new_state bytea
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- The locks of features/builds.sql's lock_build, in its order (load lock first), and
    -- its commit without waiting for the WAL flush. Each statement below is planned once
    -- a session: custom plans for their parameters were chosen, and made, on every call
    -- (half the function's time).
    PERFORM pg_advisory_xact_lock(load_class, chart::integer),
            pg_advisory_xact_lock(lock_class, hashtext(feature_set::text || ':' || chart::text)),
            set_config('synchronous_commit', 'off', true),
            set_config('plan_cache_mode', 'force_generic_plan', true);
    -- Its snapshot taken once the locks are held (read committed): it sees the bars of a
    -- load that held the load lock, and the stale mark its correction set.
    UPDATE feature_builds
    SET last_bar = newest, bars = bars + block_bars, built_at = now(), state = new_state,
        warmup = CASE WHEN block_nans IS NULL THEN warmup ELSE ARRAY(
            SELECT w + n FROM unnest(warmup, block_nans) WITH ORDINALITY AS u(w, n, k)
            ORDER BY k
        ) END
    WHERE feature_set_id = feature_set AND chart_id = chart AND last_bar = built_to
      AND stale_from IS NULL
      AND (SELECT d FROM candles_digest(chart, built_to, newest) AS d) = digest;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, bars, width,
                                times, step_us, vectors, nans)
    VALUES (feature_set, chart, block_first, newest, block_bars, block_width, block_times,
            block_step, block_vectors,
            coalesce(block_nans, array_fill(0::bigint, ARRAY[block_width])));
    RETURN true;
END
$$"""

APPEND_FEATURE_INCREMENTS = """
CREATE PROCEDURE append_feature_increments(
    load_class integer, lock_class integer, feature_set bigint, charts bigint[],
    built_to timestamptz[], newest timestamptz[], digests text[], block_first timestamptz[],
    block_bars integer[], block_width integer, block_times bytea[], block_steps bigint[],
    block_vectors bytea[], nan_rows bigint[], nan_row integer[], new_states bytea[],
    INOUT written boolean[]
) LANGUAGE plpgsql AS $$
BEGIN
    written := '{}';
    FOR i IN 1 .. cardinality(charts) LOOP
        written := written || append_feature_increment(
            load_class, lock_class, feature_set, charts[i], built_to[i], newest[i], digests[i],
            block_first[i], block_bars[i], block_width, block_times[i], block_steps[i],
            block_vectors[i],
            nan_rows[(nan_row[i] - 1) * block_width + 1 : nan_row[i] * block_width],
            new_states[i]);
        COMMIT;  -- each chart its own transaction: a killed build keeps those done
    END LOOP;
END
$$"""

# Revision 0014's.
OLD_APPEND_FEATURE_INCREMENT = """
CREATE FUNCTION append_feature_increment(
    load_class integer, lock_class integer, feature_set bigint, chart bigint,
    built_to timestamptz, newest timestamptz, digest text, block_first timestamptz,
    block_bars integer, block_width integer, block_times bytea, block_vectors bytea,
    block_nans bigint[], new_state bytea
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- The locks of features/builds.sql's lock_build, in its order (load lock first), and
    -- its commit without waiting for the WAL flush. Each statement below is planned once
    -- a session: custom plans for their parameters were chosen, and made, on every call
    -- (half the function's time).
    PERFORM pg_advisory_xact_lock(load_class, chart::integer),
            pg_advisory_xact_lock(lock_class, hashtext(feature_set::text || ':' || chart::text)),
            set_config('synchronous_commit', 'off', true),
            set_config('plan_cache_mode', 'force_generic_plan', true);
    -- Its snapshot taken once the locks are held (read committed): it sees the bars of a
    -- load that held the load lock, and the stale mark its correction set.
    UPDATE feature_builds
    SET last_bar = newest, bars = bars + block_bars, built_at = now(), state = new_state,
        warmup = CASE WHEN block_nans IS NULL THEN warmup ELSE ARRAY(
            SELECT w + n FROM unnest(warmup, block_nans) WITH ORDINALITY AS u(w, n, k)
            ORDER BY k
        ) END
    WHERE feature_set_id = feature_set AND chart_id = chart AND last_bar = built_to
      AND stale_from IS NULL
      AND (SELECT d FROM candles_digest(chart, built_to, newest) AS d) = digest;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, bars, width,
                                times, vectors, nans)
    VALUES (feature_set, chart, block_first, newest, block_bars, block_width, block_times,
            block_vectors, coalesce(block_nans, array_fill(0::bigint, ARRAY[block_width])));
    RETURN true;
END
$$"""

OLD_APPEND_FEATURE_INCREMENTS = """
CREATE PROCEDURE append_feature_increments(
    load_class integer, lock_class integer, feature_set bigint, charts bigint[],
    built_to timestamptz[], newest timestamptz[], digests text[], block_first timestamptz[],
    block_bars integer[], block_width integer, block_times bytea[], block_vectors bytea[],
    nan_rows bigint[], nan_row integer[], new_states bytea[], INOUT written boolean[]
) LANGUAGE plpgsql AS $$
BEGIN
    written := '{}';
    FOR i IN 1 .. cardinality(charts) LOOP
        written := written || append_feature_increment(
            load_class, lock_class, feature_set, charts[i], built_to[i], newest[i], digests[i],
            block_first[i], block_bars[i], block_width, block_times[i], block_vectors[i],
            nan_rows[(nan_row[i] - 1) * block_width + 1 : nan_row[i] * block_width],
            new_states[i]);
        COMMIT;  -- each chart its own transaction: a killed build keeps those done
    END LOOP;
END
$$"""


def upgrade() -> None:
    op.execute(DROP_PROCEDURE.format(steps=""))
    op.execute(DROP_FUNCTION.format(step=""))
    op.execute(APPEND_FEATURE_INCREMENT)
    op.execute(APPEND_FEATURE_INCREMENTS)


def downgrade() -> None:
    op.execute(DROP_PROCEDURE.format(steps="bigint[], "))
    op.execute(DROP_FUNCTION.format(step="bigint, "))
    op.execute(OLD_APPEND_FEATURE_INCREMENT)
    op.execute(OLD_APPEND_FEATURE_INCREMENTS)
