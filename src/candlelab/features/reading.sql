-- count_bars --
-- How many bars the blocks to read hold ({where}: set, charts and range, composed).
SELECT sum(bars) FROM feature_blocks WHERE {where};

-- read_blocks --
-- The blocks to read, by chart then time.
SELECT chart_id, times, vectors FROM feature_blocks WHERE {where}
ORDER BY chart_id, first_time;

-- latest_vector --
-- The newest bar of a chart and its vector, cut out of its last block by the server.
SELECT last_time, substring(vectors FROM (bars - 1) * width * 8 + 1 FOR width * 8)
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
ORDER BY first_time DESC LIMIT 1;
