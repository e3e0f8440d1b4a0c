"""Cancellation, rescue, expiry, the rescue/completion race, completion after reconnect, retention, health."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import msgspec
import psycopg
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.queue import COMPLETED_BY_HANDLER, Job, JobEventKind, JobState, Queue, Rescuer, Retention, Worker
from tests.claims import age_heartbeat
from tests.integration.queue.conftest import RunningWorker, wait_until

Connection = psycopg.Connection[TupleRow]


def claim_one(conn: Connection, name: str, worker_id: str) -> uuid.UUID:
    rows = conn.execute(
        query("job_claim"), {"name": name, "limit": 1, "worker_id": worker_id, "stale_after": 60}
    ).fetchall()
    assert len(rows) == 1
    return rows[0][0]


def complete(conn: Connection, job_id: uuid.UUID, worker_id: str, attempt: int = 1) -> int:
    cursor = conn.execute(
        query("job_complete_many"),
        {"ids": [job_id], "attempts": [attempt], "outputs": [None], "worker_id": worker_id},
    )
    return cursor.rowcount


def test_cancel__a_waiting_job_is_never_run(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {})
    assert queue.cancel(job_id) == [job_id]
    assert queue.cancel(job_id) == [], "already finished"
    assert Worker.from_config(config, "q", lambda job: None).run_once(conn) == 0
    info = queue.get(job_id)
    assert info is not None
    assert info.state is JobState.CANCELLED


def test_cancel__a_running_job_notices_at_its_next_heartbeat_and_its_result_is_dropped(
    queue: Queue, start_worker: Callable[..., RunningWorker], config: Config
) -> None:
    started, stopped = threading.Event(), threading.Event()

    def long_job(job: Job) -> str:
        started.set()
        while not job.is_abandoned():
            time.sleep(0.01)
        stopped.set()
        return "should not be recorded"

    job_id = queue.send("q", {})
    start_worker("q", long_job)
    assert started.wait(10)
    cancelled_at = time.monotonic()
    queue.cancel(job_id)
    assert stopped.wait(10)
    assert time.monotonic() - cancelled_at < 2 * config.queue.heartbeat_interval + 0.5
    time.sleep(0.2)
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.output) == (JobState.CANCELLED, None)
    assert [e.kind for e in queue.history(job_id)] == [JobEventKind.CANCELLED]


def test_claim_and_complete__are_stamped_when_they_happen_not_when_their_transaction_began(
    queue: Queue, conn: Connection
) -> None:
    job_id = queue.send("q", {})
    with conn.transaction():
        began = conn.execute("SELECT now()").fetchone()
        assert began is not None
        conn.execute("SELECT pg_sleep(0.2)")
        claim_one(conn, "q", "w")
        conn.execute("SELECT pg_sleep(0.2)")
        assert complete(conn, job_id, "w") == 1  # as the writer does, at the end of its long transaction
    info = queue.get(job_id)
    assert info is not None
    assert info.started_at is not None
    assert info.finished_at is not None
    assert info.started_at >= began[0] + timedelta(seconds=0.2)
    assert info.finished_at >= info.started_at + timedelta(seconds=0.2)


def test_rescue__a_job_whose_heartbeat_stopped_goes_back_to_retry_counting_the_attempt(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {})
    claim_one(conn, "q", "dead-worker")
    rescuer = Rescuer(config.database.url, config.database.schema, config.queue)
    assert rescuer.run_once() == [], "a fresh heartbeat is left alone"
    age_heartbeat(conn, job_id, rescuer.stale_after + 0.1)
    [rescued] = rescuer.run_once()
    assert (rescued.job_id, rescued.state, rescued.expired) == (job_id, JobState.RETRY, False)
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.RETRY, 1)
    [event] = queue.history(job_id)
    assert (event.attempt, event.kind, event.worker_id) == (1, JobEventKind.RESCUED, "dead-worker")


def test_rescue__the_last_attempt_dead_letters(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {}, retry_limit=0)
    claim_one(conn, "q", "dead-worker")
    age_heartbeat(conn, job_id)
    Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    info = queue.get(job_id)
    assert info is not None
    assert info.state is JobState.FAILED
    assert [letter.source_job_id for letter in queue.dead_letters("q__dlq")] == [job_id]


def test_expire__an_attempt_past_expire_in_fails_even_with_a_live_heartbeat(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {}, expire_in=0.05)
    claim_one(conn, "q", "slow-worker")
    time.sleep(0.1)
    [rescued] = Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    assert (rescued.state, rescued.expired) == (JobState.RETRY, True)
    [event] = queue.history(job_id)
    assert event.kind is JobEventKind.EXPIRED
    assert event.error is not None
    assert "expire_in" in event.error


def test_rescue_then_late_completion__the_late_completion_is_rejected(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {})
    claim_one(conn, "q", "slow")
    age_heartbeat(conn, job_id)
    Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    assert complete(conn, job_id, "slow") == 0
    assert claim_one(conn, "q", "fresh") == job_id
    assert complete(conn, job_id, "slow", attempt=2) == 0, "the old owner cannot complete the new attempt"
    assert complete(conn, job_id, "fresh", attempt=1) == 0, "the new owner cannot complete it as the old attempt"
    assert complete(conn, job_id, "fresh", attempt=2) == 1
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts, info.worker_id) == (JobState.COMPLETED, 2, "fresh")


def test_rescue_then_reclaim_by_the_same_worker__the_old_attempt_cannot_complete_the_new_one(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {})
    claim_one(conn, "q", "w")
    age_heartbeat(conn, job_id)
    Rescuer(config.database.url, config.database.schema, config.queue).run_once()
    assert claim_one(conn, "q", "w") == job_id
    assert complete(conn, job_id, "w", attempt=1) == 0, "attempt 1 finished late: attempt 2 is still running"
    assert complete(conn, job_id, "w", attempt=2) == 1


def _rescue_into(rescuer: Rescuer, out: list[object]) -> None:
    out.extend(rescuer.run_once())


def _complete_into(config: Config, job_id: uuid.UUID, out: list[int]) -> None:
    with connect(config.database.url, config.database.schema, autocommit=True) as conn:
        out.append(complete(conn, job_id, "w"))


def test_rescue_racing_a_completion__the_completion_waits_and_is_rejected(queue: Queue, config: Config) -> None:
    url, schema = config.database.url, config.database.schema
    rescuer = Rescuer(url, schema, config.queue)
    with connect(url, schema, autocommit=True) as admin, connect(url, schema) as rescuer_conn:
        for round_ in range(10):
            job_id = queue.send(f"q{round_}", {})  # a queue per round: the last round's job waits in retry
            claim_one(admin, f"q{round_}", "w")
            age_heartbeat(admin, job_id)
            assert [item.job_id for item in rescuer.run_once(rescuer_conn)] == [job_id]  # not committed yet
            accepted: list[int] = []
            completion = threading.Thread(target=_complete_into, args=(config, job_id, accepted))
            completion.start()
            time.sleep(0.05)
            rescuer_conn.commit()
            completion.join()
            assert accepted == [0]
            info = queue.get(job_id)
            assert info is not None
            assert (info.state, info.attempts) == (JobState.RETRY, 1)


def test_completion_racing_a_rescue__exactly_one_wins(queue: Queue, config: Config) -> None:
    url, schema = config.database.url, config.database.schema
    rescuer = Rescuer(url, schema, config.queue)
    with connect(url, schema, autocommit=True) as admin, connect(url, schema) as worker_conn:
        for _ in range(10):
            job_id = queue.send("q", {})
            claim_one(admin, "q", "w")
            age_heartbeat(admin, job_id)
            completed = complete(worker_conn, job_id, "w")  # holds the row lock until commit
            rescue_result: list[object] = []
            rescue = threading.Thread(target=_rescue_into, args=(rescuer, rescue_result))
            rescue.start()
            time.sleep(0.05)
            worker_conn.commit()
            rescue.join()
            info = queue.get(job_id)
            assert info is not None
            assert completed == 1
            assert rescue_result == [], "the rescuer skipped the row being completed"
            assert info.state is JobState.COMPLETED


def test_completion_after_reconnect__is_accepted_once(queue: Queue, config: Config) -> None:
    url, schema = config.database.url, config.database.schema
    job_id = queue.send("q", {})
    with connect(url, schema, autocommit=True) as before:
        claim_one(before, "q", "w")
    with connect(url, schema, autocommit=True) as after_reconnect:
        assert complete(after_reconnect, job_id, "w") == 1
        assert complete(after_reconnect, job_id, "w") == 0, "a resent completion changes nothing"
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.COMPLETED, 1)


def test_worker__records_handler_output_and_completes(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {"x": 2})
    Worker.from_config(config, "q", lambda job: {"double": job.payload["x"] * 2}).run_once(conn)
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.output) == (JobState.COMPLETED, {"double": 4})


def test_worker__an_idle_worker_is_woken_by_notify_well_before_its_poll_interval(
    queue: Queue, config: Config, start_worker: Callable[..., RunningWorker]
) -> None:
    seen: list[float] = []
    config_slow_poll = config.queue.__class__(**{**_fields(config.queue), "poll_interval": 30.0})
    worker = Worker(
        config.database.url,
        config.database.schema,
        "q",
        lambda job: seen.append(time.monotonic()),
        config=config_slow_poll,
    )
    running = RunningWorker(worker)
    try:
        time.sleep(1.0)  # idle, listening
        sent = time.monotonic()
        queue.send("q", {})
        wait_until(lambda: seen, timeout=5)
        assert seen[0] - sent < 1.0
    finally:
        running.stop()


def _fields(config: object) -> dict[str, object]:
    return {name: getattr(config, name) for name in config.__struct_fields__}  # type: ignore[attr-defined]


def test_retention__deletes_finished_jobs_after_delete_after_and_keeps_the_rest(
    queue: Queue, config: Config, conn: Connection
) -> None:
    old_done, new_done, old_cancelled, waiting, old_failed = (queue.send("q", {"n": n}) for n in range(5))
    conn.execute(
        "UPDATE jobs SET state = 'completed', finished_at = now() - interval '2 hours' WHERE id = %s", [old_done]
    )
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() WHERE id = %s", [new_done])
    conn.execute(
        "UPDATE jobs SET state = 'cancelled', finished_at = now() - interval '2 hours' WHERE id = %s", [old_cancelled]
    )
    conn.execute(
        "UPDATE jobs SET state = 'failed', finished_at = now() - interval '2 hours' WHERE id = %s", [old_failed]
    )
    conn.execute(
        "INSERT INTO dead_letters (queue, source_queue, source_job_id, attempts, priority, retry_limit, retry_backoff,"
        " retry_delay, retry_delay_max, expire_in, payload, failed_at)"
        " VALUES ('q__dlq', 'q', %s, 4, 0, 3, true, 1, 1, 1, '{}', now() - interval '30 days')",
        [old_failed],
    )
    retention = Retention(config.database.url, config.database.schema, config.queue)
    assert config.queue.delete_after == 3600
    assert retention.run_once() == 2
    remaining = {row[0] for row in conn.execute("SELECT id FROM jobs")}
    assert remaining == {new_done, waiting, old_failed}, "failed rows wait for failed_delete_after"
    assert len(queue.dead_letters()) == 1, "dead letters stay until redriven or purged"


def test_health__reports_counts_oldest_waiting_live_workers_and_recent_failures(
    queue: Queue, config: Config, conn: Connection, start_worker: Callable[..., RunningWorker]
) -> None:
    queue.send_many("q", [{}, {}, {}])
    conn.execute("UPDATE jobs SET start_after = now() - interval '90 seconds'")
    queue.send("q", {}, start_after=3600)
    failed = queue.send("q", {}, retry_limit=0, priority=10)

    def fail(_job: Job) -> None:
        raise ValueError("bad repo")

    Worker.from_config(config, "q", fail).run_once(conn)
    start_worker("other", lambda job: None)
    wait_until(lambda: any(h.active_workers for h in queue.health() if h.queue == "other"))
    report = {health.queue: health for health in queue.health()}
    q = report["q"]
    assert q.counts == {"created": 4, "retry": 0, "active": 0, "completed": 0, "cancelled": 0, "failed": 1}
    assert q.oldest_waiting_seconds is not None
    assert 89 < q.oldest_waiting_seconds < 120
    assert (q.failed_last_24h, q.dead_letters, q.active_workers) == (1, 1, 0)
    assert report["other"].active_workers == 1
    assert queue.get(failed) is not None


def test_worker__connection_killed_mid_job__records_the_completion_after_reconnecting_without_rerunning(
    queue: Queue, config: Config, conn: Connection, start_worker: Callable[..., RunningWorker]
) -> None:
    release = threading.Event()
    runs: list[uuid.UUID] = []

    def job_held_until_released(job: Job) -> str:
        runs.append(job.id)
        assert release.wait(10)
        return "done"

    job_id = queue.send("q", {})
    start_worker("q", job_held_until_released, maintenance=False)
    wait_until(lambda: runs)
    # drop every connection of the worker (not the test's own two): its claim loop's next statement fails
    ours = [conn.info.backend_pid, queue.connection().info.backend_pid]
    killed = conn.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> ALL(%s) AND backend_type = 'client backend'",
        [ours],
    ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    release.set()
    wait_until(lambda: (info := queue.get(job_id)) is not None and info.state is JobState.COMPLETED, timeout=10)
    info = queue.get(job_id)
    assert info is not None
    assert (info.attempts, info.output, runs) == (1, "done", [job_id])


def test_queue__reconnects_when_its_idle_connection_was_dropped(queue: Queue, conn: Connection) -> None:
    first = queue.send("q", {})
    conn.execute("SELECT pg_terminate_backend(%s)", [queue.connection().info.backend_pid])
    second = queue.send("q", {})
    assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (2,)
    assert queue.get(first) is not None
    assert queue.get(second) is not None


def test_completed_by_handler__the_handler_completes_in_its_own_transaction_and_the_worker_records_nothing(
    queue: Queue, config: Config, conn: Connection
) -> None:
    job_id = queue.send("q", {})
    worker = Worker.from_config(config, "q", lambda job: None)

    def completes_itself(job: Job) -> object:
        with connect(config.database.url, config.database.schema) as own:
            own.execute("CREATE TEMP TABLE effects (job uuid)")
            own.execute("INSERT INTO effects VALUES (%s)", [job.id])
            completion = {
                "ids": [job.id],
                "attempts": [job.attempt],
                "outputs": ['{"by": "handler"}'],
                "worker_id": worker.worker_id,
            }
            assert own.execute(query("job_complete_many"), completion).rowcount == 1
            own.commit()
        return COMPLETED_BY_HANDLER

    worker.handler = completes_itself
    assert worker.run_once(conn) == 1
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts, info.output) == (JobState.COMPLETED, 1, {"by": "handler"})


def test_available__counts_jobs_waiting_now_and_optionally_the_delayed_ones(
    queue: Queue, config: Config, conn: Connection
) -> None:
    queue.send_many("q", [{}, {}])
    queue.send("q", {}, start_after=3600)
    queue.send("other", {})
    assert (queue.available("q"), queue.available("q", include_delayed=True)) == (2, 3)
    Worker.from_config(config, "q", lambda job: None, batch_size=10).run_once(conn)
    assert (queue.available("q"), queue.available("q", include_delayed=True)) == (0, 1)


def test_unfinished__counts_waiting_delayed_and_running_jobs_and_not_finished_ones(
    queue: Queue, config: Config, conn: Connection
) -> None:
    queue.send_many("q", [{}, {}, {}])
    queue.send("q", {}, start_after=3600)
    queue.send("other", {})
    running = claim_one(conn, "q", "w")
    assert queue.unfinished("q") == 4
    assert complete(conn, running, "w") == 1
    assert queue.unfinished("q") == 3
    Worker.from_config(config, "q", lambda job: None, batch_size=10).run_once(conn)
    assert queue.unfinished("q") == 1, "the delayed job is still to run"


def test_rescuer_and_retention_services__run_until_stopped(queue: Queue, config: Config, conn: Connection) -> None:
    job_id = queue.send("q", {})
    claim_one(conn, "q", "dead-worker")
    age_heartbeat(conn, job_id)
    done = queue.send("q", {"done": True})
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() - interval '2 hours' WHERE id = %s", [done])
    fast = msgspec.structs.replace(config.queue, retention_interval=0.05)
    stop = threading.Event()
    services = [
        threading.Thread(target=Rescuer(config.database.url, config.database.schema, fast).run, args=(stop,)),
        threading.Thread(target=Retention(config.database.url, config.database.schema, fast).run, args=(stop,)),
    ]
    for service in services:
        service.start()
    try:
        wait_until(lambda: (info := queue.get(job_id)) is not None and info.state is JobState.RETRY, timeout=10)
        wait_until(lambda: queue.get(done) is None, timeout=10)
    finally:
        stop.set()
        for service in services:
            service.join(5)
    assert not any(service.is_alive() for service in services)
