-- block_hashes --
-- The set's blocks on the charts by chart then first bar: bars and candles' hash sums,
-- those of the candles table over the block's range where the block has none.
SELECT chart_id, bars, coalesce(candles_hash, candles_hash(chart_id, first_time, last_time))
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = ANY(%(chart_ids)s::bigint[])
ORDER BY chart_id, first_time;
