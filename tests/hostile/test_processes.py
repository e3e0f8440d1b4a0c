"""Hostile input to the worker's processes: plugged-in stage functions that raise, return garbage, never return or
end their process, a stage process killed or frozen mid-job, signals during start-up, unusable settings. Each case:
a clear error, a live worker, the job's outcome right, and no process left behind.

Most cases share one running worker (its stage function misbehaves on files named for it, see
``slow_stage.HOSTILE_FILES``), since starting the stage processes is the slow part.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config, load_config
from pipeline.coordinator import Coordinator
from pipeline.db import connect
from pipeline.errors import PipelineError
from pipeline.index_jobs import IndexJob, IndexJobStatus
from tests.conftest import ROOT, SCHEMA, DatabaseFactory
from tests.integration.pipeline.harness import (
    alive,
    enqueue,
    has_sigterm,
    job,
    pipeline_config,
    queue_job_state,
    wait_until_gone,
)
from tests.integration.pipeline.repos import commit_files, new_repository
from tests.integration.pipeline.slow_stage import hostile_extract, paused_at, paused_source

pytestmark = pytest.mark.slow

JOB_TIMEOUT = 60.0  # a bound for the shared worker's jobs on a busy machine, not a figure under test
SHORT_JOB_TIMEOUT = 5.0  # the time limit test's own worker: bounds the following job too, once the stages are up
FINISHED = (IndexJobStatus.COMPLETED, IndexJobStatus.FAILED, IndexJobStatus.SKIPPED, IndexJobStatus.CANCELLED)
NORMAL_FILE = {"src/fine.ts": "export function fine(): number { return 1; }\n"}


@dataclass
class RunningWorker:
    config: Config
    conn: psycopg.Connection[TupleRow]
    coordinator: Coordinator
    thread: threading.Thread
    seen: set[int] = field(default_factory=set)  # every stage process pid so far

    def stage_pids(self) -> list[int]:
        topology = self.coordinator._topology
        pids = [] if topology is None else [p.pid for p in topology.processes if p.pid is not None]
        self.seen.update(pids)
        return pids

    def assert_alive_and_nothing_left_behind(self) -> None:
        assert self.thread.is_alive(), "the worker stopped"
        deadline = time.monotonic() + 20
        while self.coordinator._topology is None or alive(self.stage_pids()) != self.stage_pids():
            assert time.monotonic() < deadline, "the stage processes are not running"
            time.sleep(0.05)
        stray = set(self.seen) - set(self.stage_pids())
        assert wait_until_gone(sorted(stray)) == [], "processes of an earlier generation are still running"


@contextmanager
def running_worker(
    test_databases: DatabaseFactory, tmp_dir: Path, *, parsers: int, jobs: int, job_timeout: float
) -> Iterator[RunningWorker]:
    """A coordinator running ``hostile_extract`` in a thread, on a database of its own; on exit, checks that it
    stopped and left no stage process behind."""
    name = test_databases.create()
    base = load_config(ROOT / "configs" / "test.toml", environ={})
    config = msgspec.structs.replace(
        base,
        database=msgspec.structs.replace(base.database, url=test_databases.url(name), schema=SCHEMA),
        index=msgspec.structs.replace(
            base.index,
            parsers=parsers,
            jobs=jobs,
            job_timeout=job_timeout,
            tmp_dir=str(tmp_dir),
            progress_interval=0.1,
        ),
        queue=msgspec.structs.replace(base.queue, retry_limit=0, retry_delay=0.0),
    )
    coordinator = Coordinator(config, extract=hostile_extract)
    thread = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    thread.start()
    running = None
    try:
        with connect(config.database.url, SCHEMA, autocommit=True) as conn:
            running = RunningWorker(config, conn, coordinator, thread)
            yield running
    finally:
        coordinator.stop()
        thread.join(30)
        try:
            assert not thread.is_alive(), "the worker did not stop"
            if running is not None:
                running.stage_pids()
                assert wait_until_gone(sorted(running.seen)) == [], "stage processes outlived the worker"
        finally:
            test_databases.drop(name)


@pytest.fixture(scope="module")
def worker(test_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningWorker]:
    with running_worker(
        test_databases, tmp_path_factory.mktemp("hostile-work"), parsers=2, jobs=2, job_timeout=JOB_TIMEOUT
    ) as running:
        yield running


def index_repository(worker: RunningWorker, tmp_path: Path, files: dict[str, str | bytes]) -> IndexJob:
    path = tmp_path / f"repo-{uuid.uuid4().hex[:8]}"
    commit_files(new_repository(path), files, "hostile")
    job_id = enqueue(worker.config, str(path))
    deadline = time.monotonic() + 60
    while (record := job(worker.conn, job_id)).status not in FINISHED:
        assert time.monotonic() < deadline, f"job still {record.status}"
        time.sleep(0.05)
    return record


def file_errors(conn: psycopg.Connection[TupleRow], record: IndexJob) -> dict[str, tuple[str, str]]:
    rows = conn.execute(
        """
        SELECT f.path, r.error_kind, r.error_message FROM repositories p
        JOIN snapshot_files f ON f.snapshot_id = p.current_snapshot_id
        JOIN file_results r ON r.id = f.file_result_id
        WHERE p.id = %s AND r.error_kind IS NOT NULL
        """,
        [record.repository_id],
    ).fetchall()
    return {path: (kind, message) for path, kind, message in rows}


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("raises.ts", "RuntimeError: cannot handle src/raises.ts"),
        ("returns-none.ts", "the extract function returned NoneType, not a FileExtraction"),
        ("ill-typed.ts", "the extract function returned a FileExtraction the writer cannot read"),
    ],
)
def test_extract_function__misbehaving_on_a_file_fails_that_file_only(
    worker: RunningWorker, tmp_path: Path, name: str, error: str
) -> None:
    # Contents differ per case: a result is stored per content, and these functions misbehave per path.
    record = index_repository(worker, tmp_path, {**NORMAL_FILE, f"src/{name}": f"export const x = '{name}';\n"})
    assert record.status == IndexJobStatus.COMPLETED, record.error_message
    assert record.stats["files_failed_to_parse"] == 1
    errors = file_errors(worker.conn, record)
    assert list(errors) == [f"src/{name}"]
    kind, message = errors[f"src/{name}"]
    assert kind == "internal_error"
    assert message.startswith(error)
    worker.assert_alive_and_nothing_left_behind()


@pytest.mark.parametrize(("name", "exit_code"), [("exits.ts", 3), ("system-exit.ts", 4)])
def test_extract_function__ending_its_process_fails_the_job_and_the_stages_restart(
    worker: RunningWorker, tmp_path: Path, name: str, exit_code: int
) -> None:
    restarts = worker.coordinator.restarts
    record = index_repository(worker, tmp_path, {**NORMAL_FILE, f"src/{name}": f"export const x = '{name}';\n"})
    assert record.status == IndexJobStatus.FAILED
    assert f"died (exit code {exit_code})" in (record.error_message or "")
    assert worker.coordinator.restarts == restarts + 1
    worker.assert_alive_and_nothing_left_behind()
    assert index_repository(worker, tmp_path, NORMAL_FILE).status == IndexJobStatus.COMPLETED


@pytest.mark.parametrize("hang", ["an extract function that never returns", "a frozen writer"])
def test_stage_hanging__fails_the_job_at_the_time_limit_and_the_next_job_completes(
    test_databases: DatabaseFactory, tmp_path: Path, hang: str
) -> None:
    # One parser: a stuck stage must be replaced, or every later job would time out too.
    with running_worker(test_databases, tmp_path / "work", parsers=1, jobs=1, job_timeout=SHORT_JOB_TIMEOUT) as worker:
        if hang == "a frozen writer":
            files = NORMAL_FILE
            topology = worker.coordinator._current_topology()
            os.kill(next(p.pid for p in topology.processes if p.name == "pipeline-write"), signal.SIGSTOP)
        else:
            files = {**NORMAL_FILE, "src/never-returns.ts": "export const x = 1;\n"}
        hung = worker.coordinator._current_topology().generation
        stuck = index_repository(worker, tmp_path, files)
        assert stuck.status == IndexJobStatus.FAILED
        assert f"the attempt ran longer than index.job_timeout ({SHORT_JOB_TIMEOUT:g} s)" in (stuck.error_message or "")
        # the worker records its queue job's failure right after the index job's (a separate step)
        deadline = time.monotonic() + 30
        while (state := queue_job_state(worker.conn, stuck.id)) != "failed":
            assert time.monotonic() < deadline, f"the queue job stayed {state}"
            time.sleep(0.02)
        snapshots = worker.conn.execute(
            "SELECT count(*) FROM snapshots WHERE repository_id = %s", [stuck.repository_id]
        ).fetchone()
        assert snapshots == (0,)

        # The limit is the following job's too: it starts once the new generation is up, not while it starts.
        deadline = time.monotonic() + 60
        while (topology := worker.coordinator._current_topology()).generation == hung or not all(
            p.pid is not None and has_sigterm(p.pid, "SigIgn") for p in topology.processes
        ):
            assert time.monotonic() < deadline, "the stage processes did not start again"
            time.sleep(0.02)
        following = index_repository(worker, tmp_path, NORMAL_FILE)
        assert following.status == IndexJobStatus.COMPLETED, following.error_message
        assert list(Path(worker.config.index.tmp_dir).glob("pipeline-*")) == []
        worker.assert_alive_and_nothing_left_behind()


def test_stage_process__a_parser_killed_mid_job_fails_the_attempt_and_the_retry_completes(
    worker: RunningWorker, tmp_path: Path
) -> None:
    path, release = tmp_path / "killed", tmp_path / "release"
    commit_files(new_repository(path), {**NORMAL_FILE, "src/pauses.ts": paused_source(release)}, "pauses")
    retrying = msgspec.structs.replace(worker.config, queue=msgspec.structs.replace(worker.config.queue, retry_limit=1))
    restarts, generation = worker.coordinator.restarts, worker.coordinator._current_topology().generation
    job_id = enqueue(retrying, str(path))
    deadline = time.monotonic() + 30
    while not paused_at(release).exists():  # the parser holding pauses.ts until ``release`` exists
        assert time.monotonic() < deadline, f"no parser took the job: {job(worker.conn, job_id).status}"
        time.sleep(0.02)
    os.kill(int(paused_at(release).read_text()), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while worker.coordinator.restarts == restarts or worker.coordinator._current_topology().generation == generation:
        assert time.monotonic() < deadline, "the stage processes were not restarted"
        time.sleep(0.02)
    release.touch()  # the retry goes through
    deadline = time.monotonic() + 60
    while (record := job(worker.conn, job_id)).status not in FINISHED:
        assert time.monotonic() < deadline, f"job still {record.status}"
        time.sleep(0.05)
    assert record.status == IndexJobStatus.COMPLETED, record.error_message
    assert record.retry_count == 1
    assert file_errors(worker.conn, record) == {}
    worker.assert_alive_and_nothing_left_behind()


def test_coordinator__an_extract_function_that_cannot_be_pickled_is_refused_by_name(config: Config) -> None:
    numbers = (n for n in range(10))  # a generator cannot be pickled

    def numbering_extract(path: str, source: bytes, **options: object) -> object:
        return next(numbers)

    with pytest.raises(PipelineError, match=r"the extract function .*numbering_extract cannot be sent to the parser"):
        Coordinator(config, extract=numbering_extract)  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["below a file", "in /proc"])
def test_coordinator__a_tmp_dir_where_nothing_can_be_created_is_refused_by_name(
    config: Config, tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    tmp_dir = blocker / "work" if where == "below a file" else Path("/proc/pipeline-work")
    unusable = msgspec.structs.replace(config, index=msgspec.structs.replace(config.index, tmp_dir=str(tmp_dir)))
    with pytest.raises(PipelineError, match=rf"index.tmp_dir '{tmp_dir}': cannot create job directories there"):
        Coordinator(unusable)


def test_run__handles_sigterm_before_it_starts_any_stage_process(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run in this (main) thread, as the CLI runs it. The worker waits until the first stage processes are being
    # started, so handlers installed only by the worker come too late, every time.
    coordinator = Coordinator(pipeline_config(config, tmp_path))
    handler_at_start: list[object] = []
    starting = threading.Event()
    start_stages, run_worker = coordinator._start_stages, coordinator.worker.run

    def recording_start(generation: int) -> object:
        handler_at_start.append(signal.getsignal(signal.SIGTERM))
        starting.set()
        return start_stages(generation)

    def run_once_the_stages_start(**options: bool) -> None:
        assert starting.wait(30), "the stage processes were not started"
        run_worker(**options)

    def stop_once_running() -> None:
        coordinator._current_topology()
        coordinator.stop()

    monkeypatch.setattr(coordinator, "_start_stages", recording_start)
    monkeypatch.setattr(coordinator.worker, "run", run_once_the_stages_start)
    stopper = threading.Thread(target=stop_once_running)
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    stopper.start()
    try:
        assert coordinator.run() == 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        coordinator.stop()
        stopper.join(30)
    assert not stopper.is_alive()
    assert handler_at_start[:1] == [coordinator.worker._on_signal]


def test_run__sigterm_during_start_up_stops_it_cleanly(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    config.write_text(f"[index]\nparsers = 1\ntmp_dir = '{tmp_path / 'work'}'\n[log]\nformat = 'json'\n")
    marker = uuid.uuid4().hex
    env = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    env |= {"PIPELINE_DATABASE_URL": database_url, "PIPELINE_TEST_PROCESS_TREE": marker}
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (has_sigterm(worker.pid, "SigCgt") and (children := _children(worker.pid))):
        assert worker.poll() is None
        assert time.monotonic() < deadline, "no stage process started"
        time.sleep(0.01)
    starting = [pid for pid in children if not has_sigterm(pid, "SigIgn")]  # a stage ignores it once started
    worker.send_signal(signal.SIGTERM)
    try:
        _, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert starting, "every stage process had started: the signal came after start-up"
    assert worker.returncode == 0, stderr[-3000:]
    assert "worker stopped" in stderr
    assert wait_until_gone(children + _children(worker.pid)) == []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return alive(found)
