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
           ORDER BY s.updated_at DESC, s.id DESC LIMIT 1
       ), %(features)s, %(latency_ms)s, %(shadow)s
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING
RETURNING id, chart_id, time, model_name, model_version, alias, pred, proba, label,
          features, latency_ms, created_at, shadow;

-- create_staged_signals --
-- A backtest's signals before they join `signals`: the class as its index into the
-- model's classes, the bar's label as its index into the batch's label names (NULL: no
-- accepted span covers the bar). Filled by one binary COPY per batch of charts, gone with
-- the transaction. No features: a backtest's are the feature store's at that bar.
CREATE TEMPORARY TABLE staged_signals (
    chart_id bigint, time timestamptz, class bigint, proba double precision, label bigint
) ON COMMIT DROP;

-- copy_staged_signals --
-- See create_staged_signals, in the table's column order.
COPY staged_signals FROM STDIN (FORMAT BINARY);

-- version_has_signals --
-- Whether the version gave a signal already on one of the charts between two bar times
-- (inclusive): a backtest batch that finds none inserts without a conflict check.
SELECT EXISTS (
    SELECT FROM signals
    WHERE model_name = %(model_name)s AND model_version = %(model_version)s
      AND chart_id = ANY(%(chart_ids)s) AND time BETWEEN %(first)s AND %(last)s
);

-- insert_staged_signals --
-- The staged signals into `signals` where the version has none in their range (see
-- version_has_signals): a plain insert, each with its class's word and its label's.
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label)
SELECT chart_id, time, %(model_name)s, %(model_version)s, %(alias)s,
       (%(classes)s::text[])[class + 1], proba, (%(labels)s::text[])[label + 1]
FROM staged_signals;

-- merge_staged_signals --
-- The staged signals into `signals`, keeping any the version gave already for a bar (a
-- served signal keeps its features and latency; a re-run writes nothing).
INSERT INTO signals (chart_id, time, model_name, model_version, alias, pred, proba, label)
SELECT chart_id, time, %(model_name)s, %(model_version)s, %(alias)s,
       (%(classes)s::text[])[class + 1], proba, (%(labels)s::text[])[label + 1]
FROM staged_signals
ON CONFLICT (chart_id, time, model_name, model_version) DO NOTHING;

-- empty_staged_signals --
-- See copy_staged_signals: emptied for the next batch.
TRUNCATE staged_signals;

-- accepted_spans --
-- The accepted spans on the charts with their label names, oldest change first: where
-- spans overlap, a bar takes the newest's label (as add_signal's lookup does).
SELECT s.chart_id, s.start_time, s.end_time, t.name
FROM span_annotations s
JOIN span_label_types t ON t.id = s.label_type_id
WHERE s.chart_id = ANY(%(chart_ids)s) AND s.status = 'accepted'
ORDER BY s.updated_at, s.id;

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

-- feature_indexes --
-- The indexes on one feature of `signals.features` (create_feature_index), named
-- PREFIX + feature: whether each is valid (an interrupted CREATE INDEX CONCURRENTLY leaves
-- an invalid one that serves no query) and its size in bytes.
SELECT substr(c.relname, length(%(prefix)s) + 1), c.relname::text, i.indisvalid,
       pg_relation_size(c.oid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'signals'::regclass AND starts_with(c.relname, %(prefix)s)
ORDER BY c.relname;

-- create_feature_index --
-- A range on one feature as an index scan: `(features->>'rsi_14')::double precision < 30`
-- is the indexed expression compared, and implies the predicate (the cast of a NULL is
-- NULL), so the planner can use this partial index for it. Rows without the feature (a
-- backtest's signals: features NULL) have no entry. {index} and {feature} are filled by
-- psycopg.sql (an identifier, a literal) from a name checked by feature_index_name.
CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON signals
    (((features ->> {feature})::double precision))
WHERE features ->> {feature} IS NOT NULL;

-- drop_feature_index --
-- See create_feature_index.
DROP INDEX CONCURRENTLY IF EXISTS {index};
