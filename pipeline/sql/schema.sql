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
    reserved_for text,  -- a worker only it claims while its heartbeat is fresh (see job_claim); NULL: anyone
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

-- ===== index (0002_index.sql) =====

-- The stored code index and the job tracking around it.
--
-- Data model: per-file extraction results are keyed by content (git blob OID + language + extractor version) in
-- `file_results` and its row tables (symbols, imports, exports, refs), so a later commit reuses the rows of files
-- that did not change. A `snapshot` is one indexed commit: its file list (`snapshot_files`, path → file result)
-- and its cross-file results (resolved imports, links, dependencies), which depend on the whole file set.
-- `repositories.current_snapshot_id` points at the snapshot readers see; the writer switches it in the same
-- transaction that completes the job, so readers see the old index or the new one, never a mix.

CREATE TYPE index_job_status AS ENUM (
    'pending',     -- enqueued; the coordinator moves it to processing when its queue job is claimed
    'processing',  -- a worker runs it; the writer moves it to completed, the coordinator to failed / pending (retry)
    'completed',   -- terminal: the snapshot is committed and current
    'failed',      -- terminal: retries exhausted or a non-retryable error (error_message says which)
    'skipped',     -- terminal: the commit was already indexed (the current snapshot has this commit)
    'cancelled'    -- terminal: cancelled by an operator
);

CREATE TABLE repositories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    full_name text NOT NULL,
    git_url text NOT NULL UNIQUE,
    default_branch text,
    last_indexed_at timestamptz,
    current_snapshot_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE index_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    ref text,
    commit_sha text,
    status index_job_status NOT NULL DEFAULT 'pending',
    queue_job_id uuid,
    retry_count integer NOT NULL DEFAULT 0,
    stats jsonb NOT NULL DEFAULT '{}',
    progress jsonb NOT NULL DEFAULT '{}',
    error_message text,
    last_stage text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    completed_at timestamptz,
    force boolean NOT NULL DEFAULT false,  -- 0004: index even if the commit is the current index already
    CONSTRAINT index_jobs_commit_sha_format CHECK (commit_sha IS NULL OR commit_sha ~ '^[0-9a-f]{7,40}$')
);

CREATE INDEX index_jobs_recent ON index_jobs (created_at DESC, id DESC);
CREATE INDEX index_jobs_repository ON index_jobs (repository_id, created_at DESC);
-- At most one unfinished job per repository and requested commit/ref: a duplicate enqueue returns it.
CREATE UNIQUE INDEX index_jobs_one_unfinished ON index_jobs (repository_id, coalesce(commit_sha, ''), coalesce(ref, ''))
    WHERE status IN ('pending', 'processing');

CREATE TABLE index_job_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    index_job_id uuid NOT NULL REFERENCES index_jobs (id) ON DELETE CASCADE,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    event text NOT NULL,
    stage text,
    message text,
    data jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX index_job_events_job ON index_job_events (index_job_id, id);

CREATE TABLE file_results (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    blob_oid text NOT NULL,
    language text NOT NULL,
    is_declaration_file boolean NOT NULL,
    extractor_version integer NOT NULL,
    size_bytes integer NOT NULL,
    had_syntax_errors boolean NOT NULL,
    error_kind text,
    error_message text,
    CONSTRAINT file_results_content_key UNIQUE (blob_oid, language, is_declaration_file, extractor_version)
);

CREATE TABLE symbols (
    file_result_id bigint NOT NULL,  -- no foreign key (0007): see file_result_delete_rows
    idx integer NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    parent_idx integer,
    exported boolean NOT NULL,
    is_default_export boolean NOT NULL,
    is_async boolean NOT NULL,
    start_line integer NOT NULL,
    start_column integer NOT NULL,
    end_line integer NOT NULL,
    end_column integer NOT NULL,
    start_byte integer NOT NULL,
    end_byte integer NOT NULL,
    name_start_line integer NOT NULL,
    name_start_column integer NOT NULL,
    name_end_line integer NOT NULL,
    name_end_column integer NOT NULL,
    name_start_byte integer NOT NULL,
    name_end_byte integer NOT NULL,
    signature text NOT NULL,
    doc text,
    type_hint text,  -- (0014) docs/index-contract.md, "Type hints"
    receiver text,  -- (0016) the type of a method declared apart from it (docs/index-contract.md, "Go")
    PRIMARY KEY (file_result_id, idx)
);

