-- The index job's life follows its queue job's end, known queues are listed before their first job, and finished
-- index jobs can be found by retention.

-- Queues that exist before any job is sent to them, so health lists them on a fresh database (as pg-boss's
-- queue table does). A queue that is not registered still works; it is listed once it has jobs.
CREATE TABLE queues (
    name text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT queues_name_not_empty CHECK (name <> '')
);

INSERT INTO queues (name) VALUES ('index-repo');

-- An index job is carried by one queue job at a time (index_jobs.queue_job_id). When that queue job ends without
-- completing (failed on its last attempt, whether its worker, the rescuer or expiry failed it; or cancelled), the
-- index job ends with it, in the same statement: when the worker host died, no coordinator is left to do it, and
-- the index job would stay unfinished for good (status, the API and duplicate enqueues would all see it running).
-- An index job that already finished (its coordinator recorded the failure first) is left as it is. The queue
-- itself stays generic: this trigger is the index's, on the queue's table.
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

-- Fires only for the two endings (a column trigger: heartbeats, which do not set state, never consider it).
CREATE TRIGGER jobs_finish_index_job AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state IN ('failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION index_job_follow_queue_job();

-- The trigger's lookup: only unfinished index jobs can follow their queue job.
CREATE INDEX index_jobs_queue_job ON index_jobs (queue_job_id) WHERE status IN ('pending', 'processing');

-- Retention's scan of finished index jobs, oldest first.
CREATE INDEX index_jobs_finished ON index_jobs (completed_at) WHERE status NOT IN ('pending', 'processing');
