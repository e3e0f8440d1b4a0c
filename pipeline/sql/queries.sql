-- All runtime SQL of the project, one statement per `-- name:` header, loaded by pipeline.db.query(name).
-- Names are entity-first (job_claim, migration_list). The line after each header says what the statement does.
-- Statements run with search_path set to the project's schema alone (pipeline.db), so table names are unqualified.

-- name: search_path_set_local
-- Set search_path for the current transaction only: behind a transaction pooler, each transaction begins with it.
SELECT set_config('search_path', %(search_path)s, true);

-- name: search_path_show
-- The connection's search_path: a migration checks that the one sent when connecting was applied.
SELECT current_setting('search_path');

-- name: migration_list
-- Versions, names and checksums of the applied migrations, oldest first.
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: migration_state
-- The search_path in effect with every applied migration's version and checksum, in one round trip: when they
-- match the shipped migrations, a command has nothing to migrate (no lock taken, no DDL run). Fails (undefined
-- table) on a database never migrated.
SELECT current_setting('search_path'), version, checksum FROM schema_migrations;

-- name: migration_record
-- Record one applied migration.
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s);

-- name: migration_current_version
-- The newest applied migration version, or NULL when none (or the table is missing: the caller checks first).
SELECT max(version) FROM schema_migrations;

-- name: migration_table_exists
-- Whether the schema has its migrations table (false: the database was never migrated).
SELECT to_regclass(%(table)s) IS NOT NULL;

-- ===== queue =====
-- Every transition out of `active` names the expected state and owner in its WHERE clause, so a rescue and a late
-- completion (or two workers) can never both win: the loser's statement matches no row.
-- Transitions are stamped with clock_timestamp(), the moment they happen: now() is the start of the transaction,
-- and a writer completes its job at the end of a transaction that may have run for many seconds.
-- The per-batch arrays of the hot statements are sent in binary (`%(ids)b`): psycopg dumps a list of 500 UUIDs to
-- binary in about a quarter of the time it takes to quote them as text.

-- name: job_insert
-- Enqueue one job; with a singleton_key already held by an unfinished job of the queue, insert nothing.
-- reserved_for (or NULL) names the worker the job is left to while that worker is alive (see job_claim);
-- group_key (or NULL) names the group whose jobs run one at a time.
INSERT INTO jobs (
    id, name, payload, priority, start_after, singleton_key, dead_letter,
    retry_limit, retry_delay, retry_backoff, retry_delay_max, expire_in, reserved_for, group_key
)
VALUES (
    %(id)s, %(name)s, %(payload)s::jsonb, %(priority)s,
    coalesce(%(start_at)s::timestamptz, now() + %(start_in)s * interval '1 second'),
    %(singleton_key)s, %(dead_letter)s,
    %(retry_limit)s, %(retry_delay)s, %(retry_backoff)s, %(retry_delay_max)s, %(expire_in)s, %(reserved_for)s,
    %(group_key)s
)
ON CONFLICT (name, singleton_key) WHERE singleton_key IS NOT NULL AND state IN ('created', 'retry', 'active')
DO NOTHING
RETURNING id;

-- name: job_insert_many
-- Enqueue many jobs of one queue in one statement: payloads is a JSON array of objects, singleton_keys a parallel
-- text array (or NULL). Returns one row per payload, in payload order: the new id, and whether it was inserted
-- (false: its singleton_key is held by an unfinished job, which the caller looks up).
WITH batch AS (
    -- ROWS FROM zips the two lists; ids are made here so skipped rows can still be matched to their payload
    SELECT gen_random_uuid() AS id, item.payload, item.singleton_key, item.position
    FROM ROWS FROM (jsonb_array_elements(%(payloads)s::jsonb), unnest(%(singleton_keys)s::text[]))
        WITH ORDINALITY AS item (payload, singleton_key, position)
), inserted AS (
    INSERT INTO jobs (
        id, name, payload, priority, start_after, singleton_key, dead_letter,
        retry_limit, retry_delay, retry_backoff, retry_delay_max, expire_in
    )
    SELECT
        batch.id, %(name)s, batch.payload, %(priority)s,
        coalesce(%(start_at)s::timestamptz, now() + %(start_in)s * interval '1 second'),
        batch.singleton_key, %(dead_letter)s,
        %(retry_limit)s, %(retry_delay)s, %(retry_backoff)s, %(retry_delay_max)s, %(expire_in)s
    FROM batch
    ORDER BY batch.position
    ON CONFLICT (name, singleton_key) WHERE singleton_key IS NOT NULL AND state IN ('created', 'retry', 'active')
    DO NOTHING
    RETURNING id
)
SELECT batch.id, inserted.id IS NOT NULL
FROM batch LEFT JOIN inserted USING (id)
ORDER BY batch.position;

-- name: job_find_singleton
-- The unfinished job holding a singleton_key in a queue (what a duplicate send returns).
SELECT id FROM jobs
WHERE name = %(name)s AND singleton_key = %(singleton_key)s AND state IN ('created', 'retry', 'active');

-- name: job_claim
-- Claim up to `limit` waiting jobs of a queue: highest priority first, then longest available; locked rows are
-- skipped so concurrent workers never block on or share a job, and a job reserved for another worker is left to it
-- while that worker's heartbeat is younger than stale_after seconds, and a job of a group is claimed only when it
-- is its group's turn. Starts an attempt owned by worker_id.
WITH next AS (
    -- served by jobs_claim_idx: same predicate, same order
    SELECT id FROM jobs
    WHERE name = %(name)s AND state IN ('created', 'retry') AND start_after <= now()
        -- a job reserved for another worker waits while that worker's heartbeat is fresh (a lookup by the
        -- workers' primary key, made only for reserved jobs)
        AND (reserved_for IS NULL OR reserved_for = %(worker_id)s
            OR coalesce((SELECT heartbeat_at FROM workers WHERE workers.id = jobs.reserved_for), '-infinity')
                < now() - %(stale_after)s * interval '1 second')
        -- a job of a group waits while a job of its group runs, and only the group's first available job (in
        -- this same order) is offered: two claimers then meet on that one row, and SKIP LOCKED gives it to one
        -- (job_group_turn: lookups in jobs_group_active_idx and jobs_group_waiting_idx, only for grouped jobs)
        AND (group_key IS NULL OR job_group_turn(name, group_key, id, priority, start_after))
    ORDER BY priority DESC, start_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs AS job
    SET state = 'active',
        attempts = job.attempts + 1,
        worker_id = %(worker_id)s,
        started_at = claim.at,
        heartbeat_at = claim.at,
        expire_at = claim.at + job.expire_in * interval '1 second'
    -- one clock reading, so expire_at - started_at is exactly expire_in
    FROM (SELECT clock_timestamp() AS at) AS claim
    -- by primary key: a join to `next` was planned as a hash of the whole table whenever the batch looked like
    -- a large part of it (as after a burst of sends), which made each claim cost O(table)
    WHERE job.id = ANY(ARRAY(SELECT id FROM next))
    RETURNING job.id, job.payload, job.attempts, job.retry_limit, job.retry_delay, job.retry_backoff,
        job.retry_delay_max, job.priority, job.start_after
)
-- hand the batch over in claim order
SELECT id, payload, attempts, retry_limit, retry_delay, retry_backoff, retry_delay_max
FROM claimed
ORDER BY priority DESC, start_after, id;

-- name: job_claim_by_id
-- Claim one job by id if it is waiting (created, or retry whose start_after has come), whatever its queue or
-- reservation: how a coordinator runs exactly the one job it was started for; a job of a group waits while a job
-- of its group runs. Starts an attempt owned by worker_id.
UPDATE jobs
SET state = 'active',
    attempts = attempts + 1,
    worker_id = %(worker_id)s,
    started_at = claim.at,
    heartbeat_at = claim.at,
    expire_at = claim.at + expire_in * interval '1 second'
FROM (SELECT clock_timestamp() AS at) AS claim
WHERE id = %(id)s AND state IN ('created', 'retry') AND start_after <= now()
    AND (group_key IS NULL OR NOT EXISTS (
        SELECT FROM jobs AS other
        WHERE other.name = jobs.name AND other.group_key = jobs.group_key AND other.state = 'active'
    ))
RETURNING id, payload, attempts, retry_limit, retry_delay, retry_backoff, retry_delay_max;

-- name: job_complete_many
-- Complete the owner's active jobs at the attempts it ran (attempts and outputs are parallel arrays; an output is
-- a JSON text, NULL for none); returns how many were accepted: a job rescued, cancelled or expired meanwhile is
-- not this worker's to complete any more, even if this worker has claimed it again since (a later attempt).
UPDATE jobs AS job
SET state = 'completed', finished_at = clock_timestamp(), output = done.output::jsonb
FROM unnest(%(ids)b::uuid[], %(attempts)b::integer[], %(outputs)b::text[]) AS done (id, attempt, output)
WHERE job.id = done.id AND job.attempts = done.attempt AND job.state = 'active'
  AND job.worker_id = %(worker_id)s;

