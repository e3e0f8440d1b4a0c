"""Hostile lifecycle inputs: dead and stuck workers, cancels, retries and redrives of what cannot be re-run, a purge
racing a redrive, payloads that are no index job. Each case asserts a clear outcome, that nothing is lost, that
no index job is left unfinished without a queue job to run it, and that a live worker still completes new work."""

from __future__ import annotations

import argparse
import threading
import uuid
from collections.abc import Callable, Iterator

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.errors import PipelineError
from pipeline.index_jobs import INDEX_QUEUE, IndexJob, IndexJobStatus
from pipeline.queue import cli as queue_cli
from pipeline.queue.client import Queue
from pipeline.queue.errors import PayloadError
from pipeline.queue.worker import Job, Worker
from stages.fetch import RepoTarget
from tests.claims import age_heartbeat, claim_and_start
from tests.integration.queue.conftest import wait_until

Connection = psycopg.Connection[TupleRow]
SHA = "c" * 40
WAIT = 10.0  # seconds: every wait below is bounded by this


def target(name: str) -> RepoTarget:
    return RepoTarget(url=f"https://example.test/acme/{name}.git", transport="https", full_name=f"acme/{name}")


class LiveWorker:
    """A real queue worker on the index queue (with its rescuer and retention) whose handler completes index jobs
    at once; ``assert_alive`` proves it still takes new work after a hostile case."""

    def __init__(self, config: Config, queue: Queue, conn: Connection) -> None:
        self.config, self.queue, self.conn = config, queue, conn
        self.worker = Worker.from_config(config, INDEX_QUEUE, self.handle)
        self.thread = threading.Thread(target=self.worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        self.thread.start()

    def handle(self, job: Job) -> None:
        index_job_id = uuid.UUID(str(job.payload["index_job_id"]))
        with connect(self.config.database.url, self.config.database.schema, autocommit=True) as conn:
            if index_jobs.start(
                conn, index_job_id, queue_job_id=job.id, attempt=job.attempt, worker_id=self.worker.worker_id
            ):
                with conn.transaction():
                    index_jobs.complete(conn, index_job_id, {"files": 0}, {}, commit_sha=SHA)

    def assert_alive(self) -> None:
        assert self.thread.is_alive()
        probe = index_jobs.enqueue(self.conn, self.queue, target(f"probe-{uuid.uuid4().hex[:8]}")).job
        wait_until(lambda: status(self.conn, probe.id) == IndexJobStatus.COMPLETED, timeout=WAIT)

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the worker did not stop"


@pytest.fixture
def queue(config: Config) -> Iterator[Queue]:
    """Sends with a single attempt, so the first failure is the last (what these cases are about)."""
    single_attempt = msgspec.structs.replace(config.queue, retry_limit=0)
    with Queue(config.database.url, config.database.schema, single_attempt) as client:
        yield client


@pytest.fixture
def live_worker(config: Config, queue: Queue, conn: Connection) -> Iterator[Callable[[], LiveWorker]]:
    """Starts the live worker when a case is ready for it (before then, jobs are claimed by hand)."""
    started: list[LiveWorker] = []

    def start() -> LiveWorker:
        started.append(LiveWorker(config, queue, conn))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(autouse=True)
def no_index_job_is_left_without_a_queue_job(conn: Connection) -> Iterator[None]:
    yield
    orphans = conn.execute(
        """
        SELECT j.id, j.status, q.state FROM index_jobs j LEFT JOIN jobs q ON q.id = j.queue_job_id
        WHERE j.status IN ('pending', 'processing') AND (q.id IS NULL OR q.state NOT IN ('created', 'retry', 'active'))
        """
    ).fetchall()
    assert orphans == [], "unfinished index jobs that nothing will ever run"


def status(conn: Connection, job_id: uuid.UUID) -> IndexJobStatus:
    job = index_jobs.get(conn, job_id)
    assert job is not None
    return job.status


def dead_lettered(conn: Connection, queue: Queue, name: str) -> IndexJob:
    """An index job whose worker died on its last attempt, rescued into the dead-letter queue."""
    job = index_jobs.enqueue(conn, queue, target(name), commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "dead-worker")
    age_heartbeat(conn, job.queue_job_id)
    conn.execute(query("job_rescue"), {"stale_after": 1.0})
    assert status(conn, job.id) == IndexJobStatus.FAILED
    return job


def dead_letter_ids(conn: Connection) -> set[uuid.UUID]:
    return {row[0] for row in conn.execute("SELECT id FROM dead_letters")}


def run_cli(config: Config, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    queue_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args, config)
    return code


def test_a_worker_that_died_on_the_last_attempt__fails_the_index_job_and_a_forced_enqueue_runs(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    job = index_jobs.enqueue(conn, queue, target("died"), commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "dead-worker")
    age_heartbeat(conn, job.queue_job_id)
    live = live_worker()  # its rescuer finds the dead worker's job
    wait_until(lambda: status(conn, job.id) == IndexJobStatus.FAILED, timeout=WAIT)
    failed = index_jobs.get(conn, job.id)
    assert failed is not None
    assert failed.error_message is not None
    assert "dead-worker stopped sending heartbeats" in failed.error_message
    assert len(queue.dead_letters()) == 1, "the work is kept as a dead letter"
    again = index_jobs.enqueue(conn, queue, target("died"), commit_sha=SHA, force=True)
    assert again.created
    wait_until(lambda: status(conn, again.job.id) == IndexJobStatus.COMPLETED, timeout=WAIT)
    live.assert_alive()


def test_an_attempt_past_its_expiry_on_the_last_attempt__fails_the_index_job(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    job = index_jobs.enqueue(conn, queue, target("stuck"), commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "stuck-worker")
    conn.execute("UPDATE jobs SET expire_at = now() - interval '1 second' WHERE id = %s", [job.queue_job_id])
    live = live_worker()
    wait_until(lambda: status(conn, job.id) == IndexJobStatus.FAILED, timeout=WAIT)
    failed = index_jobs.get(conn, job.id)
    assert failed is not None
    assert failed.error_message is not None
    assert "ran longer than expire_in" in failed.error_message
    assert [letter.payload for letter in queue.dead_letters()] == [{"index_job_id": str(job.id)}]
    live.assert_alive()


def test_cancel_of_a_running_job__cancels_its_index_job_at_once_and_a_second_cancel_changes_nothing(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    job = index_jobs.enqueue(conn, queue, target("cancelled"), commit_sha=SHA).job
    assert claim_and_start(conn, job.id, "busy-worker")
    assert job.queue_job_id is not None
    assert queue.cancel(job.queue_job_id) == [job.queue_job_id]
    assert status(conn, job.id) == IndexJobStatus.CANCELLED
    assert queue.cancel(job.queue_job_id) == [], "already finished"
    assert [event.event for event in index_jobs.events(conn, job.id)].count("cancelled") == 1
    live_worker().assert_alive()


def test_redrive_of_a_dead_letter_whose_repository_was_deleted__keeps_the_letter_and_says_why(
    conn: Connection, queue: Queue, config: Config, live_worker: Callable[[], LiveWorker]
) -> None:
    job = dead_lettered(conn, queue, "deleted")
    conn.execute("DELETE FROM repositories WHERE id = %s", [job.repository_id])
    [letter] = dead_letter_ids(conn)
    report = index_jobs.redrive_dead_letters(conn, queue, ids=[letter])
    assert report.redriven == []
    assert report.kept == {letter: f"index job {job.id} no longer exists (deleted with its repository)"}
    assert dead_letter_ids(conn) == {letter}, "nothing is lost: the letter stays until purged"
    assert run_cli(config, "dlq", "redrive", "--queue", "index-repo__dlq") == 1
    live_worker().assert_alive()


def test_redrive_of_a_dead_letter_whose_stored_url_is_now_refused__keeps_the_letter_and_redrives_the_others(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    refused = dead_lettered(conn, queue, "refused")
    fine = dead_lettered(conn, queue, "fine")
    conn.execute(
        "UPDATE repositories SET git_url = 'https://user:secret@example.test/acme/refused.git' WHERE id = %s",
        [refused.repository_id],
    )
    [refused_letter] = [
        row[0]
        for row in conn.execute("SELECT id FROM dead_letters WHERE payload ->> 'index_job_id' = %s", [str(refused.id)])
    ]
    report = index_jobs.redrive_dead_letters(conn, queue, "index-repo__dlq")
    assert list(report.kept) == [refused_letter]
    assert "carries credentials" in report.kept[refused_letter]
    assert "secret" not in report.kept[refused_letter], "the error never repeats a credential"
    [retried] = report.retried
    assert retried.retry_of == fine.id
    assert dead_letter_ids(conn) == {refused_letter}
    live = live_worker()
    wait_until(lambda: status(conn, retried.job.id) == IndexJobStatus.COMPLETED, timeout=WAIT)
    live.assert_alive()


def test_retry_of_a_completed_job__is_refused_with_its_status(
    conn: Connection, queue: Queue, config: Config, live_worker: Callable[[], LiveWorker]
) -> None:
    live = live_worker()
    job = index_jobs.enqueue(conn, queue, target("done"), commit_sha=SHA).job
    wait_until(lambda: status(conn, job.id) == IndexJobStatus.COMPLETED, timeout=WAIT)
    with pytest.raises(index_jobs.JobStateConflict, match="is completed; only failed or cancelled jobs can be retried"):
        run_cli(config, "retry", str(job.id))
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (1,), "no retry was enqueued"
    live.assert_alive()


def test_retry_of_an_unknown_id__says_there_is_no_such_job(
    conn: Connection, config: Config, live_worker: Callable[[], LiveWorker]
) -> None:
    unknown = uuid.uuid4()
    with pytest.raises(PipelineError, match=f"no index job {unknown}"):
        run_cli(config, "retry", str(unknown))
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (0,)
    live_worker().assert_alive()


def test_retry_of_a_job_retried_already__returns_the_unfinished_retry_instead_of_a_second_one(
    conn: Connection, queue: Queue
) -> None:
    job = dead_lettered(conn, queue, "twice")
    first = index_jobs.retry(conn, queue, job.id)
    second = index_jobs.retry(conn, queue, job.id)
    assert first is not None
    assert second is not None
    assert second.job.id == first.job.id
    assert (first.dead_letters_removed, second.dead_letters_removed) == (1, 0)
    assert status(conn, first.job.id) == IndexJobStatus.PENDING


@pytest.mark.parametrize("first", ["redrive", "purge"])
def test_a_purge_racing_a_redrive__the_one_that_locks_the_letter_first_takes_it(
    conn: Connection, queue: Queue, config: Config, first: str, live_worker: Callable[[], LiveWorker]
) -> None:
    job = dead_lettered(conn, queue, "raced")
    [letter] = dead_letter_ids(conn)
    outcomes: dict[str, object] = {}

    def redrive(on: Connection) -> None:
        outcomes["redrive"] = index_jobs.redrive_dead_letters(on, queue, ids=[letter])

    def purge(on: Connection) -> None:
        outcomes["purge"] = on.execute(query("dead_letter_purge"), {"ids": [letter], "queue": None}).rowcount

    holder_action, racer_action = (redrive, purge) if first == "redrive" else (purge, redrive)

    def race() -> None:
        with connect(config.database.url, config.database.schema, autocommit=True) as own:
            racer_action(own)

    racer = threading.Thread(target=race, daemon=True)
    with connect(config.database.url, config.database.schema, autocommit=True) as holder:
        with holder.transaction():  # holds the letter's lock until it commits, while the racer waits for it
            holder_action(holder)
            racer.start()
            wait_until(lambda: lock_waiters(conn) == 1, timeout=WAIT)
        racer.join(WAIT)
    assert not racer.is_alive()
    report = outcomes["redrive"]
    assert isinstance(report, index_jobs.RedriveReport)
    assert dead_letter_ids(conn) == set()
    live = live_worker()
    if first == "redrive":
        assert (len(report.redriven), outcomes["purge"]) == (1, 0)
        [retried] = report.retried
        assert retried.retry_of == job.id
        wait_until(lambda: status(conn, retried.job.id) == IndexJobStatus.COMPLETED, timeout=WAIT)
    else:
        assert (report.redriven, outcomes["purge"]) == ([], 1)
        assert report.kept == {letter: "no such dead letter (purged or redriven already)"}
    live.assert_alive()


def lock_waiters(conn: Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_payload_that_is_not_an_object__is_refused_before_anything_is_written(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    with pytest.raises(PayloadError, match="queue 'index-repo': payload must be a JSON object"):
        queue.send(INDEX_QUEUE, ["index_job_id"])  # type: ignore[arg-type]
    with pytest.raises(psycopg.errors.CheckViolation, match="jobs_payload_is_object"):
        conn.execute(
            "INSERT INTO jobs (id, name, payload, retry_limit, retry_backoff, retry_delay, retry_delay_max, expire_in)"
            " VALUES (gen_random_uuid(), 'index-repo', '[1]', 0, false, 0, 0, 60)"
        )
    assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    live_worker().assert_alive()


def test_a_redrive_of_index_letters_mixed_with_one_that_names_no_index_job__redrives_each_its_own_way(
    conn: Connection, queue: Queue, live_worker: Callable[[], LiveWorker]
) -> None:
    job = dead_lettered(conn, queue, "mixed")
    stray = queue.send(INDEX_QUEUE, {"repo": "acme/not-an-index-job"}, retry_limit=0)
    conn.execute(query("job_claim"), {"name": INDEX_QUEUE, "limit": 1, "worker_id": "w", "stale_after": 60})
    conn.execute(
        query("job_fail_many"),
        {"ids": [stray], "attempts": [1], "errors": ["KeyError: 'index_job_id'"], "delays": [0.0]}
        | {"permanent": [True], "worker_id": "w"},
    )
    report = index_jobs.redrive_dead_letters(conn, queue, "index-repo__dlq")
    assert report.kept == {}
    [retried] = report.retried
    assert retried.retry_of == job.id
    plain = {item.job_id for item in report.redriven} - {retried.job.queue_job_id}
    [redriven_stray] = plain
    info = queue.get(redriven_stray)  # type: ignore[arg-type]
    assert info is not None
    assert (info.redrive_of, info.payload) == (stray, {"repo": "acme/not-an-index-job"})
    assert dead_letter_ids(conn) == set()
    live = live_worker()
    wait_until(lambda: status(conn, retried.job.id) == IndexJobStatus.COMPLETED, timeout=WAIT)
    # the stray job fails again in the live worker (its handler cannot read it) and is dead-lettered again: kept
    wait_until(lambda: len(queue.dead_letters()) == 1, timeout=WAIT)
    live.assert_alive()
