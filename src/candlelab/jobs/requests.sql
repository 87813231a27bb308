-- requests --
-- Retrain requests, newest first, of one status and one model when given.
SELECT id, model_name, status, priority, reason, attempts, max_attempts, worker_id, lease,
       inserted_at, run_after, started_at, heartbeat_at, completed_at, timeout_seconds,
       signal_id, training_run_id, error_message
FROM retrain_queue
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(model_name)s::text IS NULL OR model_name = %(model_name)s)
ORDER BY inserted_at DESC, id DESC
LIMIT %(limit)s;

-- request --
-- One retrain request by its id.
SELECT id, model_name, status, priority, reason, attempts, max_attempts, worker_id, lease,
       inserted_at, run_after, started_at, heartbeat_at, completed_at, timeout_seconds,
       signal_id, training_run_id, error_message
FROM retrain_queue
WHERE id = %(id)s;

-- cancel --
-- An open request ended as failed, saying who cancelled it. A running job's lease is
-- then lost: its worker's next heartbeat is refused, and the worker stops the training
-- and writes nothing more (a fenced write in progress finishes first: this waits for
-- the row's lock). The status the request had, or no row when it was not open.
WITH open AS (
    SELECT id, status FROM retrain_queue
    WHERE id = %(id)s AND status IN ('pending', 'processing')
    FOR UPDATE
)
UPDATE retrain_queue q
SET status = 'failed', completed_at = now(), error_message = %(why)s
FROM open o
WHERE q.id = o.id
RETURNING o.status;

-- retry --
-- A failed request back to pending, due now, with its attempts counted from zero; or a
-- pending one waiting out its backoff made due now. Announced to waiting workers.
WITH retried AS (
    UPDATE retrain_queue
    SET status = 'pending', run_after = now(), completed_at = NULL,
        attempts = CASE WHEN status = 'failed' THEN 0 ELSE attempts END
    WHERE id = %(id)s AND status IN ('failed', 'pending')
    RETURNING id
)
SELECT r.id FROM retried r, LATERAL (SELECT pg_notify(%(channel)s, r.id::text)) n;
