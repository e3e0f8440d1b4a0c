"""The fetcher process's loop: concurrent jobs, the fetch deadline, the clone child, limits, an unusable temp dir.

Driven in a thread on plain queues (``tests/fetcher_harness.py``) against real repositories and loopback servers.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import messages
from stages.fetch import RepoTarget, parse_target
from tests.fetcher_harness import FetcherHarness, fetcher_config, running_fetcher, start_fetcher
from tests.git_servers import RawServer, endless_refs, flood_refs, trickle
from tests.integration.pipeline.harness import children_running
from tests.integration.pipeline.repos import commit_files, new_repository

TOKEN = "ghs_fetcherTestToken0123456789"
DATABASE_URL = "postgresql://indexer:s3cret@db.example:5432/pipeline"


@pytest.fixture
def local_repo(tmp_path: Path) -> RepoTarget:
    path = tmp_path / "source"
    commit_files(new_repository(path), {"src/a.ts": "export const a = 1;\n", "src/b.ts": "export const b = 2;\n"}, "c")
    return parse_target(str(path))


@pytest.fixture
def clones(tmp_path: Path) -> Path:
    return tmp_path / "clones"


@pytest.fixture
def trickling_server() -> Iterator[RawServer]:
    server = RawServer(trickle(0.2))
    try:
        yield server
    finally:
        server.close()


def test_fetcher__a_trickling_server_hits_the_deadline_while_the_next_job_completes(
    clones: Path, local_repo: RepoTarget, trickling_server: RawServer
) -> None:
    # a trickle every 0.2 s never trips the 3 s io timeout: the 10 s deadline is what ends the slow job, long after
    # the quick one completed however busy the machine is
    with running_fetcher(fetcher_config(clones, fetch_timeout=10.0, git_io_timeout=3.0)) as harness:
        slow = harness.fetch(parse_target(trickling_server.url("git")))
        quick = harness.fetch(local_repo)

        assert harness.done(quick).files == 2
        assert slow not in harness.outcomes, "the quick job completed while the slow one was still fetching"
        failure = harness.failure(slow)

        assert failure.retryable
        assert re.search(r"exceeded the fetch deadline of 10 s", failure.error), failure.error
    assert list(clones.iterdir()) == []


def test_fetcher__the_token_reaches_the_clone_child_neither_in_argv_nor_environment_nor_a_core_file(
    clones: Path, trickling_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_GIT_TOKEN", TOKEN)
    monkeypatch.setenv("SOMETHING_ELSE", f"prefix-{TOKEN}-suffix")
    monkeypatch.setenv("LC_TOKEN_TEST", f"prefix-{TOKEN}")  # allowed by name, left out for its value
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("PIPELINE_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("UNRELATED_SECRET", "not-for-the-clone-child")
    monkeypatch.setenv("LC_MESSAGES", "C")
    # the deadline is far off: the child must still be running while it is inspected; an Abort ends it after
    with running_fetcher(fetcher_config(clones, fetch_timeout=30.0, git_io_timeout=2.0), token=TOKEN) as harness:
        job = harness.fetch(parse_target(trickling_server.url("git")))
        children = _clone_children(timeout=10.0)

        for pid in children:
            assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            environment = dict(
                entry.split(b"=", 1) for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if entry
            )
            assert not [value for value in environment.values() if TOKEN.encode() in value]
            assert b"PIPELINE_GIT_TOKEN" not in environment
            assert not [value for value in environment.values() if b"s3cret" in value], "a database URL got through"
            assert b"UNRELATED_SECRET" not in environment
            assert environment.get(b"PATH") == os.environ["PATH"].encode()
            assert environment.get(b"LC_MESSAGES") == b"C"
            assert _core_files_disabled(pid, timeout=10.0), "a crash of the child would dump the token"
        assert children, "the clone ran in a child process"
        harness.queues.fetch_inbox.put(messages.encode(messages.Abort(job=job)))
        assert all(_ended(pid, timeout=10.0) for pid in children), "the clone child outlived the abort"


def _clone_children(*, timeout: float, parent: int | None = None) -> list[int]:
    """The pids of the clone children of ``parent`` (this process by default), waiting (bounded) until one exists."""
    parent = os.getpid() if parent is None else parent
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = children_running(parent, b"stages.fetch.isolated")
        if found:
            return found
        time.sleep(0.05)
    return []


def _ended(pid: int, *, timeout: float) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie nobody reaped yet) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = re.search(r"^State:\s+(\S)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
        except OSError:
            return True
        if state is not None and state.group(1) in "ZX":
            return True
        time.sleep(0.05)
    return False


def _core_files_disabled(pid: int, *, timeout: float) -> bool:
    """Whether process ``pid`` sets its core file size limit to 0 within ``timeout`` seconds (it does so at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            limits = Path(f"/proc/{pid}/limits").read_text()
        except OSError as exc:
            raise AssertionError(f"clone child {pid} ended before its core file limit could be read: {exc}") from exc
        if re.search(r"^Max core file size\s+0\s+0\s", limits, re.MULTILINE):
            return True
        time.sleep(0.05)
    return False


def test_fetcher__an_abort_kills_the_clone_child_at_once(
    clones: Path, local_repo: RepoTarget, trickling_server: RawServer
) -> None:
    with running_fetcher(fetcher_config(clones, fetch_timeout=60.0, git_io_timeout=30.0)) as harness:
        job = harness.fetch(parse_target(trickling_server.url("git")))
        children = _clone_children(timeout=10.0)
        assert children, "the clone ran in a child process"

        harness.queues.fetch_inbox.put(messages.encode(messages.Abort(job=job)))

        assert all(_ended(pid, timeout=10.0) for pid in children), "the clone child outlived the abort"
        job_thread = harness.fetcher.running[job]
        job_thread.join(timeout=10.0)
        assert not job_thread.is_alive()
        assert list(clones.iterdir()) == [], "the aborted job's directory is removed"
        # anything the aborted job reported is queued ahead of this job's messages, so it is collected first
        assert harness.done(harness.fetch(local_repo)).files == 2
        assert job not in harness.outcomes, "an aborted job reports nothing"


_START_A_CLONE = """
import sys
from pathlib import Path
from stages.fetch import clone_isolated, parse_target
clone_isolated(parse_target(sys.argv[1]), Path(sys.argv[2]), deadline=60.0, connect_timeout=5.0, io_timeout=30.0)
"""


def test_clone_isolated__the_child_dies_with_the_process_that_started_it(
    tmp_path: Path, trickling_server: RawServer
) -> None:
    starter = subprocess.Popen([sys.executable, "-c", _START_A_CLONE, trickling_server.url("git"), str(tmp_path)])
    try:
        children = _clone_children(timeout=20.0, parent=starter.pid)
        assert children, "the clone ran in a child process"

        starter.kill()
        starter.wait(timeout=10)

        assert all(_ended(pid, timeout=10.0) for pid in children), "the clone child outlived its parent"
    finally:
        starter.kill()
        starter.wait(timeout=10)


def test_fetcher__too_many_refs_is_refused_with_the_figures(clones: Path) -> None:
    server = RawServer(flood_refs(5000))
    try:
        with running_fetcher(fetcher_config(clones, max_refs=1000)) as harness:
            failure = harness.failure(harness.fetch(parse_target(server.url("git"))))
    finally:
        server.close()

    assert not failure.retryable
    assert "advertises 5,001 refs, more than the limit of 1,000" in failure.error
    assert str(clones) not in failure.error


def test_fetcher__an_endless_ref_advertisement_stops_at_the_memory_bound(
    clones: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="stages.fetch.isolated")
    server = RawServer(endless_refs)
    config = fetcher_config(clones, fetch_memory=128 * 1024 * 1024, fetch_timeout=30.0)
    # a large parent: the child's figure must be its own, not the size of the process it was forked from
    ballast = bytearray(b"\1" * (320 * 1024 * 1024))
    try:
        with running_fetcher(config) as harness:
            failure = harness.failure(harness.fetch(parse_target(server.url("git"))))
    finally:
        server.close()
        del ballast

    assert "sent more than the fetch may hold in memory" in failure.error
    assert not failure.retryable
    [peak] = [record.peak_memory_bytes for record in caplog.records if record.message == "clone process finished"]
    assert 0 < peak < 256 * 1024 * 1024, f"the clone child peaked at {peak:,} bytes"


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_job_files": 1}, "the commit has 2 files to parse, more than index.max_job_files (1)"),
        ({"max_job_bytes": 30}, "hold 40 bytes, more than index.max_job_bytes (30)"),
    ],
)
def test_fetcher__a_job_over_a_per_job_limit_fails_at_once_naming_it(
    clones: Path, local_repo: RepoTarget, limits: dict[str, int], message: str
) -> None:
    with running_fetcher(fetcher_config(clones, **limits)) as harness:
        failure = harness.failure(harness.fetch(local_repo))

    assert not failure.retryable
    assert message in failure.error
    assert list(clones.iterdir()) == []


