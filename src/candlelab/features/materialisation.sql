-- first_bar_after --
-- The chart's first bar after a time, if any.
SELECT min(time) FROM candles WHERE chart_id = %(chart_id)s AND time > %(last)s;

-- build_state --
-- What is built of a set on a chart: its range and from where it is stale.
SELECT first_bar, last_bar, stale_from
FROM feature_builds WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s;

-- save_build --
-- The chart's build after writing: its range, bars and NaN counts per column read off
-- the blocks (in the same statement: one round trip per chart less), and the state its
-- next increment continues from (NULL: none).
INSERT INTO feature_builds AS f (feature_set_id, chart_id, first_bar, last_bar, bars, warmup,
                                 depends_on, stale_from, built_at, state)
SELECT %(set_id)s, %(chart_id)s, min(first_time), max(last_time), sum(bars), (
    SELECT coalesce(array_agg(total ORDER BY k), '{}')
    FROM (
        SELECT k, sum(n)::bigint AS total
        FROM feature_blocks, unnest(nans) WITH ORDINALITY AS u(n, k)
        WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
        GROUP BY k
    ) AS counted
), %(depends_on)s, NULL, now(), %(state)s::bytea
FROM feature_blocks WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
HAVING count(*) > 0
ON CONFLICT ON CONSTRAINT pk_feature_builds DO UPDATE SET
    first_bar = EXCLUDED.first_bar, last_bar = EXCLUDED.last_bar, bars = EXCLUDED.bars,
    warmup = EXCLUDED.warmup, depends_on = EXCLUDED.depends_on, stale_from = NULL,
    built_at = now(), state = EXCLUDED.state;

-- drop_build --
-- A chart with no bars left has no build.
DELETE FROM feature_builds WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s;
