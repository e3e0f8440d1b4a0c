"""Busy and blocked time per stage in a job's stats, with real stage processes, git repositories and Postgres:
a slow stage shows up as the stage ahead of it blocked on a full channel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgspec
import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.db import connect
from pipeline.index_jobs import IndexJobStatus
from tests.conftest import SCHEMA
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import enqueue, job, run_until_idle
from tests.integration.pipeline.repos import commit_files, new_repository
from tests.integration.pipeline.slow_stage import SLOW_SECONDS_ENV, slow_extract

pytestmark = pytest.mark.slow

WAIT = 60.0  # a bound for a condition on a busy machine, not a figure under test
STAGE_SECONDS = {"fetch", "fetch_blocked", "parse", "parse_blocked", "write", "link", "write_waiting", "total"}


@pytest.fixture
def pipeline_config(config: Config, tmp_path: Path) -> Config:
    return harness.pipeline_config(config, tmp_path)


def repository(tmp_path: Path, files: int) -> Path:
    path = tmp_path / f"repo-{files}"
    sources = {f"src/m{n:03}.ts": f"export function f{n}(): number {{ return {n}; }}\n" for n in range(files)}
    commit_files(new_repository(path), dict(sources), "files")
    return path


def narrow(config: Config, *, queue_items: int) -> Config:
    """One parser and channels of ``queue_items`` messages: a slow stage fills them at once. The writer stores
    each file as it comes (a COPY batch of one row)."""
    index = msgspec.structs.replace(config.index, queue_items=queue_items, parsers=1, batch_rows=1)
    return msgspec.structs.replace(config, index=index)


def test_stats__every_stage_reports_busy_and_blocked_seconds(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    job_id = enqueue(pipeline_config, str(repository(tmp_path, 5)))
    run_until_idle(pipeline_config)
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    seconds = done.stats["seconds"]
    assert set(seconds) == STAGE_SECONDS
    assert all(isinstance(value, float) and value >= 0 for value in seconds.values()), seconds
    assert seconds["write"] + seconds["link"] + seconds["write_waiting"] == pytest.approx(seconds["total"], abs=0.01)


def test_stats__a_slow_parser_shows_as_the_fetcher_blocked_on_the_full_parse_channel(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 12 files at >= 0.1 s each through one parser, the fetcher at most a few files ahead: it cannot send the last
    # one before the parser has taken the ninth, so it waits on the full channel for most of a second at least.
    monkeypatch.setenv(SLOW_SECONDS_ENV, "0.1")
    config = narrow(pipeline_config, queue_items=1)
    job_id = enqueue(config, str(repository(tmp_path, 12)))
    run_until_idle(config, extract=slow_extract)
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    seconds = done.stats["seconds"]
    assert seconds["parse"] >= 12 * 0.1
    assert seconds["fetch_blocked"] > 0, seconds


def test_stats__a_slow_writer_shows_as_the_parsers_blocked_on_the_full_write_channel(
    pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    # The writer cannot store the job's first file while the test holds the symbols table (it has planned the job
    # by then: the fetcher sends the files): the one result the write channel holds fills it, and the parser's
    # next put waits (in the channel's semaphore) until the test lets go.
    config = narrow(pipeline_config, queue_items=1)
    job_id = enqueue(config, str(repository(tmp_path, 6)))
    coordinator = Coordinator(config, until_idle=True)
    runner = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False})
    with connect(config.database.url, SCHEMA) as holder:
        holder.execute("LOCK TABLE symbols IN ACCESS EXCLUSIVE MODE")
        runner.start()
        try:
            wait_until_parser_blocked_in_put(coordinator)
        except BaseException:
            coordinator.stop(timeout=0)  # a failed wait must not leave a worker running into the next tests
            raise
        finally:
            holder.rollback()
    runner.join(WAIT)
    assert not runner.is_alive(), "the worker did not finish the job"
    done = job(conn, job_id)
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.stats["seconds"]["parse_blocked"] > 0, done.stats["seconds"]


def wait_until_parser_blocked_in_put(coordinator: Coordinator) -> None:
    """Until the one parser waits on a lock or semaphore (``futex``): idle, it would wait in ``poll`` for input."""
    deadline = time.monotonic() + WAIT
    while True:
        topology = coordinator._topology
        parsers = [] if topology is None else [p for p in topology.processes if p.name.startswith("pipeline-parse")]
        if parsers and parsers[0].pid is not None:
            try:
                if "futex" in Path(f"/proc/{parsers[0].pid}/wchan").read_text():
                    return
            except FileNotFoundError:
                pass
        assert time.monotonic() < deadline, f"the parser did not block on the write channel within {WAIT:g} s"
        time.sleep(0.02)