-- name: job_fail_many
-- Record failed attempts of the owner's active jobs: back to `retry` after the given delay while attempts remain
-- and the failure is not permanent, else `failed` with a dead letter. Each failure is an `error` event.
WITH failure AS (
    SELECT * FROM unnest(
        %(ids)s::uuid[], %(attempts)s::integer[], %(errors)s::text[], %(delays)s::double precision[],
        %(permanent)s::boolean[]
    ) AS failure (id, attempt, error, delay, permanent)
), failed AS (
    UPDATE jobs AS job
    SET state = CASE WHEN NOT failure.permanent AND job.attempts <= job.retry_limit
            THEN 'retry'::job_state ELSE 'failed'::job_state END,
        start_after = CASE WHEN NOT failure.permanent AND job.attempts <= job.retry_limit
            THEN now() + failure.delay * interval '1 second' ELSE job.start_after END,
        finished_at = CASE WHEN NOT failure.permanent AND job.attempts <= job.retry_limit
            THEN NULL ELSE clock_timestamp() END,
        last_error = failure.error
    FROM failure
    WHERE job.id = failure.id AND job.attempts = failure.attempt AND job.state = 'active'
      AND job.worker_id = %(worker_id)s
    RETURNING job.*
), event AS (
    INSERT INTO job_events (job_id, attempt, kind, next_state, worker_id, error)
    SELECT id, attempts, 'error', state, worker_id, last_error FROM failed
), dead AS (
    INSERT INTO dead_letters (
        queue, source_queue, source_job_id, attempts, priority, retry_limit, retry_backoff, retry_delay,
        retry_delay_max, expire_in, singleton_key, last_error, payload
    )
    SELECT coalesce(dead_letter, name || '__dlq'), name, id, attempts, priority, retry_limit, retry_backoff,
        retry_delay, retry_delay_max, expire_in, singleton_key, last_error, payload
    FROM failed WHERE state = 'failed'
)
SELECT id, state FROM failed;

-- name: job_release_many
-- Give the owner's active jobs (at the given attempts) back at shutdown: `retry`, available now, and the attempt
-- is not counted.
WITH released AS (
    UPDATE jobs AS job
    SET state = 'retry', attempts = job.attempts - 1, start_after = now()
    FROM unnest(%(ids)s::uuid[], %(attempts)s::integer[]) AS held (id, attempt)
    WHERE job.id = held.id AND job.attempts = held.attempt AND job.state = 'active'
      AND job.worker_id = %(worker_id)s
    RETURNING job.id, job.name, job.attempts, job.worker_id
), event AS (
    INSERT INTO job_events (job_id, attempt, kind, next_state, worker_id, error)
    SELECT id, attempts + 1, 'released', 'retry', worker_id, 'released at worker shutdown' FROM released
)
SELECT id, name FROM released;

-- name: job_heartbeat
-- Refresh the owner's running jobs at the attempts it holds (a HOT update: no indexed column changes); a job
-- missing from the result was cancelled, rescued or expired, and its handler should stop.
UPDATE jobs AS job SET heartbeat_at = now()
FROM unnest(%(ids)b::uuid[], %(attempts)b::integer[]) AS held (id, attempt)
WHERE job.id = held.id AND job.attempts = held.attempt AND job.state = 'active' AND job.worker_id = %(worker_id)s
RETURNING job.id, job.attempts;

-- name: job_rescue
-- Rescue running jobs whose heartbeat is older than stale_after seconds (their worker died) or whose expire_at has
-- passed: back to `retry` at once while attempts remain, else `failed` with a dead letter. The attempt counts.
-- Heartbeats are not judged in the first stale_after seconds after a server restart, when every live worker is
-- still reconnecting.
WITH stale AS (
    SELECT id, expire_at < now() AS expired FROM jobs
    WHERE state = 'active'
        AND (
            expire_at < now()
            OR (heartbeat_at < now() - %(stale_after)s * interval '1 second'
                AND pg_postmaster_start_time() < now() - %(stale_after)s * interval '1 second')
        )
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE jobs AS job
    SET state = CASE WHEN job.attempts <= job.retry_limit THEN 'retry'::job_state ELSE 'failed'::job_state END,
        start_after = CASE WHEN job.attempts <= job.retry_limit THEN now() ELSE job.start_after END,
        finished_at = CASE WHEN job.attempts <= job.retry_limit THEN NULL ELSE clock_timestamp() END,
        last_error = CASE WHEN stale.expired
            THEN format('expired: attempt %%s ran longer than expire_in (%%s s)', job.attempts, job.expire_in)
            ELSE format('rescued: worker %%s stopped sending heartbeats (last at %%s)', job.worker_id,
                job.heartbeat_at)
        END
    FROM stale
    WHERE job.id = stale.id
    RETURNING job.*, stale.expired
), event AS (
    INSERT INTO job_events (job_id, attempt, kind, next_state, worker_id, error)
    SELECT id, attempts, CASE WHEN expired THEN 'expired'::job_event_kind ELSE 'rescued'::job_event_kind END,
        state, worker_id, last_error
    FROM rescued
), dead AS (
    INSERT INTO dead_letters (
        queue, source_queue, source_job_id, attempts, priority, retry_limit, retry_backoff, retry_delay,
        retry_delay_max, expire_in, singleton_key, last_error, payload
    )
    SELECT coalesce(dead_letter, name || '__dlq'), name, id, attempts, priority, retry_limit, retry_backoff,
        retry_delay, retry_delay_max, expire_in, singleton_key, last_error, payload
    FROM rescued WHERE state = 'failed'
)
SELECT id, name, state, expired FROM rescued;

-- name: job_count_available
-- Jobs of a queue waiting to run: those a worker could claim now, plus delayed ones when include_delayed.
SELECT count(*) FROM jobs
WHERE name = %(name)s AND state IN ('created', 'retry') AND (%(include_delayed)s OR start_after <= now());

-- name: job_count_unfinished
-- Jobs of a queue not finished: waiting (delayed ones too) or running. One statement, so a job that moves from
-- running back to waiting meanwhile (a failed attempt going to retry) is counted in one state or the other.
SELECT count(*) FROM jobs WHERE name = %(name)s AND state IN ('created', 'retry', 'active');

-- name: job_notify
-- Wake the workers of a queue (used when jobs become available other than by INSERT: release, rescue).
SELECT pg_notify(current_schema() || '.jobs', %(name)s);

-- name: job_cancel_many
-- Cancel unfinished jobs; a running one is noticed by its worker at the next heartbeat. Returns the cancelled ids.
WITH target AS (
    SELECT id, state AS previous_state FROM jobs
    WHERE id = ANY(%(ids)s::uuid[]) AND state IN ('created', 'retry', 'active')
    FOR UPDATE
), cancelled AS (
    UPDATE jobs AS job
    SET state = 'cancelled', finished_at = clock_timestamp()
    FROM target
    WHERE job.id = target.id
    RETURNING job.id, job.attempts, job.worker_id, target.previous_state
), event AS (
    INSERT INTO job_events (job_id, attempt, kind, next_state, worker_id, error)
    SELECT id, attempts, 'cancelled', 'cancelled', worker_id, 'cancelled while running'
    FROM cancelled WHERE previous_state = 'active'
)
SELECT id FROM cancelled;

-- name: job_get
-- One job's row, for inspection.
SELECT id, name, state, priority, attempts, retry_limit, worker_id, singleton_key, created_at, start_after,
    started_at, heartbeat_at, finished_at, last_error, payload, output, redrive_of
FROM jobs WHERE id = %(id)s;

-- name: job_event_list
-- A job's attempts that did not complete, oldest first.
SELECT attempt, kind, next_state, worker_id, at, error FROM job_events WHERE job_id = %(id)s ORDER BY id;

