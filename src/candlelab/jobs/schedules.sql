-- schedule_retrain --
-- A model's scheduled retrain, made or changed; a new one first runs one period from now
-- (the model was trained already). A changed period runs next at the earlier of the
-- time set and one new period from now: a shorter period takes effect at once, a longer
-- one after the run already due. `replaced`: the model had a schedule.
INSERT INTO schedules AS s (kind, model_name, every, next_run_at, reason, priority,
                            spans_changed, created_by)
VALUES ('retrain', %(model_name)s, make_interval(secs => %(every)s),
        now() + make_interval(secs => %(every)s), %(reason)s, %(priority)s,
        %(spans_changed)s, %(by)s)
ON CONFLICT (kind, (coalesce(model_name, ''))) DO UPDATE
SET every = excluded.every,
    next_run_at = CASE WHEN excluded.every IS NULL THEN NULL
                       WHEN s.every IS NOT DISTINCT FROM excluded.every THEN s.next_run_at
                       ELSE least(s.next_run_at, excluded.next_run_at) END,
    reason = excluded.reason, priority = excluded.priority,
    spans_changed = excluded.spans_changed, updated_at = now()
RETURNING s.id, xmax <> 0 AS replaced;

-- set_task --
-- A task over every model (evaluate, drift, decide) at a period, as a worker starting up
-- configures it; a new one is due at once. A changed period runs next at the earlier of
-- the time set and one new period from now; the same period changes nothing.
INSERT INTO schedules AS s (kind, every, next_run_at, created_by)
VALUES (%(kind)s, make_interval(secs => %(every)s), now(), %(by)s)
ON CONFLICT (kind, (coalesce(model_name, ''))) DO UPDATE
SET every = excluded.every, next_run_at = least(s.next_run_at, now() + excluded.every),
    updated_at = now()
WHERE s.every IS DISTINCT FROM excluded.every
RETURNING id;

-- drop_task --
-- A task over every model no longer run (its worker option `off`).
DELETE FROM schedules WHERE kind = %(kind)s AND model_name IS NULL RETURNING id;

-- unschedule --
-- A model's scheduled retrain removed; its id, or no row when it had none.
DELETE FROM schedules WHERE kind = 'retrain' AND model_name = %(model_name)s RETURNING id;

-- schedules --
-- Every schedule: the tasks over every model first, then the models' retrains by name.
SELECT id, kind, model_name, every, next_run_at, reason, priority, spans_changed,
       spans_fired_at, last_run_at, last_worker, last_finished_at, last_result, last_error,
       created_by, created_at, updated_at
FROM schedules
ORDER BY model_name IS NOT NULL, kind, model_name;

-- claim --
-- The most overdue due schedule, taken for one run by one worker: next_run_at moves on
-- by whole periods to the first one after now, in the same statement. So a period runs
-- at most once however many workers claim at once (SKIP LOCKED: a row being claimed is
-- passed over; a row claimed meanwhile fails `next_run_at <= now()` when rechecked), and
-- after a long downtime the schedule runs once and skips the periods it missed
-- (`missed`), keeping its phase: a daily 02:00 run stays at 02:00. The database's clock
-- decides, not the workers'.
WITH due AS (
    SELECT id, floor(extract(epoch FROM now() - next_run_at) / extract(epoch FROM every))
               AS missed
    FROM schedules
    WHERE next_run_at <= now()
    ORDER BY next_run_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE schedules s
SET last_run_at = now(), last_worker = %(worker_id)s,
    next_run_at = s.next_run_at + s.every * (due.missed + 1)
FROM due
WHERE s.id = due.id
RETURNING s.id, s.kind, s.model_name, s.every, s.reason, s.priority, s.last_run_at,
          s.next_run_at, due.missed::integer;

-- spans_fired --
-- The retrain schedules whose spans trigger fires now: at least `spans_changed` accepted
-- spans of the charts the model's last training run read changed since that run began
-- and since the trigger last fired, and no request of the model is open (the open one
-- will read them). Taken by setting spans_fired_at, only where it is still the value
-- read: of two workers at once, the second matches nothing when it rechecks the row.
WITH fired AS (
    SELECT s.id, s.model_name, s.spans_fired_at, s.priority, changed.spans
    FROM schedules s
    CROSS JOIN LATERAL (
        SELECT r.chart_ids, r.created_at FROM training_runs r
        WHERE r.model_name = s.model_name AND r.status = 'finished'
          AND r.model_version IS NOT NULL
        ORDER BY r.completed_at DESC, r.created_at DESC
        LIMIT 1
    ) run
    CROSS JOIN LATERAL (
        SELECT coalesce(sum(c.spans), 0)::integer AS spans FROM span_changes c
        WHERE c.chart_id = ANY(run.chart_ids)
          AND c.changed_at > greatest(run.created_at, s.spans_fired_at)
    ) changed
    WHERE s.kind = 'retrain' AND changed.spans >= s.spans_changed
      AND NOT EXISTS (SELECT 1 FROM retrain_queue q
                      WHERE q.model_name = s.model_name
                        AND q.status IN ('pending', 'processing'))
)
UPDATE schedules s
SET spans_fired_at = now(), last_worker = %(worker_id)s
FROM fired f
WHERE s.id = f.id AND s.spans_fired_at IS NOT DISTINCT FROM f.spans_fired_at
RETURNING s.id, s.model_name, s.priority, s.spans_changed, f.spans;

-- finish --
-- How a schedule's run ended: its result, or its error (NULL when it succeeded).
UPDATE schedules
SET last_finished_at = now(), last_result = %(result)s, last_error = %(error)s
WHERE id = %(id)s
RETURNING id;

-- next_due --
-- Seconds until the earliest schedule is due (0 when one is due now; NULL: none is
-- periodic): how long a worker may sleep before it looks again.
SELECT greatest(extract(epoch FROM min(next_run_at) - now()), 0)::float8 FROM schedules;
