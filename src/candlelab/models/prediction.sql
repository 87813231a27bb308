-- alias_version --
-- The version of a registered model that holds an alias, read from MLflow's registry
-- (read only: MLflow's migrations own schema mlflow).
SELECT version FROM mlflow.registered_model_aliases WHERE name = %(name)s AND alias = %(alias)s;

-- has_bar --
-- Whether a chart has a bar opening at a time.
SELECT EXISTS (SELECT FROM candles WHERE chart_id = %(chart_id)s AND time = %(time)s);

-- newest_bar_opens --
-- A chart's `bars` newest bar opens, newest first.
SELECT time FROM candles WHERE chart_id = %(chart_id)s ORDER BY time DESC LIMIT %(bars)s;

-- stored_state --
-- In one round trip, what a prediction checks before it uses a stored vector: from
-- which bar the chart's stored vectors are stale (NULL: current, or not built), and its
-- newest stored bar with that bar's vector, cut out of its last block (NULL: none).
SELECT (SELECT stale_from FROM feature_builds
        WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s),
       b.last_time, substring(b.vectors FROM (b.bars - 1) * b.width * 8 + 1 FOR b.width * 8)
FROM (SELECT) AS one LEFT JOIN LATERAL (
    SELECT last_time, bars, width, vectors FROM feature_blocks
    WHERE feature_set_id = %(set_id)s AND chart_id = %(chart_id)s
    ORDER BY first_time DESC LIMIT 1
) AS b ON true;