CREATE INDEX symbols_name ON symbols (name);

CREATE TABLE imports (
    file_result_id bigint NOT NULL,  -- no foreign key (0007): see file_result_delete_rows
    idx integer NOT NULL,
    specifier text NOT NULL,
    kind text NOT NULL,
    is_type_only boolean NOT NULL,
    start_line integer NOT NULL,
    start_column integer NOT NULL,
    end_line integer NOT NULL,
    end_column integer NOT NULL,
    PRIMARY KEY (file_result_id, idx)
);

CREATE TABLE import_bindings (
    file_result_id bigint NOT NULL,  -- no foreign key (0007): see file_result_delete_rows
    import_idx integer NOT NULL,
    idx integer NOT NULL,
    imported text NOT NULL,
    local text NOT NULL,
    is_type_only boolean NOT NULL,
    PRIMARY KEY (file_result_id, import_idx, idx)
);

CREATE TABLE exports (
    file_result_id bigint NOT NULL,  -- no foreign key (0007): see file_result_delete_rows
    idx integer NOT NULL,
    exported text NOT NULL,
    local text,
    kind text NOT NULL,
    is_type_only boolean NOT NULL,
    import_idx integer,
    start_line integer NOT NULL,
    start_column integer NOT NULL,
    PRIMARY KEY (file_result_id, idx)
);

CREATE TABLE refs (
    file_result_id bigint NOT NULL,  -- no foreign key (0007): see file_result_delete_rows
    idx integer NOT NULL,
    name text NOT NULL,
    qualifier text,
    kind text NOT NULL,
    enclosing_idx integer,
    start_line integer NOT NULL,
    start_column integer NOT NULL,
    end_line integer NOT NULL,
    end_column integer NOT NULL,
    root_hint text,  -- (0014) the hint of its first name when that is a parameter or local variable
    PRIMARY KEY (file_result_id, idx)
);

CREATE TABLE snapshots (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_id uuid NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    index_job_id uuid REFERENCES index_jobs (id) ON DELETE SET NULL,
    commit_sha text NOT NULL,
    stats jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- (0008) what the cross-file step read besides the files; NULL: unknown, the next job relinks all
    config_digest text,
    paths_digest text,
    next_file_idx integer,  -- the id the next new path gets (NULL: one past the largest)
    updated_at timestamptz NOT NULL DEFAULT now()  -- an incremental job updates the snapshot in place
);

CREATE INDEX snapshots_repository ON snapshots (repository_id, created_at DESC);

