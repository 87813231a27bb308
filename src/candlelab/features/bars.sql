-- chart_columns --
-- For each chart, whether it has each optional candle column on any bar.
SELECT chart_id, count(vwap) > 0, count(trades) > 0, count(taker_buy_volume) > 0,
       count(quote_volume) > 0
FROM candles WHERE chart_id = ANY(%(chart_ids)s::bigint[])
GROUP BY chart_id;

-- read_start --
-- Where a build's read of a chart starts: `history` bars before `start` (fewer at the
-- chart's beginning), or `start` itself when no history is needed.
SELECT coalesce(min(time), %(start)s)
FROM (
    SELECT time FROM candles
    WHERE chart_id = %(chart_id)s AND time < %(start)s
    ORDER BY time DESC LIMIT %(history)s
) AS before;

-- packed_bars --
-- A chart's bars from a time on, packed oldest first into one bytea as in
-- market/candles.sql's windows (int8 µs since 2000, then float8s, big-endian); {columns}
-- is bars.packed_terms.
SELECT count(*), string_agg(timestamptz_send(time) || {columns}, '' ORDER BY time)
FROM candles
WHERE chart_id = %(chart_id)s AND time >= %(start)s;

-- longer_chart --
-- The chart of the same symbol at a longer timeframe: the one resampled from this chart
-- first, then one of the same source, then any.
SELECT l.id
FROM charts c JOIN charts l ON l.symbol = c.symbol AND l.timeframe = %(timeframe)s
WHERE c.id = %(chart_id)s
ORDER BY l.base_chart_id IS NOT DISTINCT FROM c.id DESC, l.source = c.source DESC, l.id
LIMIT 1;
