-- lock_chart --
-- Serialise loads into one chart until the transaction ends; other charts load in parallel.
SELECT pg_advisory_xact_lock(%(lock_class)s, %(chart_id)s::integer);

-- stored_in_range --
-- Whether the chart exists, and whether it has any bar between two times (inclusive).
-- When it has none the caller copies the batch straight in, so the chart's bar count and
-- range take the batch here, in the same round trip; a copy that fails aborts the
-- transaction and takes this back with it.
WITH overlap AS (
    SELECT EXISTS (
        SELECT 1 FROM candles
        WHERE chart_id = %(chart_id)s AND time BETWEEN %(first)s AND %(last)s
    ) AS stored
), noted AS (
    UPDATE charts SET bar_count = bar_count + %(bars)s, first_bar = least(first_bar, %(first)s),
                      last_bar = greatest(last_bar, %(last)s)
    WHERE id = %(chart_id)s AND NOT (SELECT stored FROM overlap)
)
SELECT EXISTS (SELECT 1 FROM charts WHERE id = %(chart_id)s), (SELECT stored FROM overlap);

-- note_bars --
-- A chart's bar count and range after bars were added to it, in the same transaction:
-- every time in [first, last] that was written is stored now, new or not.
UPDATE charts SET bar_count = bar_count + %(bars)s, first_bar = least(first_bar, %(first)s),
                  last_bar = greatest(last_bar, %(last)s)
WHERE id = %(chart_id)s;

-- copy_candles --
-- Binary COPY straight into candles: for bars that cannot collide with stored ones.
-- {columns}: the columns the input has (psycopg.sql identifiers); the rest stay NULL.
COPY candles ({columns}) FROM STDIN (FORMAT BINARY);

-- create_staging --
-- A private staging table for bars that may collide with stored ones; gone at commit.
CREATE TEMPORARY TABLE candles_staging (
    chart_id bigint, time timestamptz, open double precision, high double precision,
    low double precision, close double precision, volume double precision,
    vwap double precision, trades bigint, taker_buy_volume double precision,
    quote_volume double precision, line bigint
) ON COMMIT DROP;

-- copy_staging --
-- Binary COPY of new bars, with their input lines, into the staging table ({columns} as above).
COPY candles_staging ({columns}) FROM STDIN (FORMAT BINARY);

-- hash_joins_only --
-- For this transaction: a fresh staging table has no statistics, and a nested loop
-- chosen on a bad guess costs seconds; a hash join is right at every size here.
SET LOCAL enable_nestloop = off;

-- compare_staging --
-- How many staged bars are stored already, and how many of those differ.
SELECT count(*) AS stored, count(*) FILTER (WHERE
         (c.open, c.high, c.low, c.close, c.volume) IS DISTINCT FROM
         (s.open, s.high, s.low, s.close, s.volume)
      OR (s.vwap IS NOT NULL AND s.vwap IS DISTINCT FROM c.vwap)
      OR (s.trades IS NOT NULL AND s.trades IS DISTINCT FROM c.trades)
      OR (s.taker_buy_volume IS NOT NULL AND s.taker_buy_volume IS DISTINCT FROM c.taker_buy_volume)
      OR (s.quote_volume IS NOT NULL AND s.quote_volume IS DISTINCT FROM c.quote_volume)
       ) AS differing
FROM candles_staging s
JOIN candles c ON c.chart_id = s.chart_id AND c.time = s.time
WHERE c.chart_id = %(chart_id)s AND c.time BETWEEN %(first)s AND %(last)s;

-- differing_examples --
-- The first staged bars that differ from their stored bar, with both versions.
SELECT s.line, s.time, c.open, c.high, c.low, c.close, c.volume,
       s.open, s.high, s.low, s.close, s.volume
FROM candles_staging s
JOIN candles c ON c.chart_id = s.chart_id AND c.time = s.time
WHERE c.chart_id = %(chart_id)s AND c.time BETWEEN %(first)s AND %(last)s
  AND (c.open, c.high, c.low, c.close, c.volume) IS DISTINCT FROM
      (s.open, s.high, s.low, s.close, s.volume)
ORDER BY s.line
LIMIT %(examples)s;

-- insert_new_bars --
-- Add the staged bars not stored yet; stored ones stay as they are. Returns how many were
-- added and the first of them (feature builds are stale from there).
WITH written AS (
    INSERT INTO candles (chart_id, time, open, high, low, close, volume, vwap, trades,
                         taker_buy_volume, quote_volume)
    SELECT chart_id, time, open, high, low, close, volume, vwap, trades, taker_buy_volume,
           quote_volume
    FROM candles_staging
    ON CONFLICT ON CONSTRAINT pk_candles DO NOTHING
    RETURNING time
)
SELECT count(*), min(time) FROM written;

