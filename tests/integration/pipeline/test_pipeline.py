"""The indexing pipeline end to end: real git repositories, real stage processes, real Postgres."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJobStatus
from pipeline.local import index_commit
from stages.fetch import WORKDIR_MARKER
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import MAX_FILE_BYTES, enqueue, job, run_until_idle, stored_symbols
from tests.integration.pipeline.repos import SOURCES_V1, SOURCES_V2, commit_files, new_repository
from tests.integration.pipeline.slow_stage import SLOW_SECONDS_ENV, slow_extract

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    return harness.pipeline_config(config, tmp_path)


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo-repo"
    repo = new_repository(path)
    commit_files(repo, {**SOURCES_V1, "src/huge.ts": "export const x = 1;\n" * 5000}, "first")
    return path


def local_symbols(repo_path: Path, commit_sha: str) -> set[tuple[Any, ...]]:
    import pygit2

    local = index_commit(pygit2.Repository(str(repo_path)), commit_sha, max_file_bytes=MAX_FILE_BYTES)
    return {
        (f.path, s.name, s.kind, s.span.start_line, s.span.start_column, s.span.end_line, s.span.end_column, s.exported)
        for f in local.files
        for s in f.extraction.symbols
    }


def test_index__parse_seconds_count_the_time_spent_on_each_file(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One file: the results' arrival times spread over nothing, which is what parse seconds measured (0.0).
    path = tmp_path / "one-file"
    commit_files(new_repository(path), {"src/a.ts": "export const a = 1;\n"}, "first")
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0.3")  # each file takes at least this long in the parser
    job_id = enqueue(pipeline_config, str(path))
    run_until_idle(pipeline_config, extract=slow_extract)
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.stats["seconds"]["parse"] >= 0.3


def test_index__stores_what_the_in_process_runner_returns_and_counts_every_skip(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    job_id = enqueue(pipeline_config, str(repo_path))
    run_until_idle(pipeline_config)
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.commit_sha is not None
    stats = done.stats
    assert stats["skipped"]["vendored"] == 2
    assert stats["skipped"]["binary"] == 1
    assert stats["skipped"]["symlink"] == 1
    assert stats["skipped"]["too_large"] == 1
    assert stats["skipped"]["unsupported_language"] == 4  # package.json, tsconfig.json, notes.md, tool.rb
    assert stats["files_failed_to_parse"] == 1  # latin1.ts is not UTF-8
    assert stats["symbols"] > 0
    assert stats["files_with_syntax_errors"] == 1
    assert {"fetch", "parse", "write"} <= set(done.progress)
    assert set(stats["seconds"]) == {
        "fetch",
        "fetch_blocked",
        "parse",
        "parse_blocked",
        "write",
        "link",
        "write_waiting",
        "total",
    }
    assert stored_symbols(conn, "demo-repo") == local_symbols(repo_path, done.commit_sha)
    failed = conn.execute(
        "SELECT f.path, r.error_kind FROM file_results r JOIN snapshot_files f ON f.file_result_id = r.id"
        " WHERE r.error_kind IS NOT NULL"
    ).fetchall()
    assert failed == [("src/latin1.ts", "invalid_utf8")]
    assert list((Path(pipeline_config.index.tmp_dir)).glob("pipeline-*")) == [], "job directory left behind"
    events = [event.event for event in index_jobs.events(conn, job_id)]
    assert events == ["enqueued", "processing", "completed"]


def test_index__a_new_commit_replaces_the_index_atomically_for_a_concurrent_reader(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path, database_url: str
) -> None:
    import pygit2

    first = enqueue(pipeline_config, str(repo_path))
    run_until_idle(pipeline_config)
    first_commit = job(conn, first).commit_sha
    assert first_commit is not None
    old = stored_symbols(conn, "demo-repo")
    second_commit = commit_files(pygit2.Repository(str(repo_path)), SOURCES_V2, "second")
    new = local_symbols(repo_path, second_commit)
    assert old != new

    seen: list[set[tuple[Any, ...]]] = []
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(database_url, autocommit=True, options="-c search_path=pipeline") as own:
            while not stop.is_set():
                seen.append(stored_symbols(own, "demo-repo"))

    polling = threading.Thread(target=reader)
    polling.start()
    try:
        second = enqueue(pipeline_config, str(repo_path), commit_sha=second_commit)
        run_until_idle(pipeline_config)
    finally:
        stop.set()
        polling.join()
    assert job(conn, second).status == IndexJobStatus.COMPLETED
    assert stored_symbols(conn, "demo-repo") == new
    assert len(seen) > 1
    assert all(snapshot in (old, new) for snapshot in seen), "a reader saw a mix or an empty index"
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)


def test_index__the_current_commit_again_is_skipped_unless_forced(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    first = enqueue(pipeline_config, str(repo_path))
    run_until_idle(pipeline_config)
    indexed = job(conn, first)
    assert indexed.status == IndexJobStatus.COMPLETED
    snapshot = conn.execute("SELECT current_snapshot_id FROM repositories").fetchone()
    assert snapshot is not None

    again = enqueue(pipeline_config, str(repo_path), ref="main")  # the same commit, named another way
    run_until_idle(pipeline_config)
    skipped = job(conn, again)
    assert skipped.status == IndexJobStatus.SKIPPED
    assert skipped.commit_sha == indexed.commit_sha
    assert skipped.stats["current_snapshot_id"] == str(snapshot[0])
    assert skipped.completed_at is not None
    assert conn.execute("SELECT current_snapshot_id FROM repositories").fetchone() == snapshot
    events = [event.event for event in index_jobs.events(conn, again)]
    assert events[-1] == "skipped"
    queue_job = conn.execute("SELECT state, output FROM jobs WHERE id = %s", [skipped.queue_job_id]).fetchone()
    assert queue_job == ("completed", {"index_job_id": str(again), "skipped": True})
    assert list(Path(pipeline_config.index.tmp_dir).glob("pipeline-*")) == []

    forced = enqueue(pipeline_config, str(repo_path), force=True)
    run_until_idle(pipeline_config)
    assert job(conn, forced).status == IndexJobStatus.COMPLETED
    replaced = conn.execute("SELECT current_snapshot_id FROM repositories").fetchone()
    assert replaced is not None
    assert replaced != snapshot
    assert stored_symbols(conn, "demo-repo") == local_symbols(repo_path, str(indexed.commit_sha))


def test_index__a_retry_after_a_network_failure_completes_in_the_same_stage_processes(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path, tmp_path: Path
) -> None:
    """Attempt 1 cannot reach the server (retryable); attempt 2, once the server is up, runs in the same fetcher
    and writer that dropped attempt 1, and completes."""
    import shutil
    import socket
    import subprocess

    served = tmp_path / "served"
    served.mkdir()
    shutil.copytree(repo_path / ".git", served / "demo.git")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    queue_config = msgspec.structs.replace(pipeline_config.queue, retry_delay=1.0)
    config = msgspec.structs.replace(pipeline_config, queue=queue_config)
    job_id = enqueue(config, f"git://127.0.0.1:{port}/demo.git")
    coordinator = Coordinator(config, until_index_job=job_id)
    worker = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    worker.start()
    daemon = None
    try:
        deadline = time.monotonic() + 30
        while "retrying" not in [event.event for event in index_jobs.events(conn, job_id)]:
            assert time.monotonic() < deadline, "attempt 1 did not fail"
            time.sleep(0.05)
        daemon = subprocess.Popen(
            [
                *["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}", "--listen=127.0.0.1"],
                *[f"--port={port}", str(served)],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker.join(60)
        assert not worker.is_alive(), "attempt 2 never finished"
    finally:
        coordinator.stop()
        worker.join(30)
        if daemon is not None:
            daemon.terminate()
            daemon.wait(10)
    assert coordinator.restarts == 0, "the stage processes were not restarted in between"
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.retry_count == 1
    assert stored_symbols(conn, "demo") == local_symbols(repo_path, str(done.commit_sha))


def test_index__an_unknown_commit_fails_at_once_without_retrying(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    job_id = enqueue(pipeline_config, str(repo_path), commit_sha="0123456789" * 4)
    run_until_idle(pipeline_config)
    failed = job(conn, job_id)
    assert failed.status == IndexJobStatus.FAILED
    assert failed.retry_count == 0
    assert failed.last_stage == "fetch"
    assert "does not exist" in (failed.error_message or "")
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (0,)
    assert list(Path(pipeline_config.index.tmp_dir).glob("pipeline-*")) == []


def test_index__a_parser_killed_mid_job_leaves_nothing_partial_and_the_retry_completes(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    job_id = enqueue(pipeline_config, str(repo_path))
    coordinator = Coordinator(pipeline_config, until_idle=True, extract=slow_extract)
    runner = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress = job(conn, job_id).progress.get("parse")
            if progress and progress["items_out"] >= 1:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the job never started parsing")
        assert coordinator._topology is not None
        parser = next(p for p in coordinator._topology.processes if p.name.startswith("pipeline-parse"))
        os.kill(parser.pid, signal.SIGKILL)
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (0,)
    finally:
        runner.join(timeout=120)
    assert not runner.is_alive()
    assert coordinator.restarts == 1
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.retry_count == 1
    assert [e.event for e in index_jobs.events(conn, job_id)] == [
        "enqueued",
        "processing",
        "retrying",
        "processing",
        "completed",
    ]
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)


def test_index__leftover_job_directories_of_a_crashed_worker_are_removed_at_start(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], repo_path: Path
) -> None:
    leftover = Path(pipeline_config.index.tmp_dir) / f"pipeline-{uuid.uuid4()}"
    (leftover / "repo.git").mkdir(parents=True)
    (leftover / WORKDIR_MARKER).write_bytes(b"")
    foreign = Path(pipeline_config.index.tmp_dir) / "pipeline-pg-data"
    (foreign / "base").mkdir(parents=True)
    job_id = enqueue(pipeline_config, str(repo_path))
    run_until_idle(pipeline_config)
    assert job(conn, job_id).status == IndexJobStatus.COMPLETED
    assert not leftover.exists()
    assert (foreign / "base").is_dir(), "a directory this system did not create for a job is never removed"


def test_index__a_slow_stage_holds_back_the_fetcher_instead_of_filling_memory(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = 2
    files = {f"src/m{n:03}.ts": f"export function f{n}(): number {{ return {n}; }}\n" for n in range(40)}
    path = tmp_path / "many-files"
    commit_files(new_repository(path), dict(files), "many")
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0.15")
    config = msgspec.structs.replace(
        pipeline_config, index=msgspec.structs.replace(pipeline_config.index, queue_items=bound, parsers=1)
    )
    job_id = enqueue(config, str(path))
    coordinator = Coordinator(config, until_idle=True, extract=slow_extract)
    runner = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    runner.start()
    ahead: list[int] = []
    while runner.is_alive():
        with coordinator._lock:
            stages = {
                key: dict(value) for progress in coordinator._progress.values() for key, value in progress.items()
            }
        if "fetch" in stages and "parse" in stages:
            ahead.append(stages["fetch"]["items_out"] - stages["parse"]["items_out"])
        time.sleep(0.05)
    runner.join()
    assert job(conn, job_id).status == IndexJobStatus.COMPLETED
    assert len(ahead) > 10, "progress was not observed while the job ran"
    # What the fetcher has sent but the writer has not received sits in the two bounded queues, in the one
    # parser's hands or a queue's feeder buffer; progress is reported every 0.5 s, so the parse count may lag by
    # ~3 files at this rate. With unbounded queues the fetcher runs all 40 files ahead (checked).
    assert max(ahead) <= 2 * bound + 7, ahead