ALTER TABLE repositories
    ADD CONSTRAINT repositories_current_snapshot FOREIGN KEY (current_snapshot_id)
    REFERENCES snapshots (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE snapshot_files (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    file_idx integer NOT NULL,
    path text NOT NULL,
    file_result_id bigint NOT NULL,  -- no foreign key (0007): the writer's orphan deletion guards it
    PRIMARY KEY (snapshot_id, file_idx)
);

CREATE INDEX snapshot_files_path ON snapshot_files (snapshot_id, path);
CREATE INDEX snapshot_files_result ON snapshot_files (file_result_id);

-- Cross-file results of one snapshot; file and symbol positions refer to snapshot_files.file_idx / symbols.idx.
CREATE TABLE resolved_imports (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    file_idx integer NOT NULL,
    import_idx integer NOT NULL,
    kind text NOT NULL,
    target_file_idx integer,
    package text,
    target_path text,  -- a `file` target the index does not hold (a .css or .json file); NULL with target_file_idx
    PRIMARY KEY (snapshot_id, file_idx, import_idx)
);

CREATE TABLE binding_links (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    file_idx integer NOT NULL,
    import_idx integer NOT NULL,
    binding_idx integer NOT NULL,
    target_file_idx integer NOT NULL,
    target_symbol_idx integer NOT NULL,
    PRIMARY KEY (snapshot_id, file_idx, import_idx, binding_idx)
);

CREATE TABLE reference_links (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    file_idx integer NOT NULL,
    reference_idx integer NOT NULL,
    target_file_idx integer NOT NULL,
    target_symbol_idx integer NOT NULL,
    PRIMARY KEY (snapshot_id, file_idx, reference_idx)
);

CREATE TABLE file_dependencies (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    source_file_idx integer NOT NULL,
    target_file_idx integer NOT NULL,
    inferred boolean NOT NULL DEFAULT false,  -- (0014) the source's links read the target's declarations
    PRIMARY KEY (snapshot_id, source_file_idx, target_file_idx)
);

CREATE TABLE symbol_dependencies (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    source_file_idx integer NOT NULL,
    source_symbol_idx integer NOT NULL,
    target_file_idx integer NOT NULL,
    target_symbol_idx integer NOT NULL,
    PRIMARY KEY (snapshot_id, source_file_idx, source_symbol_idx, target_file_idx, target_symbol_idx)
);

CREATE TABLE package_dependencies (
    snapshot_id uuid NOT NULL,  -- no foreign key (0007): see snapshot_delete_rows
    file_idx integer NOT NULL,
    package text NOT NULL,
    is_builtin boolean NOT NULL,
    version text,
    PRIMARY KEY (snapshot_id, file_idx, package)
);

-- ===== index job lifecycle (0005_index_job_lifecycle.sql) =====

-- Queues that exist before any job is sent to them, so health lists them on a fresh database (as pg-boss's
-- queue table does). The migration registers 'index-repo'.
CREATE TABLE queues (
    name text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_name_not_empty CHECK (name <> '')
);

-- When a queue job ends without completing (failed on its last attempt, or cancelled), the unfinished index job
-- it carries ends with it, in the same statement, with an index_job_events row saying why.
CREATE FUNCTION index_job_follow_queue_job() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    WITH finished AS (
        UPDATE index_jobs
        SET status = CASE WHEN NEW.state = 'cancelled' THEN 'cancelled'::index_job_status
                ELSE 'failed'::index_job_status END,
            error_message = CASE WHEN NEW.state = 'cancelled' THEN error_message ELSE NEW.last_error END,
            completed_at = clock_timestamp()
        WHERE queue_job_id = NEW.id AND status IN ('pending', 'processing')
        RETURNING id
    )
    INSERT INTO index_job_events (index_job_id, event, message, data)
    SELECT finished.id, NEW.state::text,
        CASE WHEN NEW.state = 'cancelled' THEN 'its queue job was cancelled'
            ELSE 'its queue job failed its last attempt: ' || coalesce(NEW.last_error, 'no error recorded') END,
        jsonb_build_object('queue_job_id', NEW.id, 'attempt', NEW.attempts, 'worker_id', NEW.worker_id)
    FROM finished;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_finish_index_job AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state IN ('failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION index_job_follow_queue_job();

-- (0009) ... and back to the queue with it: released at shutdown, or returned for another attempt.
CREATE FUNCTION index_job_back_to_queue() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    WITH released AS (
        UPDATE index_jobs SET status = 'pending'
        WHERE queue_job_id = NEW.id AND status = 'processing'
        RETURNING id
    )
    INSERT INTO index_job_events (index_job_id, event, message, data)
    SELECT released.id, 'released', 'its queue job went back to the queue (' || NEW.state::text || ')',
        jsonb_build_object('queue_job_id', NEW.id, 'attempt', OLD.attempts, 'worker_id', OLD.worker_id)
    FROM released;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_release_index_job AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (OLD.state = 'active' AND NEW.state IN ('created', 'retry'))
    EXECUTE FUNCTION index_job_back_to_queue();

CREATE INDEX index_jobs_queue_job ON index_jobs (queue_job_id) WHERE status IN ('pending', 'processing');
CREATE INDEX index_jobs_finished ON index_jobs (completed_at) WHERE status NOT IN ('pending', 'processing');

-- ===== bulk tables without foreign keys (0007_bulk_tables_without_foreign_keys.sql) =====

-- The bulk tables (per-file content rows, snapshot_files, cross-file rows) have no foreign keys: a check per
-- copied row was most of Postgres's CPU per stored row. These triggers do what ON DELETE CASCADE did; the writer's
-- transaction keeps references whole, and `python -m pipeline db check` verifies them (see the migration).
CREATE FUNCTION snapshot_delete_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM snapshot_files t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM resolved_imports t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM binding_links t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM reference_links t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM file_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM symbol_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM package_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER snapshots_delete_rows AFTER DELETE ON snapshots
    REFERENCING OLD TABLE AS deleted_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION snapshot_delete_rows();

-- A deleted per-file result's rows go with it, in one statement per table (each a join on the table's primary
-- key, which leads with file_result_id). Deleting a result a snapshot still uses is refused, as the foreign key
-- of snapshot_files did (through snapshot_files_result).
CREATE FUNCTION file_result_delete_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    in_use record;
BEGIN
    SELECT f.file_result_id, f.snapshot_id, f.path INTO in_use
    FROM deleted_results d JOIN snapshot_files f ON f.file_result_id = d.id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'file_results row % is still used by snapshot % (%): it cannot be deleted',
            in_use.file_result_id, in_use.snapshot_id, in_use.path
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM symbols t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM imports t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM import_bindings t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM exports t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM refs t USING deleted_results d WHERE t.file_result_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_delete_rows AFTER DELETE ON file_results
    REFERENCING OLD TABLE AS deleted_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_delete_rows();

-- TRUNCATE, which the keys refused or cascaded (TRUNCATE repositories CASCADE reaches snapshots): a truncated
-- snapshots table takes its rows' tables with it; file_results is truncated with its content tables, and refused
-- while a snapshot_files row names a result.
CREATE FUNCTION snapshot_truncate_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE snapshot_files, resolved_imports, binding_links, reference_links, file_dependencies,
        symbol_dependencies, package_dependencies;
    RETURN NULL;
END
$$;

CREATE TRIGGER snapshots_truncate_rows AFTER TRUNCATE ON snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION snapshot_truncate_rows();

CREATE FUNCTION file_result_truncate_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT FROM snapshot_files) THEN
        RAISE EXCEPTION 'file_results cannot be truncated while snapshot_files names results: delete the '
            'snapshots first' USING ERRCODE = 'foreign_key_violation';
    END IF;
    TRUNCATE symbols, imports, import_bindings, exports, refs;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_truncate_rows AFTER TRUNCATE ON file_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_truncate_rows();

