-- upsert_chart --
-- One chart per (symbol, timeframe, source): create it on first use (a calendar not given
-- yet is 24/7 until the caller sets it), return its id, calendar, and whether it is new.
INSERT INTO charts (symbol, timeframe, source, name, timezone, calendar, bar_offset)
VALUES (%(symbol)s, %(timeframe)s, %(source)s, %(name)s, %(timezone)s,
        coalesce(%(calendar)s, '24/7'), %(bar_offset)s)
ON CONFLICT ON CONSTRAINT uq_charts_symbol_timeframe_source
DO UPDATE SET symbol = EXCLUDED.symbol
RETURNING id, calendar, xmax = 0 AS created;

-- set_calendar --
-- A chart's trading calendar, told after it was made in the same transaction.
UPDATE charts SET calendar = %(calendar)s WHERE id = %(chart_id)s;

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
-- Every chart (or the one chart_id names) with its bar count, first and last bar (kept by
-- each write of its candles), and how many spans and annotations it has, each looked up
-- per chart through an index.
SELECT c.id, c.symbol, c.timeframe, c.source, c.name, c.timezone, c.calendar,
       c.bar_count AS bars, c.first_bar, c.last_bar,
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

-- recount_bars --
-- Every chart's bar count, first and last bar counted again from its candles, for bars
-- written by SQL of one's own; returns the charts whose kept figures were off.
UPDATE charts c SET bar_count = s.bars, first_bar = s.first_bar, last_bar = s.last_bar
FROM (
    SELECT charts.id, count(b.time) AS bars, min(b.time) AS first_bar, max(b.time) AS last_bar
    FROM charts LEFT JOIN candles b ON b.chart_id = charts.id
    GROUP BY charts.id
) s
WHERE s.id = c.id
  AND (c.bar_count, c.first_bar, c.last_bar) IS DISTINCT FROM (s.bars, s.first_bar, s.last_bar)
RETURNING c.id;
