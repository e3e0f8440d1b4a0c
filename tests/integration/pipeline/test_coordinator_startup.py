"""The coordinator's start and stop wait only for what matters: an ``until_idle`` worker looks for work at once
(and again as soon as a job ends), stage processes that were never sent anything are not waited for, and each
generation's event dispatcher ends with it. Real processes, real Postgres; every wait bounded, no time measured."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJobStatus
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import enqueue, job
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

pytestmark = pytest.mark.slow

NEVER = 3600.0  # a poll interval no test waits out: ending before it proves that something else woke the waiter
BOUND = 60.0  # seconds a worker may take to start and stop on a busy machine; not a figure under test


@pytest.fixture
def slow_polling_config(config: Config, tmp_path: Path) -> Config:
    """The pipeline test config with a poll interval nothing may wait for."""
    base = harness.pipeline_config(config, tmp_path)
    return msgspec.structs.replace(base, queue=msgspec.structs.replace(base.queue, poll_interval=NEVER))


def record_generations(coordinator: Coordinator) -> list[Any]:
    """The generations of stage processes ``coordinator`` starts, appended as they start."""
    generations: list[Any] = []
    start_stages = coordinator._start_stages

    def recording(generation: int) -> Any:
        topology = start_stages(generation)
        generations.append(topology)
        return topology

    coordinator._start_stages = recording  # type: ignore[method-assign]
    return generations


def run_bounded(coordinator: Coordinator) -> int | None:
    """Run ``coordinator`` in a thread; its exit code, or ``None`` if it did not end within ``BOUND`` (then it is
    stopped, so the test can fail cleanly)."""
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(coordinator.run(install_signal_handlers=False)))
    runner.start()
    runner.join(BOUND)
    if runner.is_alive():
        coordinator.stop(timeout=0)
        runner.join(BOUND)
        return None
    return result[0]


def test_until_idle__on_an_empty_queue_stops_without_waiting_for_the_poll_interval(
    slow_polling_config: Config,
) -> None:
    assert run_bounded(Coordinator(slow_polling_config, until_idle=True)) == 0, "it waited for the poll interval"


def test_until_idle__with_a_job_stops_once_it_is_done_without_waiting_for_the_poll_interval(
    slow_polling_config: Config, tmp_path: Path, conn: psycopg.Connection[TupleRow]
) -> None:
    repo = tmp_path / "repo"
    commit_files(new_repository(repo), SOURCES_V1, "first")
    job_id = enqueue(slow_polling_config, str(repo))
    assert run_bounded(Coordinator(slow_polling_config, until_idle=True)) == 0, "it waited for the poll interval"
    assert job(conn, job_id).status == IndexJobStatus.COMPLETED


def test_stage_processes__that_worked_and_were_told_to_stop__exit_cleanly(
    slow_polling_config: Config, tmp_path: Path, conn: psycopg.Connection[TupleRow]
) -> None:
    repo = tmp_path / "repo"
    commit_files(new_repository(repo), SOURCES_V1, "first")
    job_id = enqueue(slow_polling_config, str(repo))
    coordinator = Coordinator(slow_polling_config, until_idle=True)
    generations = record_generations(coordinator)
    assert run_bounded(coordinator) == 0
    assert job(conn, job_id).status == IndexJobStatus.COMPLETED
    (worked,) = generations
    # each finished its stage and returned: status 0, not a crash on the way out
    assert [process.exitcode for process in worked.processes] == [0] * len(worked.processes)


def test_stop__does_not_wait_for_stage_processes_that_were_never_sent_anything(slow_polling_config: Config) -> None:
    coordinator = Coordinator(slow_polling_config)
    generations = record_generations(coordinator)
    runner = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    runner.start()
    try:
        # every stage process has started (it ignores SIGTERM from then on) and waits for work: draining them
        # would now end each on its own, at once
        deadline = time.monotonic() + BOUND
        while not (generations and all(ignores_sigterm(process.pid) for process in generations[0].processes)):
            assert time.monotonic() < deadline, "the stage processes did not start"
            time.sleep(0.02)
    finally:
        coordinator.stop()
        runner.join(BOUND)
    assert not runner.is_alive(), "the worker did not stop"
    (unused,) = generations
    # it held no work, so it was not asked to finish any: killed at once
    assert [process.exitcode for process in unused.processes] == [-signal.SIGKILL] * len(unused.processes)
    assert not unused.dispatcher.is_alive(), "its event dispatcher outlived it"


def ignores_sigterm(pid: int | None) -> bool:
    """Whether process ``pid`` ignores SIGTERM (a stage process does once it has started)."""
    if pid is None:
        return False
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^SigIgn:\s+([0-9a-f]+)$", status, re.MULTILINE)
    assert found is not None, f"no SigIgn in the status of process {pid}"
    return bool(int(found.group(1), 16) & (1 << (signal.SIGTERM - 1)))
