-- Statements used only by the HTTP API; loaded by name with pipeline.db.parse_queries (see pipeline/api/store.py).

-- name: index_job_cancel_pending
-- pending → cancelled, for a job no worker has claimed (a claimed one is moved by its coordinator).
UPDATE index_jobs SET status = 'cancelled', completed_at = now()
WHERE id = %(id)s AND status = 'pending'
RETURNING id;

-- name: dead_letter_ids_for_index_job
-- The dead letters carrying one index job's queue payload.
SELECT id FROM dead_letters
WHERE source_queue = %(queue)s AND payload ->> 'index_job_id' = %(index_job_id)s::text;

-- name: repository_get
-- One repository with its current snapshot and the stats of the job that wrote it.
SELECT r.id, r.full_name, r.git_url, r.default_branch, r.last_indexed_at, r.created_at,
       s.id, s.commit_sha, s.created_at, s.index_job_id, coalesce(j.stats, '{}'::jsonb),
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