-- ===== query API (0010_index_queries.sql) =====

-- pg_trgm lives once per database, in the schema that first created it; its operator class is named through
-- that schema (see the migration).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
DECLARE
    trgm_schema text := (
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'
    );
BEGIN
    EXECUTE format('CREATE INDEX symbols_name_trgm ON symbols USING gin (name %I.gin_trgm_ops)', trgm_schema);
END
$$;

CREATE INDEX symbols_name_lower ON symbols (lower(name) text_pattern_ops);
CREATE INDEX repositories_full_name_lower ON repositories (lower(full_name));
CREATE INDEX reference_links_target ON reference_links (snapshot_id, target_file_idx, target_symbol_idx);
CREATE INDEX resolved_imports_target ON resolved_imports (snapshot_id, target_file_idx)
    WHERE target_file_idx IS NOT NULL;
CREATE INDEX file_dependencies_target ON file_dependencies (snapshot_id, target_file_idx);
CREATE INDEX symbol_dependencies_target ON symbol_dependencies (snapshot_id, target_file_idx, target_symbol_idx);

-- ===== file contents for code search (0011_file_contents.sql) =====

-- Each indexed file's text (UTF-8 without NUL), keyed by its blob OID, with a trigram index for code search; kept
-- while a file_results row names the blob (see the migration for the locking protocol).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE file_contents (
    blob_oid text PRIMARY KEY,
    content text NOT NULL
);

