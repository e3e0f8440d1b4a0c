-- An index job also follows its queue job back to the queue: when a running queue job is released (a worker
-- shutting down gives it back) or returned for another attempt (failed, rescued after its heartbeat stopped), its
-- index job goes from processing back to pending in the same statement. The coordinator used to mirror a release
-- from its job's thread after the fact, and a command exiting at once (`index` interrupted) could end first,
-- leaving the index job `processing` while nothing ran it.
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
