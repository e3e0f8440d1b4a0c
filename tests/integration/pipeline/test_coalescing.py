"""Coalescing and one job per repository, on a real database and real coordinators: a newer job of a ref supersedes
the older pending ones, a group's jobs are claimed one at a time (by batch, by racing claimers, by id), the claim
stays on its index, and a burst of pushes to a real repository indexes only its newest commit."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import orjson
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.db import connect, query
from pipeline.index_jobs import INDEX_QUEUE, IndexJobStatus
from pipeline.queue.client import Queue
from pipeline.queue.states import JobState
from pipeline.queue.worker import Worker
from stages.fetch import RepoTarget, parse_target
from tests.integration.pipeline.repos import commit_files, new_repository

Connection = psycopg.Connection[TupleRow]
TARGET = RepoTarget(url="https://example.test/acme/app.git", transport="https", full_name="acme/app")
OTHER = RepoTarget(url="https://example.test/acme/other.git", transport="https", full_name="acme/other")
MAIN = "refs/heads/main"


@pytest.fixture
def queue(config: Config) -> Iterator[Queue]:
    with Queue(config.database.url, config.database.schema, config.queue) as q:
        yield q


def claim(conn: Connection, limit: int = 10, worker_id: str = "w1") -> list[uuid.UUID]:
    rows = conn.execute(
        query("job_claim"), {"name": INDEX_QUEUE, "limit": limit, "worker_id": worker_id, "stale_after": 60}
    ).fetchall()
    return [row[0] for row in rows]


def record(conn: Connection, job_id: uuid.UUID) -> index_jobs.IndexJob:
    found = index_jobs.get(conn, job_id)
    assert found is not None
    return found


def queue_state(queue: Queue, job: index_jobs.IndexJob) -> JobState:
    assert job.queue_job_id is not None
    info = queue.get(job.queue_job_id)
    assert info is not None
    return info.state


def push(conn: Connection, queue: Queue, sha_digit: str, *, target: RepoTarget = TARGET, ref: str = MAIN) -> uuid.UUID:
    return index_jobs.enqueue(conn, queue, target, ref=ref, commit_sha=sha_digit * 40).job.id


# ----- coalescing -----


def test_enqueue__a_newer_commit_of_a_ref_supersedes_the_older_pending_jobs_of_that_ref(
    conn: Connection, queue: Queue
) -> None:
    first, second = push(conn, queue, "1"), push(conn, queue, "2")
    other_ref = push(conn, queue, "3", ref="refs/heads/dev")
    other_repository = push(conn, queue, "4", target=OTHER)
    by_commit = index_jobs.enqueue(conn, queue, TARGET, commit_sha="5" * 40).job.id
    newest = push(conn, queue, "6")

    for old, by in ((first, second), (second, newest)):
        job = record(conn, old)
        assert job.status is IndexJobStatus.SKIPPED
        assert job.completed_at is not None
        assert queue_state(queue, job) is JobState.CANCELLED
        last = index_jobs.events(conn, old)[-1]
        assert (last.event, last.data) == ("skipped", {"superseded_by": str(by)})
        assert f"superseded by index job {by}" in str(last.message)
    for untouched in (other_ref, other_repository, by_commit, newest):
        job = record(conn, untouched)
        assert job.status is IndexJobStatus.PENDING, untouched
        assert queue_state(queue, job) is JobState.CREATED
    assert (record(conn, newest).ref, record(conn, newest).commit_sha) == (MAIN, "6" * 40)


def test_enqueue__a_duplicate_push_returns_the_pending_job_and_supersedes_nothing(
    conn: Connection, queue: Queue
) -> None:
    first = index_jobs.enqueue(conn, queue, TARGET, ref=MAIN, commit_sha="1" * 40)
    again = index_jobs.enqueue(conn, queue, TARGET, ref=MAIN, commit_sha="1" * 40)
    assert (again.created, again.job.id) == (False, first.job.id)
    assert record(conn, first.job.id).status is IndexJobStatus.PENDING


def test_enqueue__a_running_job_and_a_reserved_one_are_not_superseded(conn: Connection, queue: Queue) -> None:
    running = push(conn, queue, "1")
    job = record(conn, running)
    assert job.queue_job_id is not None
    assert claim(conn) == [job.queue_job_id]
    assert index_jobs.start(conn, running, queue_job_id=job.queue_job_id, attempt=1, worker_id="w1")
    reserved = index_jobs.enqueue(conn, queue, TARGET, ref=MAIN, commit_sha="2" * 40, reserved_for="index-cli").job.id
    newest = push(conn, queue, "3")

    assert record(conn, running).status is IndexJobStatus.PROCESSING
    assert queue_state(queue, record(conn, running)) is JobState.ACTIVE
    assert record(conn, reserved).status is IndexJobStatus.PENDING, "the index command waits for exactly this job"
    assert record(conn, newest).status is IndexJobStatus.PENDING


# ----- one job of a repository at a time -----


def test_claim__takes_one_job_per_repository_and_the_next_once_it_finished(conn: Connection, queue: Queue) -> None:
    a1 = record(conn, index_jobs.enqueue(conn, queue, TARGET, commit_sha="1" * 40).job.id).queue_job_id
    a2 = record(conn, index_jobs.enqueue(conn, queue, TARGET, commit_sha="2" * 40).job.id).queue_job_id
    b1 = record(conn, index_jobs.enqueue(conn, queue, OTHER, commit_sha="3" * 40).job.id).queue_job_id

    assert claim(conn) == [a1, b1], "one job of each repository, in claim order"
    assert claim(conn) == [], "the repository's second job waits while its first runs"
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() WHERE id = %s", [a1])
    assert claim(conn) == [a2]


def test_claim__the_group_follows_claim_order_and_a_delayed_retry_does_not_hold_it(
    conn: Connection, queue: Queue
) -> None:
    low = queue.send("q", {}, group_key="g")
    high = queue.send("q", {}, group_key="g", priority=5)
    later = queue.send("q", {}, group_key="g", priority=9, start_after=3600)
    rows = conn.execute(query("job_claim"), {"name": "q", "limit": 10, "worker_id": "w", "stale_after": 60})
    assert [row[0] for row in rows] == [high]
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() WHERE id = %s", [high])
    rows = conn.execute(query("job_claim"), {"name": "q", "limit": 10, "worker_id": "w", "stale_after": 60})
    assert [row[0] for row in rows] == [low], f"{later} is not available yet, so it does not hold the group"


def test_claim_by_id__waits_while_another_job_of_its_repository_runs(conn: Connection, queue: Queue) -> None:
    first = record(conn, push(conn, queue, "1")).queue_job_id
    own = record(conn, index_jobs.enqueue(conn, queue, TARGET, commit_sha="2" * 40, reserved_for="cli").job.id)
    assert claim(conn, worker_id="w1") == [first]
    by_id = {"id": own.queue_job_id, "worker_id": "cli"}
    assert conn.execute(query("job_claim_by_id"), by_id).fetchall() == []
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() WHERE id = %s", [first])
    assert [row[0] for row in conn.execute(query("job_claim_by_id"), by_id)] == [own.queue_job_id]


def test_claim__racing_claimers_never_run_two_jobs_of_one_group(config: Config, queue: Queue, conn: Connection) -> None:
    """Two connections claim at once, again and again, from two groups of three waiting jobs each: together they
    get exactly one job of each group (the unique index jobs_group_active_idx would make a second one fail)."""
    for _ in range(15):
        for group in ("g1", "g2"):
            for _ in range(3):
                queue.send("race", {}, group_key=group)
        barrier = threading.Barrier(2)
        won: list[uuid.UUID] = []
        errors: list[Exception] = []

        def race(
            worker_id: str,
            barrier: threading.Barrier = barrier,
            won: list[uuid.UUID] = won,
            errors: list[Exception] = errors,
        ) -> None:
            try:
                with connect(config.database.url, config.database.schema, autocommit=True) as own:
                    barrier.wait()
                    params = {"name": "race", "limit": 5, "worker_id": worker_id, "stale_after": 60}
                    won.extend(row[0] for row in own.execute(query("job_claim"), params))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        groups = conn.execute("SELECT group_key FROM jobs WHERE id = ANY(%s) ORDER BY 1", [won]).fetchall()
        assert groups == [("g1",), ("g2",)]
        conn.execute("UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE name = 'race'")


def claim_plan(conn: Connection) -> str:
    plan = conn.execute(
        b"EXPLAIN (FORMAT JSON) " + query("job_claim").encode(),
        {"name": INDEX_QUEUE, "limit": 1, "worker_id": "w", "stale_after": 60},
    ).fetchone()
    assert plan is not None
    return orjson.dumps(plan[0]).decode()


def test_claim__grouped_jobs_are_claimed_by_index_lookups_not_by_scanning_the_table(
    conn: Connection, queue: Queue
) -> None:
    queue.send_many(INDEX_QUEUE, [{"i": i} for i in range(3000)])
    conn.execute("UPDATE jobs SET group_key = (random() * 500)::int::text")  # 500 repositories, 6 jobs each
    claim(conn, limit=20)  # some of them running
    conn.execute("ANALYZE jobs")
    text = claim_plan(conn)
    assert '"Index Name":"jobs_claim_idx"' in text, text
    assert '"Node Type":"Seq Scan"' not in text, text
    # The group lookups run inside job_group_turn: auto_explain shows the plans of nested statements.
    logged: list[str] = []
    conn.add_notice_handler(lambda diagnostic: logged.append(diagnostic.message_primary or ""))
    for setting in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET client_min_messages = log",
    ):
        conn.execute(setting)
    assert claim(conn, limit=20)
    lookups = [plan for plan in logged if "FROM jobs AS other" in plan]
    assert lookups, logged
    for plan in lookups:
        assert "jobs_group_active_idx" in plan, plan
        assert "jobs_group_waiting_idx" in plan, plan
        assert "Seq Scan" not in plan, plan


# ----- with real coordinators -----


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    index = msgspec.structs.replace(config.index, parsers=1, jobs=2, tmp_dir=str(tmp_path / "work"))
    return msgspec.structs.replace(config, index=index, queue=msgspec.structs.replace(config.queue, retry_delay=0.0))


def test_burst_of_pushes__indexes_only_the_newest_commit_one_job_at_a_time(
    pipeline_config: Config, conn: Connection, queue: Queue, tmp_path: Path
) -> None:
    repo = new_repository(tmp_path / "acme" / "app")
    commits = [
        commit_files(repo, {"src/a.ts": f"export const a = {n};\n", "src/b.ts": "export const b = 1;\n"}, f"c{n}")
        for n in range(4)
    ]
    target = parse_target(str(tmp_path / "acme" / "app"))
    other = index_jobs.enqueue(conn, queue, target, commit_sha=commits[0]).job.id  # not a ref: not coalesced
    jobs = [index_jobs.enqueue(conn, queue, target, ref=MAIN, commit_sha=sha).job.id for sha in commits]

    assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0

    statuses = [record(conn, job_id).status for job_id in jobs]
    assert statuses == [IndexJobStatus.SKIPPED] * 3 + [IndexJobStatus.COMPLETED]
    assert record(conn, other).status is IndexJobStatus.COMPLETED
    current = conn.execute(
        "SELECT s.commit_sha FROM repositories r JOIN snapshots s ON s.id = r.current_snapshot_id WHERE r.id = %s",
        [record(conn, jobs[-1]).repository_id],
    ).fetchone()
    assert current == (commits[-1],), "the newest request is the current index"
    runs = conn.execute(
        "SELECT q.started_at, q.finished_at FROM index_jobs j JOIN jobs q ON q.id = j.queue_job_id "
        "WHERE j.id = ANY(%s) AND q.started_at IS NOT NULL ORDER BY q.started_at",
        [[jobs[-1], other]],
    ).fetchall()
    assert len(runs) == 2
    assert runs[0][1] <= runs[1][0], f"two jobs of one repository ran at once: {runs}"


def test_worker__a_claim_that_loses_a_group_race_claims_nothing_and_carries_on(config: Config, queue: Queue) -> None:
    """A claim by id activates a job of the group in a transaction still open while a worker's claim picks the
    group's first job: the worker's update waits on the group's unique index, then meets the committed job and
    gets a unique violation, which must not fail the claim loop."""
    first = queue.send("q", {}, group_key="g")
    own = queue.send("q", {}, group_key="g", reserved_for="cli")
    ran: list[uuid.UUID] = []
    worker = Worker.from_config(config, "q", lambda job: ran.append(job.id))
    outcome: list[int | BaseException] = []

    def claim_once() -> None:
        try:
            outcome.append(worker.run_once())
        except BaseException as exc:
            outcome.append(exc)

    with connect(config.database.url, config.database.schema) as holder, holder.transaction():
        claimed = holder.execute(query("job_claim_by_id"), {"id": own, "worker_id": "cli"}).fetchall()
        assert [row[0] for row in claimed] == [own]
        thread = threading.Thread(target=claim_once)
        thread.start()
        with connect(config.database.url, config.database.schema, autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            waiting = (
                "SELECT count(*) > 0 FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            while not watcher.execute(waiting).fetchall()[0][0]:
                assert time.monotonic() < deadline, "the worker's claim never waited on the group's index"
                time.sleep(0.01)
    thread.join(timeout=30)
    assert outcome == [0]
    assert ran == []
    info = queue.get(first)
    assert info is not None
    assert info.state is JobState.CREATED, "it waits for its group's running job"
