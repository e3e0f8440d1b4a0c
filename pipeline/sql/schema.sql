-- The declared schema: what a database migrated from scratch (pipeline/sql/migrations, in order) must equal.
-- Keep in sync with the migrations; a test compares the catalogs. schema_migrations is the migration runner's own.

-- ===== queue (0001_queue.sql) =====
--
-- Design against the three classic Postgres-queue failures:
--   * stuck jobs: running jobs carry a heartbeat; the rescuer returns jobs whose heartbeat stopped to `retry`;
--   * double execution: every transition out of `active` checks the expected state AND the owning worker;
--   * bloat: the claim index is partial (waiting jobs only), heartbeats touch no indexed column (HOT updates
--     into the fillfactor headroom), payloads sit last in the row, and retention deletes finished jobs.

-- Who moves a job out of each state (mirrored by pipeline.queue.states.JobState):
--   created   -> active (a worker claims it) | cancelled (cancel)
--   retry     -> active (a worker claims it once start_after has passed) | cancelled (cancel)
--   active    -> completed | retry | failed (the owning worker); retry | failed (the rescuer: heartbeat stopped or
--                expire_in passed); retry without using an attempt (the owning worker releasing it at shutdown);
--                cancelled (cancel)
--   completed -> (terminal) deleted by retention after delete_after
--   cancelled -> (terminal) deleted by retention after delete_after
--   failed    -> (terminal) deleted by retention after failed_delete_after; its dead letter stays until redriven
--                or purged
CREATE TYPE job_state AS ENUM ('created', 'retry', 'active', 'completed', 'cancelled', 'failed');

-- How an attempt ended when it did not complete (completions are recorded on the job row itself).
CREATE TYPE job_event_kind AS ENUM ('error', 'rescued', 'expired', 'released', 'cancelled');

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    state job_state NOT NULL DEFAULT 'created',
    priority integer NOT NULL DEFAULT 0,  -- higher runs first
    attempts integer NOT NULL DEFAULT 0,  -- claims so far, including the running one
    retry_limit integer NOT NULL,  -- retries after the first attempt: at most retry_limit + 1 attempts
    retry_backoff boolean NOT NULL,
    retry_delay double precision NOT NULL,  -- seconds
    retry_delay_max double precision NOT NULL,  -- seconds
    expire_in double precision NOT NULL,  -- seconds an attempt may run before the rescuer fails it
    start_after timestamptz NOT NULL DEFAULT now(),  -- not claimable before; the "age" the claim orders by
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,  -- start of the current (or last) attempt
    heartbeat_at timestamptz,  -- refreshed by the owning worker while active
    expire_at timestamptz,  -- started_at + expire_in
    finished_at timestamptz,  -- when it reached completed, cancelled or failed
    name text NOT NULL,  -- the queue
    worker_id text,  -- owner of the current (or last) attempt
    singleton_key text,
    dead_letter text,  -- dead-letter queue; NULL means '<name>__dlq'
    redrive_of uuid,  -- the failed job this one was redriven from
    last_error text,
    output jsonb,
    payload jsonb NOT NULL,
    CONSTRAINT jobs_payload_is_object CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT jobs_name_not_empty CHECK (name <> ''),
    CONSTRAINT jobs_retry_limit_not_negative CHECK (retry_limit >= 0),
    CONSTRAINT jobs_attempts_within_limit CHECK (attempts >= 0 AND attempts <= retry_limit + 1),
    CONSTRAINT jobs_active_has_owner CHECK (
        state <> 'active' OR (worker_id IS NOT NULL AND heartbeat_at IS NOT NULL AND expire_at IS NOT NULL)
    )
) WITH (fillfactor = 80);

-- The claim: waiting jobs of one queue, by priority then by the time they became available.
CREATE INDEX jobs_claim_idx ON jobs (name, priority DESC, start_after, id) WHERE state IN ('created', 'retry');

-- At most one unfinished job per (queue, singleton_key).
CREATE UNIQUE INDEX jobs_singleton_idx ON jobs (name, singleton_key)
    WHERE singleton_key IS NOT NULL AND state IN ('created', 'retry', 'active');

-- The rescuer's scan of running jobs (heartbeat_at is deliberately not indexed, so heartbeats stay HOT).
CREATE INDEX jobs_active_idx ON jobs (name) WHERE state = 'active';

-- Every attempt that did not complete, for the attempt history.
CREATE TABLE job_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    kind job_event_kind NOT NULL,
    next_state job_state NOT NULL,
    worker_id text,
    at timestamptz NOT NULL DEFAULT now(),
    error text
);

CREATE INDEX job_events_job_idx ON job_events (job_id, id);

-- Dead letters: a job that failed its last attempt, kept until redriven or purged. A separate table (rather than
-- rows of a '<name>__dlq' queue in jobs) keeps them out of the claim index, the retention sweep and the counts.
CREATE TABLE dead_letters (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    queue text NOT NULL,  -- the dead-letter queue, '<source_queue>__dlq' unless the job named another
    source_queue text NOT NULL,
    source_job_id uuid NOT NULL,
    attempts integer NOT NULL,
    priority integer NOT NULL,
    retry_limit integer NOT NULL,
    retry_backoff boolean NOT NULL,
    retry_delay double precision NOT NULL,
    retry_delay_max double precision NOT NULL,
    expire_in double precision NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    singleton_key text,
    last_error text,
    payload jsonb NOT NULL
);

CREATE INDEX dead_letters_queue_idx ON dead_letters (queue, failed_at);

-- Live workers, for health; a worker refreshes its row with every heartbeat and deletes it on a clean exit.
CREATE TABLE workers (
    id text PRIMARY KEY,
    queue text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- Wake idle workers: one notification per queue per inserting statement (not per row), delivered on commit,
-- on the channel '<schema>.jobs' with the queue name as payload. Delayed jobs are left to polling.
CREATE FUNCTION jobs_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.jobs', queue.name)
    FROM (SELECT DISTINCT inserted.name FROM inserted WHERE inserted.start_after <= now()) AS queue;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify_insert();
