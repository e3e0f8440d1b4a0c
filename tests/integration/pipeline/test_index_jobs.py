"""Index job tracking on a real database: atomic enqueue, dedup, transitions, events, pagination; an index job
that ends with its queue job (rescue, expiry, cancel, a crashed handler), retry and redrive, retention, and
``run --until-idle`` waiting for a scheduled retry."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.db import connect, query
from pipeline.errors import IndexRequestError
from pipeline.index_jobs import INDEX_QUEUE, IndexJobStatus
from pipeline.queue import cli as queue_cli
from pipeline.queue.client import Queue
from pipeline.queue.rescuer import Rescuer
from pipeline.queue.retention import Retention
from pipeline.queue.states import JobState
from pipeline.queue.worker import Job, Worker
from stages.fetch import RepoTarget, parse_target
from tests.claims import age_heartbeat, claim_and_start
from tests.conftest import SCHEMA
from tests.integration.pipeline.repos import commit_files, new_repository

TARGET = RepoTarget(url="https://example.test/acme/app.git", transport="https", full_name="acme/app")
SHA = "a" * 40
Connection = psycopg.Connection[TupleRow]


@pytest.fixture
def queue(config: Config) -> Iterator[Queue]:
    with Queue(config.database.url, config.database.schema, config.queue) as q:
        yield q


@pytest.fixture
def last_attempt_queue(config: Config) -> Iterator[Queue]:
    """Sends jobs with a single attempt (retry_limit 0), so the first failure is the last."""
    with Queue(config.database.url, config.database.schema, msgspec.structs.replace(config.queue, retry_limit=0)) as q:
        yield q


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    """Small and quick: one parser, no retry delay (a test that needs one sets it on the job)."""
    index = msgspec.structs.replace(config.index, parsers=1, jobs=1, tmp_dir=str(tmp_path / "work"))
    return msgspec.structs.replace(config, index=index, queue=msgspec.structs.replace(config.queue, retry_delay=0.0))


def local_repository(path: Path) -> RepoTarget:
    """A real git repository of two TypeScript files, as a ``file`` target."""
    commit_files(
        new_repository(path),
        {"src/a.ts": "export const a = 1;\n", "src/b.ts": "import { a } from './a';\nexport const b = a;\n"},
        "first",
    )
    return parse_target(str(path))


def claim_as_dead_worker(conn: Connection, job: index_jobs.IndexJob) -> None:
    """A worker claims the job's queue job and starts the index job, then dies: its heartbeat is an hour old."""
    assert claim_and_start(conn, job.id, "dead-worker")
    age_heartbeat(conn, job.queue_job_id)


def status_of(conn: Connection, job_id: uuid.UUID) -> index_jobs.IndexJob:
    job = index_jobs.get(conn, job_id)
    assert job is not None
    return job


def run_queue_cli(config: Config, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    queue_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args, config)
    return status


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
    assert claim_and_start(conn, job_id, "worker")
    index_jobs.set_progress(conn, job_id, {"parse": {"items_in": 3, "items_out": 1}}, "parse")
    index_jobs.fail(conn, job_id, "network down", stage="fetch", final=False)
    retried = index_jobs.get(conn, job_id)
    assert retried is not None
    assert (retried.status, retried.error_message, retried.last_stage) == (
        IndexJobStatus.PENDING,
        "network down",
        "fetch",
    )
    conn.execute("UPDATE jobs SET state = 'retry' WHERE name = %s", [INDEX_QUEUE])  # as the queue fails an attempt
    assert claim_and_start(conn, job_id, "worker")
    started = index_jobs.get(conn, job_id)
    assert started is not None
    assert (started.retry_count, started.error_message, started.progress) == (1, None, {})
    with conn.transaction():
        assert index_jobs.complete(conn, job_id, {"files": 2}, {}, commit_sha=SHA)
    done = index_jobs.get(conn, job_id)
    assert done is not None
    assert (done.status, done.commit_sha, done.stats) == (IndexJobStatus.COMPLETED, SHA, {"files": 2})
    assert done.completed_at is not None
    conn.execute("UPDATE jobs SET state = 'retry' WHERE name = %s", [INDEX_QUEUE])
    assert not claim_and_start(conn, job_id, "worker"), "a completed job never restarts"
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


# ----- an index job ends with its queue job -----


