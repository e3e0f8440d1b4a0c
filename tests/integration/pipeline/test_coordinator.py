"""The coordinator's contract with its stage processes and the queue: secrets, content keys of plugged-in stage
functions, running exactly one job (the per-job time limit is in tests/hostile/test_processes.py). Real processes,
real git repositories, real Postgres."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import secrets
from pipeline.config import Config
from pipeline.coordinator import EXIT_STAGE_CRASHES, Coordinator, config_for_stage
from pipeline.index_jobs import IndexJobStatus
from pipeline.processes.parser import ExtractFunction
from pipeline.queue.client import Queue
from pipeline.queue.worker import Job, Worker, new_worker_id
from stages.extract import extract_source
from stages.write import EXTRACTOR_VERSION
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import enqueue, job, run_until_idle, stored_symbols, wait_until_gone
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository
from tests.integration.pipeline.slow_stage import hostile_extract, shouting_extract

pytestmark = pytest.mark.slow

GIT_TOKEN = "git-token-that-must-stay-in-the-fetcher"
API_TOKEN = "api-token-that-no-stage-needs"
FILE_API_TOKEN = "api-token-from-the-config-file"
PASSWORD_URL = "postgresql://indexer:s3cret@db.example:5432/pipeline"


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    return harness.pipeline_config(config, tmp_path)


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo-repo"
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


@pytest.fixture
def tokens_in_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PIPELINE_GIT_TOKEN", GIT_TOKEN)
    monkeypatch.setenv("PIPELINE_API_TOKEN", API_TOKEN)
    yield
    secrets._taken.clear()  # later tests run without a token, as their environment says


def environ_of(pid: int) -> bytes:
    """The environment process ``pid`` was started with, once it runs its own interpreter (bounded wait): between
    fork and exec, /proc shows the environment of the process it was forked from, which would prove nothing."""
    deadline = time.monotonic() + 30
    while b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, f"stage process {pid} did not start its interpreter"
        time.sleep(0.02)
    return Path(f"/proc/{pid}/environ").read_bytes()


def wait_for_stages(coordinator: Coordinator) -> list[Any]:
    """The running generation's stage processes, once there is one (bounded wait)."""
    deadline = time.monotonic() + 30
    while (topology := coordinator._topology) is None:
        assert time.monotonic() < deadline, "the stage processes did not start"
        time.sleep(0.05)
    return topology.processes


