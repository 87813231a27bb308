-- insert_block --
-- One block of bars of a chart's feature values (see store/schema.py for the packing).
INSERT INTO feature_blocks (feature_set_id, chart_id, first_time, last_time, bars, width,
                            times, step_us, vectors, nans)
VALUES (%(set_id)s, %(chart_id)s, %(first)s, %(last)s, %(bars)s, %(width)s, %(times)s,
        %(step)s, %(vectors)s, %(nans)s);

-- delete_blocks_from --
-- The blocks of a chart that start at or after a time (a rebuild from there on).
DELETE FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time >= %(start)s;

-- block_across --
-- The block that starts before a time and ends at or after it, to be cut there.
SELECT first_time, times, vectors
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
  AND first_time < %(start)s AND last_time >= %(start)s;

-- delete_block --
-- One block, by its first bar.
DELETE FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time = %(first)s;

-- tail_blocks --
-- The chart's short blocks after its last full one, oldest first: merged when many.
SELECT first_time, bars
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time > coalesce((
    SELECT max(first_time) FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND bars >= %(full)s
), '-infinity')
ORDER BY first_time;

-- blocks_from --
-- The blocks of a chart from a time on, oldest first, whole.
SELECT times, vectors
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time >= %(start)s
ORDER BY first_time;

-- block_at --
-- The block holding a chart's bar at a time: its first bar and its bar times.
SELECT first_time, times
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
  AND first_time <= %(time)s AND last_time >= %(time)s;

-- vectors_slice --
-- Bars [first, first + count) of a block's vectors, cut by the server (uncompressed
-- storage: only the pages holding them are read). The offsets are cast: a small Python
-- int is sent as smallint, and smallint × width overflowed past bar 528 of a 62-wide set.
SELECT substring(vectors FROM %(first)s::integer * width * 8 + 1
                 FOR %(count)s::integer * width * 8)
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s AND first_time = %(block)s;
