"""What the HTTP API reads and changes, over the same modules the CLI uses (index_jobs, the queue, fetch targets).

Each function takes an open autocommit connection and/or the shared ``Queue``; none of them knows about HTTP.
Lookups return ``None`` for an unknown id; a request the current state forbids raises ``JobStateConflict``.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.api import schemas
from pipeline.db import query
from pipeline.errors import PipelineError
from pipeline.index_jobs import INDEX_QUEUE, IndexJob, IndexJobStatus, JobStateConflict
from pipeline.index_requests import parse_request_target
from pipeline.migrate import available_migrations, check_migrated, schema_version
from pipeline.queue.client import Queue, dead_letter_queue
from pipeline.queue.states import JobState

Connection = psycopg.Connection[TupleRow]

STAGES = ("fetch", "parse", "write")
UNFINISHED = (IndexJobStatus.PENDING, IndexJobStatus.PROCESSING)
WAITING_STATES = (JobState.CREATED.value, JobState.RETRY.value)


class InvalidCursor(PipelineError):
    """A ``cursor`` query parameter that this API did not hand out."""


def enqueue(
    conn: Connection, queue: Queue, request: schemas.IndexRequest, *, base_url: str, allow_local: bool
) -> schemas.Enqueued:
    """Validate the target as the CLI does (local repositories only with ``allow_local``) and enqueue it; raises
    ``IndexerError`` subclasses naming the problem."""
    target = parse_request_target(request.repository, base_url=base_url, allow_local=allow_local)
    enqueued = index_jobs.enqueue(
        conn,
        queue,
        target,
        ref=request.ref,
        commit_sha=request.commit_sha,
        priority=request.priority,
        force=request.force,
    )
    return schemas.Enqueued(job_id=enqueued.job.id, status=enqueued.job.status, created=enqueued.created)


def job(conn: Connection, job_id: uuid.UUID) -> schemas.Job | None:
    found = index_jobs.get(conn, job_id)
    return job_view(found, now=time.time()) if found else None


def job_view(record: IndexJob, *, now: float) -> schemas.Job:
    return schemas.Job(
        id=record.id,
        repository_id=record.repository_id,
        repository=record.repository,
        git_url=record.git_url,
        ref=record.ref,
        commit_sha=record.commit_sha,
        status=record.status,
        retry_count=record.retry_count,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        stats=record.stats,
        error_message=record.error_message,
        last_stage=record.last_stage,
        progress=_progress(record, now),
    )


def _progress(record: IndexJob, now: float) -> dict[str, schemas.StageProgress]:
    """Per stage as stored, plus elapsed time and, where the stage's total input is known, an ETA."""
    started = record.started_at.timestamp() if record.started_at else None
    running = record.status == IndexJobStatus.PROCESSING
    views: dict[str, schemas.StageProgress] = {}
    upstream_finished = True  # the fetch stage's input (the file list) is complete when it first reports
    for stage in (*STAGES, *sorted(set(record.progress) - set(STAGES))):
        values: Any = record.progress.get(stage)
        if not isinstance(values, dict):
            continue
        items_in, items_out, failed = (int(values.get(key) or 0) for key in ("items_in", "items_out", "failed"))
        finished = bool(values.get("finished"))
        reported = values.get("updated_at")
        until = now if running and not finished else (reported if isinstance(reported, int | float) else None)
        elapsed = max(0.0, until - started) if started is not None and until is not None else None
        eta = None
        done = items_out + failed
        if running and not finished and upstream_finished and elapsed and done > 0 and items_in >= done:
            eta = round((items_in - done) * elapsed / done, 3)
        views[stage] = schemas.StageProgress(
            items_in=items_in,
            items_out=items_out,
            failed=failed,
            finished=finished,
            elapsed_seconds=round(elapsed, 3) if elapsed is not None else None,
            eta_seconds=eta,
        )
        upstream_finished = finished
    return views


