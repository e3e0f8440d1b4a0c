"""Real worker processes: no double claim under concurrency, SIGKILL, Postgres restart, graceful shutdown."""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.embedded_pg import EmbeddedPostgres
from pipeline.queue import JobEventKind, JobState, Queue, Rescuer, Worker
from tests.integration.queue.conftest import log_lines, spawn_worker, spawn_workers, wait_until

Connection = psycopg.Connection[TupleRow]

pytestmark = pytest.mark.slow


def count(conn: Connection, state: JobState) -> int:
    row = conn.execute("SELECT count(*) FROM jobs WHERE state = %s", [state.value]).fetchone()
    return int(row[0]) if row else 0


def terminate(processes: list[subprocess.Popen[str]], timeout: float = 15) -> list[int]:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    return [process.wait(timeout) for process in processes]


def test_four_worker_processes__complete_4000_jobs_each_exactly_once(
    queue: Queue, config: Config, conn: Connection, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    workers = spawn_workers(4, config.database.url, "q", log, "--batch", "5")
    ids = set(queue.send_many("q", [{"i": i} for i in range(4000)]))
    try:
        wait_until(lambda: count(conn, JobState.COMPLETED) == 4000, timeout=90, interval=0.2)
    finally:
        assert terminate(workers) == [0, 0, 0, 0]
    runs = collections.Counter(job_id for job_id, _attempt, _pid in log_lines(log, "start"))
    assert set(runs) == {str(job_id) for job_id in ids}
    assert set(runs.values()) == {1}, "some job ran twice"
    assert len({pid for _, _, pid in log_lines(log, "start")}) == 4, "every process took part"
    row = conn.execute("SELECT max(attempts), count(*) FROM jobs").fetchone()
    assert row == (1, 4000)


def test_sigkill_of_a_worker_holding_a_job__another_worker_rescues_and_completes_it(
    queue: Queue, config: Config, conn: Connection, tmp_path: Path
) -> None:
    job_id = queue.send("q", {"repo": "a"})
    log = tmp_path / "runs.log"
    doomed = spawn_worker(config.database.url, "q", log, "--sleep", "60")
    wait_until(lambda: log_lines(log, "start"))
    doomed.kill()
    doomed.wait(10)
    killed_at = time.monotonic()
    survivor = spawn_worker(config.database.url, "q", log)
    try:
        wait_until(lambda: count(conn, JobState.COMPLETED) == 1, timeout=30)
        detected_in = time.monotonic() - killed_at
    finally:
        assert terminate([survivor]) == [0]
    assert detected_in < 10, "rescued in seconds, not minutes"
    starts = log_lines(log, "start")
    assert [(attempt, pid) for _, attempt, pid in starts] == [("1", str(doomed.pid)), ("2", str(survivor.pid))]
    assert [(job, attempt) for job, attempt, _ in log_lines(log, "done")] == [(str(job_id), "2")]
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.COMPLETED, 2)
    assert info.worker_id is not None
    assert f":{survivor.pid}:" in info.worker_id
    [event] = queue.history(job_id)
    assert (event.attempt, event.kind, event.next_state) == (1, JobEventKind.RESCUED, JobState.RETRY)
    assert event.worker_id is not None
    assert f":{doomed.pid}:" in event.worker_id