-- name: job_delete_finished
-- Retention: delete up to `limit` completed/cancelled jobs older than delete_after and failed jobs older than
-- failed_delete_after (their events go with them; dead letters are kept). Returns how many were deleted.
WITH doomed AS (
    SELECT id FROM jobs
    WHERE (state IN ('completed', 'cancelled') AND finished_at < now() - %(delete_after)s * interval '1 second')
        OR (state = 'failed' AND finished_at < now() - %(failed_delete_after)s * interval '1 second')
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id;

-- name: worker_heartbeat
-- Register or refresh a worker (health counts workers by their heartbeat).
INSERT INTO workers (id, queue, host, pid) VALUES (%(id)s, %(queue)s, %(host)s, %(pid)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now();

-- name: worker_delete
-- Forget a worker at its clean exit.
DELETE FROM workers WHERE id = %(id)s;

-- name: worker_delete_stale
-- Retention: forget workers silent for longer than stale_after seconds.
DELETE FROM workers WHERE heartbeat_at < now() - %(stale_after)s * interval '1 second';

-- name: dead_letter_list
-- Dead letters, newest first, optionally of one dead-letter queue.
SELECT id, queue, source_queue, source_job_id, attempts, failed_at, last_error, payload
FROM dead_letters
WHERE %(queue)s::text IS NULL OR queue = %(queue)s
ORDER BY failed_at DESC, id
LIMIT %(limit)s;

-- name: dead_letter_get
-- One dead letter.
SELECT id, queue, source_queue, source_job_id, attempts, failed_at, last_error, payload
FROM dead_letters WHERE id = %(id)s;

-- name: dead_letter_redrive
-- Send dead letters back to their source queue as new jobs with the same payload and options and a fresh attempt
-- budget, removing them from the dead-letter queue. Selected by ids, or all of one dead-letter queue. A dead letter
-- whose singleton_key is held by an unfinished job is redriven into that job (new_job_id is the existing one).
WITH picked AS (
    DELETE FROM dead_letters
    WHERE (%(ids)s::uuid[] IS NOT NULL AND id = ANY(%(ids)s::uuid[]))
        OR (%(ids)s::uuid[] IS NULL AND queue = %(queue)s)
    RETURNING *
), inserted AS (
    INSERT INTO jobs (
        id, name, payload, priority, singleton_key, retry_limit, retry_delay, retry_backoff, retry_delay_max,
        expire_in, redrive_of, dead_letter
    )
    SELECT gen_random_uuid(), source_queue, payload, priority, singleton_key, retry_limit, retry_delay,
        retry_backoff, retry_delay_max, expire_in, source_job_id,
        nullif(queue, source_queue || '__dlq')
    FROM picked
    ON CONFLICT (name, singleton_key) WHERE singleton_key IS NOT NULL AND state IN ('created', 'retry', 'active')
    DO NOTHING
    RETURNING id, redrive_of
)
SELECT picked.id, picked.source_queue, coalesce(inserted.id, holder.id) AS new_job_id
FROM picked
LEFT JOIN inserted ON inserted.redrive_of = picked.source_job_id
LEFT JOIN jobs AS holder ON inserted.id IS NULL
    AND holder.name = picked.source_queue AND holder.singleton_key = picked.singleton_key
    AND holder.state IN ('created', 'retry', 'active');

-- name: dead_letter_lock_many
-- Lock dead letters for a redrive: by ids, or all of one dead-letter queue, oldest first. A purge or another
-- redrive of the same letters waits for this transaction, then finds them gone.
SELECT id, source_queue, payload FROM dead_letters
WHERE (%(ids)s::uuid[] IS NOT NULL AND id = ANY(%(ids)s::uuid[]))
    OR (%(ids)s::uuid[] IS NULL AND queue = %(queue)s)
ORDER BY failed_at, id
FOR UPDATE;

-- name: dead_letter_purge
-- Delete dead letters for good: by ids, or all of one dead-letter queue. Returns how many.
DELETE FROM dead_letters
WHERE (%(ids)s::uuid[] IS NOT NULL AND id = ANY(%(ids)s::uuid[]))
    OR (%(ids)s::uuid[] IS NULL AND queue = %(queue)s);

-- name: queue_health
-- Per queue: jobs by state, age of the oldest job waiting to run, failures in the last 24 h.
SELECT name,
    count(*) FILTER (WHERE state = 'created') AS created,
    count(*) FILTER (WHERE state = 'retry') AS retry,
    count(*) FILTER (WHERE state = 'active') AS active,
    count(*) FILTER (WHERE state = 'completed') AS completed,
    count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE state = 'failed') AS failed,
    extract(epoch FROM now() - min(start_after) FILTER (
        WHERE state IN ('created', 'retry') AND start_after <= now()
    ))::double precision AS oldest_waiting_seconds,
    count(*) FILTER (WHERE state = 'failed' AND finished_at > now() - interval '24 hours') AS failed_last_24h
FROM jobs
GROUP BY name
ORDER BY name;

-- name: queue_list_registered
-- Queues registered before their first job (health lists them even when they have none).
SELECT name FROM queues ORDER BY name;

-- name: worker_count_live
-- Workers per queue whose heartbeat is younger than stale_after seconds.
SELECT queue, count(*) FROM workers
WHERE heartbeat_at > now() - %(stale_after)s * interval '1 second'
GROUP BY queue;

-- name: dead_letter_count
-- Dead letters per source queue.
SELECT source_queue, count(*) FROM dead_letters GROUP BY source_queue;

-- ===== index jobs =====

-- name: repository_upsert
-- Find or create the repository this git URL names, by its key (url_key, set by a trigger; migration 0013): one
-- row per repository however its URL is spelled, e.g. a push's https://github.com/Acme/App.git and the
-- https://github.com/acme/app of `owner/name`. Returns its id. The row keeps the URL it was created with (the one
-- fetched). Its name is the one derived now (a row named by an older rule, or before its clone's origin remote
-- changed, is renamed by its next enqueue), except that a name differing only in case keeps its first spelling.
INSERT INTO repositories (full_name, git_url) VALUES (%(full_name)s, %(git_url)s)
ON CONFLICT (url_key) DO UPDATE
SET full_name = CASE WHEN lower(repositories.full_name) = lower(excluded.full_name) THEN repositories.full_name
        ELSE excluded.full_name END,
    updated_at = now()
RETURNING id;

-- name: index_job_insert
-- Create a pending index job unless an unfinished one exists for the same repository and commit/ref.
INSERT INTO index_jobs (repository_id, ref, commit_sha, force)
VALUES (%(repository_id)s, %(ref)s, %(commit_sha)s, %(force)s)
ON CONFLICT (repository_id, coalesce(commit_sha, ''), coalesce(ref, '')) WHERE status IN ('pending', 'processing')
DO NOTHING
RETURNING id;

-- name: index_job_find_unfinished
-- The unfinished index job of a repository and commit/ref (what a duplicate enqueue returns).
SELECT id FROM index_jobs
WHERE repository_id = %(repository_id)s AND coalesce(commit_sha, '') = coalesce(%(commit_sha)s, '')
  AND coalesce(ref, '') = coalesce(%(ref)s, '') AND status IN ('pending', 'processing');

