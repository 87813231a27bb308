-- upsert_chart --
-- One chart per (symbol, timeframe, source): create it on first use, return its id either way.
INSERT INTO charts (symbol, timeframe, source, name, timezone, calendar, bar_offset)
VALUES (%(symbol)s, %(timeframe)s, %(source)s, %(name)s, %(timezone)s, %(calendar)s,
        %(bar_offset)s)
ON CONFLICT ON CONSTRAINT uq_charts_symbol_timeframe_source
DO UPDATE SET symbol = EXCLUDED.symbol
RETURNING id;

-- chart --
-- One chart's own properties.
SELECT id, symbol, timeframe, source, timezone, calendar, bar_offset, base_chart_id
FROM charts WHERE id = %(chart_id)s;

-- all_charts --
-- Every chart's own properties, in the order `charts` lists them.
SELECT id, symbol, timeframe, source, timezone, calendar, bar_offset, base_chart_id
FROM charts ORDER BY symbol, timeframe, source;

-- chart_range --
-- A chart's first and last bar, each found through the candles' index (never a count).
SELECT (SELECT min(time) FROM candles WHERE chart_id = %(chart_id)s),
       (SELECT max(time) FROM candles WHERE chart_id = %(chart_id)s);

-- chart_summaries --
-- Every chart (or the one chart_id names) with its bar count, first and last bar, and how
-- many spans and annotations it has; each figure is looked up per chart through an index.
SELECT c.id, c.symbol, c.timeframe, c.source, c.name, c.timezone, c.calendar,
       (SELECT count(*) FROM candles WHERE chart_id = c.id) AS bars,
       (SELECT min(time) FROM candles WHERE chart_id = c.id) AS first_bar,
       (SELECT max(time) FROM candles WHERE chart_id = c.id) AS last_bar,
       (SELECT count(*) FROM span_annotations WHERE chart_id = c.id) AS spans,
       (SELECT count(*) FROM annotations WHERE chart_id = c.id) AS annotations
FROM charts c
WHERE %(chart_id)s::bigint IS NULL OR c.id = %(chart_id)s::bigint
ORDER BY c.symbol, c.timeframe, c.source;

-- delete_chart --
-- A chart and everything of it: its bars and those of charts resampled from it (candles
-- has no foreign key), then the chart; the rest goes by ON DELETE CASCADE.
WITH RECURSIVE doomed AS (
    SELECT id FROM charts WHERE id = %(chart_id)s
    UNION ALL
    SELECT c.id FROM charts c JOIN doomed d ON c.base_chart_id = d.id
), bars AS (DELETE FROM candles WHERE chart_id IN (SELECT id FROM doomed))
DELETE FROM charts WHERE id = %(chart_id)s;
