-- enqueue --
-- A retrain request, or, when the model has an open (pending or processing) one, a merge
-- into it: the partial unique index decides, so two requests at once cannot both insert.
-- The merged row keeps its place, takes the higher priority and appends the reason; xmax
-- is set only on a row the conflict updated, which tells a merge from an insert. Waiting
-- workers are woken by a NOTIFY, sent when the request commits.
WITH request AS (
INSERT INTO retrain_queue AS q
    (model_name, reason, priority, signal_id, max_attempts, timeout_seconds)
VALUES (%(model_name)s, %(reason)s, %(priority)s, %(signal_id)s, %(max_attempts)s,
        %(timeout_seconds)s)
ON CONFLICT (model_name) WHERE status IN ('pending', 'processing') DO UPDATE
SET priority = greatest(q.priority, excluded.priority),
    reason = q.reason || '; ' || excluded.reason,
    signal_id = coalesce(q.signal_id, excluded.signal_id)
RETURNING id, xmax <> 0 AS merged
)
SELECT r.id, r.merged FROM request r, LATERAL (SELECT pg_notify(%(channel)s, r.id::text)) n;

-- claim --
-- The most urgent pending job that is due (highest priority, then oldest), taken for one
-- worker in one statement. SKIP LOCKED lets workers claiming at once take different
-- jobs instead of queueing on the same row; the raised lease fences off earlier holders.
WITH next AS (
    SELECT id FROM retrain_queue
    WHERE status = 'pending' AND run_after <= now()
    ORDER BY priority DESC, inserted_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE retrain_queue q
SET status = 'processing', worker_id = %(worker_id)s, lease = q.lease + 1,
    attempts = q.attempts + 1, started_at = now(), heartbeat_at = now(), completed_at = NULL
FROM next
WHERE q.id = next.id
RETURNING q.id, q.model_name, q.reason, q.priority, q.signal_id, q.worker_id, q.lease,
          q.attempts, q.max_attempts, q.timeout_seconds, q.started_at;

-- heartbeat --
-- The holder says it is alive; a lost lease matches no row.
UPDATE retrain_queue SET heartbeat_at = now()
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing'
RETURNING id;

-- complete --
-- The holder finished the job, with the training run it produced.
UPDATE retrain_queue
SET status = 'completed', completed_at = now(), heartbeat_at = now(),
    training_run_id = %(training_run_id)s
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing'
RETURNING id;

-- fail --
-- The holder's attempt failed: back to pending after an exponential backoff (base ×
-- 2^(attempts-1), capped), or failed for good after its last attempt. A job back in
-- pending is announced (NOTIFY): a worker waiting on it then knows when it is due.
WITH failed AS (
UPDATE retrain_queue
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN attempts >= max_attempts THEN now() END,
    run_after = CASE WHEN attempts >= max_attempts THEN run_after
                ELSE now() + make_interval(secs => least(
                    %(backoff_base)s * 2 ^ (attempts - 1), %(backoff_cap)s)) END,
    error_message = %(error)s
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing'
RETURNING id, status, run_after
)
SELECT f.status, f.run_after FROM failed f
LEFT JOIN LATERAL (SELECT pg_notify(%(channel)s, f.id::text) WHERE f.status = 'pending') n
    ON true;

-- rescue_stalled --
-- Jobs whose worker stopped heartbeating, or that ran past their time limit, go back to
-- pending with backoff (failed after their last attempt), saying why. Every worker runs
-- it before claiming, so no cron is needed; SKIP LOCKED leaves a row alone while its
-- holder is writing a heartbeat, and two rescuers never wait for each other. Each job
-- back in pending is announced (NOTIFY).
WITH stalled AS (
    SELECT id,
           started_at < now() - make_interval(secs => timeout_seconds) AS overran
    FROM retrain_queue
    WHERE status = 'processing'
      AND (coalesce(heartbeat_at, started_at) < now() - make_interval(secs => %(timeout)s)
           OR started_at < now() - make_interval(secs => timeout_seconds))
    FOR UPDATE SKIP LOCKED
), rescued AS (
UPDATE retrain_queue q
SET status = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN q.attempts >= q.max_attempts THEN now() END,
    run_after = CASE WHEN q.attempts >= q.max_attempts THEN q.run_after
                ELSE now() + make_interval(secs => least(
                    %(backoff_base)s * 2 ^ (q.attempts - 1), %(backoff_cap)s)) END,
    error_message = CASE WHEN s.overran
        THEN concat('ran past its time limit of ', q.timeout_seconds, ' s (worker ',
                    q.worker_id, ', attempt ', q.attempts, ' of ', q.max_attempts, ')')
        ELSE concat('worker ', q.worker_id, ' stopped heartbeating at ',
                    to_char(coalesce(q.heartbeat_at, q.started_at) AT TIME ZONE 'UTC',
                            'YYYY-MM-DD HH24:MI:SS'),
                    ' UTC (attempt ', q.attempts, ' of ', q.max_attempts, ')')
        END
FROM stalled s
WHERE q.id = s.id
RETURNING q.id, q.model_name, q.status, q.error_message
)
SELECT r.id, r.model_name, r.status, r.error_message FROM rescued r
LEFT JOIN LATERAL (SELECT pg_notify(%(channel)s, r.id::text) WHERE r.status = 'pending') n
    ON true;

-- job_state --
-- Where a job stands now: what a worker that lost its lease is told.
SELECT status, lease, worker_id FROM retrain_queue WHERE id = %(id)s;

-- release --
-- The holder gives the job back untried (its worker is stopping): pending and due at once,
-- the attempt not counted, and announced to the other workers.
WITH released AS (
UPDATE retrain_queue
SET status = 'pending', attempts = greatest(attempts - 1, 0), run_after = now(),
    error_message = %(why)s
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing'
RETURNING id
)
SELECT r.id FROM released r, LATERAL (SELECT pg_notify(%(channel)s, r.id::text)) n;

-- fence --
-- The holder's job, locked until the caller's transaction ends: while it is held no
-- rescuer (SKIP LOCKED) or cancel can take the job, so what the holder writes meanwhile
-- (a model version, an alias) is written under a lease that is still its own.
SELECT id FROM retrain_queue
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing'
FOR UPDATE;

-- attach_run --
-- The training run the holder's job produced, recorded inside its fence.
UPDATE retrain_queue SET training_run_id = %(training_run_id)s
WHERE id = %(id)s AND lease = %(lease)s AND status = 'processing';

-- next_due --
-- Seconds until the earliest pending job is due (0 when one is due now; NULL: none is
-- pending): how long a worker may sleep before its next claim.
SELECT greatest(extract(epoch FROM min(run_after) - now()), 0)::float8
FROM retrain_queue WHERE status = 'pending';
