-- builds --
-- The builds of a set, by chart.
SELECT b.chart_id, c.symbol, c.timeframe, c.source, b.first_bar, b.last_bar, b.bars, b.warmup,
       b.stale_from, b.built_at, c.last_bar
FROM feature_builds b JOIN charts c ON c.id = b.chart_id
WHERE b.feature_set_id = %(set_id)s
ORDER BY b.chart_id;
