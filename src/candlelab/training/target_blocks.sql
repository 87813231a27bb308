-- count_bars --
-- How many bars the set's blocks on the charts hold.
SELECT sum(bars) FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = ANY(%(chart_ids)s::bigint[]);

-- copy_training_blocks --
-- The set's blocks on the charts by chart then first bar, as binary COPY: each one's bar
-- opens and values, its candles' hash sums (NULL: its candles were not the chart's bars
-- when it was written), its row version (xmin: every write of the row makes a new one),
-- the target's values kept for it (NULL: none), and its candles where a block of its
-- chart has no values kept (the chart's values are computed, from its first bar on). All
-- of a training set in one read of one snapshot; the candles only where they are needed.
COPY (
    SELECT f.chart_id, f.times, f.vectors, f.candles_hash, f.xmin::text::bigint, t.packed,
           CASE WHEN bool_or(t.packed IS NULL) OVER (PARTITION BY f.chart_id)
                THEN f.candles END
    FROM feature_blocks f
    LEFT JOIN target_blocks t ON t.feature_set_id = f.feature_set_id
        AND t.chart_id = f.chart_id AND t.first_time = f.first_time
        AND t.target_hash = %(target_hash)s AND t.formula = %(formula)s
    WHERE f.feature_set_id = %(set_id)s AND f.chart_id = ANY(%(chart_ids)s::bigint[])
    ORDER BY f.chart_id, f.first_time
) TO STDOUT (FORMAT BINARY);

-- lock_charts --
-- The set's build lock (features/builds.sql's lock_build) on each of the charts that no
-- build holds, until the transaction ends: no build writes their blocks meanwhile. Not
-- waited for: values that a running build is about to void are not worth the wait. The
-- commit need not wait for the WAL flush: the values are derived, and computed again when
-- lost.
SELECT c.chart_id, set_config('synchronous_commit', 'off', true)
FROM unnest(%(chart_ids)s::bigint[]) AS c(chart_id)
WHERE pg_try_advisory_xact_lock(%(lock_class)s,
                                hashtext(%(set_id)s::text || ':' || c.chart_id::text))
ORDER BY c.chart_id;

-- create_read_blocks --
-- The blocks that values to keep were computed from: their place in the read (`n`),
-- chart, first bar and row version; gone with the transaction.
CREATE TEMPORARY TABLE read_blocks (
    n bigint, chart_id bigint, first_time timestamptz, version bigint
) ON COMMIT DROP;

-- copy_read_blocks --
-- See create_read_blocks.
COPY read_blocks (n, chart_id, first_time, version) FROM STDIN (FORMAT BINARY);

-- unwritten_blocks --
-- Of the blocks read, those without the target's values yet, on the charts whose blocks
-- are all still those read (the same first bars and row versions: none written since, so
-- the values are still those of the chart's bars), by place in the read.
SELECT r.n
FROM read_blocks r
WHERE r.chart_id IN (
    SELECT c.chart_id
    FROM (
        SELECT chart_id, array_agg(first_time ORDER BY first_time) AS firsts,
               array_agg(version ORDER BY first_time) AS versions
        FROM read_blocks GROUP BY chart_id
    ) AS c
    CROSS JOIN LATERAL (
        SELECT array_agg(first_time ORDER BY first_time) AS firsts,
               array_agg(xmin::text::bigint ORDER BY first_time) AS versions
        FROM feature_blocks
        WHERE feature_set_id = %(set_id)s AND chart_id = c.chart_id
    ) AS f
    WHERE f.firsts = c.firsts AND f.versions = c.versions
) AND NOT EXISTS (
    SELECT 1 FROM target_blocks t
    WHERE t.feature_set_id = %(set_id)s AND t.chart_id = r.chart_id
      AND t.first_time = r.first_time AND t.target_hash = %(target_hash)s
      AND t.formula = %(formula)s
)
ORDER BY r.n;

-- copy_target_blocks --
-- Blocks' target values to keep (store/schema.py's target_blocks has the packing).
COPY target_blocks (feature_set_id, chart_id, first_time, target_hash, formula, bars, reaches,
                    packed)
FROM STDIN (FORMAT BINARY);
