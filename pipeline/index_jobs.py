"""Index jobs: the source of truth for "index this repository at this commit" and its status.

``index_jobs`` rows move pending → processing → completed | failed (or skipped / cancelled); the queue's own
tables only carry the work. Guarantees:
- ``enqueue`` creates the repository (if new), the pending index job and its queue job in one transaction; a second
  enqueue of the same repository and commit/ref while one is unfinished returns the existing job. A repository is
  found by its URL's key (``repository_upsert``), so ``https://github.com/Acme/App.git`` and
  ``https://github.com/acme/app`` are one repository, fetched from the URL it was first enqueued with.
- Coalescing: a new job of a ref supersedes the repository's older pending jobs of that ref (``skipped``, with an
  event naming the new job, their queue jobs cancelled, in the same transaction), so a burst of pushes indexes the
  newest commit once; a running job finishes. Enqueues of one repository are serialised by its row's lock.
- One job of a repository runs at a time between claims: its queue job's group is the repository
  (``Queue.send(group_key=…)``). A job cancelled or expired while running leaves the group at once while its
  worker may still be stopping (up to one heartbeat interval); the writer's repository lock serialises writes.
- Every transition checks the current status, so a late writer cannot resurrect a finished job; transitions are
  stamped with the time they happen (``clock_timestamp()``), not the start of their transaction.
- An index job ends with its queue job: when the queue job fails its last attempt (its worker, the rescuer or
  expiry failed it) or is cancelled, a trigger on the queue's table (migration 0005) fails or cancels the index job
  in the same statement, so a job whose worker host died never stays ``processing``.
- Each transition and error is appended to ``index_job_events`` with a timestamp (a queryable log).
- A failed or cancelled job is re-run by ``retry`` (a fresh job for the same repository and revision; the API's
  retry, the ``retry`` command and a redrive of its dead letter all use it); retention deletes finished jobs after
  ``index.job_delete_after``, except those a snapshot or a dead letter still refers to.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec
import orjson
import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from pipeline.db import query
from pipeline.errors import IndexRequestError, PipelineError
from pipeline.queue.client import Queue, Redriven
from pipeline.queue.retention import DELETE_BATCH, Sweep
from stages.errors import IndexerError

if TYPE_CHECKING:  # the writer process imports this module and must not load git
    from stages.fetch import RepoTarget

INDEX_QUEUE = "index-repo"

_SHA = re.compile(r"[0-9a-f]{7,40}")
MAX_REF_LENGTH = 255


def _valid_ref(ref: str) -> bool:
    """git check-ref-format's rules that matter here: no control or special characters, no '..', sane ends."""
    return (
        0 < len(ref) <= MAX_REF_LENGTH
        and not any(ord(char) < 32 or char in " ~^:?*[\\\x7f" for char in ref)
        and ".." not in ref
        and "@{" not in ref
        and not ref.startswith(("/", "-", "."))
        and not ref.endswith(("/", ".", ".lock"))
        and "//" not in ref
    )


Connection = psycopg.Connection[TupleRow]


class JobStateConflict(PipelineError):
    """The job exists but its status does not allow the request (e.g. retrying a job that is still running)."""


class IndexJobStatus(StrEnum):
    """Mirrors the ``index_job_status`` Postgres type (see migration 0002)."""

    PENDING = "pending"  # the coordinator moves it to processing when it claims the queue job
    PROCESSING = "processing"  # the writer completes it; the coordinator fails it or returns it to pending
    COMPLETED = "completed"  # terminal
    FAILED = "failed"  # terminal
    SKIPPED = "skipped"  # terminal
    CANCELLED = "cancelled"  # terminal