def test_rescue_on_the_last_attempt__fails_the_index_job_in_the_same_statement(
    conn: Connection, last_attempt_queue: Queue, config: Config
) -> None:
    job = index_jobs.enqueue(conn, last_attempt_queue, TARGET, commit_sha=SHA).job
    claim_as_dead_worker(conn, job)
    [rescued] = Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    assert rescued.state is JobState.FAILED
    failed = status_of(conn, job.id)
    assert failed.status == IndexJobStatus.FAILED
    assert failed.error_message is not None
    assert "dead-worker stopped sending heartbeats" in failed.error_message
    assert failed.completed_at is not None
    last = index_jobs.events(conn, job.id)[-1]
    assert (last.event, last.data["queue_job_id"], last.data["worker_id"]) == (
        "failed",
        str(job.queue_job_id),
        "dead-worker",
    )
    assert last.message is not None
    assert last.message.startswith("its queue job failed its last attempt: rescued")
    [letter] = last_attempt_queue.dead_letters()
    assert letter.payload == {"index_job_id": str(job.id)}


def test_expiry_on_the_last_attempt__fails_the_index_job(
    conn: Connection, last_attempt_queue: Queue, config: Config
) -> None:
    job = index_jobs.enqueue(conn, last_attempt_queue, TARGET, commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "slow-worker")
    conn.execute("UPDATE jobs SET expire_at = now() - interval '1 second' WHERE id = %s", [job.queue_job_id])
    [expired] = Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    assert (expired.state, expired.expired) == (JobState.FAILED, True)
    failed = status_of(conn, job.id)
    assert failed.status == IndexJobStatus.FAILED
    assert failed.error_message is not None
    assert "ran longer than expire_in" in failed.error_message


def test_cancel_of_a_running_job__cancels_the_index_job_at_once_and_its_coordinator_adds_nothing(
    conn: Connection, queue: Queue
) -> None:
    job = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "busy-worker")
    assert job.queue_job_id is not None
    assert queue.cancel(job.queue_job_id) == [job.queue_job_id]
    assert status_of(conn, job.id).status == IndexJobStatus.CANCELLED
    assert [event.event for event in index_jobs.events(conn, job.id)] == ["enqueued", "processing", "cancelled"]


def test_a_handler_that_crashed_on_the_last_attempt__fails_the_index_job(
    conn: Connection, last_attempt_queue: Queue, config: Config
) -> None:
    job = index_jobs.enqueue(conn, last_attempt_queue, TARGET, commit_sha=SHA).job

    def crash(claimed: Job) -> None:
        assert index_jobs.start(
            conn, job.id, queue_job_id=claimed.id, attempt=claimed.attempt, worker_id=worker.worker_id
        )
        raise RuntimeError("the handler broke before recording anything")

    worker = Worker.from_config(config, INDEX_QUEUE, crash)
    assert worker.run_once(conn) == 1
    failed = status_of(conn, job.id)
    assert (failed.status, failed.error_message) == (
        IndexJobStatus.FAILED,
        "RuntimeError: the handler broke before recording anything",
    )


@pytest.mark.slow
def test_a_forced_enqueue_after_the_workers_host_died__creates_a_new_job_that_runs(
    conn: Connection, pipeline_config: Config, tmp_path: Path
) -> None:
    target = local_repository(tmp_path / "repo")
    single_attempt = msgspec.structs.replace(pipeline_config.queue, retry_limit=0)
    with Queue(pipeline_config.database.url, pipeline_config.database.schema, single_attempt) as queue:
        dead = index_jobs.enqueue(conn, queue, target, ref="main").job
        claim_as_dead_worker(conn, dead)
        Rescuer(pipeline_config.database.url, pipeline_config.database.schema, pipeline_config.queue).run_once()
        again = index_jobs.enqueue(conn, queue, target, ref="main", force=True)
    assert again.created, "the dead job is finished, so a new one is created instead of returning it"
    assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
    assert status_of(conn, again.job.id).status == IndexJobStatus.COMPLETED
    assert status_of(conn, dead.id).status == IndexJobStatus.FAILED


# ----- transitions are stamped when they happen -----


def test_transitions__are_stamped_when_they_happen_not_when_their_transaction_began(
    conn: Connection, queue: Queue
) -> None:
    job_id = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job.id
    waited = timedelta(seconds=0.2)
    with conn.transaction():
        began = conn.execute("SELECT now()").fetchone()
        assert began is not None
        conn.execute("SELECT pg_sleep(%s)", [waited.total_seconds()])
        assert claim_and_start(conn, job_id, "worker")
        conn.execute("SELECT pg_sleep(%s)", [waited.total_seconds()])
        assert index_jobs.complete(conn, job_id, {"files": 1}, {}, commit_sha=SHA)
    done = status_of(conn, job_id)
    assert done.started_at is not None
    assert done.completed_at is not None
    assert done.started_at >= began[0] + waited
    assert done.completed_at >= done.started_at + waited, "a job that ran 0.2 s must not show less"


