-- stored_signal --
-- The signal a model version already gave for a chart's bar, if any.
SELECT id, chart_id, time, model_name, model_version, alias, pred, proba, label, features,
       latency_ms, created_at, shadow
FROM signals
WHERE chart_id = %(chart_id)s AND time = %(time)s AND model_name = %(model_name)s
  AND model_version = %(model_version)s;

-- serve_shadowed --
-- A shadow's signal taken as the answer when its version later serves the same bar: no
-- longer a shadow, under the alias that serves it (one signal per bar and version).
UPDATE signals SET shadow = false, alias = %(alias)s
WHERE id = %(id)s
RETURNING id, chart_id, time, model_name, model_version, alias, pred, proba, label,
          features, latency_ms, created_at, shadow;

-- add_signal --
-- One signal with the human label of its bar (the newest accepted span over it); nothing
-- when the version has a signal there already (a repeated request: the caller reads it).
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label,
                     features, latency_ms, shadow)
SELECT %(chart_id)s, %(time)s, %(model_name)s, %(model_version)s, %(alias)s, %(pred)s,
       %(proba)s, (
           SELECT t.name FROM span_annotations s
           JOIN span_label_types t ON t.id = s.label_type_id
           WHERE s.chart_id = %(chart_id)s AND s.status = 'accepted'
             AND s.start_time <= %(time)s AND s.end_time >= %(time)s
           ORDER BY s.updated_at DESC LIMIT 1
       ), %(features)s, %(latency_ms)s, %(shadow)s
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING
RETURNING id, chart_id, time, model_name, model_version, alias, pred, proba, label,
          features, latency_ms, created_at, shadow;

-- create_staged_signals --
-- A backtest's signals before they join `signals`: the class as its index into the
-- model's classes, then one column per feature, named as the set names it ({features}:
-- composed; a feature's name is lower case, so none is one of the upper-case four). Filled
-- by one binary COPY per batch of charts, gone with the transaction.
CREATE TEMPORARY TABLE staged_signals (
    "CHART" bigint, "TIME" timestamptz, "CLASS" bigint, "PROBA" double precision, {features}
) ON COMMIT DROP;

-- copy_staged_signals --
-- See create_staged_signals, in the table's column order.
COPY staged_signals FROM STDIN (FORMAT BINARY);

-- add_staged_signals --
-- The staged signals into `signals`, keeping any a version already gave for a bar: each
-- with its class's word, its bar's human label, and its features as jsonb, made from the
-- staged row itself (the feature columns are named as the set names them), then emptied
-- for the next batch.
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label,
                     features)
SELECT g."CHART", g."TIME", %(model_name)s, %(model_version)s, %(alias)s,
       (%(classes)s::text[])[g."CLASS" + 1], g."PROBA", (
           SELECT t.name FROM span_annotations s
           JOIN span_label_types t ON t.id = s.label_type_id
           WHERE s.chart_id = g."CHART" AND s.status = 'accepted'
             AND s.start_time <= g."TIME" AND s.end_time >= g."TIME"
           ORDER BY s.updated_at DESC LIMIT 1
       ), to_jsonb(g) - '{CHART,TIME,CLASS,PROBA}'::text[]
FROM staged_signals g
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING;

-- empty_staged_signals --
-- See add_staged_signals.
TRUNCATE staged_signals;

-- chart_signals --
-- A chart's signals with bar times in [start, end), oldest first, of one model or every
-- one (a range scan of the (chart, time, model, version) key), for the chart view's marks;
-- a shadow's are left out (it served nothing).
SELECT time, model_name, model_version, alias, pred, proba
FROM signals
WHERE chart_id = %(chart_id)s AND time >= %(start)s AND time < %(end)s AND NOT shadow
  AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
ORDER BY time, model_name, model_version
LIMIT %(limit)s;

-- newest_signals --
-- A model's signals for the newest bars: the newest `limit` of each version named (one
-- backward scan of the (model, version, time) index each), then the newest of those.
SELECT s.id, s.chart_id, s.time, s.model_name, s.model_version, s.alias, s.pred, s.proba,
       s.label, s.features, s.latency_ms, s.created_at, s.shadow
FROM unnest(%(versions)s::integer[]) AS v(version)
CROSS JOIN LATERAL (
    SELECT * FROM signals
    WHERE model_name = %(model_name)s AND model_version = v.version
    ORDER BY time DESC
    LIMIT %(limit)s
) s
ORDER BY s.time DESC, s.model_version DESC, s.chart_id
LIMIT %(limit)s;
