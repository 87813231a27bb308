-- challenged_models --
-- The models whose challenger alias names a version now (by its newest recorded move):
-- those the policy has a challenger to judge.
SELECT model_name FROM (
    SELECT DISTINCT ON (model_name) model_name, version FROM model_deployments
    WHERE alias = 'challenger'
    ORDER BY model_name, id DESC
) newest
WHERE version IS NOT NULL
ORDER BY model_name;
