"""Feature increments checked and written by the server, many charts in one statement.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:00:00

An increment (`features/increments.py`) writes each chart in its own transaction. Taking
the chart's locks, checking that its build and new bars are still those computed from,
appending the block and moving the build on took a BEGIN, two statements and a COMMIT
per chart, four round trips; `append_feature_increment` does one chart's in one call,
and the procedure `append_feature_increments` calls it for each of many charts,
committing after each: one round trip for them all, each chart still done or untouched
if the build is killed. `candles_digest` becomes a SQL function returning its one row,
which the planner inlines into the queries that call it in FROM.
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

DROP_CANDLES_DIGEST = "DROP FUNCTION candles_digest(bigint, timestamptz, timestamptz)"
# One row, by a SQL function that the planner inlines where it is called in FROM: no call
# of its own (a PL/pgSQL function's call cost 25 µs, the digest of one bar 4 µs).
CANDLES_DIGEST = """
CREATE FUNCTION candles_digest(chart bigint, after timestamptz, upto timestamptz)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.time), ''))
FROM candles c WHERE c.chart_id = chart AND c.time > after AND c.time <= upto
$$"""
# Revision 0012's.
PLPGSQL_CANDLES_DIGEST = """
CREATE FUNCTION candles_digest(chart bigint, after timestamptz, upto timestamptz) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN  -- PL/pgSQL: its plan is kept for the session, a SQL function's made on every call
    RETURN (SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.time), ''))
            FROM candles c WHERE c.chart_id = chart AND c.time > after AND c.time <= upto);
END
$$"""

APPEND_FEATURE_INCREMENT = """
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

APPEND_FEATURE_INCREMENTS = """
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
    op.execute(DROP_CANDLES_DIGEST)
    op.execute(CANDLES_DIGEST)
    op.execute(APPEND_FEATURE_INCREMENT)
    op.execute(APPEND_FEATURE_INCREMENTS)


def downgrade() -> None:
    op.execute(
        "DROP PROCEDURE append_feature_increments(integer, integer, bigint, bigint[], "
        "timestamptz[], timestamptz[], text[], timestamptz[], integer[], integer, bytea[], "
        "bytea[], bigint[], integer[], bytea[], boolean[])"
    )
    op.execute(
        "DROP FUNCTION append_feature_increment(integer, integer, bigint, bigint, timestamptz, "
        "timestamptz, text, timestamptz, integer, integer, bytea, bytea, bigint[], bytea)"
    )
    op.execute(DROP_CANDLES_DIGEST)
    op.execute(PLPGSQL_CANDLES_DIGEST)
