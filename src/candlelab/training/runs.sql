-- record_run --
-- A training run, keyed by its MLflow run id.
INSERT INTO training_runs
    (run_id, model_type, experiment_name, params, chart_ids, data_start, data_end, created_by)
VALUES (%(run_id)s, %(model_type)s, %(experiment_name)s, %(params)s, %(chart_ids)s,
        %(data_start)s, %(data_end)s, %(created_by)s);

-- finish_run --
-- Close a run with its status, metrics and sample count.
UPDATE training_runs
SET status = %(status)s, metrics = %(metrics)s, total_samples = %(total_samples)s,
    error = %(error)s, completed_at = now()
WHERE run_id = %(run_id)s;

-- newest_runs --
-- Training runs, newest first.
SELECT run_id, model_type, experiment_name, status, metrics, total_samples, created_at,
       completed_at
FROM training_runs
ORDER BY created_at DESC, run_id
LIMIT %(limit)s;