-- lz4 compresses the text at a quarter of pglz's CPU (0.1 s against 0.4 s for the 37 MB bench corpus), and
-- decompresses faster for searches; a server built without lz4 keeps the default.
DO $$
BEGIN
    ALTER TABLE file_contents ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- The extension exists once per database, in the schema that first created it: name its operator class there.
DO $$
DECLARE
    trgm_schema text := (
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'
    );
BEGIN
    EXECUTE format('CREATE INDEX file_contents_trgm ON file_contents USING gin (content %I.gin_trgm_ops)', trgm_schema);
END
$$;

CREATE FUNCTION file_result_delete_contents() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    locked text[];
BEGIN
    -- The deleted results' contents that no writer is reusing (one that holds them FOR KEY SHARE is), locked ...
    SELECT array_agg(blob_oid) INTO locked FROM (
        SELECT c.blob_oid FROM file_contents c
        WHERE c.blob_oid IN (SELECT d.blob_oid FROM deleted_results d)
        ORDER BY c.blob_oid
        FOR UPDATE SKIP LOCKED
    ) AS candidates;
    -- ... then deleted if no result names them: a statement of its own, so it sees every result committed before
    -- the lock (a writer coming later waits for this transaction, then stores the contents again).
    DELETE FROM file_contents c
    WHERE c.blob_oid = ANY(locked)
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.blob_oid = c.blob_oid);
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_delete_contents AFTER DELETE ON file_results
    REFERENCING OLD TABLE AS deleted_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_delete_contents();

CREATE FUNCTION file_result_truncate_contents() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE file_contents;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_truncate_contents AFTER TRUNCATE ON file_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_truncate_contents();
-- ===== job groups and webhook deliveries (0012_job_groups_and_webhook_deliveries.sql) =====

-- Job groups: jobs sharing a group_key in one queue run one at a time (the index queue groups by repository, so
-- two jobs of one repository never fetch, parse and write side by side). The unique index is the guarantee: no
-- two jobs of a group are ever active together. The claim (job_claim) offers only the first waiting job of a group,
-- and only while no job of the group is active, so claimers racing for a group meet on that one row, which
-- FOR UPDATE SKIP LOCKED gives to one of them. The guarantee holds between claims: a job cancelled or expired while
-- running leaves `active` at once, so the group's next job can be claimed while the first one's worker is still
-- stopping (it notices at its next heartbeat, at most one heartbeat interval later); the writer's lock on the
-- repository's row still serialises the two jobs' writes.
ALTER TABLE jobs ADD COLUMN group_key text;

CREATE UNIQUE INDEX jobs_group_active_idx ON jobs (name, group_key) WHERE group_key IS NOT NULL AND state = 'active';

-- The claim's look for an earlier waiting job of the same group, in the claim's own order.
CREATE INDEX jobs_group_waiting_idx ON jobs (name, group_key, priority DESC, start_after, id)
    WHERE group_key IS NOT NULL AND state IN ('created', 'retry');

-- Whether it is a waiting job's turn in its group: no job of the group is active, and no other job of the group
-- that is available now comes before it in claim order (priority, then start_after, then id). STABLE, so it reads
-- with the snapshot of the claim that calls it. A function (plpgsql: its plan is cached per session) rather than a
-- subquery of job_claim: the subquery made planning every claim about twice as long, grouped jobs or not.
CREATE FUNCTION job_group_turn(queue text, job_group text, job_id uuid, job_priority integer,
    job_start_after timestamptz) RETURNS boolean LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
BEGIN
    RETURN NOT EXISTS (
        SELECT FROM jobs AS other
        WHERE other.name = queue AND other.group_key = job_group AND other.id <> job_id
            AND (other.state = 'active'
                OR (other.state IN ('created', 'retry') AND other.start_after <= now()
                    AND (other.priority > job_priority
                        OR (other.priority = job_priority
                            AND (other.start_after, other.id) < (job_start_after, job_id)))))
    );
