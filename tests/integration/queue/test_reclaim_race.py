"""A heartbeat that straddles a retry this worker claims again at once must not abandon the new attempt.

The supervisor's heartbeat snapshots the jobs the worker holds (with the attempt each is held at), asks Postgres
which of them are still this worker's running jobs, and marks the rest abandoned. When an attempt fails with a
retry and no retry delay, the same worker may claim the job again before that heartbeat has finished: Postgres
answered "not alive" (the job was in ``retry``), yet the worker now holds a healthy new attempt. These tests force
that interleaving with events instead of waiting for timers to line it up, and check the opposite too: a job taken
away from the worker while held is still marked abandoned.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, cast

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.queue import Job, JobEventKind, JobState, Queue, Rescuer, Worker
from tests.claims import age_heartbeat

Connection = psycopg.Connection[TupleRow]
Cursor = psycopg.Cursor[TupleRow]
WAIT = 10.0  # seconds; a wait that runs out means a step never happened, not slowness
THIS_WORKER = "the worker under test"  # stands for its generated worker_id in parameters


def wait_for(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        pytest.fail(f"{what} did not happen within {WAIT} s")


class InThread:
    """Runs ``call`` on a thread; ``join`` re-raises what it raised, so a failure there fails the test."""

    def __init__(self, call: Callable[[], object]) -> None:
        self._error: BaseException | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._call()
        except BaseException as exc:  # handed to the test thread by join()
            self._error = exc

    def join(self) -> None:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the claim loop did not finish"
        if self._error is not None:
            raise self._error


class PausingAroundJobHeartbeat:
    """A real connection whose ``job_heartbeat`` statement runs between two callbacks.

    ``before`` runs after the heartbeat took its snapshot of held jobs and before Postgres is asked which are
    alive; ``after`` runs once Postgres has answered and before the worker acts on the answer. Every statement
    still runs on the wrapped connection; ``answers`` keeps what each ``job_heartbeat`` returned, so a test can
    check that the interleaving it wanted really happened.
    """

    def __init__(self, conn: Connection, *, before: Callable[[], None], after: Callable[[], None]) -> None:
        self._conn = conn
        self._before = before
        self._after = after
        self.answers: list[set[uuid.UUID]] = []

    def execute(self, statement: str, params: dict[str, Any] | None = None) -> Cursor:
        if statement != query("job_heartbeat"):
            return self._conn.execute(statement, params)
        self._before()
        cursor = self._conn.execute(statement, params)
        rows = cursor.fetchall()
        self.answers.append({row[0] for row in rows})
        if rows:
            cursor.scroll(0, mode="absolute")  # the worker reads the same rows again
        self._after()
        return cursor


def heartbeat(worker: Worker, conn: Connection | PausingAroundJobHeartbeat) -> None:
    """One heartbeat of the worker's supervisor. The supervisor loop has no single-step method of its own, and
    ``_heartbeat`` is exactly the step whose timing against the claim loop is under test."""
    worker._heartbeat(cast(Connection, conn))


def test_heartbeat_straddling_an_immediate_reclaim__the_new_attempt_is_not_abandoned_and_completes(
    queue: Queue, config: Config
) -> None:
    url, schema = config.database.url, config.database.schema
    job_id = queue.send("q", {}, retry_limit=1, retry_delay=0)
    first_running, fail_first, first_recorded = threading.Event(), threading.Event(), threading.Event()
    reclaim, second_running, heartbeat_done = threading.Event(), threading.Event(), threading.Event()
    abandoned_seen_by_second: list[bool] = []

    def handler(job: Job) -> dict[str, int]:
        if job.attempt == 1:
            first_running.set()
            wait_for(fail_first, "the heartbeat's snapshot")
            raise RuntimeError("attempt 1 fails; the retry may start at once")
        second_running.set()
        wait_for(heartbeat_done, "the straddling heartbeat")
        abandoned_seen_by_second.append(job.is_abandoned())
        return {"attempt": job.attempt}

    worker = Worker.from_config(config, "q", handler, maintenance=False)

    def claim_loop() -> None:
        with connect(url, schema, autocommit=True) as loop_conn:
            assert worker.run_once(loop_conn) == 1  # attempt 1 runs, fails, is recorded as a retry
            first_recorded.set()
            wait_for(reclaim, "the heartbeat's answer")
            assert worker.run_once(loop_conn) == 1  # the same worker claims attempt 2 at once

    def record_the_failure() -> None:
        fail_first.set()
        wait_for(first_recorded, "recording attempt 1's failure")

    def claim_again() -> None:
        reclaim.set()
        wait_for(second_running, "the claim of attempt 2")

    loop = InThread(claim_loop)
    wait_for(first_running, "attempt 1")
    with connect(url, schema, autocommit=True) as supervisor_conn:
        paused = PausingAroundJobHeartbeat(supervisor_conn, before=record_the_failure, after=claim_again)
        heartbeat(worker, paused)
    heartbeat_done.set()
    loop.join()

    assert paused.answers == [set()], "Postgres answered while the job waited in retry: it was not alive then"
    assert abandoned_seen_by_second == [False]
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts, info.output, info.worker_id) == (
        JobState.COMPLETED,
        2,
        {"attempt": 2},
        worker.worker_id,
    )
    assert [(event.attempt, event.kind, event.next_state) for event in queue.history(job_id)] == [
        (1, JobEventKind.ERROR, JobState.RETRY)
    ]


def cancel(queue: Queue, conn: Connection, job_id: uuid.UUID) -> None:
    assert queue.cancel(job_id) == [job_id]


def expire_and_reclaim_elsewhere(queue: Queue, conn: Connection, job_id: uuid.UUID) -> None:
    """The attempt expires, the rescuer puts the job back in retry and another worker claims attempt 2: the job
    has a newer attempt, but not one this worker holds."""
    conn.execute("UPDATE jobs SET expire_at = now() - interval '1 second' WHERE id = %s", [job_id])
    [rescued] = Rescuer(queue.url, queue.schema, queue.config).run_once(conn)
    assert (rescued.job_id, rescued.state, rescued.expired) == (job_id, JobState.RETRY, True)
    rows = conn.execute(
        query("job_claim"), {"name": "q", "limit": 1, "worker_id": "other-worker", "stale_after": 60}
    ).fetchall()
    assert [row[0] for row in rows] == [job_id]


@pytest.mark.parametrize(
    ("take_away", "state_and_owner_after"),
    [
        pytest.param(cancel, (JobState.CANCELLED, THIS_WORKER), id="cancelled"),
        pytest.param(expire_and_reclaim_elsewhere, (JobState.ACTIVE, "other-worker"), id="expired-then-reclaimed"),
    ],
)
def test_heartbeat__a_job_taken_away_while_held_is_abandoned_and_its_result_dropped(
    queue: Queue,
    config: Config,
    conn: Connection,
    take_away: Callable[[Queue, Connection, uuid.UUID], None],
    state_and_owner_after: tuple[JobState, str],
) -> None:
    url, schema = config.database.url, config.database.schema
    job_id = queue.send("q", {}, retry_limit=1, retry_delay=0)
    running, heartbeat_done = threading.Event(), threading.Event()
    abandoned_seen: list[bool] = []

    def handler(job: Job) -> str:
        running.set()
        wait_for(heartbeat_done, "the heartbeat")
        abandoned_seen.append(job.is_abandoned())
        return "must not be recorded"

    worker = Worker.from_config(config, "q", handler, maintenance=False)

    def claim_loop() -> None:
        with connect(url, schema, autocommit=True) as loop_conn:
            assert worker.run_once(loop_conn) == 1

    loop = InThread(claim_loop)
    wait_for(running, "attempt 1")
    take_away(queue, conn, job_id)
    heartbeat(worker, conn)
    heartbeat_done.set()
    loop.join()

    assert abandoned_seen == [True]
    info = queue.get(job_id)
    assert info is not None
    state_after, owner_after = state_and_owner_after
    owner = worker.worker_id if owner_after == THIS_WORKER else owner_after
    assert (info.state, info.output, info.worker_id) == (state_after, None, owner)


class PausingMarks(set[tuple[uuid.UUID, int]]):
    """The worker's set of abandonment marks, pausing once in ``update``: between the heartbeat's check of which
    attempts are lost and its marking of them, where the claim loop may record the lost attempt and claim the
    job again. Marks are per attempt, so the late mark must not reach the new attempt."""

    def __init__(self, pause: Callable[[], None]) -> None:
        super().__init__()
        self._pause: Callable[[], None] | None = pause

    def update(self, *others: Any) -> None:
        pause, self._pause = self._pause, None
        if pause is not None:
            pause()
        super().update(*others)


def test_heartbeat_marking_after_a_rescue_and_reclaim__the_new_attempt_is_not_abandoned(
    queue: Queue, config: Config, conn: Connection
) -> None:
    url, schema = config.database.url, config.database.schema
    job_id = queue.send("q", {}, retry_limit=3, retry_delay=0)
    first_running, finish_first, first_recorded = threading.Event(), threading.Event(), threading.Event()
    claim_again, second_running, heartbeat_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[bool] = []

    def handler(job: Job) -> object:
        if job.attempt == 1:
            first_running.set()
            wait_for(finish_first, "the heartbeat pausing before its mark")
            return "too late: this attempt was rescued"
        second_running.set()
        wait_for(heartbeat_done, "the heartbeat")
        seen_by_second.append(job.is_abandoned())
        return {"attempt": job.attempt}

    worker = Worker.from_config(config, "q", handler, maintenance=False)

    def between_check_and_mark() -> None:
        finish_first.set()
        wait_for(first_recorded, "attempt 1 recorded")
        claim_again.set()
        wait_for(second_running, "attempt 2 claimed")

    # Private: the pause must fall inside the heartbeat, between two statements of the same method.
    worker._abandoned = PausingMarks(between_check_and_mark)

    def claim_loop() -> None:
        with connect(url, schema, autocommit=True) as loop_conn:
            assert worker.run_once(loop_conn) == 1
            first_recorded.set()
            wait_for(claim_again, "the heartbeat's pause")
            assert worker.run_once(loop_conn) == 1

    loop = InThread(claim_loop)
    wait_for(first_running, "attempt 1 running")
    conn.execute("UPDATE jobs SET expire_at = now() - interval '1 second' WHERE id = %s", [job_id])
    Rescuer(queue.url, queue.schema, queue.config).run_once(conn)
    heartbeat(worker, conn)
    heartbeat_done.set()
    loop.join()

    assert seen_by_second == [False]
    info = queue.get(job_id)
    assert info is not None
    assert info.state == JobState.COMPLETED
    assert info.attempts == 2
    assert info.output == {"attempt": 2}


def test_expired_attempt_finishing_after_the_same_worker_reclaimed_the_job__its_result_is_rejected(
    queue: Queue, config: Config, conn: Connection
) -> None:
    """Attempt 1 outlives its expiry; the rescuer retries the job and this same worker claims attempt 2. The next
    heartbeat marks attempt 1 abandoned and not attempt 2; when attempt 1 returns at last, its completion names
    attempt 1 and is rejected: attempt 2 keeps running, keeps its heartbeat, and its own result is the job's."""
    url, schema = config.database.url, config.database.schema
    job_id = queue.send("q", {}, retry_limit=3, retry_delay=0)
    first_running, finish_first = threading.Event(), threading.Event()
    second_running, finish_second = threading.Event(), threading.Event()
    abandoned_seen_by_first: list[bool] = []
    abandoned_seen_by_second: list[bool] = []

    def handler(job: Job) -> object:
        if job.attempt == 1:
            first_running.set()
            wait_for(finish_first, "attempt 2 running")
            abandoned_seen_by_first.append(job.is_abandoned())
            return {"attempt": 1}
        second_running.set()
        wait_for(finish_second, "attempt 1 recorded and a heartbeat")
        abandoned_seen_by_second.append(job.is_abandoned())
        return {"attempt": job.attempt}

    worker = Worker.from_config(config, "q", handler, concurrency=2, maintenance=False)

    def claim_loop() -> None:
        with connect(url, schema, autocommit=True) as loop_conn:
            assert worker.run_once(loop_conn) == 1

    first = InThread(claim_loop)
    wait_for(first_running, "attempt 1 running")
    conn.execute("UPDATE jobs SET expire_at = now() - interval '1 second' WHERE id = %s", [job_id])
    Rescuer(queue.url, queue.schema, queue.config).run_once(conn)
    second = InThread(claim_loop)
    wait_for(second_running, "attempt 2 running")
    heartbeat(worker, conn)  # both attempts are held: attempt 1 is no longer alive, attempt 2 is
    finish_first.set()
    first.join()
    age_heartbeat(conn, job_id)
    heartbeat(worker, conn)
    refreshed = conn.execute(
        "SELECT heartbeat_at > now() - interval '1 minute' FROM jobs WHERE id = %s", [job_id]
    ).fetchone()
    assert refreshed == (True,), "attempt 2 is still this worker's: its heartbeat goes on"
    finish_second.set()
    second.join()

    assert abandoned_seen_by_first == [True]
    assert abandoned_seen_by_second == [False]
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts, info.output) == (JobState.COMPLETED, 2, {"attempt": 2})
