-- alias_version --
-- The version of a registered model that holds an alias, read from MLflow's registry
-- (read only: MLflow's migrations own schema mlflow).
SELECT version FROM mlflow.registered_model_aliases WHERE name = %(name)s AND alias = %(alias)s;

-- has_bar --
-- Whether a chart has a bar opening at a time.
SELECT EXISTS (SELECT FROM candles WHERE chart_id = %(chart_id)s AND time = %(time)s);

-- newest_bars --
-- A chart's two newest bar opens, newest first: the newest may not have closed yet.
SELECT time FROM candles WHERE chart_id = %(chart_id)s ORDER BY time DESC LIMIT 2;

-- bars_from --
-- The open of a chart's n-th newest bar (where `--bars N` starts), or NULL.
SELECT min(time) FROM (
    SELECT time FROM candles WHERE chart_id = %(chart_id)s ORDER BY time DESC LIMIT %(bars)s
) AS newest;