def test_fetcher__jobs_at_the_per_job_limits_pass(clones: Path, local_repo: RepoTarget) -> None:
    with running_fetcher(fetcher_config(clones, max_job_files=2, max_job_bytes=40)) as harness:
        assert harness.done(harness.fetch(local_repo)).files == 2


@pytest.mark.parametrize("kind", ["a file", "below a file"])
def test_fetcher__an_unusable_temp_dir_fails_each_job_clearly_and_the_fetcher_stays_up(
    tmp_path: Path, local_repo: RepoTarget, kind: str
) -> None:
    (tmp_path / "occupied").write_bytes(b"")
    tmp_dir = tmp_path / "occupied" if kind == "a file" else tmp_path / "occupied" / "clones"
    harness: FetcherHarness = start_fetcher(fetcher_config(tmp_dir))
    try:
        failures = [harness.failure(harness.fetch(local_repo)) for _ in range(2)]
        assert harness.thread.is_alive()
    finally:
        harness.stop()

    for failure in failures:
        assert failure.error.startswith(f"index.tmp_dir: temp directory {tmp_dir} cannot hold a job's clone")
        assert failure.retryable


def test_fetcher__token_hosts_default_to_the_base_url_host(clones: Path) -> None:
    harness = start_fetcher(fetcher_config(clones, base_url="https://git.example.com:8443"))
    harness.stop()

    assert harness.fetcher.token_hosts == ["git.example.com:8443"]
