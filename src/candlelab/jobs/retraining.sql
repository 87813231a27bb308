-- last_training --
-- The model's newest finished training run that registered a version of it, with the
-- definition of the dataset it was trained on: the configuration a retrain repeats.
SELECT r.run_id, r.model_type, r.experiment_name, r.params, d.definition
FROM training_runs r
JOIN datasets d ON d.version = r.dataset_version
WHERE r.model_name = %(model_name)s AND r.status = 'finished' AND r.model_version IS NOT NULL
ORDER BY r.completed_at DESC, r.created_at DESC
LIMIT 1;
