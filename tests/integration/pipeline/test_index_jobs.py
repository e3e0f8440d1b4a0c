"""Index job tracking on a real database: atomic enqueue, dedup, transitions, events, pagination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.errors import IndexRequestError
from pipeline.index_jobs import INDEX_QUEUE, IndexJobStatus
from pipeline.queue.client import Queue
from stages.fetch import RepoTarget

TARGET = RepoTarget(url="https://example.test/acme/app.git", transport="https", full_name="acme/app")
SHA = "a" * 40


@pytest.fixture
def queue(config: Config) -> Iterator[Queue]:
    with Queue(config.database.url, config.database.schema, config.queue) as q:
        yield q


def test_enqueue__creates_repository_index_job_and_queue_job_together(
    conn: psycopg.Connection[TupleRow], queue: Queue
) -> None:
    enqueued = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA.upper(), priority=5)
    assert enqueued.created
    job = enqueued.job
    assert (job.status, job.repository, job.git_url, job.commit_sha) == (
        IndexJobStatus.PENDING,
        "acme/app",
        TARGET.url,
        SHA,
    )
    assert job.queue_job_id is not None
    queued = queue.get(job.queue_job_id)
    assert queued is not None
    assert (queued.queue, queued.priority, queued.payload) == (INDEX_QUEUE, 5, {"index_job_id": str(job.id)})
    assert job.force is False
    assert [event.event for event in index_jobs.events(conn, job.id)] == ["enqueued"]


def test_enqueue__a_duplicate_while_pending_returns_the_existing_job(
    conn: psycopg.Connection[TupleRow], queue: Queue
) -> None:
    first = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA)
    second = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA)
    assert not second.created
    assert second.job.id == first.job.id
    assert conn.execute("SELECT count(*) FROM jobs WHERE name = %s", [INDEX_QUEUE]).fetchone() == (1,)
    other_commit = index_jobs.enqueue(conn, queue, TARGET, commit_sha="b" * 40)
    assert other_commit.created


def test_enqueue__rolls_back_with_the_callers_transaction(conn: psycopg.Connection[TupleRow], queue: Queue) -> None:
    class Abort(Exception):
        pass

    def enqueue_then_fail() -> None:
        with conn.transaction():
            index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA)
            raise Abort

    with pytest.raises(Abort):
        enqueue_then_fail()
    for table in ("repositories", "index_jobs", "jobs"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_transitions__are_checked_against_the_current_status(conn: psycopg.Connection[TupleRow], queue: Queue) -> None:
    job_id = index_jobs.enqueue(conn, queue, TARGET, ref="main").job.id
    assert index_jobs.start(conn, job_id, attempt=1)
    index_jobs.set_progress(conn, job_id, {"parse": {"items_in": 3, "items_out": 1}}, "parse")
    index_jobs.fail(conn, job_id, "network down", stage="fetch", final=False)
    retried = index_jobs.get(conn, job_id)
    assert retried is not None
    assert (retried.status, retried.error_message, retried.last_stage) == (
        IndexJobStatus.PENDING,
        "network down",
        "fetch",
    )
    assert index_jobs.start(conn, job_id, attempt=2)
    started = index_jobs.get(conn, job_id)
    assert started is not None
    assert (started.retry_count, started.error_message, started.progress) == (1, None, {})
    with conn.transaction():
        assert index_jobs.complete(conn, job_id, {"files": 2}, {}, commit_sha=SHA)
    done = index_jobs.get(conn, job_id)
    assert done is not None
    assert (done.status, done.commit_sha, done.stats) == (IndexJobStatus.COMPLETED, SHA, {"files": 2})
    assert done.completed_at is not None
    assert not index_jobs.start(conn, job_id, attempt=3), "a completed job never restarts"
    with conn.transaction():
        assert not index_jobs.complete(conn, job_id, {}, {}, commit_sha=SHA)
    assert [e.event for e in index_jobs.events(conn, job_id)] == [
        "enqueued",
        "processing",
        "retrying",
        "processing",
        "completed",
    ]


def test_list_jobs__pages_newest_first_and_filters(conn: psycopg.Connection[TupleRow], queue: Queue) -> None:
    ids = [index_jobs.enqueue(conn, queue, TARGET, commit_sha=f"{n:040x}").job.id for n in range(5)]
    other = RepoTarget(url="https://example.test/acme/other.git", transport="https", full_name="acme/other")
    index_jobs.enqueue(conn, queue, other, ref="main")
    page1 = index_jobs.list_jobs(conn, repository="acme/app", limit=3)
    page2 = index_jobs.list_jobs(conn, repository="acme/app", limit=3, cursor=(page1[-1].created_at, page1[-1].id))
    assert [job.id for job in page1 + page2] == list(reversed(ids))
    assert len(index_jobs.list_jobs(conn, status=IndexJobStatus.PENDING)) == 6
    assert index_jobs.list_jobs(conn, status=IndexJobStatus.COMPLETED) == []
    assert index_jobs.get(conn, uuid.uuid4()) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"commit_sha": "xyz1234"}, "is not 7 to 40 hexadecimal digits"),
        ({"commit_sha": "abc12"}, "is not 7 to 40 hexadecimal digits"),
        ({"ref": "main..evil"}, "is not a valid git ref name"),
        ({"ref": "-rf"}, "is not a valid git ref name"),
        ({"ref": "a b"}, "is not a valid git ref name"),
    ],
)
def test_enqueue__rejects_a_bad_commit_or_ref_before_writing(
    conn: psycopg.Connection[TupleRow], queue: Queue, options: dict[str, str], message: str
) -> None:
    with pytest.raises(IndexRequestError, match=message):
        index_jobs.enqueue(conn, queue, TARGET, **options)
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (0,)


def test_enqueue__accepts_a_short_sha_and_refs_with_slashes(conn: psycopg.Connection[TupleRow], queue: Queue) -> None:
    assert index_jobs.enqueue(conn, queue, TARGET, commit_sha="ABCDEF1").job.commit_sha == "abcdef1"
    assert index_jobs.enqueue(conn, queue, TARGET, ref="release/v1.2").job.ref == "release/v1.2"