-- name: index_job_supersede_pending
-- Coalescing: the repository's older pending jobs of this ref become skipped, superseded by the job just enqueued
-- (which indexes the ref's newer commit). Only jobs whose queue job is waiting, and not reserved for a worker
-- (the `index` command waits for exactly its own job), and whose rows no claim holds at this moment (SKIP LOCKED:
-- a job being claimed runs); a running job finishes. Returns them with their queue jobs, which the caller cancels.
WITH older AS (
    SELECT j.id FROM index_jobs j JOIN jobs q ON q.id = j.queue_job_id
    WHERE j.repository_id = %(repository_id)s AND j.ref = %(ref)s AND j.status = 'pending' AND j.id <> %(id)s
        AND q.state IN ('created', 'retry') AND q.reserved_for IS NULL
    FOR UPDATE OF j, q SKIP LOCKED
)
UPDATE index_jobs SET status = 'skipped', completed_at = clock_timestamp(), error_message = NULL
FROM older WHERE index_jobs.id = older.id
RETURNING index_jobs.id, index_jobs.queue_job_id;

-- name: index_job_set_queue_job
-- Remember which queue job carries an index job.
UPDATE index_jobs SET queue_job_id = %(queue_job_id)s WHERE id = %(id)s;

-- name: index_job_get
-- One index job with its repository.
SELECT j.id, j.repository_id, r.full_name, r.git_url, j.ref, j.commit_sha, j.status, j.queue_job_id,
       j.retry_count, j.stats, j.progress, j.error_message, j.last_stage, j.created_at, j.started_at,
       j.completed_at, j.force
FROM index_jobs j JOIN repositories r ON r.id = j.repository_id
WHERE j.id = %(id)s;

-- name: index_job_force
-- A forced request found this unfinished duplicate: force it too (a job already running keeps what it started with).
UPDATE index_jobs SET force = true WHERE id = %(id)s AND NOT force
RETURNING id;

-- name: index_job_list
-- Recent index jobs, newest first, optionally by status, repository and creation time (from inclusive, until
-- exclusive), after a (created_at, id) cursor.
SELECT j.id, j.repository_id, r.full_name, r.git_url, j.ref, j.commit_sha, j.status, j.queue_job_id,
       j.retry_count, j.stats, j.progress, j.error_message, j.last_stage, j.created_at, j.started_at,
       j.completed_at, j.force
FROM index_jobs j JOIN repositories r ON r.id = j.repository_id
WHERE (%(status)s::index_job_status IS NULL OR j.status = %(status)s::index_job_status)
  AND (%(repository)s::text IS NULL OR r.full_name = %(repository)s::text OR r.git_url = %(repository)s::text
       OR r.id::text = %(repository)s::text)
  AND (%(created_from)s::timestamptz IS NULL OR j.created_at >= %(created_from)s::timestamptz)
  AND (%(created_until)s::timestamptz IS NULL OR j.created_at < %(created_until)s::timestamptz)
  AND (%(cursor_created_at)s::timestamptz IS NULL
       OR (j.created_at, j.id) < (%(cursor_created_at)s::timestamptz, %(cursor_id)s::uuid))
ORDER BY j.created_at DESC, j.id DESC
LIMIT %(limit)s;

-- name: index_job_start
-- pending → processing for the attempt that claimed it (also from processing, when a rescued attempt restarts),
-- only while that attempt still holds its queue job. The share lock orders this against a release of the queue job
-- (whose trigger returns a processing index job to pending): a release that commits first makes this a no-op, and
-- one that comes later waits for this and then finds the index job processing.
WITH held AS (
    SELECT id FROM jobs
    WHERE id = %(queue_job_id)s AND state = 'active' AND attempts = %(attempt)s AND worker_id = %(worker_id)s
    FOR SHARE
)
UPDATE index_jobs
SET status = 'processing', started_at = coalesce(started_at, clock_timestamp()), retry_count = %(attempt)s - 1,
    error_message = NULL, progress = '{}'
WHERE id = %(id)s AND status IN ('pending', 'processing') AND queue_job_id = (SELECT id FROM held)
RETURNING id;

-- name: index_job_set_progress
-- Replace the per-stage progress of a running job (called at most about once a second per job).
UPDATE index_jobs SET progress = %(progress)s, last_stage = %(stage)s WHERE id = %(id)s AND status = 'processing';

-- name: index_job_complete
-- processing → completed with its stats; in the same transaction as the snapshot switch.
UPDATE index_jobs
SET status = 'completed', stats = %(stats)s, progress = %(progress)s, commit_sha = %(commit_sha)s,
    completed_at = clock_timestamp(), error_message = NULL
WHERE id = %(id)s AND status = 'processing'
RETURNING id;

-- name: index_job_skip
-- processing → skipped: its commit is already the repository's current index (same extractor version).
UPDATE index_jobs
SET status = 'skipped', stats = %(stats)s, commit_sha = %(commit_sha)s, completed_at = clock_timestamp(),
    error_message = NULL
WHERE id = %(id)s AND status = 'processing'
RETURNING id;

-- name: index_job_current_snapshot
-- The repository's current snapshot if it indexes this commit with this extractor version (every file result of
-- the snapshot has it); no row otherwise.
SELECT s.id FROM repositories r
JOIN snapshots s ON s.id = r.current_snapshot_id
WHERE r.id = %(repository_id)s AND s.commit_sha = %(commit_sha)s
  AND NOT EXISTS (
      SELECT 1 FROM snapshot_files f JOIN file_results fr ON fr.id = f.file_result_id
      WHERE f.snapshot_id = s.id AND fr.extractor_version <> %(extractor_version)s
  );

-- name: index_job_fail
-- processing → failed (final) or back to pending (the queue retries it), with the error and the stage.
UPDATE index_jobs
SET status = %(status)s::index_job_status, error_message = %(error)s, last_stage = %(stage)s,
    completed_at = CASE WHEN %(status)s::index_job_status = 'failed' THEN clock_timestamp() END
WHERE id = %(id)s AND status IN ('pending', 'processing')
RETURNING id;

-- name: index_job_event_insert
-- Append to an index job's event log (transitions, errors, stage milestones).
INSERT INTO index_job_events (index_job_id, event, stage, message, data)
VALUES (%(id)s, %(event)s, %(stage)s, %(message)s, %(data)s);

-- name: index_job_events
-- An index job's event log, oldest first.
SELECT at, event, stage, message, data FROM index_job_events WHERE index_job_id = %(id)s ORDER BY id;

-- ===== api (status API and metrics) =====

-- name: index_job_cancel_pending
-- pending → cancelled, for a job no worker has claimed (a claimed one is moved by its coordinator).
UPDATE index_jobs SET status = 'cancelled', completed_at = clock_timestamp()
WHERE id = %(id)s AND status = 'pending'
RETURNING id;

-- name: dead_letter_delete_for_index_job
-- Delete the dead letters carrying one index job's queue payload (its retry re-runs that work); returns how many.
DELETE FROM dead_letters
WHERE source_queue = %(queue)s AND payload ->> 'index_job_id' = %(index_job_id)s::text;

-- name: index_job_delete_finished
-- Retention: delete up to `limit` index jobs finished more than delete_after seconds ago, with their events
-- (ON DELETE CASCADE). Kept whatever their age: unfinished jobs, the job that wrote a snapshot (the repository's
-- current index shows its stats), and a job a dead letter still names (its redrive re-runs it).
WITH doomed AS (
    SELECT j.id FROM index_jobs j
    WHERE j.status NOT IN ('pending', 'processing')
        AND j.completed_at < now() - %(delete_after)s * interval '1 second'
        AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.index_job_id = j.id)
        AND NOT EXISTS (
            SELECT 1 FROM dead_letters d
            WHERE d.source_queue = %(queue)s AND d.payload ->> 'index_job_id' = j.id::text
        )
    ORDER BY j.completed_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM index_jobs USING doomed WHERE index_jobs.id = doomed.id;

-- name: repository_get
-- One repository with its current snapshot and the stats of the job that wrote it.
SELECT r.id, r.full_name, r.git_url, r.default_branch, r.last_indexed_at, r.created_at,
       s.id, s.commit_sha, s.updated_at, s.index_job_id, coalesce(j.stats, '{}'::jsonb),
       (SELECT count(*) FROM snapshot_files f WHERE f.snapshot_id = s.id),
       (SELECT count(*) FROM index_jobs k WHERE k.repository_id = r.id)
FROM repositories r
LEFT JOIN snapshots s ON s.id = r.current_snapshot_id
LEFT JOIN index_jobs j ON j.id = s.index_job_id
WHERE r.id = %(id)s;

-- name: index_job_count_by_status
-- Index jobs per status (every status, zero included).
SELECT known.status::text, count(j.id)
FROM unnest(enum_range(NULL::index_job_status)) AS known (status)
LEFT JOIN index_jobs j ON j.status = known.status
GROUP BY known.status
ORDER BY known.status;

-- name: index_job_duration_buckets
-- Histogram of finished jobs' run time (started → completed) per final status: cumulative count per upper bound,
-- then the total count and sum under the bound 'Infinity'.
WITH duration AS (
    SELECT status::text AS status, extract(epoch FROM completed_at - started_at)::double precision AS seconds
    FROM index_jobs
    WHERE completed_at IS NOT NULL AND started_at IS NOT NULL
)
SELECT duration.status, bound.le, count(*) FILTER (WHERE duration.seconds <= bound.le), sum(duration.seconds)
FROM duration CROSS JOIN unnest(%(bounds)s::double precision[] || 'Infinity'::double precision) AS bound (le)
GROUP BY duration.status, bound.le
ORDER BY duration.status, bound.le;

-- name: index_job_claim_latency_buckets
-- Histogram of the wait from enqueue to first start (the claim latency), same shape as the duration histogram.
WITH latency AS (
    SELECT extract(epoch FROM started_at - created_at)::double precision AS seconds
    FROM index_jobs
    WHERE started_at IS NOT NULL
)
SELECT bound.le, count(*) FILTER (WHERE latency.seconds <= bound.le), sum(latency.seconds)
FROM latency CROSS JOIN unnest(%(bounds)s::double precision[] || 'Infinity'::double precision) AS bound (le)
GROUP BY bound.le
ORDER BY bound.le;

-- name: index_job_stage_items
-- Items in, out and failed per stage, summed over every job's stored progress.
SELECT stage.key,
       sum(coalesce((stage.value ->> 'items_in')::bigint, 0)),
       sum(coalesce((stage.value ->> 'items_out')::bigint, 0)),
       sum(coalesce((stage.value ->> 'failed')::bigint, 0))
FROM index_jobs CROSS JOIN jsonb_each(progress) AS stage
WHERE jsonb_typeof(stage.value) = 'object'
GROUP BY stage.key
ORDER BY stage.key;

-- ===== integrity (db check) =====

