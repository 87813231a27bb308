-- create_derived_chart --
-- The resampled chart of a base at a timeframe; returns its id, made on first use.
INSERT INTO charts (symbol, timeframe, source, name, timezone, calendar, base_chart_id, bar_offset)
VALUES (%(symbol)s, %(timeframe)s, %(source)s, %(name)s, %(timezone)s, %(calendar)s,
        %(base_chart_id)s, %(bar_offset)s)
ON CONFLICT ON CONSTRAINT uq_charts_symbol_timeframe_source
DO UPDATE SET symbol = EXCLUDED.symbol
RETURNING id, base_chart_id;

-- derived_charts --
-- The charts resampled from a base.
SELECT id, symbol, timeframe, source, timezone, calendar, bar_offset, base_chart_id
FROM charts WHERE base_chart_id = %(chart_id)s ORDER BY id;

-- refresh_bins --
-- Rebuild the derived chart's bins that cover [first, last] of the base: first open,
-- highest high, lowest low, last close, summed volumes; a sum is NULL unless every
-- base bar has the value. {bin} is the bin of a time (composed by psycopg.sql from a
-- fixed set); {first_bin} and {last_bin} the same for the two bounds; {reach} bounds the
-- scan past the last bin's start. The derived chart's bar count and range take the new
-- bins; returns how many bins were written.
WITH bounds AS (SELECT {first_bin} AS first_bin, {last_bin} AS last_bin),
bars AS (
    SELECT {bin} AS bin, b.*
    FROM candles b, bounds
    WHERE b.chart_id = %(base)s
      AND b.time >= bounds.first_bin AND b.time < bounds.last_bin + {reach}
), written AS (
INSERT INTO candles AS c (chart_id, time, open, high, low, close, volume, vwap, trades,
                          taker_buy_volume, quote_volume)
SELECT %(derived)s, bin,
       (array_agg(open ORDER BY time))[1], max(high), min(low),
       (array_agg(close ORDER BY time DESC))[1], sum(volume),
       CASE WHEN count(vwap) = count(*) AND sum(volume) > 0
            THEN sum(vwap * volume) / sum(volume) END,
       CASE WHEN count(trades) = count(*) THEN sum(trades) END,
       CASE WHEN count(taker_buy_volume) = count(*) THEN sum(taker_buy_volume) END,
       CASE WHEN count(quote_volume) = count(*) THEN sum(quote_volume) END
FROM bars, bounds
WHERE bin <= bounds.last_bin
GROUP BY bin
ON CONFLICT ON CONSTRAINT pk_candles DO UPDATE SET
    open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, vwap = EXCLUDED.vwap, trades = EXCLUDED.trades,
    taker_buy_volume = EXCLUDED.taker_buy_volume, quote_volume = EXCLUDED.quote_volume
WHERE (c.open, c.high, c.low, c.close, c.volume, c.vwap, c.trades, c.taker_buy_volume,
       c.quote_volume)
      IS DISTINCT FROM
      (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
       EXCLUDED.vwap, EXCLUDED.trades, EXCLUDED.taker_buy_volume, EXCLUDED.quote_volume)
RETURNING time, xmax = 0 AS inserted
), new_bins AS (
    SELECT count(*) AS bins, min(time) AS first_bin, max(time) AS last_bin
    FROM written WHERE inserted
), noted AS (
    UPDATE charts SET bar_count = bar_count + new_bins.bins,
                      first_bar = least(first_bar, new_bins.first_bin),
                      last_bar = greatest(last_bar, new_bins.last_bin)
    FROM new_bins
    WHERE id = %(derived)s AND new_bins.bins > 0
), staled AS (
    -- New bins inside the derived chart's built features make them stale from there,
    -- and void the judgements of its signals that read past them (changed bins are
    -- marked by the trigger on candles).
    SELECT mark_features_stale(%(derived)s, new_bins.first_bin),
           mark_outcomes_stale(%(derived)s, new_bins.first_bin)
    FROM new_bins WHERE new_bins.bins > 0
)
SELECT (SELECT count(*) FROM written), (SELECT count(*) FROM staled);