# ----- retry and redrive re-run the index job -----


@pytest.mark.slow
def test_a_redriven_dead_letter_and_a_retried_failed_job__run_again_and_complete(
    conn: Connection, pipeline_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    redriven_target = local_repository(tmp_path / "redriven")
    retried_target = local_repository(tmp_path / "retried")
    single_attempt = msgspec.structs.replace(pipeline_config.queue, retry_limit=0)
    with Queue(pipeline_config.database.url, pipeline_config.database.schema, single_attempt) as queue:
        dead = index_jobs.enqueue(conn, queue, redriven_target, ref="main").job
        failed = index_jobs.enqueue(conn, queue, retried_target, ref="main").job
    for job in (dead, failed):
        claim_as_dead_worker(conn, job)
    Rescuer(pipeline_config.database.url, pipeline_config.database.schema, pipeline_config.queue).run_once()
    assert {status_of(conn, job.id).status for job in (dead, failed)} == {IndexJobStatus.FAILED}
    letters = conn.execute("SELECT id, payload ->> 'index_job_id' FROM dead_letters").fetchall()
    [dead_letter] = [letter for letter, index_job in letters if index_job == str(dead.id)]

    assert run_queue_cli(pipeline_config, "dlq", "redrive", "--id", str(dead_letter)) == 0
    assert "redriven: 1" in capsys.readouterr().out
    assert run_queue_cli(pipeline_config, "retry", str(failed.id), "--json") == 0
    retried = msgspec.json.decode(capsys.readouterr().out)
    assert (retried["retry_of"], retried["dead_letters_removed"]) == (str(failed.id), 1)
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)

    assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
    for job in (dead, failed):
        assert status_of(conn, job.id).status == IndexJobStatus.FAILED, "the failed job stays as history"
        [event] = [event for event in index_jobs.events(conn, job.id) if event.event == "retried"]
        fresh = status_of(conn, uuid.UUID(event.data["new_job_id"]))
        assert (fresh.status, fresh.repository_id, fresh.ref) == (IndexJobStatus.COMPLETED, job.repository_id, "main")


def test_retry__refuses_a_job_that_is_not_failed_or_cancelled_and_knows_no_unknown_id(
    conn: Connection, queue: Queue
) -> None:
    pending = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job
    with pytest.raises(index_jobs.JobStateConflict, match=f"index job {pending.id} is pending; only failed"):
        index_jobs.retry(conn, queue, pending.id)
    assert index_jobs.retry(conn, queue, uuid.uuid4()) is None
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (1,)


# ----- retention -----


def test_retention__deletes_old_finished_jobs_and_their_events_and_keeps_what_is_still_referenced(
    conn: Connection, queue: Queue, config: Config
) -> None:
    def finished(commit: str, status: IndexJobStatus, age: str) -> uuid.UUID:
        job_id = index_jobs.enqueue(conn, queue, TARGET, commit_sha=commit * 40).job.id
        conn.execute(
            "UPDATE index_jobs SET status = %s, completed_at = now() - %s::interval WHERE id = %s",
            [status.value, age, job_id],
        )
        return job_id

    old_completed = finished("1", IndexJobStatus.COMPLETED, "2 days")
    old_failed = finished("2", IndexJobStatus.FAILED, "2 days")
    recent = finished("3", IndexJobStatus.CANCELLED, "1 minute")
    current = finished("4", IndexJobStatus.COMPLETED, "2 days")
    dead_lettered = finished("5", IndexJobStatus.FAILED, "2 days")
    unfinished = index_jobs.enqueue(conn, queue, TARGET, commit_sha="6" * 40).job.id
    conn.execute("UPDATE index_jobs SET created_at = now() - interval '2 days' WHERE id = %s", [unfinished])
    snapshot = conn.execute(
        "INSERT INTO snapshots (repository_id, index_job_id, commit_sha) "
        "SELECT repository_id, id, commit_sha FROM index_jobs WHERE id = %s RETURNING id",
        [current],
    ).fetchone()
    assert snapshot is not None
    conn.execute("UPDATE repositories SET current_snapshot_id = %s", [snapshot[0]])
    conn.execute(
        "INSERT INTO dead_letters (queue, source_queue, source_job_id, attempts, priority, retry_limit, "
        "retry_backoff, retry_delay, retry_delay_max, expire_in, payload) "
        "VALUES ('index-repo__dlq', 'index-repo', gen_random_uuid(), 1, 0, 0, true, 1, 1, 60, %s)",
        [psycopg.types.json.Jsonb({"index_job_id": str(dead_lettered)})],
    )

    day = timedelta(days=1).total_seconds()
    retention = Retention(
        config.database.url, config.database.schema, config.queue, sweeps=[index_jobs.retention_sweep(day)]
    )
    retention.run_once()
    remaining = {row[0] for row in conn.execute("SELECT id FROM index_jobs")}
    assert remaining == {recent, current, dead_lettered, unfinished}
    assert conn.execute(
        "SELECT count(*) FROM index_job_events WHERE index_job_id = ANY(%s)", [[old_completed, old_failed]]
    ).fetchone() == (0,)
    assert index_jobs.events(conn, current), "a kept job keeps its events"


