-- Job groups: jobs sharing a group_key in one queue run one at a time (the index queue groups by repository, so
-- two jobs of one repository never fetch, parse and write side by side). The unique index is the guarantee: no
-- two jobs of a group are ever active together. The claim (job_claim) offers only the first waiting job of a group,
-- and only while no job of the group is active, so claimers racing for a group meet on that one row, which
-- FOR UPDATE SKIP LOCKED gives to one of them.
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
