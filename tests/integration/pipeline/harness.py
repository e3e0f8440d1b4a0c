"""What the pipeline tests share: a pipeline config, enqueueing, reading jobs and stored symbols, processes."""

from __future__ import annotations

import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pygit2
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.local import index_commit
from pipeline.processes.parser import ExtractFunction
from pipeline.queue.client import Queue
from stages.extract import extract_source
from stages.fetch import parse_target
from tests.integration.pipeline.index_dump import IndexDump, local_index, stored_index

MAX_FILE_BYTES = 64 * 1024


def pipeline_config(config: Config, tmp_path: Path) -> Config:
    """The test config with two parsers, two jobs at once, a private tmp dir and immediate retries."""
    index = msgspec.structs.replace(
        config.index,
        parsers=2,
        jobs=2,
        tmp_dir=str(tmp_path / "work"),
        max_file_bytes=MAX_FILE_BYTES,
        progress_interval=0.2,
    )
    queue = msgspec.structs.replace(config.queue, retry_delay=0.0, retry_backoff=False)
    return msgspec.structs.replace(config, index=index, queue=queue)


def enqueue(config: Config, target: str, **options: Any) -> uuid.UUID:
    with (
        Queue(config.database.url, config.database.schema, config.queue) as queue,
        psycopg.connect(config.database.url, options=f"-c search_path={config.database.schema}") as conn,
    ):
        job = index_jobs.enqueue(conn, queue, parse_target(target), **options).job
        conn.commit()
    return job.id


def run_until_idle(config: Config, extract: ExtractFunction = extract_source) -> Coordinator:
    coordinator = Coordinator(config, until_idle=True, extract=extract)
    assert coordinator.run(install_signal_handlers=False) == 0
    return coordinator


def job(conn: psycopg.Connection[TupleRow], job_id: uuid.UUID) -> IndexJob:
    found = index_jobs.get(conn, job_id)
    assert found is not None
    return found


def index_and_dump(
    config: Config, conn: psycopg.Connection[TupleRow], path: Path, commit: str, *, incremental: bool = False
) -> IndexDump:
    """Index ``commit`` of the repository at ``path`` through the pipeline (an incremental job when ``incremental``,
    checked) and return the stored index."""
    job_id = enqueue(config, str(path), commit_sha=commit)
    run_until_idle(config)
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.stats["incremental"] is incremental
    return stored_index(conn, done.repository_id)


def in_process_dump(path: Path, commit: str) -> IndexDump:
    """The in-process runner's index of the same commit, to compare with ``index_and_dump``'s."""
    return local_index(index_commit(pygit2.Repository(str(path)), commit, max_file_bytes=MAX_FILE_BYTES))


def stored_symbols(conn: psycopg.Connection[TupleRow], repository: str) -> set[tuple[Any, ...]]:
    """The current index's symbols of the repository named ``repository``: its full name, or its last component
    (a local repository is named ``<parent folder>/<folder>``)."""
    rows = conn.execute(
        """
        SELECT f.path, s.name, s.kind, s.start_line, s.start_column, s.end_line, s.end_column, s.exported
        FROM repositories r
        JOIN snapshot_files f ON f.snapshot_id = r.current_snapshot_id
        JOIN symbols s ON s.file_result_id = f.file_result_id
        WHERE r.full_name = %(name)s OR right(r.full_name, length(%(name)s) + 1) = '/' || %(name)s
        """,
        {"name": repository},
    ).fetchall()
    return set(rows)


def queue_job_state(conn: psycopg.Connection[TupleRow], index_job_id: uuid.UUID) -> str:
    row = conn.execute(
        "SELECT q.state FROM jobs q JOIN index_jobs i ON i.queue_job_id = q.id WHERE i.id = %s", [index_job_id]
    ).fetchone()
    assert row is not None
    return str(row[0])


def has_sigterm(pid: int, mask: str) -> bool:
    """Whether SIGTERM is in the signal mask ``mask`` of /proc/<pid>/status (SigCgt: caught, SigIgn: ignored)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        raise AssertionError(f"process {pid} ended unexpectedly: {exc}") from exc
    found = re.search(rf"^{mask}:\s+([0-9a-f]+)$", status, re.MULTILINE)
    assert found is not None, f"no {mask} in the status of process {pid}"
    return bool(int(found.group(1), 16) & (1 << (signal.SIGTERM - 1)))


def children_running(parent: int, marker: bytes) -> list[int]:
    """The pids of ``parent``'s child processes whose command line contains ``marker``, read from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # it ended while being read
            continue
        if re.search(rf"^PPid:\s+{parent}$", status, re.MULTILINE) and marker in command:
            found.append(int(entry.name))
    return found


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has finished: it only waits for its parent to reap it)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            running.append(pid)
    return running


def wait_until_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Poll until none of ``pids`` runs, for at most ``timeout`` seconds; returns those still running."""
    deadline = time.monotonic() + timeout
    left = alive(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = alive(left)
    return left
