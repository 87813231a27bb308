-- build_freshness --
-- A chart's newest bar, and how far a set's build of it reaches and from where it is stale.
SELECT c.last_bar, b.last_bar, b.stale_from
FROM charts c
LEFT JOIN feature_builds b ON b.chart_id = c.id AND b.feature_set_id = %(set_id)s
WHERE c.id = %(chart_id)s;
