-- bars_before --
-- How many bars a chart has before a time, counted up to `most` (a bar's index there,
-- as far as a warm-up needs to know it).
SELECT count(*) FROM (
    SELECT FROM candles WHERE chart_id = %(chart_id)s AND time < %(time)s
    ORDER BY time DESC LIMIT %(most)s
) AS before;

-- warm_from --
-- Per chart, the open of its bar at index `bars` (0 = its first bar): the first past a
-- warm-up of `bars` bars; NULL when the chart is not that long.
SELECT c.id, (SELECT time FROM candles WHERE chart_id = c.id ORDER BY time OFFSET %(bars)s LIMIT 1)
FROM unnest(%(chart_ids)s::bigint[]) AS c(id);
