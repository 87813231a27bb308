-- record_run --
-- A training run, keyed by its MLflow run id.
INSERT INTO training_runs
    (run_id, model_type, experiment_name, params, chart_ids, data_start, data_end, created_by,
     pipeline_config_hash, dataset_version)
VALUES (%(run_id)s, %(model_type)s, %(experiment_name)s, %(params)s, %(chart_ids)s,
        %(data_start)s, %(data_end)s, %(created_by)s, %(pipeline_config_hash)s,
        %(dataset_version)s);

-- finish_run --
-- Close a run with its status, metrics, sample count and the model version it registered.
UPDATE training_runs
SET status = %(status)s, metrics = %(metrics)s, total_samples = %(total_samples)s,
    error = %(error)s, completed_at = now(), model_name = %(model_name)s,
    model_version = %(model_version)s, artifact_sha256 = %(artifact_sha256)s
WHERE run_id = %(run_id)s;

-- newest_runs --
-- Training runs, newest first.
SELECT run_id, model_type, experiment_name, status, metrics, total_samples, created_at,
       completed_at
FROM training_runs
ORDER BY created_at DESC, run_id
LIMIT %(limit)s;

-- run_detail --
-- Every column of the runs whose id starts with the text given (one, if it is unique).
SELECT run_id, model_type, experiment_name, pipeline_config_hash, dataset_version, metrics,
       params, status, error, chart_ids, data_start, data_end, total_samples, created_by,
       created_at, completed_at, heartbeat_at, model_name, model_version, artifact_sha256
FROM training_runs
WHERE starts_with(run_id, %(run_id)s)
LIMIT 2;

-- heartbeat --
-- The running run's process is alive.
UPDATE training_runs SET heartbeat_at = now() WHERE run_id = %(run_id)s AND status = 'running';

-- reap_stale_runs --
-- Running runs whose process stopped beating are failed, saying why; their ids.
UPDATE training_runs
SET status = 'failed', completed_at = now(),
    error = 'the training process stopped (no heartbeat since '
            || to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC, '
            || 'more than ' || %(stale_after)s::interval || ' ago)'
WHERE status = 'running' AND heartbeat_at < now() - %(stale_after)s::interval
RETURNING run_id;
