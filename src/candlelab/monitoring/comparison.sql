-- alias_versions --
-- The version the newest recorded move of each of the model's aliases champion and
-- challenger names (none: the alias was taken away).
SELECT DISTINCT ON (alias) alias, version
FROM model_deployments
WHERE model_name = %(model_name)s AND alias IN ('champion', 'challenger')
ORDER BY alias, id DESC;

-- paired_trades --
-- The two versions' trades (judged signals with a result) from the later of their first
-- trades on, in time order: both sides over the same market.
WITH trades AS (
    SELECT model_version, time, chart_id, realized_rr FROM signals
    WHERE model_name = %(model_name)s
      AND model_version IN (%(champion)s, %(challenger)s) AND realized_rr IS NOT NULL
)
SELECT model_version, realized_rr FROM trades
WHERE time >= (SELECT max(first) FROM (
    SELECT min(time) AS first FROM trades GROUP BY model_version
) firsts)
ORDER BY model_version, time, chart_id;

-- compared_models --
-- The models whose aliases champion and challenger both have a recorded move.
SELECT model_name FROM model_deployments
WHERE alias IN ('champion', 'challenger') AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
GROUP BY model_name HAVING count(DISTINCT alias) = 2
ORDER BY model_name;
