"""Failures: retries with backoff, the dead-letter queue, redrive and purge."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.queue import Job, JobEventKind, JobState, PermanentJobError, Queue, Worker

Connection = psycopg.Connection[TupleRow]


def failing(job: Job) -> None:
    raise RuntimeError(f"boom on attempt {job.attempt}")


def make_available(conn: Connection) -> None:
    conn.execute("UPDATE jobs SET start_after = now() WHERE state = 'retry'")


def seconds_until_start(conn: Connection, job_id: object) -> float:
    row = conn.execute("SELECT extract(epoch FROM start_after - now())::float FROM jobs WHERE id = %s", [job_id])
    value = row.fetchone()
    assert value is not None
    return float(value[0])


def test_retry_limit_counts_retries__limit_2_means_3_attempts_then_dead_letter(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {"repo": "a"}, retry_limit=2, retry_delay=0)
    worker = Worker.from_config(config, "q", failing)
    for attempt in (1, 2):
        assert worker.run_once(conn) == 1
        info = queue.get(job_id)
        assert info is not None
        assert (info.state, info.attempts, info.last_error) == (
            JobState.RETRY,
            attempt,
            f"RuntimeError: boom on attempt {attempt}",
        )
    assert worker.run_once(conn) == 1
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.FAILED, 3)
    assert worker.run_once(conn) == 0, "a failed job is never claimed again"
    assert [(e.attempt, e.kind, e.next_state) for e in queue.history(job_id)] == [
        (1, JobEventKind.ERROR, JobState.RETRY),
        (2, JobEventKind.ERROR, JobState.RETRY),
        (3, JobEventKind.ERROR, JobState.FAILED),
    ]
    [letter] = queue.dead_letters("q__dlq")
    assert (letter.source_queue, letter.source_job_id, letter.attempts, letter.payload) == (
        "q",
        job_id,
        3,
        {"repo": "a"},
    )
    assert letter.last_error == "RuntimeError: boom on attempt 3"


def test_retry_limit_0__the_first_failure_dead_letters(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {}, retry_limit=0)
    Worker.from_config(config, "q", failing).run_once(conn)
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.FAILED, 1)
    assert len(queue.dead_letters("q__dlq")) == 1


def test_retry_delay__backs_off_exponentially_with_bounded_jitter_up_to_the_cap(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {}, retry_limit=5, retry_delay=100, retry_backoff=True, retry_delay_max=350)
    worker = Worker.from_config(config, "q", failing)
    jitter = config.queue.retry_jitter
    for expected in (100, 200, 350, 350):
        make_available(conn)
        worker.run_once(conn)
        delay = seconds_until_start(conn, job_id)
        assert expected * (1 - jitter) - 1 <= delay <= expected + 0.5, (expected, delay)


def test_retry_delay__without_backoff_is_constant(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {}, retry_limit=3, retry_delay=50, retry_backoff=False)
    worker = Worker.from_config(config, "q", failing)
    for _ in range(3):
        make_available(conn)
        worker.run_once(conn)
        assert 49 <= seconds_until_start(conn, job_id) <= 50.5


def test_dead_letter__a_job_can_name_its_own_dead_letter_queue(queue: Queue, config: Config, conn: Connection) -> None:
    queue.send("q", {}, retry_limit=0, dead_letter="poison")
    Worker.from_config(config, "q", failing).run_once(conn)
    assert [letter.queue for letter in queue.dead_letters()] == ["poison"]


def test_redrive__sends_dead_letters_back_as_new_jobs_with_fresh_attempts(
    queue: Queue, config: Config, conn: Connection
) -> None:
    first = queue.send("q", {"n": 1}, retry_limit=0)
    second = queue.send("q", {"n": 2}, retry_limit=0)
    Worker.from_config(config, "q", failing, batch_size=10).run_once(conn)
    letters = queue.dead_letters("q__dlq")
    assert {letter.source_job_id for letter in letters} == {first, second}
    [redriven] = queue.redrive(ids=[next(letter.id for letter in letters if letter.source_job_id == first)])
    assert redriven.queue == "q"
    assert redriven.job_id is not None
    new = queue.get(redriven.job_id)
    assert new is not None
    assert (new.state, new.attempts, new.payload, new.redrive_of) == (JobState.CREATED, 0, {"n": 1}, first)
    assert [letter.source_job_id for letter in queue.dead_letters("q__dlq")] == [second]
    done: list[int] = []
    Worker.from_config(config, "q", lambda job: done.append(job.payload["n"])).run_once(conn)
    assert done == [1]
    assert len(queue.redrive("q__dlq")) == 1
    assert queue.dead_letters("q__dlq") == []


def test_redrive__into_a_held_singleton_key_returns_the_holder(queue: Queue, config: Config, conn: Connection) -> None:
    queue.send("q", {}, retry_limit=0, singleton_key="k")
    Worker.from_config(config, "q", failing).run_once(conn)
    holder = queue.send("q", {"fresh": True}, singleton_key="k")
    [redriven] = queue.redrive("q__dlq")
    assert redriven.job_id == holder


def test_purge__deletes_dead_letters_for_good(queue: Queue, config: Config, conn: Connection) -> None:
    queue.send_many("q", [{}, {}, {}], retry_limit=0)
    Worker.from_config(config, "q", failing, batch_size=10).run_once(conn)
    letters = queue.dead_letters("q__dlq")
    assert queue.purge_dead_letters(ids=[letters[0].id]) == 1
    assert queue.purge_dead_letters("q__dlq") == 2
    assert queue.dead_letters() == []


def test_redrive__needs_a_queue_or_ids(queue: Queue) -> None:
    with pytest.raises(ValueError, match="either a dead-letter queue name or dead-letter ids"):
        queue.redrive()


def test_permanent_job_error__fails_at_once_whatever_attempts_are_left(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {}, retry_limit=5)

    def hopeless(_job: Job) -> None:
        raise PermanentJobError("index job 42 does not exist")

    Worker.from_config(config, "q", hopeless).run_once(conn)
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.FAILED, 1)
    [letter] = queue.dead_letters("q__dlq")
    assert letter.last_error == "PermanentJobError: index job 42 does not exist"