class IndexJob(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    repository_id: uuid.UUID
    repository: str
    git_url: str
    ref: str | None
    commit_sha: str | None
    status: IndexJobStatus
    queue_job_id: uuid.UUID | None
    retry_count: int
    stats: dict[str, Any]
    progress: dict[str, Any]
    error_message: str | None
    last_stage: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    force: bool  # index even if the commit is already the repository's current index


class IndexJobEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    event: str
    stage: str | None
    message: str | None
    data: dict[str, Any]


class Enqueued(msgspec.Struct, frozen=True, kw_only=True):
    job: IndexJob
    created: bool  # False: an unfinished job for the same repository and commit/ref already existed


class Retried(msgspec.Struct, frozen=True, kw_only=True):
    job: IndexJob  # the fresh job, or the unfinished job that already covered the same repository and revision
    retry_of: uuid.UUID
    dead_letters_removed: int


class RedriveReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a redrive did: letters sent back (an index job's as a retry of it), and letters kept, with why."""

    redriven: list[Redriven]
    retried: list[Retried]  # the index jobs among them, re-run by ``retry``
    kept: dict[uuid.UUID, str]  # dead-letter id (or a requested id that is no dead letter) -> why it was not redriven


def _job(row: TupleRow) -> IndexJob:
    fields = dict(zip(IndexJob.__struct_fields__, row, strict=True))
    fields["status"] = IndexJobStatus(fields["status"])
    return IndexJob(**fields)


def enqueue(
    conn: Connection,
    queue: Queue,
    target: RepoTarget,
    *,
    ref: str | None = None,
    commit_sha: str | None = None,
    priority: int = 0,
    force: bool = False,
    reserved_for: str | None = None,
) -> Enqueued:
    """Create (or find) the index job for ``target`` at ``ref``/``commit_sha`` and its queue job, atomically.

    ``commit_sha`` is 7 to 40 hex digits (stored lower-case, expanded to the full sha for a local repository, see
    ``pipeline.index_requests``; the full sha replaces it once resolved); ``ref`` is a git ref name. Both together
    (a push: that commit, pushed to that ref) index the commit; the ref is what coalescing compares. Anything else
    raises ``IndexRequestError`` before anything is written. Without ``force``, a job whose commit turns out to be
    the repository's current index already ends ``skipped`` instead of indexing it again. With ``reserved_for`` (a
    worker id), the queue job is left to that worker while it is alive and taken by any worker once it is not
    (``Queue.send``): how ``index`` runs its own job without stranding it.
    """
    commit_sha = commit_sha.strip().lower() if commit_sha else None
    if commit_sha is not None and not _SHA.fullmatch(commit_sha):
        raise IndexRequestError(f"commit sha {commit_sha!r} is not 7 to 40 hexadecimal digits")
    if ref is not None and not _valid_ref(ref):
        raise IndexRequestError(f"ref {ref!r} is not a valid git ref name")
    if commit_sha is not None and target.is_local:
        from pipeline.index_requests import expand_local_commit  # noqa: PLC0415  (loads git: not in the writer)

        commit_sha = expand_local_commit(target, commit_sha)
    with conn.transaction():
        repository = conn.execute(
            query("repository_upsert"), {"full_name": target.full_name, "git_url": target.url}
        ).fetchone()
        assert repository is not None
        params = {"repository_id": repository[0], "ref": ref, "commit_sha": commit_sha, "force": force}
        inserted = conn.execute(query("index_job_insert"), params).fetchone()
        if inserted is None:
            existing = conn.execute(query("index_job_find_unfinished"), params).fetchone()
            assert existing is not None, "the unique index reported a conflict, so the unfinished job exists"
            if force and conn.execute(query("index_job_force"), {"id": existing[0]}).fetchone():
                record_event(conn, existing[0], "forced", message="a forced request found this job unfinished")
            job = get(conn, existing[0])
            assert job is not None
            return Enqueued(job=job, created=False)
        job_id = inserted[0]
        queue_job_id = queue.send(
            INDEX_QUEUE,
            {"index_job_id": str(job_id)},
            priority=priority,
            # keyed as index_jobs_one_unfinished: a push (ref and commit) is not the job of its commit alone
            singleton_key=f"{repository[0]}:{':'.join(filter(None, (ref, commit_sha))) or 'HEAD'}",
            reserved_for=reserved_for,
            group_key=str(repository[0]),
            conn=conn,
        )
        conn.execute(query("index_job_set_queue_job"), {"id": job_id, "queue_job_id": queue_job_id})
        record_event(
            conn,
            job_id,
            "enqueued",
            data={"ref": ref, "commit_sha": commit_sha, "priority": priority, "force": force},
        )
        if ref is not None:
            _supersede_pending(conn, queue, repository_id=repository[0], ref=ref, by=job_id, commit_sha=commit_sha)
        job = get(conn, job_id)
    assert job is not None
    return Enqueued(job=job, created=True)


def _supersede_pending(
    conn: Connection, queue: Queue, *, repository_id: uuid.UUID, ref: str, by: uuid.UUID, commit_sha: str | None
) -> None:
    """Skip the repository's older pending jobs of ``ref`` in favour of job ``by`` and cancel their queue jobs (in
    the caller's transaction); see ``index_job_supersede_pending`` for which jobs qualify."""
    superseded = conn.execute(
        query("index_job_supersede_pending"), {"repository_id": repository_id, "ref": ref, "id": by}
    ).fetchall()
    if not superseded:
        return
    queue.cancel([queue_job_id for _, queue_job_id in superseded], conn=conn)
    newer = f"commit {commit_sha}" if commit_sha else f"the tip of {ref}"
    for job_id, _ in superseded:
        record_event(
            conn,
            job_id,
            "skipped",
            message=f"superseded by index job {by} ({newer}), enqueued later for the same ref",
            data={"superseded_by": str(by)},
        )


def get(conn: Connection, job_id: uuid.UUID | str) -> IndexJob | None:
    row = conn.execute(query("index_job_get"), {"id": job_id}).fetchone()
    return _job(row) if row else None


def list_jobs(
    conn: Connection,
    *,
    status: IndexJobStatus | None = None,
    repository: str | None = None,
    limit: int = 50,
    cursor: tuple[datetime, uuid.UUID] | None = None,
    created_from: datetime | None = None,
    created_until: datetime | None = None,
) -> list[IndexJob]:
    """Newest first, created in ``[created_from, created_until)`` when given; pass the last job's
    ``(created_at, id)`` as ``cursor`` for the next page."""
    rows = conn.execute(
        query("index_job_list"),
        {
            "status": status.value if status else None,
            "repository": repository,
            "limit": limit,
            "cursor_created_at": cursor[0] if cursor else None,
            "cursor_id": cursor[1] if cursor else None,
            "created_from": created_from,
            "created_until": created_until,
        },
    ).fetchall()
    return [_job(row) for row in rows]


def events(conn: Connection, job_id: uuid.UUID) -> list[IndexJobEvent]:
    return [
        IndexJobEvent(at=at, event=event, stage=stage, message=message, data=data)
        for at, event, stage, message, data in conn.execute(query("index_job_events"), {"id": job_id})
    ]


def record_event(
    conn: Connection,
    job_id: uuid.UUID,
    event: str,
    *,
    stage: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        query("index_job_event_insert"),
        {"id": job_id, "event": event, "stage": stage, "message": message, "data": Jsonb(data or {}, _dumps)},
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def start(conn: Connection, job_id: uuid.UUID, *, queue_job_id: uuid.UUID, attempt: int, worker_id: str) -> bool:
    """pending → processing for ``attempt`` of ``queue_job_id``, claimed by ``worker_id``; False if the index job
    is already finished (e.g. cancelled meanwhile) or that attempt no longer holds its queue job (released,
    rescued or cancelled meanwhile), so an index job is never left processing with nothing running it."""
    with conn.transaction():
        started = conn.execute(
            query("index_job_start"),
            {"id": job_id, "queue_job_id": queue_job_id, "attempt": attempt, "worker_id": worker_id},
        ).fetchone()
        if started:
            record_event(conn, job_id, "processing", data={"attempt": attempt})
    return started is not None


def set_progress(conn: Connection, job_id: uuid.UUID, progress: dict[str, Any], stage: str | None) -> None:
    conn.execute(query("index_job_set_progress"), {"id": job_id, "progress": Jsonb(progress, _dumps), "stage": stage})


def complete(
    conn: Connection, job_id: uuid.UUID, stats: dict[str, Any], progress: dict[str, Any], *, commit_sha: str
) -> bool:
    """processing → completed; call inside the transaction that switches the snapshot. False if not processing."""
    done = conn.execute(
        query("index_job_complete"),
        {
            "id": job_id,
            "stats": Jsonb(stats, _dumps),
            "progress": Jsonb(progress, _dumps),
            "commit_sha": commit_sha,
        },
    ).fetchone()
    if done:
        record_event(conn, job_id, "completed", data={"files": stats.get("files"), "symbols": stats.get("symbols")})
    return done is not None


def skip(conn: Connection, job_id: uuid.UUID, stats: dict[str, Any], *, commit_sha: str) -> bool:
    """processing → skipped: the resolved commit is the repository's current index already (call in the
    transaction that completes the queue job). False if not processing."""
    done = conn.execute(
        query("index_job_skip"), {"id": job_id, "stats": Jsonb(stats, _dumps), "commit_sha": commit_sha}
    ).fetchone()
    if done:
        record_event(conn, job_id, "skipped", message=f"commit {commit_sha} is already the current index")
    return done is not None


def fail(conn: Connection, job_id: uuid.UUID, error: str, *, stage: str | None, final: bool) -> None:
    """Record a failed attempt: ``final`` moves the job to failed, otherwise back to pending for the retry."""
    status = IndexJobStatus.FAILED if final else IndexJobStatus.PENDING
    with conn.transaction():
        params = {"id": job_id, "status": status.value, "error": error, "stage": stage}
        if conn.execute(query("index_job_fail"), params).fetchone():
            record_event(conn, job_id, "failed" if final else "retrying", stage=stage, message=error)


RETRYABLE = (IndexJobStatus.FAILED, IndexJobStatus.CANCELLED)


def retry(conn: Connection, queue: Queue, job_id: uuid.UUID) -> Retried | None:
    """Re-run a failed or cancelled job: enqueue a fresh job for the same repository and revision (its ``ref``, or
    the ``commit_sha`` it asked for) and ``force``, record ``retried`` on the old one and delete the dead letters
    carrying it, all in one transaction. If an unfinished job covers the same revision already, that job is
    returned, as a duplicate enqueue would. ``None`` for an unknown id; ``JobStateConflict`` for any other status.
    """
    from stages.fetch import parse_target  # noqa: PLC0415  (the writer process imports this module: no git there)

    with conn.transaction():
        record = get(conn, job_id)
        if record is None:
            return None
        if record.status not in RETRYABLE:
            raise JobStateConflict(
                f"index job {job_id} is {record.status.value}; only failed or cancelled jobs can be retried"
            )
        enqueued = enqueue(
            conn,
            queue,
            parse_target(record.git_url),
            ref=record.ref,
            commit_sha=record.commit_sha if not record.ref else None,
            force=record.force,
        )
        record_event(conn, job_id, "retried", data={"new_job_id": str(enqueued.job.id)})
        removed = conn.execute(
            query("dead_letter_delete_for_index_job"), {"queue": INDEX_QUEUE, "index_job_id": str(job_id)}
        ).rowcount
    return Retried(job=enqueued.job, retry_of=job_id, dead_letters_removed=removed)


def redrive_dead_letters(
    conn: Connection, queue: Queue, dead_letter_queue: str | None = None, *, ids: Sequence[uuid.UUID] | None = None
) -> RedriveReport:
    """Send dead letters back, in one transaction: those of the ``index-repo`` queue by ``retry`` of the index job
    they carry (a plain redrive would re-send a job whose index job is finished, and nothing would run), any other
    as the queue's own redrive. A letter whose index job cannot be retried (deleted with its repository, not
    failed, or its target refused) is kept, with the reason; so is a requested id that is no dead letter (purged or
    redriven meanwhile).
    """
    with conn.transaction():
        letters = conn.execute(
            query("dead_letter_lock_many"), {"queue": dead_letter_queue, "ids": None if ids is None else list(ids)}
        ).fetchall()
        kept = dict.fromkeys(ids or (), "no such dead letter (purged or redriven already)")
        plain: list[uuid.UUID] = []
        redriven: list[Redriven] = []
        retried: dict[uuid.UUID, Retried] = {}
        for letter_id, source_queue, payload in letters:
            kept.pop(letter_id, None)
            index_job_id = _index_job_of(source_queue, payload)
            if index_job_id is None:
                plain.append(letter_id)
                continue
            try:
                outcome = retried.get(index_job_id) or retry(conn, queue, index_job_id)
            except IndexerError as exc:  # not failed any more, or its stored target can no longer be indexed
                kept[letter_id] = str(exc)
                continue
            if outcome is None:
                kept[letter_id] = f"index job {index_job_id} no longer exists (deleted with its repository)"
                continue
            retried[index_job_id] = outcome
            redriven.append(Redriven(dead_letter_id=letter_id, queue=source_queue, job_id=outcome.job.queue_job_id))
        if plain:
            redriven.extend(queue.redrive(ids=plain, conn=conn))
    return RedriveReport(redriven=redriven, retried=list(retried.values()), kept=kept)


def _index_job_of(source_queue: str, payload: dict[str, Any]) -> uuid.UUID | None:
    """The index job a dead letter carries, or None when it is not an index job's (another queue, another payload)."""
    if source_queue != INDEX_QUEUE:
        return None
    try:
        return uuid.UUID(str(payload.get("index_job_id")))
    except ValueError:
        return None


def delete_finished(conn: Connection, *, delete_after: float) -> int:
    """Retention of index jobs and (by cascade) their events: see ``index_job_delete_finished``. Returns how many
    jobs were deleted, in batches of ``DELETE_BATCH``."""
    params = {"delete_after": delete_after, "queue": INDEX_QUEUE, "limit": DELETE_BATCH}
    deleted = 0
    while True:
        count = conn.execute(query("index_job_delete_finished"), params).rowcount
        deleted += count
        if count < DELETE_BATCH:
            return deleted


def retention_sweep(delete_after: float) -> Sweep:
    """``delete_finished`` as a sweep of the queue's retention step (``Worker(retention_sweeps=…)``)."""
    return functools.partial(delete_finished, delete_after=delete_after)
