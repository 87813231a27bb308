-- reopen --
-- The cooldown: a condition found again within `cooldown` of its alert's resolution
-- reopens that alert (no new alert, no new webhook), unless one is open already.
UPDATE alerts
SET resolved_at = NULL, last_seen = now(), severity = %(severity)s, figures = %(figures)s,
    message = %(message)s
WHERE id = (SELECT id FROM alerts
            WHERE dedupe_key = %(dedupe_key)s AND resolved_at > now() - %(cooldown)s
            ORDER BY resolved_at DESC LIMIT 1)
  AND NOT EXISTS (SELECT FROM alerts WHERE dedupe_key = %(dedupe_key)s AND resolved_at IS NULL)
RETURNING id;

-- upsert --
-- Raised once: a new alert, or the open one of its key updated (last seen, figures) by the
-- partial unique index's conflict. `inserted` tells a new row (xmax 0) from an update.
INSERT INTO alerts (kind, model_name, model_version, chart_id, dedupe_key, severity, figures,
                    message)
VALUES (%(kind)s, %(model_name)s, %(model_version)s, %(chart_id)s, %(dedupe_key)s,
        %(severity)s, %(figures)s, %(message)s)
ON CONFLICT (dedupe_key) WHERE resolved_at IS NULL DO UPDATE
SET last_seen = now(), severity = EXCLUDED.severity, figures = EXCLUDED.figures,
    message = EXCLUDED.message
RETURNING id, xmax = 0 AS inserted;

-- resolve --
-- The open alerts of the conditions a check looked at (by key, or every one of a kind)
-- and did not find: resolved.
UPDATE alerts SET resolved_at = now()
WHERE resolved_at IS NULL
  AND (dedupe_key = ANY(%(checked)s::text[]) OR kind = ANY(%(kinds)s::text[]))
  AND NOT dedupe_key = ANY(%(found)s::text[])
RETURNING id;

-- recent_results --
-- Per version (of one model or every one), its trades whose bar is within `window` of
-- its newest trade: how many and their mean result in R; and the walk-forward expectancy
-- its training run recorded (pooled over the test folds), NULL if none.
SELECT s.model_name, s.model_version, count(*), avg(s.realized_rr),
       (SELECT (r.metrics ->> 'expectancy_r')::float8 FROM training_runs r
        WHERE r.model_name = s.model_name AND r.model_version = s.model_version
        ORDER BY r.created_at DESC LIMIT 1)
FROM signals s
JOIN (SELECT model_name, model_version, max(time) AS newest FROM signals
      WHERE realized_rr IS NOT NULL
        AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
      GROUP BY model_name, model_version) n USING (model_name, model_version)
WHERE s.realized_rr IS NOT NULL AND s.time > n.newest - %(window)s
GROUP BY s.model_name, s.model_version
ORDER BY s.model_name, s.model_version;

-- recent_latency --
-- Per version, the p99 latency (linear interpolation, as NumPy's) of its signals whose
-- bar is within `window` of its newest signal with a latency (a backtest records none).
SELECT s.model_name, s.model_version, count(*),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY s.latency_ms)
FROM signals s
JOIN (SELECT model_name, model_version, max(time) AS newest FROM signals
      WHERE latency_ms IS NOT NULL
        AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
      GROUP BY model_name, model_version) n USING (model_name, model_version)
WHERE s.latency_ms IS NOT NULL AND s.time > n.newest - %(window)s
GROUP BY s.model_name, s.model_version
ORDER BY s.model_name, s.model_version;

-- served_charts --
-- The charts a model serves (a served signal, with features, of the model or any, on one
-- of its bars of the 30 days before its newest: a range of the (chart_id, time) index,
-- not every backtest signal), their timeframe, calendar and newest bar, and the time now
-- (the database's, unless a time is given): the charts watched for stale data.
SELECT c.id, c.name, c.timeframe, c.calendar, c.last_bar,
       coalesce(%(now)s::timestamptz, now())
FROM charts c
WHERE c.last_bar IS NOT NULL
  AND EXISTS (SELECT FROM signals s
              WHERE s.chart_id = c.id AND s.time > c.last_bar - interval '30 days'
                AND s.features IS NOT NULL
                AND (%(model_name)s::text IS NULL OR s.model_name = %(model_name)s))
ORDER BY c.id;

-- list_alerts --
-- Open alerts (or every one), newest seen first.
SELECT id, kind, model_name, model_version, chart_id, severity, message, figures,
       first_seen, last_seen, resolved_at, acknowledged_at, acknowledged_by, delivered_at,
       delivery_error
FROM alerts
WHERE %(all)s OR resolved_at IS NULL
ORDER BY resolved_at IS NULL DESC, last_seen DESC, id DESC;

-- acknowledge --
-- Someone has seen it: who and when. An alert stays acknowledged while it is open.
UPDATE alerts SET acknowledged_at = now(), acknowledged_by = %(by)s
WHERE id = %(id)s
RETURNING id;

-- undelivered --
-- Open alerts the webhook has not received, whose next try is due (a failed round waits
-- `next_delivery_at`), oldest first; given up after `max_attempts` attempts.
SELECT id, kind, model_name, model_version, chart_id, severity, message, figures,
       first_seen, last_seen, delivery_attempts
FROM alerts
WHERE resolved_at IS NULL AND delivered_at IS NULL
  AND (next_delivery_at IS NULL OR next_delivery_at <= now())
  AND delivery_attempts < %(max_attempts)s
ORDER BY id;

-- delivered --
-- The webhook took it.
UPDATE alerts SET delivered_at = now(), delivery_attempts = delivery_attempts + %(attempts)s,
                  delivery_error = NULL, next_delivery_at = NULL
WHERE id = %(id)s;

-- delivery_failed --
-- A round of attempts failed: why, and when the next round may try.
UPDATE alerts SET delivery_attempts = delivery_attempts + %(attempts)s,
                  delivery_error = %(error)s, next_delivery_at = now() + %(wait)s
WHERE id = %(id)s;

-- version_gauges --
-- Per model version, what /metrics exposes: its overall record ('all', every chart), its
-- open alerts and its latest drift check, read at scrape time so every server process
-- answers the same. A version in any of the three is listed (USING merges the keys).
SELECT model_name, model_version, p.signals, p.win_rate, p.expectancy_r, p.latency_p50_ms,
       p.latency_p95_ms, p.latency_p99_ms, coalesce(a.open, 0), d.worst_feature_psi,
       d.prediction_psi
FROM (SELECT * FROM model_performance WHERE chart_id IS NULL AND window_kind = 'all') p
FULL JOIN (SELECT model_name, model_version, count(*) AS open FROM alerts
           WHERE resolved_at IS NULL AND model_name IS NOT NULL
           GROUP BY model_name, model_version) a USING (model_name, model_version)
FULL JOIN drift_checks d USING (model_name, model_version)
ORDER BY 1, 2;

-- chart_alerts --
-- Open alerts about no model version (stale data): one gauge beside the versions'.
SELECT count(*) FROM alerts WHERE resolved_at IS NULL AND model_name IS NULL;
