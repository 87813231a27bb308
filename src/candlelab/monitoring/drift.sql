-- served_versions --
-- The model versions whose signals carry features (served ones: a backtest's have none),
-- of one model or every one, one version or every one: each one's newest such bar, which
-- ends its window. The (model_name, model_version, time) index.
SELECT model_name, model_version, max(time)
FROM signals
WHERE features IS NOT NULL
  AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
  AND (%(model_version)s::integer IS NULL OR model_version = %(model_version)s)
GROUP BY model_name, model_version
ORDER BY model_name, model_version;

-- model_known --
-- Whether any signal or training run names the model: an unknown name is a mistake,
-- a known one without served signals has nothing to compare yet.
SELECT EXISTS (SELECT FROM signals WHERE model_name = %(model_name)s)
    OR EXISTS (SELECT FROM training_runs WHERE model_name = %(model_name)s);

-- version_references --
-- A version's reference distributions, recorded by its training run: the predictions'
-- first, then the features in the set's order.
SELECT d.kind, d.name, d.position, d.rows, d.edges, d.counts, d.missing, d.quantiles,
       d.categories, d.mean, d.std
FROM drift_references d
JOIN training_runs r ON r.run_id = d.run_id
WHERE r.model_name = %(model_name)s AND r.model_version = %(model_version)s
ORDER BY d.kind DESC, d.position;

-- window_counts --
-- The version's signals in the window: with features, and without (a backtest's, skipped).
SELECT count(*) FILTER (WHERE features IS NOT NULL), count(*) FILTER (WHERE features IS NULL)
FROM signals
WHERE model_name = %(model_name)s AND model_version = %(model_version)s
  AND time > %(start)s AND time <= %(end)s;

-- window_features --
-- Per feature named, its values in the window's signals as one array (NULL where a
-- signal's vector had NaN or lacks the key): one scan of the window for every feature.
SELECT n.name, array_agg((s.features ->> n.name)::float8)
FROM signals s
CROSS JOIN unnest(%(names)s::text[]) AS n(name)
WHERE s.model_name = %(model_name)s AND s.model_version = %(model_version)s
  AND s.time > %(start)s AND s.time <= %(end)s AND s.features IS NOT NULL
GROUP BY n.name;

-- window_predictions --
-- The window's signals per predicted class.
SELECT pred, count(*)
FROM signals
WHERE model_name = %(model_name)s AND model_version = %(model_version)s
  AND time > %(start)s AND time <= %(end)s AND features IS NOT NULL
GROUP BY pred;

-- store_check --
-- The version's latest check, replacing the one before: what /metrics reads.
INSERT INTO drift_checks (model_name, model_version, window_start, window_end, signals,
                          worst_feature, worst_feature_psi, prediction_psi)
VALUES (%(model_name)s, %(model_version)s, %(window_start)s, %(window_end)s, %(signals)s,
        %(worst_feature)s, %(worst_feature_psi)s, %(prediction_psi)s)
ON CONFLICT (model_name, model_version) DO UPDATE
SET checked_at = now(), window_start = EXCLUDED.window_start,
    window_end = EXCLUDED.window_end, signals = EXCLUDED.signals,
    worst_feature = EXCLUDED.worst_feature, worst_feature_psi = EXCLUDED.worst_feature_psi,
    prediction_psi = EXCLUDED.prediction_psi;
