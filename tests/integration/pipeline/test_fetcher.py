"""The fetcher process's loop: concurrent jobs, the fetch deadline, the clone child, limits, an unusable temp dir.

Driven in a thread on plain queues (``tests/fetcher_harness.py``) against real repositories and loopback servers.
"""

from __future__ import annotations

import os
import re
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages.fetch import RepoTarget, parse_target
from tests.fetcher_harness import FetcherHarness, fetcher_config, running_fetcher, start_fetcher
from tests.git_servers import RawServer, endless_refs, flood_refs, trickle
from tests.integration.pipeline.repos import commit_files, new_repository

TOKEN = "ghs_fetcherTestToken0123456789"


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
    for harness in running_fetcher(fetcher_config(clones, fetch_timeout=2.0, git_io_timeout=1.0)):
        slow = harness.fetch(parse_target(trickling_server.url("git")))
        quick = harness.fetch(local_repo)

        assert harness.done(quick).files == 2
        failure = harness.failure(slow)

        assert harness.finished_order == [quick, slow]
        assert failure.retryable
        assert re.search(r"exceeded the fetch deadline of 2 s", failure.error), failure.error
    assert list(clones.iterdir()) == []


def test_fetcher__the_token_reaches_the_clone_child_neither_in_argv_nor_environment(
    clones: Path, trickling_server: RawServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_GIT_TOKEN", TOKEN)
    monkeypatch.setenv("SOMETHING_ELSE", f"prefix-{TOKEN}-suffix")
    for harness in running_fetcher(fetcher_config(clones, fetch_timeout=3.0, git_io_timeout=1.0), token=TOKEN):
        job = harness.fetch(parse_target(trickling_server.url("git")))
        children = _clone_children(timeout=10.0)

        for pid in children:
            assert TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
            environment = Path(f"/proc/{pid}/environ").read_bytes()
            assert TOKEN.encode() not in environment
            assert b"PIPELINE_GIT_TOKEN" not in environment
        assert children, "the clone ran in a child process"
        assert harness.failure(job).retryable


def _clone_children(*, timeout: float) -> list[int]:
    """The pids of this process's clone children, waiting (bounded) until one exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = re.search(r"^PPid:\s+(\d+)$", status, re.MULTILINE)
            if parent and int(parent.group(1)) == os.getpid() and b"stages.fetch.isolated" in cmdline:
                found.append(int(entry.name))
        if found:
            return found
        time.sleep(0.05)
    return []


def test_fetcher__too_many_refs_is_refused_with_the_figures(clones: Path) -> None:
    server = RawServer(flood_refs(5000))
    try:
        for harness in running_fetcher(fetcher_config(clones, max_refs=1000)):
            failure = harness.failure(harness.fetch(parse_target(server.url("git"))))
    finally:
        server.close()

    assert not failure.retryable
    assert "advertises 5,001 refs, more than the limit of 1,000" in failure.error
    assert str(clones) not in failure.error


def test_fetcher__an_endless_ref_advertisement_stops_at_the_memory_bound(clones: Path) -> None:
    server = RawServer(endless_refs)
    config = fetcher_config(clones, fetch_memory=128 * 1024 * 1024, fetch_timeout=30.0)
    try:
        for harness in running_fetcher(config):
            failure = harness.failure(harness.fetch(parse_target(server.url("git"))))
    finally:
        server.close()

    assert "sent more than the fetch may hold in memory" in failure.error
    assert not failure.retryable
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert peak < 256 * 1024 * 1024, f"a clone child peaked at {peak:,} bytes"


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
    for harness in running_fetcher(fetcher_config(clones, **limits)):
        failure = harness.failure(harness.fetch(local_repo))

    assert not failure.retryable
    assert message in failure.error
    assert list(clones.iterdir()) == []


def test_fetcher__jobs_at_the_per_job_limits_pass(clones: Path, local_repo: RepoTarget) -> None:
    for harness in running_fetcher(fetcher_config(clones, max_job_files=2, max_job_bytes=40)):
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
