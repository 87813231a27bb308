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
