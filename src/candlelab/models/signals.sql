-- stored_signal --
-- The signal a model version already gave for a chart's bar, if any.
SELECT id, chart_id, time, model_name, model_version, alias, pred, proba, label, features,
       latency_ms, created_at
FROM signals
WHERE chart_id = %(chart_id)s AND time = %(time)s AND model_name = %(model_name)s
  AND model_version = %(model_version)s;

-- add_signal --
-- One signal with the human label of its bar (the newest accepted span over it); nothing
-- when the version has a signal there already (a repeated request: the caller reads it).
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label,
                     features, latency_ms)
SELECT %(chart_id)s, %(time)s, %(model_name)s, %(model_version)s, %(alias)s, %(pred)s,
       %(proba)s, (
           SELECT t.name FROM span_annotations s
           JOIN span_label_types t ON t.id = s.label_type_id
           WHERE s.chart_id = %(chart_id)s AND s.status = 'accepted'
             AND s.start_time <= %(time)s AND s.end_time >= %(time)s
           ORDER BY s.updated_at DESC LIMIT 1
       ), %(features)s, %(latency_ms)s
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING
RETURNING id, chart_id, time, model_name, model_version, alias, pred, proba, label,
          features, latency_ms, created_at;

-- create_staged_signals --
-- A backtest's signals before they join `signals`: the class as its index into the
-- model's classes, the features as columns f0, f1, … ({features}: composed); filled by
-- one binary COPY per batch of charts, gone with the transaction.
CREATE TEMPORARY TABLE staged_signals (
    chart_id bigint, time timestamptz, class bigint, proba double precision, {features}
) ON COMMIT DROP;

-- copy_staged_signals --
-- See create_staged_signals ({columns}: composed, in the COPY's order).
COPY staged_signals ({columns}) FROM STDIN (FORMAT BINARY);

-- add_staged_signals --
-- The staged signals into `signals`, keeping any a version already gave for a bar: each
-- with its class's word, its bar's human label, and its features as jsonb by the set's
-- column names (NaN as null; {values}: ARRAY[f0, f1, …], composed), then emptied for
-- the next batch.
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label,
                     features)
SELECT g.chart_id, g.time, %(model_name)s, %(model_version)s, %(alias)s,
       (%(classes)s::text[])[g.class + 1], g.proba, (
           SELECT t.name FROM span_annotations s
           JOIN span_label_types t ON t.id = s.label_type_id
           WHERE s.chart_id = g.chart_id AND s.status = 'accepted'
             AND s.start_time <= g.time AND s.end_time >= g.time
           ORDER BY s.updated_at DESC LIMIT 1
       ), (
           SELECT jsonb_object_agg(u.name, nullif(u.value, 'NaN'))
           FROM unnest(%(columns)s::text[], {values}) AS u(name, value)
       )
FROM staged_signals g
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING;

-- empty_staged_signals --
-- See add_staged_signals.
TRUNCATE staged_signals;
