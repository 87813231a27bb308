-- chart_candles --
-- A chart's candles, oldest first.
SELECT time, open, high, low, close, volume
FROM candles
WHERE chart_id = %(chart_id)s
ORDER BY time;

-- create_staging --
-- A private staging table that disappears with the transaction.
CREATE TEMPORARY TABLE candles_staging (LIKE candles INCLUDING DEFAULTS) ON COMMIT DROP;

-- copy_staging --
-- Binary COPY of new bars into the staging table.
COPY candles_staging (chart_id, time, open, high, low, close, volume) FROM STDIN (FORMAT BINARY);

-- insert_new_candles --
-- Move staged bars into candles; a bar already stored is kept as it is.
INSERT INTO candles (chart_id, time, open, high, low, close, volume)
SELECT chart_id, time, open, high, low, close, volume FROM candles_staging
ON CONFLICT ON CONSTRAINT pk_candles DO NOTHING;

-- count_candles --
-- How many bars are stored, over all charts.
SELECT count(*) FROM candles;

-- drop_staging --
-- Drop the staging table now, so one transaction can store several charts.
DROP TABLE candles_staging;