-- upsert_bars --
-- Add new bars and replace differing ones; returns how many were added, how many written,
-- and the first bar written (feature builds are stale from there).
WITH written AS (
INSERT INTO candles AS c (chart_id, time, open, high, low, close, volume, vwap, trades,
                          taker_buy_volume, quote_volume)
SELECT chart_id, time, open, high, low, close, volume, vwap, trades, taker_buy_volume,
       quote_volume
FROM candles_staging
ON CONFLICT ON CONSTRAINT pk_candles DO UPDATE SET
    open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume,
    vwap = coalesce(EXCLUDED.vwap, c.vwap),
    trades = coalesce(EXCLUDED.trades, c.trades),
    taker_buy_volume = coalesce(EXCLUDED.taker_buy_volume, c.taker_buy_volume),
    quote_volume = coalesce(EXCLUDED.quote_volume, c.quote_volume)
WHERE (c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trades, c.taker_buy_volume,
       c.quote_volume)
      IS DISTINCT FROM
      (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
       coalesce(EXCLUDED.vwap, c.vwap), coalesce(EXCLUDED.trades, c.trades),
       coalesce(EXCLUDED.taker_buy_volume, c.taker_buy_volume),
       coalesce(EXCLUDED.quote_volume, c.quote_volume))
RETURNING (xmax = 0) AS inserted, time
)
SELECT count(*) FILTER (WHERE inserted), count(*), min(time) FROM written;

-- mark_stale --
-- Bars were added to a chart from `first` on: feature builds that reach past it must
-- recompute from there, and signals' judgements that read a bar at or after it are void
-- (updates and deletes are marked by a trigger on candles).
SELECT mark_features_stale(%(chart_id)s, %(first)s),
       mark_outcomes_stale(%(chart_id)s, %(first)s);

-- drop_staging --
-- Drop the staging table now, so one transaction can load several charts.
DROP TABLE candles_staging;

-- chart_candles --
-- A chart's candles, oldest first.
SELECT time, open, high, low, close, volume
FROM candles
WHERE chart_id = %(chart_id)s
ORDER BY time;

-- count_candles --
-- How many bars are stored, over all charts.
SELECT count(*) FROM candles;

-- read_candles --
-- Bars in storage order. Run through ADBC with the filter composed by psycopg.sql
-- ({columns}: identifiers; {where}: only the conditions asked for, values quoted in):
-- a query with bound parameters cannot be streamed by COPY, and an ORDER BY forces an
-- index scan; the caller sorts if storage order is not (chart, time) order.
SELECT {columns} FROM candles WHERE {where};

-- packed_bars --
-- Bars in [start, end) of some charts (a NULL bound: open), one row per chart by id:
-- the chart's bars packed oldest first as window_from packs them, with their count.
SELECT chart_id, count(*), string_agg(timestamptz_send(time) || float8send(open)
    || float8send(high) || float8send(low) || float8send(close) || float8send(volume), ''
    ORDER BY time)
FROM candles
WHERE chart_id = ANY(%(chart_ids)s::bigint[])
  AND (%(start)s::timestamptz IS NULL OR time >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR time < %(end)s)
GROUP BY chart_id
ORDER BY chart_id;

-- last_bars --
-- The newest bars of one chart, newest first (the caller reverses them).
SELECT time, open, high, low, close, volume
FROM candles
WHERE chart_id = %(chart_id)s
ORDER BY time DESC
LIMIT %(count)s;

-- window_from --
-- A chart's bars from a time on (inclusive), before an end, at most a count, packed oldest
-- first into one bytea: per bar its time (timestamptz_send: int8 microseconds since 2000)
-- and open, high, low, close, volume (float8send), all big-endian. One value crosses the
-- wire, and neither side makes an object per bar. string_agg would skip a bar with a NULL
-- (the table allows none), so the count comes along to check the length by.
SELECT count(*), string_agg(timestamptz_send(time) || float8send(open) || float8send(high)
    || float8send(low) || float8send(close) || float8send(volume), '' ORDER BY time)
FROM (
    SELECT time, open, high, low, close, volume
    FROM candles
    WHERE chart_id = %(chart_id)s AND time >= %(start)s AND time < %(end)s
    ORDER BY time
    LIMIT %(count)s
) AS bars;

-- window_before --
-- The newest bars before a time, at most a count, packed oldest first as in window_from.
SELECT count(*), string_agg(timestamptz_send(time) || float8send(open) || float8send(high)
    || float8send(low) || float8send(close) || float8send(volume), '' ORDER BY time)
FROM (
    SELECT time, open, high, low, close, volume
    FROM candles
    WHERE chart_id = %(chart_id)s AND time < %(end)s
    ORDER BY time DESC
    LIMIT %(count)s
) AS bars;