-- name: index_integrity_check
-- Referential integrity of the stored index, which the bulk tables' foreign keys no longer enforce (0007): one row
-- per check (relation, column, what it must name, violating rows, keys of the first `examples` of them), each an
-- anti-join. repositories NULL checks every row; an array checks those repositories' snapshots and the per-file
-- results their files use. File positions are looked up in snapshot_files, never assumed contiguous or from 0.
WITH scope_snapshots AS MATERIALIZED (
    SELECT id FROM snapshots WHERE repository_id = ANY(%(repositories)s::uuid[])
), scope_results AS MATERIALIZED (
    SELECT DISTINCT f.file_result_id AS id FROM snapshot_files f JOIN scope_snapshots s ON s.id = f.snapshot_id
), checks (position, relation, column_name, target, violations, examples) AS (
    -- per-file content rows: each names its stored result, and positions inside that result
    SELECT 1, 'symbols', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM symbols t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    SELECT 2, 'symbols', 'parent_idx', 'symbols of the same result', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx, 'parent_idx', t.parent_idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM symbols t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND t.parent_idx IS NOT NULL
      AND NOT EXISTS (SELECT FROM symbols p WHERE (p.file_result_id, p.idx) = (t.file_result_id, t.parent_idx))
    UNION ALL
    SELECT 3, 'imports', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM imports t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    SELECT 4, 'import_bindings', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'import_idx', t.import_idx, 'idx', t.idx)
            ORDER BY t.file_result_id, t.import_idx, t.idx))[1:%(examples)s]
    FROM import_bindings t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    SELECT 5, 'import_bindings', 'import_idx', 'imports of the same result', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'import_idx', t.import_idx, 'idx', t.idx)
            ORDER BY t.file_result_id, t.import_idx, t.idx))[1:%(examples)s]
    FROM import_bindings t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM imports i WHERE (i.file_result_id, i.idx) = (t.file_result_id, t.import_idx))
    UNION ALL
    SELECT 6, 'exports', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM exports t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    SELECT 7, 'exports', 'import_idx', 'imports of the same result', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx, 'import_idx', t.import_idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM exports t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND t.import_idx IS NOT NULL
      AND NOT EXISTS (SELECT FROM imports i WHERE (i.file_result_id, i.idx) = (t.file_result_id, t.import_idx))
    UNION ALL
    SELECT 8, 'refs', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx)
            ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM refs t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    SELECT 9, 'refs', 'enclosing_idx', 'symbols of the same result', count(*),
        (array_agg(json_build_object('file_result_id', t.file_result_id, 'idx', t.idx,
            'enclosing_idx', t.enclosing_idx) ORDER BY t.file_result_id, t.idx))[1:%(examples)s]
    FROM refs t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.file_result_id IN (SELECT id FROM scope_results))
      AND t.enclosing_idx IS NOT NULL
      AND NOT EXISTS (SELECT FROM symbols s WHERE (s.file_result_id, s.idx) = (t.file_result_id, t.enclosing_idx))
    UNION ALL
    -- a snapshot's file list: each file names its snapshot and its result
    SELECT 10, 'snapshot_files', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx)
            ORDER BY t.snapshot_id, t.file_idx))[1:%(examples)s]
    FROM snapshot_files t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 11, 'snapshot_files', 'file_result_id', 'file_results', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'file_result_id', t.file_result_id) ORDER BY t.snapshot_id, t.file_idx))[1:%(examples)s]
    FROM snapshot_files t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.id = t.file_result_id)
    UNION ALL
    -- cross-file rows: each names its snapshot, files of that snapshot, and positions inside those files' results
    SELECT 12, 'resolved_imports', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx) ORDER BY t.snapshot_id, t.file_idx, t.import_idx))[1:%(examples)s]
    FROM resolved_imports t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 13, 'resolved_imports', 'file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx) ORDER BY t.snapshot_id, t.file_idx, t.import_idx))[1:%(examples)s]
    FROM resolved_imports t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx))
    UNION ALL
    SELECT 14, 'resolved_imports', 'import_idx', 'imports of the file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx) ORDER BY t.snapshot_id, t.file_idx, t.import_idx))[1:%(examples)s]
    FROM resolved_imports t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM imports i WHERE (i.file_result_id, i.idx) = (f.file_result_id, t.import_idx))
    UNION ALL
    SELECT 15, 'resolved_imports', 'target_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx))[1:%(examples)s]
    FROM resolved_imports t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND t.target_file_idx IS NOT NULL
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
      )
    UNION ALL
    SELECT 16, 'binding_links', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 17, 'binding_links', 'file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx))
    UNION ALL
    SELECT 18, 'binding_links', 'import_idx', 'imports of the file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM imports i WHERE (i.file_result_id, i.idx) = (f.file_result_id, t.import_idx))
    UNION ALL
    SELECT 19, 'binding_links', 'binding_idx', 'import_bindings of the file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM import_bindings b
          WHERE (b.file_result_id, b.import_idx, b.idx) = (f.file_result_id, t.import_idx, t.binding_idx)
      )
    UNION ALL
    SELECT 20, 'binding_links', 'target_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx, 'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
      )
    UNION ALL
    SELECT 21, 'binding_links', 'target_symbol_idx', 'symbols of the target file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'import_idx', t.import_idx, 'binding_idx', t.binding_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.import_idx, t.binding_idx))[1:%(examples)s]
    FROM binding_links t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM symbols s WHERE (s.file_result_id, s.idx) = (f.file_result_id, t.target_symbol_idx)
      )
    UNION ALL
    SELECT 22, 'reference_links', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'reference_idx', t.reference_idx) ORDER BY t.snapshot_id, t.file_idx, t.reference_idx))[1:%(examples)s]
    FROM reference_links t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 23, 'reference_links', 'file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'reference_idx', t.reference_idx) ORDER BY t.snapshot_id, t.file_idx, t.reference_idx))[1:%(examples)s]
    FROM reference_links t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx))
    UNION ALL
    SELECT 24, 'reference_links', 'reference_idx', 'refs of the file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'reference_idx', t.reference_idx) ORDER BY t.snapshot_id, t.file_idx, t.reference_idx))[1:%(examples)s]
    FROM reference_links t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM refs r WHERE (r.file_result_id, r.idx) = (f.file_result_id, t.reference_idx))
    UNION ALL
    SELECT 25, 'reference_links', 'target_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'reference_idx', t.reference_idx, 'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.reference_idx))[1:%(examples)s]
    FROM reference_links t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
      )
    UNION ALL
    SELECT 26, 'reference_links', 'target_symbol_idx', 'symbols of the target file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx,
            'reference_idx', t.reference_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx)
            ORDER BY t.snapshot_id, t.file_idx, t.reference_idx))[1:%(examples)s]
    FROM reference_links t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM symbols s WHERE (s.file_result_id, s.idx) = (f.file_result_id, t.target_symbol_idx)
      )
    UNION ALL
    SELECT 27, 'file_dependencies', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.source_file_idx, t.target_file_idx))[1:%(examples)s]
    FROM file_dependencies t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 28, 'file_dependencies', 'source_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.source_file_idx, t.target_file_idx))[1:%(examples)s]
    FROM file_dependencies t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.source_file_idx)
      )
    UNION ALL
    SELECT 29, 'file_dependencies', 'target_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'target_file_idx', t.target_file_idx)
            ORDER BY t.snapshot_id, t.source_file_idx, t.target_file_idx))[1:%(examples)s]
    FROM file_dependencies t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
      )
    UNION ALL
    SELECT 30, 'symbol_dependencies', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'source_symbol_idx', t.source_symbol_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx) ORDER BY t.snapshot_id, t.source_file_idx,
            t.source_symbol_idx, t.target_file_idx, t.target_symbol_idx))[1:%(examples)s]
    FROM symbol_dependencies t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 31, 'symbol_dependencies', 'source_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'source_symbol_idx', t.source_symbol_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx) ORDER BY t.snapshot_id, t.source_file_idx,
            t.source_symbol_idx, t.target_file_idx, t.target_symbol_idx))[1:%(examples)s]
    FROM symbol_dependencies t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.source_file_idx)
      )
    UNION ALL
    SELECT 32, 'symbol_dependencies', 'source_symbol_idx', 'symbols of the source file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'source_symbol_idx', t.source_symbol_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx) ORDER BY t.snapshot_id, t.source_file_idx,
            t.source_symbol_idx, t.target_file_idx, t.target_symbol_idx))[1:%(examples)s]
    FROM symbol_dependencies t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.source_file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM symbols s WHERE (s.file_result_id, s.idx) = (f.file_result_id, t.source_symbol_idx)
      )
    UNION ALL
    SELECT 33, 'symbol_dependencies', 'target_file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'source_symbol_idx', t.source_symbol_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx) ORDER BY t.snapshot_id, t.source_file_idx,
            t.source_symbol_idx, t.target_file_idx, t.target_symbol_idx))[1:%(examples)s]
    FROM symbol_dependencies t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
      )
    UNION ALL
    SELECT 34, 'symbol_dependencies', 'target_symbol_idx', 'symbols of the target file''s result', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'source_file_idx', t.source_file_idx,
            'source_symbol_idx', t.source_symbol_idx, 'target_file_idx', t.target_file_idx,
            'target_symbol_idx', t.target_symbol_idx) ORDER BY t.snapshot_id, t.source_file_idx,
            t.source_symbol_idx, t.target_file_idx, t.target_symbol_idx))[1:%(examples)s]
    FROM symbol_dependencies t
    JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.target_file_idx)
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (
          SELECT FROM symbols s WHERE (s.file_result_id, s.idx) = (f.file_result_id, t.target_symbol_idx)
      )
    UNION ALL
    SELECT 35, 'package_dependencies', 'snapshot_id', 'snapshots', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx, 'package', t.package)
            ORDER BY t.snapshot_id, t.file_idx, t.package))[1:%(examples)s]
    FROM package_dependencies t
    WHERE NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.snapshot_id)
    UNION ALL
    SELECT 36, 'package_dependencies', 'file_idx', 'snapshot_files', count(*),
        (array_agg(json_build_object('snapshot_id', t.snapshot_id, 'file_idx', t.file_idx, 'package', t.package)
            ORDER BY t.snapshot_id, t.file_idx, t.package))[1:%(examples)s]
    FROM package_dependencies t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.snapshot_id IN (SELECT id FROM scope_snapshots))
      AND NOT EXISTS (SELECT FROM snapshot_files f WHERE (f.snapshot_id, f.file_idx) = (t.snapshot_id, t.file_idx))
    UNION ALL
    -- the index readers see: a repository's current snapshot exists and is its own
    SELECT 37, 'repositories', 'current_snapshot_id', 'snapshots of the repository', count(*),
        (array_agg(json_build_object('id', t.id, 'current_snapshot_id', t.current_snapshot_id)
            ORDER BY t.id))[1:%(examples)s]
    FROM repositories t
    WHERE (%(repositories)s::uuid[] IS NULL OR t.id = ANY(%(repositories)s::uuid[]))
      AND t.current_snapshot_id IS NOT NULL
      AND NOT EXISTS (SELECT FROM snapshots s WHERE s.id = t.current_snapshot_id AND s.repository_id = t.id)
)
-- rows naming a missing snapshot belong to no repository: checked only without a repository scope
SELECT relation, column_name, target, violations, coalesce(examples, '{}') FROM checks
WHERE %(repositories)s::uuid[] IS NULL OR target <> 'snapshots'
ORDER BY position;