def encode_cursor(record: schemas.Job) -> str:
    text = f"{record.created_at.isoformat()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, job_id = text.split("|")
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        return when, uuid.UUID(job_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor("cursor: not a cursor returned by GET /jobs (pass next_cursor unchanged)") from None


def list_jobs(
    conn: Connection,
    *,
    status: IndexJobStatus | None,
    repository: str | None,
    limit: int,
    cursor: str | None,
    created_from: datetime | None = None,
    created_until: datetime | None = None,
) -> schemas.JobPage:
    """Newest first. One row more than asked is read to know whether a next page exists."""
    after = decode_cursor(cursor) if cursor else None
    records = index_jobs.list_jobs(
        conn,
        status=status,
        repository=repository,
        limit=limit + 1,
        cursor=after,
        created_from=created_from,
        created_until=created_until,
    )
    now = time.time()
    page = [job_view(record, now=now) for record in records[:limit]]
    more = len(records) > limit
    return schemas.JobPage(jobs=page, next_cursor=encode_cursor(page[-1]) if more and page else None)


def repository(conn: Connection, repository_id: uuid.UUID) -> schemas.Repository | None:
    row = conn.execute(query("repository_get"), {"id": repository_id}).fetchone()
    if row is None:
        return None
    (rid, full_name, git_url, branch, last_indexed, created, snapshot_id, sha, snap_at, job_id, stats, files, jobs) = (
        row
    )
    current = None
    if snapshot_id is not None:
        current = schemas.RepositorySnapshot(
            id=snapshot_id, commit_sha=sha, indexed_at=snap_at, index_job_id=job_id, files=files, stats=stats
        )
    return schemas.Repository(
        id=rid,
        full_name=full_name,
        git_url=git_url,
        default_branch=branch,
        last_indexed_at=last_indexed,
        created_at=created,
        index_jobs=jobs,
        current=current,
    )


def health(conn: Connection | None, queue: Queue, schema: str, error: str | None) -> schemas.Health:
    """Healthy means: the database answers, its schema is at the newest migration, and the queue can be read."""
    expected = max((migration.version for migration in available_migrations()), default=0)
    if conn is None:
        return schemas.Health(
            healthy=False, database=False, schema_version=None, expected_schema_version=expected, queues=[], error=error
        )
    version = schema_version(conn, schema)
    try:
        check_migrated(conn, schema)
        queues = [
            schemas.QueueHealth(
                queue=report.queue,
                depth=sum(report.counts.get(state, 0) for state in WAITING_STATES),
                counts=report.counts,
                oldest_waiting_seconds=report.oldest_waiting_seconds,
                active_workers=report.active_workers,
                failed_last_24h=report.failed_last_24h,
                dead_letters=report.dead_letters,
            )
            for report in queue.health()
        ]
    except PipelineError as exc:
        return schemas.Health(
            healthy=False,
            database=True,
            schema_version=version,
            expected_schema_version=expected,
            queues=[],
            error=str(exc),
        )
    return schemas.Health(
        healthy=True, database=True, schema_version=version, expected_schema_version=expected, queues=queues
    )


def dead_letters(queue: Queue, *, limit: int) -> list[schemas.DeadLetter]:
    letters = []
    for letter in queue.dead_letters(dead_letter_queue(INDEX_QUEUE), limit=limit):
        try:
            index_job_id: uuid.UUID | None = uuid.UUID(str(letter.payload.get("index_job_id")))
        except ValueError:
            index_job_id = None
        letters.append(
            schemas.DeadLetter(
                id=letter.id,
                queue=letter.queue,
                source_queue=letter.source_queue,
                source_job_id=letter.source_job_id,
                index_job_id=index_job_id,
                attempts=letter.attempts,
                failed_at=letter.failed_at,
                last_error=letter.last_error,
            )
        )
    return letters


def retry(conn: Connection, queue: Queue, job_id: uuid.UUID) -> schemas.Retried | None:
    """``index_jobs.retry``: a fresh job for a failed or cancelled job's repository and revision (the same as the
    ``retry`` command and a redrive of its dead letter)."""
    retried = index_jobs.retry(conn, queue, job_id)
    if retried is None:
        return None
    return schemas.Retried(
        job_id=retried.job.id,
        status=retried.job.status,
        retry_of=retried.retry_of,
        dead_letters_removed=retried.dead_letters_removed,
    )


def cancel(conn: Connection, queue: Queue, job_id: uuid.UUID) -> schemas.Cancelled | None:
    """Cancel an unfinished job: its queue job, and with it (the trigger of migration 0005) the index job, pending or
    processing; a processing job's coordinator stops the attempt at its next heartbeat."""
    record = index_jobs.get(conn, job_id)
    if record is None:
        return None
    if record.status not in UNFINISHED:
        raise JobStateConflict(
            f"job {job_id} is {record.status.value}; only pending or processing jobs can be cancelled"
        )
    with conn.transaction():
        if record.queue_job_id is not None:
            queue.cancel(record.queue_job_id, conn=conn)
        if conn.execute(query("index_job_cancel_pending"), {"id": job_id}).fetchone():
            index_jobs.record_event(conn, job_id, "cancelled")
    current = index_jobs.get(conn, job_id)
    assert current is not None
    return schemas.Cancelled(job_id=job_id, status=current.status, cancel_requested=True)


def job_timeline(conn: Connection, queue: Queue, job_id: uuid.UUID) -> schemas.JobTimeline | None:
    """An index job's event log and the attempts of the queue job carrying it (``None`` once retention deleted
    that queue job, or before it exists)."""
    record = index_jobs.get(conn, job_id)
    if record is None:
        return None
    events = [
        schemas.JobEvent(at=event.at, event=event.event, stage=event.stage, message=event.message, data=event.data)
        for event in index_jobs.events(conn, job_id)
    ]
    carrier = queue.get(record.queue_job_id) if record.queue_job_id is not None else None
    attempts = None
    if carrier is not None:
        attempts = schemas.QueueAttempts(
            queue_job_id=carrier.id,
            state=carrier.state.value,
            attempts=carrier.attempts,
            max_attempts=carrier.retry_limit + 1,
            worker_id=carrier.worker_id,
            last_error=carrier.last_error,
            unfinished=[
                schemas.Attempt(
                    attempt=event.attempt,
                    kind=event.kind.value,
                    next_state=event.next_state.value,
                    worker_id=event.worker_id,
                    at=event.at,
                    error=event.error,
                )
                for event in queue.history(carrier.id)
            ],
        )
    return schemas.JobTimeline(job_id=job_id, events=events, queue_job=attempts)


def job_counts(conn: Connection) -> dict[str, int]:
    """Index jobs per status, every status included (zero when none)."""
    return dict(conn.execute(query("index_job_count_by_status")).fetchall())


def job_series(conn: Connection, *, minutes: int) -> schemas.JobSeries:
    """Per minute of the last ``minutes``: jobs completed and failed, files parsed per second, queue depth (the
    ``index_job_series`` query says how each is derived). JIT compilation is off for it: its row estimates would
    trigger it, and compiling took 0.4 to 0.8 s where the query runs in 3 ms (an hour) to 30 ms (a day of 5,000
    jobs; ``bench/dashboard_bench.py``)."""
    with conn.transaction():
        conn.execute(query("jit_off_local"))
        rows = conn.execute(query("index_job_series"), {"minutes": minutes}).fetchall()
    points = [
        schemas.SeriesPoint(
            at=at, completed=completed, failed=failed, files_per_second=round(float(files), 3), queue_depth=depth
        )
        for at, completed, failed, files, depth in rows
    ]
    return schemas.JobSeries(minutes=minutes, points=points)