# ----- run --until-idle -----


@pytest.mark.slow
def test_run_until_idle__waits_for_a_job_in_retry_backoff_and_runs_it(
    conn: Connection, pipeline_config: Config, queue: Queue, tmp_path: Path
) -> None:
    job = index_jobs.enqueue(conn, queue, local_repository(tmp_path / "repo"), ref="main").job
    claim_as_dead_worker(conn, job)
    # the attempt crashed (as a dead writer's does): the index job is pending, the retry is 3 s away
    index_jobs.fail(conn, job.id, "writer process died", stage="write", final=False)
    failure = {"ids": [job.queue_job_id], "attempts": [1], "errors": ["StageCrashed: writer process died"]}
    conn.execute(query("job_fail_many"), {**failure, "delays": [3.0], "permanent": [False], "worker_id": "dead-worker"})
    assert queue.available(INDEX_QUEUE) == 0, "nothing can run now: the retry waits for its backoff"
    assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
    done = status_of(conn, job.id)
    assert (done.status, done.retry_count) == (IndexJobStatus.COMPLETED, 1)


def test_a_released_queue_job__returns_its_index_job_to_pending_in_the_same_statement(
    conn: Connection, queue: Queue
) -> None:
    job = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "leaving")
    assert job.queue_job_id is not None
    released = conn.execute(
        query("job_release_many"), {"ids": [job.queue_job_id], "attempts": [1], "worker_id": "leaving"}
    ).fetchall()
    assert len(released) == 1
    assert status_of(conn, job.id).status == IndexJobStatus.PENDING  # no coordinator had to mirror it
    assert [event.event for event in index_jobs.events(conn, job.id)] == ["enqueued", "processing", "released"]


def test_a_queue_job_released_before_its_index_job_starts__leaves_the_index_job_pending(
    conn: Connection, queue: Queue
) -> None:
    """An ``index`` command interrupted just after its worker claimed the job releases it before the handler
    starts the index job: the late start must not mark it processing with nothing running it."""
    job = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job
    assert job.queue_job_id is not None
    conn.execute(query("job_claim"), {"name": INDEX_QUEUE, "limit": 1, "worker_id": "leaving", "stale_after": 60})
    conn.execute(query("job_release_many"), {"ids": [job.queue_job_id], "attempts": [1], "worker_id": "leaving"})
    assert not index_jobs.start(conn, job.id, queue_job_id=job.queue_job_id, attempt=1, worker_id="leaving")
    assert status_of(conn, job.id).status == IndexJobStatus.PENDING
    assert [event.event for event in index_jobs.events(conn, job.id)] == ["enqueued"]


def test_a_release_racing_an_uncommitted_start__still_returns_the_index_job_to_pending(
    conn: Connection, queue: Queue, database_url: str
) -> None:
    job = index_jobs.enqueue(conn, queue, TARGET, commit_sha=SHA).job
    assert job.queue_job_id is not None
    conn.execute(query("job_claim"), {"name": INDEX_QUEUE, "limit": 1, "worker_id": "leaving", "stale_after": 60})
    with connect(database_url, SCHEMA, autocommit=True) as releaser:
        with conn.transaction():
            assert index_jobs.start(conn, job.id, queue_job_id=job.queue_job_id, attempt=1, worker_id="leaving")
            releaser.execute("SET statement_timeout = '200ms'")
            with pytest.raises(psycopg.errors.QueryCanceled):  # the release waits for the start to commit
                releaser.execute(
                    query("job_release_many"), {"ids": [job.queue_job_id], "attempts": [1], "worker_id": "leaving"}
                )
        releaser.execute("SET statement_timeout = 0")
        releaser.execute(
            query("job_release_many"), {"ids": [job.queue_job_id], "attempts": [1], "worker_id": "leaving"}
        )
    assert status_of(conn, job.id).status == IndexJobStatus.PENDING
    assert [event.event for event in index_jobs.events(conn, job.id)] == ["enqueued", "processing", "released"]
