-- count_bars --
-- How many bars the blocks to read hold ({where}: set, charts and range, composed).
SELECT sum(bars) FROM feature_blocks WHERE {where};

-- copy_blocks --
-- The blocks to read by chart then time, as binary COPY: streamed, where a named cursor's
-- FETCHes made the client and the server take turns (0.85 s against 0.53 s for 1.5M bars).
COPY (
    SELECT chart_id, times, vectors FROM feature_blocks WHERE {where}
    ORDER BY chart_id, first_time
) TO STDOUT (FORMAT BINARY);

-- copy_block_candles --
-- The candles stored beside the blocks' values, by chart then time, as binary COPY: the
-- bars' OHLCV, 40 bytes a bar, NULL for a block whose build went stale. Stored apart
-- (EXTERNAL), they are read without the vectors.
COPY (
    SELECT chart_id, times, candles FROM feature_blocks WHERE {where}
    ORDER BY chart_id, first_time
) TO STDOUT (FORMAT BINARY);

-- latest_vector --
-- The newest bar of a chart and its vector, cut out of its last block by the server.
SELECT last_time, substring(vectors FROM (bars - 1) * width * 8 + 1 FOR width * 8)
FROM feature_blocks
WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
ORDER BY first_time DESC LIMIT 1;

-- block_index --
-- The charts' blocks that start by a time, by chart then first bar: where each starts
-- (µs since 1970), its step (0: its bars are not evenly spaced) and bars, with its
-- chart's timeframe and timezone (what its bars' closes are computed from). No bar
-- times: a join places its rows from these alone, but in uneven blocks (block_times).
SELECT b.chart_id, (extract(epoch FROM b.first_time) * 1000000)::bigint,
       coalesce(b.step_us, 0), b.bars, c.timeframe, c.timezone
FROM feature_blocks b JOIN charts c ON c.id = b.chart_id
WHERE b.feature_set_id = %(set_id)s AND b.chart_id = ANY(%(chart_ids)s::bigint[])
  AND b.first_time <= %(until)s
ORDER BY b.chart_id, b.first_time;

-- block_times --
-- The bar opens of some blocks, by (chart, first bar), in the order asked.
SELECT b.times
FROM unnest(%(chart_ids)s::bigint[], %(firsts)s::timestamptz[]) WITH ORDINALITY
    AS w(chart_id, first_time, n)
JOIN feature_blocks b ON b.feature_set_id = %(set_id)s AND b.chart_id = w.chart_id
                     AND b.first_time = w.first_time
ORDER BY w.n;

-- create_wanted_bars --
-- The bars a point-in-time join needs, by their block and place in it (`n`: the order
-- asked), filled by one binary COPY; gone with the transaction.
CREATE TEMPORARY TABLE wanted_bars (
    n bigint, chart_id bigint, first_time timestamptz, bar bigint
) ON COMMIT DROP;

-- copy_wanted_bars --
-- See create_wanted_bars.
COPY wanted_bars (n, chart_id, first_time, bar) FROM STDIN (FORMAT BINARY);

-- plan_vectors_at --
-- How vectors_at must be run, for this transaction: the pieces formed by sorting (the
-- planner, without statistics on the temporary table, hashed all the pieces first and
-- sent nothing until it had cut every bar), and the sort of ~100,000 bars in memory.
SET LOCAL enable_hashagg = off;
SET LOCAL work_mem = '64MB';

-- vectors_at --
-- The wanted bars' vectors cut out of their blocks by the server (uncompressed storage:
-- only the pages holding them are read), in pieces of `size` bars by `n`: each piece one
-- bytea, with its bars' `n` as int8s in the same order (both aggregates of one group see
-- the rows in one order). Streamed, the client puts a piece in place while the server
-- cuts the next, instead of the server sorting ~50 MB or sending one value of it. One
-- pass: the blocks are found by one hash join and the pieces formed by one sort of the
-- wanted bars (a key lookup per bar, or a scan of the wanted bars per piece, cost a
-- third more).
SELECT string_agg(int8send(w.n), '') AS n,
       string_agg(substring(b.vectors FROM w.bar::integer * %(width)s * 8 + 1
                            FOR %(width)s * 8), '') AS vectors
FROM wanted_bars w
JOIN feature_blocks b ON b.feature_set_id = %(set_id)s AND b.chart_id = w.chart_id
                     AND b.first_time = w.first_time
GROUP BY w.n / %(size)s
ORDER BY w.n / %(size)s;