-- name: repository_find
-- Repositories by id, full name or git URL (a full name may match several).
SELECT id FROM repositories
WHERE id::text = %(repository)s OR full_name = %(repository)s OR git_url = %(repository)s
ORDER BY id;

-- ===== push webhooks =====

-- name: webhook_delivery_record
-- Record a delivery unless it was seen already (then no row): the same provider and delivery id (a redelivery), or
-- the same provider and body (a signed GitHub body replayed under another id; body_sha256 is NULL for GitLab). A
-- concurrent delivery of the same id or body waits for this transaction and then finds it.
INSERT INTO webhook_deliveries (provider, delivery_id, body_sha256, event, outcome)
VALUES (%(provider)s, %(delivery_id)s, %(body_sha256)s, %(event)s, '{}')
ON CONFLICT DO NOTHING
RETURNING 1;

-- name: webhook_delivery_outcome
-- What the first arrival of a delivery seen already answered (the body a redelivery or a replay gets again).
SELECT outcome FROM webhook_deliveries
WHERE provider = %(provider)s AND (delivery_id = %(delivery_id)s OR body_sha256 = %(body_sha256)s)
LIMIT 1;

-- name: webhook_delivery_set_outcome
-- Store the answer to a delivery, in the transaction that recorded it and enqueued its job.
UPDATE webhook_deliveries SET outcome = %(outcome)s
WHERE provider = %(provider)s AND delivery_id = %(delivery_id)s;

-- name: webhook_delivery_delete_expired
-- Retention: delete up to `limit` deliveries received more than keep_seconds ago (oldest first, by index).
DELETE FROM webhook_deliveries
WHERE (provider, delivery_id) IN (
    SELECT provider, delivery_id FROM webhook_deliveries
    WHERE received_at < now() - %(keep_seconds)s * interval '1 second'
    ORDER BY received_at
    LIMIT %(limit)s
);

-- ===== dashboard (job detail, job filters, charts) =====

-- name: jit_off_local
-- No JIT compilation for the rest of this transaction: for a statement whose row estimates are far too high (a
-- generate_series per row is guessed at 1000 rows), compiling costs more than running it.
SELECT set_config('jit', 'off', true);

-- name: index_job_series
-- The dashboard's charts: one row per minute of the last %(minutes)s minutes, the current minute last, with the
-- index jobs that reached completed and failed in it, the files parsed per second during it, and the queue depth
-- (index jobs waiting for their first start) at its end, or now for the current minute.
-- The window's bounds are written out (not joined from a CTE) so the planner estimates the rows it reads from them:
-- with a CTE's value unknown at plan time it expected a large share of the table and paid for JIT compilation.
WITH minute AS (
    SELECT at, least(at + interval '1 minute', now()) AS until
    FROM generate_series(date_trunc('minute', now()) - (%(minutes)s - 1) * interval '1 minute',
                         date_trunc('minute', now()), interval '1 minute') AS at
),
-- every job that can show in the window: unfinished ones (few, by status) and those finished in it
-- (index_jobs_finished); a job that waited or ran in the window and has finished did so after its start
job AS (
    SELECT status, created_at, started_at, completed_at, stats, progress
    FROM index_jobs
    WHERE status IN ('pending', 'processing')
       OR (status NOT IN ('pending', 'processing')
           AND completed_at >= date_trunc('minute', now()) - (%(minutes)s - 1) * interval '1 minute')
),
finished AS (
    SELECT date_trunc('minute', completed_at) AS at,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM job
    WHERE status NOT IN ('pending', 'processing')
    GROUP BY 1
),
-- each job's parsed files spread evenly over its run (first start to end, or to now while it runs): a finished
-- job's from its stats, a running job's from its parse stage's progress so far
run AS (
    SELECT started_at AS run_from, coalesce(completed_at, now()) AS run_to,
           CASE WHEN status = 'processing' THEN coalesce((progress -> 'parse' ->> 'items_out')::double precision, 0)
                ELSE coalesce((stats ->> 'files_parsed')::double precision, 0) END AS files
    FROM job
    WHERE started_at IS NOT NULL AND status <> 'pending'
),
-- the minutes each run overlaps, generated per run (pairing every run with every minute of a day costs millions of
-- comparisons); the first minute of the window at the earliest
parsed AS (
    SELECT m.at,
           sum(r.files * extract(epoch FROM least(r.run_to, m.until) - greatest(r.run_from, m.at))
               / greatest(extract(epoch FROM r.run_to - r.run_from), 0.001)) AS files
    FROM run r
    CROSS JOIN LATERAL generate_series(greatest(date_trunc('minute', r.run_from), (SELECT min(at) FROM minute)),
                                       date_trunc('minute', r.run_to), interval '1 minute') AS overlap (at)
    JOIN minute m ON m.at = overlap.at
    WHERE r.run_from < m.until AND r.run_to > m.at
    GROUP BY m.at
),
-- a job waits from its creation to its first start, or to its end when it ends unstarted (cancelled, failed); it
-- counts at the end of each minute it waits through (minutes generated per job, as above)
depth AS (
    SELECT m.at, count(*) AS jobs
    FROM job q
    CROSS JOIN LATERAL (SELECT coalesce(q.started_at, q.completed_at) AS wait_to) AS waited
    CROSS JOIN LATERAL generate_series(
        greatest(date_trunc('minute', q.created_at) - interval '1 minute', (SELECT min(at) FROM minute)),
        date_trunc('minute', coalesce(waited.wait_to, now())), interval '1 minute') AS sample (at)
    JOIN minute m ON m.at = sample.at
    WHERE q.created_at <= m.until AND (waited.wait_to IS NULL OR waited.wait_to > m.until)
    GROUP BY m.at
)
SELECT m.at, coalesce(f.completed, 0), coalesce(f.failed, 0),
       coalesce(p.files, 0) / greatest(extract(epoch FROM m.until - m.at), 1),
       coalesce(d.jobs, 0)
FROM minute m
LEFT JOIN finished f ON f.at = m.at
LEFT JOIN parsed p ON p.at = m.at
LEFT JOIN depth d ON d.at = m.at
ORDER BY m.at;

-- ===== index queries (pipeline/index_queries.py) =====

