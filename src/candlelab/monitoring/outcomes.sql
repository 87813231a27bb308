-- pending_versions --
-- Per chart and model version with signals to judge (of one model or every one, of the
-- charts named or every one), the least queued bar: the oldest pending signal's, or
-- before it. And the chart's newest bar (one backward scan of the candles' key) and
-- timeframe. The queue's rows only: no signal is read.
WITH queued AS (
    SELECT chart_id, model_name, model_version, min(since) AS since FROM outcome_queue
    WHERE (%(chart_ids)s::bigint[] IS NULL OR chart_id = ANY(%(chart_ids)s::bigint[]))
      AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
    GROUP BY chart_id, model_name, model_version
)
SELECT q.chart_id, q.model_name, q.model_version, q.since, newest.time, c.timeframe
FROM queued q
JOIN charts c ON c.id = q.chart_id
CROSS JOIN LATERAL (
    SELECT max(time) AS time FROM candles WHERE chart_id = q.chart_id
) newest
ORDER BY q.chart_id, q.model_name, q.model_version;

-- waiting_signals --
-- How many signals are still to judge on the charts the plan leaves (none can have
-- matured), of one model or every one: from each chart's least queued bar, a range of
-- the signals' (chart, time) key.
SELECT count(*)
FROM (
    SELECT chart_id, min(since) AS since FROM outcome_queue
    WHERE chart_id = ANY(%(chart_ids)s::bigint[])
      AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
    GROUP BY chart_id
) q
JOIN signals s ON s.chart_id = q.chart_id AND s.time >= q.since
WHERE s.evaluated_at IS NULL AND (%(model_name)s::text IS NULL OR s.model_name = %(model_name)s);

-- lock_charts --
-- The charts' load locks (market/candles.sql's lock_chart) until the transaction ends,
-- those that are free: no load writes their bars between the read and the judgements'
-- commit, so a load after it finds the judgements to void. A chart being loaded is left
-- for the next run, never waited for (a load may hold several charts' locks). The
-- commit need not wait for the WAL flush (0.5 s of 5.8 s judging 300 charts): judgements
-- are derived from the signals and candles, and a server crash can only lose the last
-- batches whole, whose signals are still pending for the next run.
SELECT chart, set_config('synchronous_commit', 'off', true)
FROM unnest(%(chart_ids)s::bigint[]) AS chart
WHERE pg_try_advisory_xact_lock(%(lock_class)s, chart::integer)
ORDER BY chart;

-- pending_signals --
-- The queue rows of the charts, and their signals still to judge from the least queued
-- bar on (every model's: the queue rows are replaced by one per version left): one row
-- per chart, model, version and class, its signals' ids and bar opens packed into one
-- bytea (int8send and timestamptz_send, 16 bytes a signal, in no particular order): no
-- object per signal on either side. Lateral, so that each chart is a range of the
-- signals' (chart, time) key (a join scanned the whole table). One statement, one
-- snapshot: a signal inserted after it keeps the queue row its insert added. A queued
-- chart with nothing pending: one row, no model.
WITH queued AS (
    SELECT chart_id, min(since) AS since, array_agg(id ORDER BY id) AS ids FROM outcome_queue
    WHERE chart_id = ANY(%(chart_ids)s::bigint[])
    GROUP BY chart_id
)
SELECT q.chart_id, q.ids, p.*
FROM queued q
LEFT JOIN LATERAL (
    SELECT model_name, model_version, pred, string_agg(int8send(id) || timestamptz_send(time), '')
    FROM signals
    WHERE chart_id = q.chart_id AND time >= q.since AND evaluated_at IS NULL
    GROUP BY model_name, model_version, pred
) p ON true
ORDER BY q.chart_id, p.model_name, p.model_version, p.pred;

-- chart_bars --
-- The charts' bars, one row per chart: their count, and time, open, high, low and close
-- packed oldest first as candles.sql's packed_bars packs them, without the volume a
-- judgement does not read (40 bytes a bar).
SELECT chart_id, count(*), string_agg(timestamptz_send(time) || float8send(open)
    || float8send(high) || float8send(low) || float8send(close), '' ORDER BY time)
FROM candles
WHERE chart_id = ANY(%(chart_ids)s::bigint[])
GROUP BY chart_id;

-- version_target --
-- The target definition a model version was trained on: its run's dataset's, as recorded
-- (every key, defaults included, and its hash).
SELECT d.definition -> 'target'
FROM training_runs r JOIN datasets d ON d.version = r.dataset_version
WHERE r.model_name = %(model_name)s AND r.model_version = %(model_version)s
ORDER BY r.completed_at DESC NULLS LAST
LIMIT 1;

-- label_directions --
-- Each span label's direction: the side a spans target's class takes (-1, 0, +1).
SELECT name, direction FROM span_label_types;

-- known_model --
-- Whether a model name has signals or a training run that registered it.
SELECT EXISTS (SELECT FROM signals WHERE model_name = %(model_name)s)
    OR EXISTS (SELECT FROM training_runs WHERE model_name = %(model_name)s);

-- create_staged_outcomes --
-- A batch's judgements before they reach `signals`: the outcome and the reason as
-- indexes into their words (NULL: none), the figures, NULL where there is none. Filled by
-- one binary COPY, gone with the transaction.
CREATE TEMPORARY TABLE staged_outcomes (
    id bigint, outcome bigint, reason bigint, realized_rr double precision, held_bars bigint,
    mae_r double precision, mfe_r double precision, judged_to timestamptz
) ON COMMIT DROP;

-- copy_staged_outcomes --
-- See create_staged_outcomes, in the table's column order.
COPY staged_outcomes FROM STDIN (FORMAT BINARY);

-- write_outcomes --
-- The staged judgements into their signals, with the words for the indexes; a signal
-- judged meanwhile keeps its judgement (a re-run writes nothing). The planner merges the
-- staged ids with the primary key's: bounded by the batch's ids, or every batch walked
-- the key from its start, past every signal judged before (at 300,000 signals the eighth
-- batch of 20 charts read 140,000 entries to update 20,000 rows).
UPDATE signals s
SET outcome = (%(outcomes)s::text[])[o.outcome + 1],
    outcome_reason = (%(reasons)s::text[])[o.reason + 1],
    realized_rr = o.realized_rr, held_bars = o.held_bars, mae_r = o.mae_r, mfe_r = o.mfe_r,
    judged_to = o.judged_to, evaluated_at = now()
FROM staged_outcomes o
WHERE s.id = o.id AND s.evaluated_at IS NULL
  AND s.id BETWEEN (SELECT min(id) FROM staged_outcomes) AND (SELECT max(id) FROM staged_outcomes);

-- settle_queue --
-- After a batch's judgements: the queue rows it read deleted, one added per chart and
-- version for the signals it left pending (skipped, of another model, without a
-- target), and each chart's reach widened to its judgements' (microseconds).
WITH consumed AS (
    DELETE FROM outcome_queue WHERE id = ANY(%(read)s::bigint[])
), left_pending AS (
    INSERT INTO outcome_queue (chart_id, model_name, model_version, since)
    SELECT * FROM unnest(%(charts)s::bigint[], %(names)s::text[], %(versions)s::integer[],
                         %(since)s::timestamptz[])
)
INSERT INTO outcome_reach AS r (chart_id, reach)
SELECT chart, micros * interval '1 microsecond'
FROM unnest(%(judged)s::bigint[], %(reach)s::bigint[]) AS j (chart, micros)
ON CONFLICT (chart_id) DO UPDATE SET reach = greatest(r.reach, EXCLUDED.reach);
