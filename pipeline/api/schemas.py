"""Request and response bodies of the HTTP API, as msgspec Structs (Litestar validates and documents them).

Every field a client sends is constrained here, so a malformed body is rejected with the field's name before any
database work; rules that need more than a type (a git ref's syntax, a target's existence) are checked by the
same code the CLI uses and answered with 422.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from pipeline.index_jobs import IndexJobStatus
from pipeline.index_requests import MAX_TARGET_LENGTH

NO_NUL = r"^[^\x00]*$"  # Postgres text cannot hold NUL characters
Priority = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000, description="higher runs first")]


class IndexRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /index``: what to index; a ref or a commit sha, not both."""

    repository: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_TARGET_LENGTH,
            pattern=NO_NUL,
            description="a repository URL, a path to a git repository on the server, or owner/name",
            examples=["https://github.com/owner/name", "owner/name"],
        ),
    ]
    ref: Annotated[str, msgspec.Meta(min_length=1, max_length=255, description="branch or tag")] | None = None
    commit_sha: Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{7,40}$", description="7 to 40 hex digits")] | None = (
        None
    )
    priority: Priority = 0
    force: Annotated[
        bool, msgspec.Meta(description="index even if this commit is already the repository's current index")
    ] = False

    def __post_init__(self) -> None:
        if self.ref is not None and self.commit_sha is not None:
            raise ValueError("give `ref` or `commit_sha`, not both")


class Enqueued(msgspec.Struct, kw_only=True):
    """The job created for a request, or the unfinished one that already covered it."""

    job_id: uuid.UUID
    status: IndexJobStatus
    created: bool


class StageProgress(msgspec.Struct, kw_only=True):
    items_in: int
    items_out: int
    failed: int
    finished: bool
    elapsed_seconds: float | None  # from the job's start to the stage's last report (or now, while it runs)
    eta_seconds: float | None  # None unless the stage's input is known in full and it has made progress


class Job(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    repository_id: uuid.UUID
    repository: str
    git_url: str
    ref: str | None
    commit_sha: str | None
    status: IndexJobStatus
    retry_count: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    stats: dict[str, Any]
    error_message: str | None
    last_stage: str | None
    progress: dict[str, StageProgress]


class JobPage(msgspec.Struct, kw_only=True):
    jobs: list[Job]
    next_cursor: str | None  # pass as ``cursor`` for the next (older) page; None on the last page


class RepositorySnapshot(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    commit_sha: str
    indexed_at: datetime
    index_job_id: uuid.UUID | None
    files: int
    stats: dict[str, Any]


class Repository(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    full_name: str
    git_url: str
    default_branch: str | None
    last_indexed_at: datetime | None
    created_at: datetime
    index_jobs: int
    current: RepositorySnapshot | None  # None until a job has completed


class QueueHealth(msgspec.Struct, kw_only=True):
    queue: str
    depth: int  # jobs waiting to run (created or retry)
    counts: dict[str, int]
    oldest_waiting_seconds: float | None
    active_workers: int
    failed_last_24h: int
    dead_letters: int


class Health(msgspec.Struct, kw_only=True):
    healthy: bool
    database: bool
    schema_version: int | None
    expected_schema_version: int
    queues: list[QueueHealth]
    error: str | None = None


class DeadLetter(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    queue: str
    source_queue: str
    source_job_id: uuid.UUID
    index_job_id: uuid.UUID | None  # the index job the failed queue job carried, when its payload names one
    attempts: int
    failed_at: datetime
    last_error: str | None


class Retried(msgspec.Struct, kw_only=True):
    """A retry enqueues a fresh index job for the same repository and revision; the failed one stays as history."""

    job_id: uuid.UUID
    status: IndexJobStatus
    retry_of: uuid.UUID
    dead_letters_removed: int


class Cancelled(msgspec.Struct, kw_only=True):
    job_id: uuid.UUID
    status: IndexJobStatus  # cancelled at once when pending; a processing job is stopped by its worker shortly after
    cancel_requested: bool


class JobEvent(msgspec.Struct, kw_only=True):
    """One entry of an index job's event log: enqueued, processing (per attempt), retrying, released, completed…"""

    at: datetime
    event: str
    stage: str | None
    message: str | None
    data: dict[str, Any]


class Attempt(msgspec.Struct, kw_only=True):
    """An attempt of the queue job that did not complete (the completing one is the job's own outcome)."""

    attempt: int
    kind: str  # error, rescued, expired, released, cancelled
    next_state: str  # the queue job's state after it
    worker_id: str | None
    at: datetime
    error: str | None


class QueueAttempts(msgspec.Struct, kw_only=True):
    queue_job_id: uuid.UUID
    state: str
    attempts: int  # claims so far, the running one included
    max_attempts: int
    worker_id: str | None
    last_error: str | None
    unfinished: list[Attempt]


class JobTimeline(msgspec.Struct, kw_only=True):
    job_id: uuid.UUID
    events: list[JobEvent]  # oldest first
    queue_job: QueueAttempts | None  # None once retention deleted the queue job


class SeriesPoint(msgspec.Struct, kw_only=True):
    at: datetime  # the minute's start
    completed: int  # index jobs that completed in the minute
    failed: int  # index jobs that failed for good in the minute
    files_per_second: float  # files parsed, each job's spread evenly over its run
    queue_depth: int  # index jobs waiting for their first start at the minute's end (now, for the current one)


class JobSeries(msgspec.Struct, kw_only=True):
    minutes: int
    points: list[SeriesPoint]  # one per minute, oldest first, the current minute last
