"""Claiming a queue job as a worker does and making its worker look dead, for tests that drive job transitions by
hand."""

from __future__ import annotations

import time
import uuid

import psycopg
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.db import query
from pipeline.index_jobs import INDEX_QUEUE


def claim_and_start(conn: psycopg.Connection[TupleRow], job_id: uuid.UUID, worker_id: str) -> bool:
    """Claim the index job's queue job as ``worker_id`` (it must be the next one on the index queue) and start the
    index job for that attempt, as the coordinator does; what ``index_jobs.start`` returned."""
    record = index_jobs.get(conn, job_id)
    assert record is not None
    assert record.queue_job_id is not None
    claimed = conn.execute(
        query("job_claim"), {"name": INDEX_QUEUE, "limit": 1, "worker_id": worker_id, "stale_after": 60}
    ).fetchall()
    assert [row[0] for row in claimed] == [record.queue_job_id]
    return index_jobs.start(
        conn, job_id, queue_job_id=record.queue_job_id, attempt=int(claimed[0][2]), worker_id=worker_id
    )


def age_heartbeat(conn: psycopg.Connection[TupleRow], job_id: uuid.UUID | None, seconds: float = 3600) -> None:
    """Make the job's worker look dead since ``seconds`` ago, and wait until the server has been up for longer than
    the test configuration's rescue threshold: the rescuer judges no heartbeat right after a server start, and a
    test may run in the first second of the session's cluster."""
    conn.execute("UPDATE jobs SET heartbeat_at = now() - %s * interval '1 second' WHERE id = %s", [seconds, job_id])
    uptime = conn.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())::float").fetchone()
    assert uptime is not None
    time.sleep(max(0.0, TEST_STALE_AFTER + 0.5 - uptime[0]))


TEST_STALE_AFTER = 1.0  # configs/test.toml's heartbeat_interval times rescue_after_heartbeats
