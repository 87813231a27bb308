-- lock_model --
-- Hold, until the transaction ends, the model's deployment lock: one move of a model's
-- aliases at a time, so each move's replaced version is the one it saw.
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(model_name)s));

-- record_move --
-- A move appended to the audit trail; at commit, processes listening on channel
-- model_deployments hear the model's name.
WITH added AS (
    INSERT INTO model_deployments
        (model_name, alias, action, version, replaced_version, traffic_share, shadow,
         changed_by, reason)
    VALUES (%(model_name)s, %(alias)s, %(action)s, %(version)s, %(replaced_version)s,
            %(traffic_share)s, %(shadow)s, %(changed_by)s, %(reason)s)
    RETURNING id, changed_at
)
SELECT id, changed_at, pg_notify('model_deployments', %(model_name)s) FROM added;

-- history --
-- Every move of a model's aliases, newest first.
SELECT id, model_name, alias, action, version, replaced_version, traffic_share, shadow,
       changed_by, reason, changed_at
FROM model_deployments
WHERE model_name = %(model_name)s
ORDER BY id DESC;

-- alias_moves --
-- The newest two moves of one alias: where it stands, and the move before.
SELECT id, model_name, alias, action, version, replaced_version, traffic_share, shadow,
       changed_by, reason, changed_at
FROM model_deployments
WHERE model_name = %(model_name)s AND alias = %(alias)s
ORDER BY id DESC
LIMIT 2;

-- current_moves --
-- The newest move of each alias of a model (what candlelab recorded it names now).
SELECT DISTINCT ON (alias)
       id, model_name, alias, action, version, replaced_version, traffic_share, shadow,
       changed_by, reason, changed_at
FROM model_deployments
WHERE model_name = %(model_name)s
ORDER BY alias, id DESC;

-- recorded_models --
-- The names of the models whose aliases have moves recorded.
SELECT DISTINCT model_name FROM model_deployments ORDER BY model_name;

-- registry_aliases --
-- The versions a model's aliases name in MLflow's registry, read straight from its table
-- (read only: MLflow's migrations own schema mlflow), so a serving set costs no client.
SELECT alias, version FROM mlflow.registered_model_aliases WHERE name = %(model_name)s;