def test_postgres_restart_while_workers_run__every_job_completes(
    queue: Queue, config: Config, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    ids = queue.send_many("q", [{"i": i} for i in range(200)])
    log = tmp_path / "runs.log"
    workers = [spawn_worker(config.database.url, "q", log, "--sleep", "0.02") for _ in range(2)]
    try:
        wait_until(lambda: len(log_lines(log, "done")) >= 20)
        pg_server.stop()
        time.sleep(1.0)
        pg_server.start()
        with psycopg.connect(config.database.url, autocommit=True) as after:
            after.execute("SET search_path = pipeline")
            wait_until(lambda: count(after, JobState.COMPLETED) == len(ids), timeout=60, interval=0.2)
    finally:
        pg_server.start()
        codes = terminate(workers)
    assert codes == [0, 0]
    assert all(process.returncode == 0 for process in workers)
    # No silent duplicate: a job ran again only as a new attempt, after the outage let its heartbeat go stale and
    # the rescuer recorded why; every run of an attempt is that attempt's only run.
    runs = collections.Counter((job_id, attempt) for job_id, attempt, _pid in log_lines(log, "start"))
    assert set(runs.values()) == {1}, "an attempt ran twice"
    for job_id in ids:
        info = queue.get(job_id)
        assert info is not None
        assert info.state == JobState.COMPLETED
        started = sorted(int(attempt) for (run_id, attempt) in runs if run_id == str(job_id))
        # (an attempt whose claim was lost with the connection never started; the rescuer recorded it too)
        assert started[-1:] == [info.attempts], f"{job_id}: attempts {info.attempts}, runs {started}"
        earlier = [event.attempt for event in queue.history(job_id)]
        assert earlier == list(range(1, info.attempts)), f"{job_id}: a retried attempt without a recorded reason"


def test_sigterm_during_a_job_shorter_than_the_shutdown_timeout__the_job_finishes(
    queue: Queue, config: Config, tmp_path: Path
) -> None:
    job_id = queue.send("q", {})
    log = tmp_path / "runs.log"
    worker = spawn_worker(config.database.url, "q", log, "--sleep", "1.0", "--shutdown-timeout", "10")
    wait_until(lambda: log_lines(log, "start"))
    assert terminate([worker]) == [0]
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.COMPLETED, 1)


def test_sigterm_during_a_job_longer_than_the_shutdown_timeout__releases_it_without_using_an_attempt(
    queue: Queue, config: Config, tmp_path: Path
) -> None:
    job_id = queue.send("q", {})
    log = tmp_path / "runs.log"
    worker = spawn_worker(config.database.url, "q", log, "--sleep", "60", "--shutdown-timeout", "0.5")
    wait_until(lambda: log_lines(log, "start"))
    signalled = time.monotonic()
    assert terminate([worker]) == [0]
    assert time.monotonic() - signalled < 5
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.attempts) == (JobState.RETRY, 0)
    [event] = queue.history(job_id)
    assert (event.attempt, event.kind) == (1, JobEventKind.RELEASED)
    done: list[object] = []
    Worker.from_config(config, "q", lambda job: done.append(job.attempt)).run_once()
    assert done == [1], "the released job runs again as its first counted attempt"


def test_second_sigterm__exits_at_once_and_the_rescuer_recovers_the_job(
    queue: Queue, config: Config, conn: Connection, tmp_path: Path
) -> None:
    job_id = queue.send("q", {})
    log = tmp_path / "runs.log"
    worker = spawn_worker(config.database.url, "q", log, "--sleep", "60", "--shutdown-timeout", "60")
    wait_until(lambda: log_lines(log, "start"))
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert worker.poll() is None, "the first signal waits for the running job"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(3) == 128 + signal.SIGTERM
    info = queue.get(job_id)
    assert info is not None
    assert info.state is JobState.ACTIVE
    rescuer = Rescuer(config.database.url, config.database.schema, config.queue)
    rescued = wait_until(rescuer.run_once, timeout=10)
    assert [item.job_id for item in rescued] == [job_id]
    assert count(conn, JobState.RETRY) == 1


def test_sigkill__the_dead_workers_job_is_rescued_within_about_two_heartbeat_intervals(
    queue: Queue, config: Config, tmp_path: Path
) -> None:
    job_id = queue.send("q", {})
    log = tmp_path / "runs.log"
    heartbeat = config.queue.heartbeat_interval
    doomed = spawn_worker(config.database.url, "q", log, "--sleep", "60", "--no-maintenance")
    wait_until(lambda: log_lines(log, "start"))
    time.sleep(2 * heartbeat)  # it heartbeats while alive: nothing to rescue yet
    rescuer = Rescuer(config.database.url, config.database.schema, config.queue)
    assert rescuer.run_once() == []
    doomed.kill()
    doomed.wait(10)
    killed_at = time.monotonic()
    # poll as every live worker does: every half heartbeat interval
    rescued = wait_until(rescuer.run_once, timeout=10, interval=heartbeat / 2)
    detected_in = time.monotonic() - killed_at
    assert [item.job_id for item in rescued] == [job_id]
    assert detected_in <= 2.5 * heartbeat + 0.5, f"rescued after {detected_in:.2f} s"
