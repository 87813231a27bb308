-- listen --
-- Hear each move of an alias made through candlelab (`deployments.record_move` notifies
-- the model's name at commit).
LISTEN model_deployments;

-- fingerprint --
-- What every model's serving set is made of, cheaply: the newest recorded move and a
-- digest of MLflow's alias table, which also changes when an alias moves in MLflow's UI.
SELECT (SELECT max(id) FROM model_deployments),
       (SELECT md5(string_agg(name || '@' || alias || '=' || version, ',' ORDER BY name, alias))
        FROM mlflow.registered_model_aliases);