-- name: index_repository_resolve
-- A repository by id or by full name (any case; a name may match several), with its current snapshot.
SELECT r.id, r.full_name, r.git_url, s.id, s.commit_sha, s.updated_at
FROM repositories r
LEFT JOIN snapshots s ON s.id = r.current_snapshot_id
WHERE r.id = %(id)s OR lower(r.full_name) = %(name)s
ORDER BY r.id
LIMIT %(limit)s;

-- name: index_repository_list
-- A page of repositories by full name (keyset after the cursor's name and id), with their current snapshot and what
-- it holds: the totals the writer keeps in the snapshot's stats (kept up to date by incremental jobs too), so a
-- page costs one index scan however large the repositories are.
SELECT r.id, r.full_name, r.git_url, r.default_branch, r.last_indexed_at, s.id, s.commit_sha,
    coalesce((s.stats ->> 'files')::bigint, 0), coalesce((s.stats ->> 'symbols')::bigint, 0),
    coalesce((s.stats ->> 'references')::bigint, 0), coalesce((s.stats ->> 'reference_links')::bigint, 0)
FROM repositories r
LEFT JOIN snapshots s ON s.id = r.current_snapshot_id
WHERE %(after_name)s::text IS NULL OR (r.full_name, r.id) > (%(after_name)s, %(after_id)s::uuid)
ORDER BY r.full_name, r.id
LIMIT %(limit)s;

-- name: index_trigram_schema
-- The schema pg_trgm was created in (once per database; see migration 0010).
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';

-- name: index_file_get
-- One file of a snapshot by path: its id, its per-file result and what that result says about the file.
SELECT f.file_idx, f.file_result_id, r.language, r.size_bytes, r.had_syntax_errors, r.error_kind
FROM snapshot_files f
JOIN file_results r ON r.id = f.file_result_id
WHERE f.snapshot_id = %(snapshot)s AND f.path = %(path)s;

-- name: index_symbol_search
-- Symbols of a snapshot whose name matches q: exact (any case), then by prefix, then fuzzy (pg_trgm similarity;
-- {trgm} is the extension's schema; similar_only: leave out the names starting with q; q is lowered here, as the
-- index is, whatever the collation). Each arm runs only when its flag is set, finds its rows by an index on
-- symbols.name (symbols_name_lower, symbols_name_trgm) and carries them whole (s.*), before the join to the
-- snapshot's files keeps this snapshot's.
WITH candidates AS (
    SELECT s.*, 0 AS tier, 1.0::real AS similarity FROM symbols s
    WHERE %(exact)s AND lower(s.name) = lower(%(q)s)
    UNION ALL
    SELECT s.*, 1, 1.0 FROM symbols s
    WHERE %(prefix)s AND lower(s.name) ~>=~ lower(%(q)s) AND lower(s.name) ~<~ (lower(%(q)s) || %(prefix_end)s)
        AND lower(s.name) <> lower(%(q)s)
    UNION ALL
    -- similarity is computed for this arm's rows only: for a thousand prefix matches it would cost milliseconds
    SELECT s.*, 2, {trgm}.similarity(s.name, %(q)s) FROM symbols s
    WHERE %(fuzzy)s AND s.name OPERATOR({trgm}.%%) %(q)s
        AND NOT (%(similar_only)s AND lower(s.name) ~>=~ lower(%(q)s)
            AND lower(s.name) ~<~ (lower(%(q)s) || %(prefix_end)s))
),
page AS (
    SELECT f.file_idx, f.path, s.*
    FROM candidates s
    JOIN snapshot_files f ON f.file_result_id = s.file_result_id AND f.snapshot_id = %(snapshot)s
    WHERE (%(kind)s::text IS NULL OR s.kind = %(kind)s)
        AND (%(exported)s::boolean IS NULL OR s.exported = %(exported)s)
        AND (%(path_prefix)s::text IS NULL OR f.path = %(path_prefix)s
            OR left(f.path, length(%(path_prefix)s) + 1) = %(path_prefix)s || '/')
    -- exact, prefix, fuzzy (callers run the fuzzy arm alone or with similar_only, so no name is in two tiers);
    -- then the closest names (fuzzy), exported, shallower paths, shorter names
    ORDER BY s.tier, s.similarity DESC, s.exported DESC, length(f.path) - length(replace(f.path, '/', '')),
        length(s.name), f.path, s.idx
    OFFSET %(offset)s
    LIMIT %(limit)s
)
-- parents of the page's symbols only, each by its primary key
SELECT s.file_idx, s.idx, s.name, s.kind, s.path,
       s.start_line, s.start_column, s.end_line, s.end_column,
       s.name_start_line, s.name_start_column, s.name_end_line, s.name_end_column,
       s.signature, s.doc, s.exported, p.idx, p.name, p.kind
FROM page s
LEFT JOIN LATERAL (
    SELECT p.idx, p.name, p.kind FROM symbols p
    WHERE p.file_result_id = s.file_result_id AND p.idx = s.parent_idx
    LIMIT 1
) p ON true
ORDER BY s.tier, s.similarity DESC, s.exported DESC, length(s.path) - length(replace(s.path, '/', '')),
    length(s.name), s.path, s.idx;

-- name: index_symbol_get
-- One symbol of a snapshot by its id (file_idx, symbol idx), with its parent.
SELECT f.file_idx, s.idx, s.name, s.kind, f.path,
       s.start_line, s.start_column, s.end_line, s.end_column,
       s.name_start_line, s.name_start_column, s.name_end_line, s.name_end_column,
       s.signature, s.doc, s.exported, p.idx, p.name, p.kind
FROM snapshot_files f
JOIN symbols s ON s.file_result_id = f.file_result_id AND s.idx = %(symbol_idx)s
LEFT JOIN symbols p ON p.file_result_id = s.file_result_id AND p.idx = s.parent_idx
WHERE f.snapshot_id = %(snapshot)s AND f.file_idx = %(file_idx)s;

-- name: index_file_symbols
-- Every symbol of one file in source order (a parent before its children), with its parent.
SELECT %(file_idx)s::integer, s.idx, s.name, s.kind, %(path)s::text,
       s.start_line, s.start_column, s.end_line, s.end_column,
       s.name_start_line, s.name_start_column, s.name_end_line, s.name_end_column,
       s.signature, s.doc, s.exported, p.idx, p.name, p.kind
FROM symbols s
LEFT JOIN symbols p ON p.file_result_id = s.file_result_id AND p.idx = s.parent_idx
WHERE s.file_result_id = %(file_result_id)s
ORDER BY s.idx;

-- name: index_reference_at
-- The reference of a file whose name covers a position (its end included: a cursor just after the name), the
-- innermost first, with its enclosing symbol and the definition it is linked to, if any.
SELECT r.name, r.qualifier, r.kind, r.start_line, r.start_column, r.end_line, r.end_column,
       e.idx, e.name, e.kind, l.target_file_idx, l.target_symbol_idx
FROM refs r
LEFT JOIN symbols e ON e.file_result_id = r.file_result_id AND e.idx = r.enclosing_idx
LEFT JOIN reference_links l
    ON l.snapshot_id = %(snapshot)s AND l.file_idx = %(file_idx)s AND l.reference_idx = r.idx
WHERE r.file_result_id = %(file_result_id)s
    AND (r.start_line, r.start_column) <= (%(line)s, %(column)s)
    AND (r.end_line, r.end_column) >= (%(line)s, %(column)s)
ORDER BY r.start_line DESC, r.start_column DESC
LIMIT 1;

-- name: index_declaration_at
-- The symbol of a file whose name covers a position (its end included), with its enclosing symbol (parent).
SELECT s.idx
FROM symbols s
WHERE s.file_result_id = %(file_result_id)s
    AND (s.name_start_line, s.name_start_column) <= (%(line)s, %(column)s)
    AND (s.name_end_line, s.name_end_column) >= (%(line)s, %(column)s)
ORDER BY s.name_start_line DESC, s.name_start_column DESC
LIMIT 1;

-- name: index_file_line
-- How many lines a file's stored text has (a last line after the final newline counts: a cursor can be there) and
-- how many bytes one of them holds, without its carriage return; no row when the text is not stored.
SELECT length(c.content) - length(replace(c.content, E'\n', '')) + 1,
       octet_length(rtrim(split_part(c.content, E'\n', %(line)s), E'\r'))
FROM file_results r
JOIN file_contents c ON c.blob_oid = r.blob_oid
WHERE r.id = %(file_result_id)s;

-- name: index_symbol_references
-- A page of the references linked to one symbol, by path and position (keyset after the cursor's path and
-- reference idx), each with its enclosing symbol; total counts them all.
SELECT f.path, l.file_idx, r.idx, r.name, r.qualifier, r.kind,
       r.start_line, r.start_column, r.end_line, r.end_column,
       e.idx, e.name, e.kind, count(*) OVER ()
FROM reference_links l
JOIN snapshot_files f ON f.snapshot_id = l.snapshot_id AND f.file_idx = l.file_idx
JOIN refs r ON r.file_result_id = f.file_result_id AND r.idx = l.reference_idx
LEFT JOIN symbols e ON e.file_result_id = r.file_result_id AND e.idx = r.enclosing_idx
WHERE l.snapshot_id = %(snapshot)s AND l.target_file_idx = %(file_idx)s AND l.target_symbol_idx = %(symbol_idx)s
ORDER BY f.path, r.idx
OFFSET %(offset)s
LIMIT %(limit)s;

-- name: index_file_imports
-- Every import of one file, in source order, with where it resolved (a file of the snapshot or a file it does not
-- index, such as a .css or .json file; a package).
SELECT i.idx, i.specifier, i.kind, i.is_type_only, i.start_line, i.start_column, i.end_line, i.end_column,
       ri.kind, coalesce(t.path, ri.target_path), ri.package
FROM imports i
LEFT JOIN resolved_imports ri
    ON ri.snapshot_id = %(snapshot)s AND ri.file_idx = %(file_idx)s AND ri.import_idx = i.idx
LEFT JOIN snapshot_files t ON t.snapshot_id = %(snapshot)s AND t.file_idx = ri.target_file_idx
WHERE i.file_result_id = %(file_result_id)s
ORDER BY i.idx;

-- name: index_file_import_bindings
-- The names one file imports, with the declaration each is linked to (NULL: not linked).
SELECT b.import_idx, b.imported, b.local, b.is_type_only, t.path, bl.target_file_idx, s.idx, s.name, s.kind
FROM import_bindings b
LEFT JOIN binding_links bl ON bl.snapshot_id = %(snapshot)s AND bl.file_idx = %(file_idx)s
    AND bl.import_idx = b.import_idx AND bl.binding_idx = b.idx
LEFT JOIN snapshot_files t ON t.snapshot_id = %(snapshot)s AND t.file_idx = bl.target_file_idx
LEFT JOIN symbols s ON s.file_result_id = t.file_result_id AND s.idx = bl.target_symbol_idx
WHERE b.file_result_id = %(file_result_id)s
ORDER BY b.import_idx, b.idx;

-- name: index_file_importers
-- The imports of other files (and the file itself) that resolve to one file, by path and position.
SELECT f.path, i.specifier, i.kind, i.is_type_only, i.start_line, i.start_column, i.end_line, i.end_column
FROM resolved_imports ri
JOIN snapshot_files f ON f.snapshot_id = ri.snapshot_id AND f.file_idx = ri.file_idx
JOIN imports i ON i.file_result_id = f.file_result_id AND i.idx = ri.import_idx
WHERE ri.snapshot_id = %(snapshot)s AND ri.target_file_idx = %(file_idx)s
ORDER BY f.path, i.idx
LIMIT %(limit)s;

-- name: index_packages
-- A page of the external packages (and Node builtins) a snapshot's files use, by name (keyset after the cursor),
-- with their declared versions, how many files use each and the first of those files by path.
SELECT d.package, bool_or(d.is_builtin), array_agg(DISTINCT d.version) FILTER (WHERE d.version IS NOT NULL),
       count(*), (array_agg(f.path ORDER BY f.path))[1:%(paths)s]
FROM package_dependencies d
JOIN snapshot_files f ON f.snapshot_id = d.snapshot_id AND f.file_idx = d.file_idx
WHERE d.snapshot_id = %(snapshot)s
    AND (%(after)s::text IS NULL OR d.package > %(after)s)
    AND (%(pattern)s::text IS NULL OR d.package ILIKE %(pattern)s)
GROUP BY d.package
ORDER BY d.package
LIMIT %(limit)s;

-- name: index_statement_timeout_set
-- Bound each statement of the current transaction to this many milliseconds.
SELECT set_config('statement_timeout', %(milliseconds)s, true);

-- name: index_file_dependents
-- The files that depend on the given files, transitively up to a depth, each at its shortest distance (0: given).
WITH RECURSIVE dependents (file_idx, depth) AS (
    SELECT given, 0 FROM unnest(%(files)s::integer[]) AS given
    UNION
    SELECT d.source_file_idx, dependents.depth + 1
    FROM dependents
    JOIN file_dependencies d ON d.snapshot_id = %(snapshot)s AND d.target_file_idx = dependents.file_idx
    WHERE dependents.depth < %(depth)s
)
SELECT f.path, min(dependents.depth)
FROM dependents
JOIN snapshot_files f ON f.snapshot_id = %(snapshot)s AND f.file_idx = dependents.file_idx
GROUP BY f.path
ORDER BY 2, 1
LIMIT %(limit)s;

-- name: index_symbol_dependents
-- The symbols that depend on the given symbols (file_idx, idx), transitively up to a depth, each at its shortest
-- distance (0: given).
WITH RECURSIVE dependents (file_idx, symbol_idx, depth) AS (
    SELECT given.file_idx, given.symbol_idx, 0
    FROM unnest(%(files)s::integer[], %(symbols)s::integer[]) AS given (file_idx, symbol_idx)
    UNION
    SELECT d.source_file_idx, d.source_symbol_idx, dependents.depth + 1
    FROM dependents
    JOIN symbol_dependencies d ON d.snapshot_id = %(snapshot)s AND d.target_file_idx = dependents.file_idx
        AND d.target_symbol_idx = dependents.symbol_idx
    WHERE dependents.depth < %(depth)s
),
nearest AS (
    SELECT file_idx, symbol_idx, min(depth) AS depth FROM dependents GROUP BY file_idx, symbol_idx
)
SELECT n.file_idx, n.symbol_idx, s.name, s.kind, f.path, n.depth
FROM nearest n
JOIN snapshot_files f ON f.snapshot_id = %(snapshot)s AND f.file_idx = n.file_idx
JOIN symbols s ON s.file_result_id = f.file_result_id AND s.idx = n.symbol_idx
ORDER BY n.depth, f.path, n.symbol_idx
LIMIT %(limit)s;

-- ===== code search (pipeline/code_search.py) =====

-- name: code_search_regex_check
-- Compile a regular expression (an invalid one raises invalid_regular_expression, whatever the contents).
SELECT '' ~ %(pattern)s;

-- name: code_search_files
-- The first files of a snapshot, in path order, whose text matches %(pattern)s (a regular expression: the trigram
-- index on file_contents narrows the texts to check) and whose path matches %(path_pattern)s (NULL: any).
SELECT f.file_idx, f.path, f.file_result_id, r.blob_oid
FROM snapshot_files f
JOIN file_results r ON r.id = f.file_result_id
JOIN file_contents c ON c.blob_oid = r.blob_oid
WHERE f.snapshot_id = %(snapshot_id)s
  AND (%(path_pattern)s::text IS NULL OR f.path ~ %(path_pattern)s::text)
  AND c.content ~ %(pattern)s
ORDER BY f.path
LIMIT %(limit)s;

-- name: code_search_lines
-- The matching lines of the given files (parallel arrays), in path and line order: line number (1-based), the
-- UTF-8 byte column of the first match (0-based), the line (at most %(max_chars)s characters, without a carriage
-- return), and the innermost symbol of the file whose lines contain it.
SELECT files.file_idx, files.path, l.line, octet_length(left(l.text, regexp_instr(l.text, %(pattern)s) - 1)),
       left(rtrim(l.text, E'\r'), %(max_chars)s), s.idx, s.name, s.kind
FROM unnest(%(file_idxs)s::int4[], %(paths)s::text[], %(result_ids)s::int8[], %(blob_oids)s::text[])
    AS files(file_idx, path, result_id, blob_oid)
JOIN file_contents c ON c.blob_oid = files.blob_oid
CROSS JOIN LATERAL string_to_table(c.content, E'\n') WITH ORDINALITY AS l(text, line)
LEFT JOIN LATERAL (
    SELECT s.idx, s.name, s.kind FROM symbols s
    WHERE s.file_result_id = files.result_id AND s.start_line <= l.line AND s.end_line >= l.line
    ORDER BY s.start_byte DESC, s.end_byte
    LIMIT 1
) s ON true
WHERE l.text ~ %(pattern)s
ORDER BY files.path, l.line
LIMIT %(limit)s;

-- name: code_search_settings
-- For the rest of the transaction: statement_timeout, enable_seqscan and enable_indexscan (see
-- pipeline/code_search.py); returns the values they had.
SELECT previous.timeout, previous.seqscan, previous.indexscan,
       set_config('statement_timeout', %(timeout)s, true),
       set_config('enable_seqscan', %(seqscan)s, true),
       set_config('enable_indexscan', %(indexscan)s, true)
FROM (
    SELECT current_setting('statement_timeout') AS timeout, current_setting('enable_seqscan') AS seqscan,
           current_setting('enable_indexscan') AS indexscan
    OFFSET 0
) AS previous;
