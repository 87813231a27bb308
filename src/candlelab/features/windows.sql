-- built_sets --
-- Every stored set built on a chart, with what is built of it: by name, newest first.
SELECT s.id, s.name, s.version, s.definition_hash, s.columns, s.definition, s.created_at,
       b.first_bar, b.last_bar, b.bars, b.stale_from
FROM feature_builds b JOIN feature_sets s ON s.id = b.feature_set_id
WHERE b.chart_id = %(chart_id)s
ORDER BY s.name, s.version DESC;

-- built_set --
-- What is built of one set on a chart, if anything.
SELECT first_bar, last_bar, bars, stale_from
FROM feature_builds WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s;

-- blocks_from --
-- The blocks holding a chart's first `count` bars from a time on (inclusive) and before
-- an end, oldest first. A block is needed while the whole blocks after the first one
-- (which may start before `start`) hold fewer than `count` bars; the bounds are cut
-- exactly in NumPy. The blocks are picked by their keys first, so only the few needed
-- have their values read.
SELECT b.times, b.vectors
FROM (
    SELECT first_time, sum(bars) OVER older - bars - first_value(bars) OVER older AS counted
    FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
      AND first_time >= coalesce((
          SELECT max(first_time) FROM feature_blocks
          WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
            AND first_time <= %(start)s
      ), '-infinity')
      AND last_time >= %(start)s AND first_time < %(end)s
    WINDOW older AS (ORDER BY first_time)
) AS needed
JOIN feature_blocks b ON b.feature_set_id = %(set_id)s AND b.chart_id = %(chart_id)s
                     AND b.first_time = needed.first_time
WHERE needed.counted < %(count)s
ORDER BY b.first_time;

-- blocks_before --
-- The blocks holding a chart's newest `count` bars before a time, oldest first: as
-- blocks_from, counted from the newest block (which may reach past `end`) back.
SELECT b.times, b.vectors
FROM (
    SELECT first_time, sum(bars) OVER newer - bars - first_value(bars) OVER newer AS counted
    FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time < %(end)s
    WINDOW newer AS (ORDER BY first_time DESC)
) AS needed
JOIN feature_blocks b ON b.feature_set_id = %(set_id)s AND b.chart_id = %(chart_id)s
                     AND b.first_time = needed.first_time
WHERE needed.counted < %(count)s
ORDER BY b.first_time;
