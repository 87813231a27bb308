-- retraining_alerts --
-- The alerts among those just raised that ask for their model to be retrained: of a kind
-- a retrain can answer (drift of features or predictions, performance) and a severity
-- the settings name, about a model. With each, its version's newest signal: the one the
-- check saw last, kept on the request (`retrain_queue.signal_id`) as what set it off.
SELECT a.id, a.model_name, a.severity, a.message,
       (SELECT s.id FROM signals s
        WHERE s.model_name = a.model_name AND s.model_version = a.model_version
        ORDER BY s.time DESC, s.id DESC LIMIT 1)
FROM alerts a
WHERE a.id = ANY(%(ids)s::bigint[]) AND a.kind = ANY(%(kinds)s::text[])
  AND a.severity = ANY(%(severities)s::text[]) AND a.model_name IS NOT NULL
ORDER BY a.id;
