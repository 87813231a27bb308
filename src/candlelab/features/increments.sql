-- increment_charts --
-- The set's builds on the charts that are current (nothing stale) and carry a state of
-- the set's size, with how many bars each chart has after its last built bar (0: nothing
-- to do; more than a full block's: left to the chart-by-chart build), the newest of them
-- and their digest, and how many short blocks end the chart (merged past MAX_TAIL); in
-- the order they are written.
SELECT b.chart_id, n.bars, b.last_bar, n.newest, d.digest, b.state, (
    SELECT count(*) FROM feature_blocks k
    WHERE k.feature_set_id = b.feature_set_id AND k.chart_id = b.chart_id
      AND k.first_time > coalesce((
          SELECT max(f.first_time) FROM feature_blocks f
          WHERE f.feature_set_id = b.feature_set_id AND f.chart_id = b.chart_id
            AND f.bars >= %(full)s
      ), '-infinity')
)
FROM feature_builds b
CROSS JOIN LATERAL (
    SELECT count(*) AS bars, max(time) AS newest FROM candles
    WHERE chart_id = b.chart_id AND time > b.last_bar
) AS n
CROSS JOIN LATERAL candles_digest(b.chart_id, b.last_bar, n.newest) AS d(digest)
WHERE b.feature_set_id = %(set_id)s AND b.chart_id = ANY(%(chart_ids)s::bigint[])
  AND b.stale_from IS NULL AND octet_length(b.state) = 8 * %(state_size)s
  AND n.bars <= %(full)s
ORDER BY b.chart_id;

-- increment_bars --
-- Each chart's last `window` bars up to its last built bar, then its bars after it up to
-- the newest read, packed as bars.sql's packed_bars ({columns}: bars.packed_terms), each
-- chart aggregated on its own (no sort of all the rows).
SELECT w.chart_id, p.packed
FROM unnest(%(chart_ids)s::bigint[], %(lasts)s::timestamptz[], %(newest)s::timestamptz[])
    AS w(chart_id, last_bar, newest)
CROSS JOIN LATERAL (
    SELECT string_agg(timestamptz_send(c.time) || {columns}, '' ORDER BY c.time) AS packed
    FROM (
        (SELECT * FROM candles WHERE chart_id = w.chart_id AND time <= w.last_bar
         ORDER BY time DESC LIMIT %(window)s)
        UNION ALL
        (SELECT * FROM candles WHERE chart_id = w.chart_id AND time > w.last_bar
         AND time <= w.newest)
    ) AS c
) AS p;

-- increment_vectors --
-- Each chart's stored vectors of its last `window` built bars, oldest first: the end of
-- each of its last blocks, cut by the server (uncompressed storage: only the pages
-- holding them are read).
SELECT chart_id, substring(vectors FROM (bars - take) * width * 8 + 1)
FROM (
    SELECT chart_id, first_time, bars, width, vectors,
           least(bars, %(window)s::integer - (sum(bars) OVER newest_first - bars))::integer AS take
    FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = ANY(%(chart_ids)s::bigint[])
    WINDOW newest_first AS (PARTITION BY chart_id ORDER BY first_time DESC)
) AS tail
WHERE take > 0
ORDER BY chart_id, first_time;

-- append_increments --
-- Each chart's new bars as one block, and its build moved on to them, each chart in its own
-- transaction, under its locks and if its build and new bars are still those the
-- increment read: whether each was written (store/schema.py's append_feature_increments).
-- Arrays in binary (bytea in text doubles in size, and took 14 ms for 1,000 vectors); the
-- casts pick the procedure whatever element types the driver sends.
CALL append_feature_increments(
    %(load_class)s::integer, %(lock_class)s::integer, %(set_id)s::bigint,
    %(chart_ids)b::bigint[], %(lasts)b::timestamptz[], %(newest)b::timestamptz[],
    %(digests)b::text[], %(firsts)b::timestamptz[], %(bars)b::integer[], %(width)s::integer,
    %(times)b::bytea[], %(steps)b::bigint[], %(vectors)b::bytea[], %(nan_rows)b::bigint[],
    %(nan_row)b::integer[], %(states)b::bytea[], NULL
);
