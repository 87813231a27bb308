-- stored_bars --
-- The bars a chart holds at some times: what an input's earlier chunks left there, for a
-- time an input repeats across chunks.
SELECT time, open, high, low, close, volume
FROM candles
WHERE chart_id = %(chart_id)s AND time = ANY(%(times)s);