END
$$;

-- Push webhook deliveries seen, so that a redelivery (same provider and delivery id) enqueues nothing new. Kept for
-- a week (pipeline.api.webhooks prunes them as new deliveries arrive); a provider redelivers within days.
CREATE TABLE webhook_deliveries (
    provider text NOT NULL,  -- 'github' or 'gitlab'
    delivery_id text NOT NULL,  -- X-GitHub-Delivery, or GitLab's Idempotency-Key / X-Gitlab-Event-UUID
    received_at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,
    outcome jsonb NOT NULL,  -- the response body first given, returned again to a redelivery
    PRIMARY KEY (provider, delivery_id)
);

CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);

-- ===== repository URL keys and delivery bodies (0013_repository_url_key_and_delivery_bodies.sql) =====

-- A repository's identity is where it lives, however its URL is spelled: a push's clone URL
-- (https://github.com/Acme/App.git) and the URL `POST /index acme/app` made (https://github.com/acme/app) name one
-- repository, so enqueueing either finds the same row (repository_upsert) instead of making a second one.
-- The key of a network URL or scp-like address is its host (lower-cased, with a non-default port) and its path
-- without a trailing `.git` or `/`; the scheme and user name are dropped (one repository reached over https, http,
-- git or ssh is one repository). The path is lower-cased on the hosts whose paths ignore case (github.com,
-- gitlab.com); elsewhere case is kept, since a self-hosted server may tell Acme/App from acme/app. A local path is
-- its own key (the target resolved it already). The row keeps the URL it was first enqueued with, which is what the
-- fetcher uses: the key is never fetched (a self-hosted server may need the `.git` the key drops).
CREATE FUNCTION repository_url_key(git_url text) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    -- host[:port] and path of scheme://[user@]host[:port]/path, else of an scp-like [user@]host:path
    parts text[] := coalesce(
        regexp_match(git_url, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@]*@)?([^/]+)/(.*)$'),
        regexp_match(git_url, '^(?:[^/@:]*@)?([^/:]+):(.*)$'));
    host text := lower(parts[1]);
    path text := regexp_replace(trim(leading '/' from parts[2]), '(\.git)?/*$', '');
BEGIN
    IF parts IS NULL THEN
        RETURN git_url;
    END IF;
    IF split_part(host, ':', 1) IN ('github.com', 'gitlab.com') THEN
        path := lower(path);
    END IF;
    RETURN host || '/' || path;
END
$$;

-- NULL only for the duplicates a database made before this key existed: of the rows sharing a key, the oldest
-- (the one first enqueued) gets it and every later enqueue of any spelling finds that one; the others keep their
-- snapshots and jobs, get no new jobs, and can be deleted by hand.
ALTER TABLE repositories ADD COLUMN url_key text;

CREATE UNIQUE INDEX repositories_url_key ON repositories (url_key);

-- The database keys every row it is given, whoever inserts it (repository_upsert, a test, a hand-written INSERT),
-- before the conflict check of an upsert on url_key.
CREATE FUNCTION repository_set_url_key() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    NEW.url_key := repository_url_key(NEW.git_url);
    RETURN NEW;
END
$$;

CREATE TRIGGER repositories_set_url_key BEFORE INSERT OR UPDATE OF git_url ON repositories
    FOR EACH ROW EXECUTE FUNCTION repository_set_url_key();

-- A GitHub delivery is also known by its body's SHA-256: the delivery id is not covered by the signature, so a
-- signed body replayed under a fresh id must not enqueue its (older) commit again. Two distinct pushes never have
-- the same body (GitHub's carries the push time), and a redelivery has the same id and the same body. NULL for a
-- GitLab delivery (its token signs no body: whoever holds it can send any body, so a replayed one proves nothing
-- more) and for those recorded before this column, which expire within the retention.
ALTER TABLE webhook_deliveries ADD COLUMN body_sha256 bytea;

CREATE UNIQUE INDEX webhook_deliveries_body ON webhook_deliveries (provider, body_sha256);
