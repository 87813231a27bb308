-- lock_build --
-- The chart's load lock as market/candles.sql's lock_chart takes it (no load writes its
-- bars meanwhile), then the set's build lock on the chart (one build at a time), in this
-- order, left to right. The commit need not wait for the WAL flush (most of an
-- increment's cost): feature values are derived from the candles, and a server crash
-- can only lose the last charts' builds whole, which the next build does again.
SELECT pg_advisory_xact_lock(%(load_class)s, %(chart_id)s::integer),
       pg_advisory_xact_lock(%(lock_class)s,
                             hashtext(%(set_id)s::text || ':' || %(chart_id)s::text)),
       set_config('synchronous_commit', 'off', true);

-- builds --
-- The builds of a set, by chart.
SELECT b.chart_id, c.symbol, c.timeframe, c.source, b.first_bar, b.last_bar, b.bars, b.warmup,
       b.stale_from, b.built_at, c.last_bar
FROM feature_builds b JOIN charts c ON c.id = b.chart_id
WHERE b.feature_set_id = %(set_id)s
ORDER BY b.chart_id;