class _RecordingContext:
    """A multiprocess context that records the arguments of each process it makes (a started process drops them)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.arguments: dict[str, tuple[Any, ...]] = {}

    def Process(self, *, name: str, args: tuple[Any, ...], **options: Any) -> Any:
        self.arguments[name] = args
        return self._context.Process(name=name, args=args, **options)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._context, attribute)


def record_stage_arguments(coordinator: Coordinator) -> dict[str, tuple[Any, ...]]:
    """The arguments each stage process of ``coordinator`` is started with, filled in as they start."""
    recording = _RecordingContext(coordinator._context)
    coordinator._context = recording
    return recording.arguments


def test_stage_processes__inherit_neither_token_and_the_fetcher_gets_the_git_token_as_an_argument(
    pipeline_config: Config, tokens_in_environment: None
) -> None:
    database = msgspec.structs.replace(pipeline_config.database, direct_url=pipeline_config.database.url)
    with_secrets = msgspec.structs.replace(
        pipeline_config, database=database, api=msgspec.structs.replace(pipeline_config.api, token=FILE_API_TOKEN)
    )
    coordinator = Coordinator(with_secrets)
    arguments = record_stage_arguments(coordinator)
    runner = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    runner.start()
    try:
        processes = wait_for_stages(coordinator)
        environments = {process.name: environ_of(process.pid) for process in processes if process.pid is not None}
    finally:
        coordinator.stop()
        runner.join(30)
    assert not runner.is_alive(), "the worker did not stop"
    assert set(environments) == {"pipeline-fetch", "pipeline-parse-0", "pipeline-parse-1", "pipeline-write"}
    for name, environment in environments.items():
        assert GIT_TOKEN.encode() not in environment, name
        assert API_TOKEN.encode() not in environment, name
    assert coordinator._token == GIT_TOKEN
    for name, args in arguments.items():
        (stage_config,) = [arg for arg in args if isinstance(arg, Config)]
        assert stage_config == config_for_stage(with_secrets), name
    assert pipeline_config.database.url in arguments["pipeline-write"], "the writer gets the URL as an argument"


def test_config_for_stage__drops_the_database_urls_and_the_api_token_and_keeps_the_rest(config: Config) -> None:
    full = msgspec.structs.replace(
        config,
        database=msgspec.structs.replace(
            config.database, url=PASSWORD_URL, direct_url=PASSWORD_URL, transaction_pooler=True, schema="indexing"
        ),
        api=msgspec.structs.replace(config.api, token=FILE_API_TOKEN),
    )
    stage = config_for_stage(full)
    assert "s3cret" not in repr(stage)
    assert FILE_API_TOKEN not in repr(stage)
    assert (stage.database.url, stage.database.direct_url, stage.api.token) == ("", "", "")
    assert (stage.database.schema, stage.database.transaction_pooler) == ("indexing", True)
    assert (stage.index, stage.log, stage.queue) == (full.index, full.log, full.queue)


def test_extractor_identity__names_the_version_of_a_plugged_in_extract_whatever_its_code(config: Config) -> None:
    def version(extract: ExtractFunction, identity: str | None = None) -> int:
        return Coordinator(config, extract=extract, extractor_identity=identity).extractor_version

    assert version(shouting_extract, "shouting 1") == version(hostile_extract, "shouting 1")
    assert version(shouting_extract, "shouting 1") != version(shouting_extract, "shouting 2")
    assert version(shouting_extract, "shouting 1") != version(shouting_extract)
    assert version(shouting_extract, "shouting 1") < 0
    assert version(extract_source, "ignored for the built-in extractor") == EXTRACTOR_VERSION


def test_stage_restart__that_fails_stops_the_worker_with_the_named_exit_code(
    pipeline_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = Coordinator(pipeline_config)
    result: list[int] = []
    runner = threading.Thread(
        target=lambda: result.append(coordinator.run(install_signal_handlers=False)), name="test-coordinator"
    )
    runner.start()
    try:
        processes = wait_for_stages(coordinator)

        def cannot_start(generation: int) -> None:
            raise OSError(24, "Too many open files")

        monkeypatch.setattr(coordinator, "_start_stages", cannot_start)
        os.kill(processes[1].pid, signal.SIGKILL)
        runner.join(30)
        assert not runner.is_alive(), "the worker went on without stage processes"
    finally:
        coordinator.stop()
        runner.join(30)
    assert not runner.is_alive(), "the worker did not stop"
    assert result == [EXIT_STAGE_CRASHES]
    assert wait_until_gone([process.pid for process in processes]) == []


def test_plugged_in_extract__its_rows_are_not_reused_by_the_default_extractor_nor_its_index_taken_as_current(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    shared = "export function sharedHelper(): number { return 1; }\n"
    first, second = tmp_path / "first", tmp_path / "second"
    commit_files(new_repository(first), {"src/shared.ts": shared, "src/a.ts": "export const alpha = 1;\n"}, "a")
    commit_files(new_repository(second), {"src/shared.ts": shared, "src/b.ts": "export const beta = 2;\n"}, "b")

    shouted = enqueue(pipeline_config, str(first))
    run_until_idle(pipeline_config, extract=shouting_extract)
    assert job(conn, shouted).status == IndexJobStatus.COMPLETED
    assert {row[1] for row in stored_symbols(conn, "first")} == {"SHAREDHELPER", "ALPHA"}

    plain = enqueue(pipeline_config, str(second))
    run_until_idle(pipeline_config)
    assert job(conn, plain).status == IndexJobStatus.COMPLETED
    assert {row[1] for row in stored_symbols(conn, "second")} == {"sharedHelper", "beta"}

    again = enqueue(pipeline_config, str(first))  # the same commit, now with the default extractor
    run_until_idle(pipeline_config)
    assert job(conn, again).status == IndexJobStatus.COMPLETED
    assert {row[1] for row in stored_symbols(conn, "first")} == {"sharedHelper", "alpha"}


def queue_job_worker(conn: psycopg.Connection[TupleRow], index_job_id: uuid.UUID) -> str:
    row = conn.execute(
        "SELECT q.worker_id FROM jobs q JOIN index_jobs i ON i.queue_job_id = q.id WHERE i.id = %s", [index_job_id]
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_until_index_job__runs_only_that_job_and_no_other_worker_takes_it(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-repo"
    commit_files(new_repository(other), {"src/o.ts": "export const o = 1;\n"}, "other")
    owner = new_worker_id()
    own = enqueue(pipeline_config, str(repo_path), reserved_for=owner)
    queued = enqueue(pipeline_config, str(other))
    # the owner stays alive from the other worker's point of view until its own heartbeats take over
    conn.execute("UPDATE workers SET heartbeat_at = now() + interval '1 hour' WHERE id = %s", [owner])

    coordinator = Coordinator(pipeline_config, until_index_job=own, worker_id=owner)
    running = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    running.start()
    shared = run_until_idle(pipeline_config)  # a worker (`run`) takes the queued job, never the reserved one
    running.join(timeout=60)

    assert not running.is_alive()
    assert coordinator.exit_code == 0
    assert job(conn, own).status == job(conn, queued).status == IndexJobStatus.COMPLETED
    assert queue_job_worker(conn, own) == owner
    assert queue_job_worker(conn, queued) == shared.worker.worker_id


def test_reserved_job__is_run_by_any_worker_once_its_owner_is_gone(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    own = enqueue(pipeline_config, str(repo_path), reserved_for="an-index-command-that-died")
    conn.execute("UPDATE workers SET heartbeat_at = now() - interval '1 hour'")

    shared = run_until_idle(pipeline_config)

    assert job(conn, own).status == IndexJobStatus.COMPLETED
    assert queue_job_worker(conn, own) == shared.worker.worker_id


def test_reserved_job__released_at_shutdown_is_claimed_by_a_woken_worker_at_once(
    config: Config, conn: psycopg.Connection[TupleRow]
) -> None:
    # What an interrupted `index` command does: its worker releases the job reserved for it; a `run` worker that
    # is woken by the release takes it then, not at its next poll (a minute away here).
    settings = msgspec.structs.replace(config.queue, poll_interval=60.0, heartbeat_interval=0.5, shutdown_timeout=0.0)
    url, schema = config.database.url, config.database.schema
    started, release_handler = threading.Event(), threading.Event()
    taken: list[uuid.UUID] = []
    took = threading.Event()

    def blocking(job: Job) -> None:
        started.set()
        release_handler.wait(30)

    def taking(job: Job) -> None:
        taken.append(job.id)
        took.set()

    other = Worker(url, schema, "reserved", taking, config=settings, maintenance=False, worker_id="other")
    owner = Worker(url, schema, "reserved", blocking, config=settings, maintenance=False, worker_id="owner")
    threads = [
        threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}) for worker in (other, owner)
    ]
    threads[0].start()
    try:
        # Without a listen_url, a claim loop LISTENs on its own connection before its first claim (never set:
        # ``other.listening``, which is the separate listener's), so a loop idle after a claim is listening.
        assert not other.listen_url
        wait_for(lambda: claim_loop_waiting(conn), "the other worker is not waiting for work")
        with Queue(url, schema, settings) as queue:
            reserved = queue.send("reserved", {}, reserved_for="owner")
        threads[1].start()
        assert started.wait(30), "the owner did not run its job"
        owner.stop(timeout=0)
        assert took.wait(20), "the released job waited for the other worker's next poll"
        assert taken == [reserved]
    finally:
        release_handler.set()
        owner.stop(timeout=0)
        other.stop(timeout=0)
        for thread in threads:
            if thread.ident is not None:
                thread.join(30)
    assert not [thread for thread in threads if thread.is_alive()], "a worker did not stop"


def claim_loop_waiting(conn: psycopg.Connection[TupleRow]) -> bool:
    """Whether a claim loop on this test's database has run its claim and waits for work (an idle session whose
    last query was a claim)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle'"
        " AND query LIKE %s AND pid <> pg_backend_pid()",
        ["%FOR UPDATE SKIP LOCKED%"],
    ).fetchone()
    return row is not None and row[0] > 0


def wait_for(condition: Callable[[], bool], message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)
