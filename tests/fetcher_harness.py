"""The fetcher's loop (``pipeline.processes.fetcher.Fetcher``) driven in a thread of the test, on plain queues.

The loop, the job threads, the clone child processes, the temp directory and the servers are all real; only the
coordinator and the writer are replaced by the test reading the queues the stages would read (it answers each
listing with a plan to parse every file, as the writer does when nothing is stored yet).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pipeline import messages
from pipeline.config import Config, IndexConfig
from pipeline.processes import StageQueues
from pipeline.processes.fetcher import Fetcher
from stages.fetch import RepoTarget

Outcome = messages.FetchDone | messages.JobFailed


def fetcher_config(tmp_dir: Path, **index: object) -> Config:
    """Defaults with short network timeouts, the clone temp directory ``tmp_dir`` and ``index`` overrides."""
    settings: dict[str, object] = {
        "tmp_dir": str(tmp_dir),
        "git_connect_timeout": 2.0,
        "git_io_timeout": 2.0,
        "fetch_timeout": 20.0,
        **index,
    }
    return Config(index=msgspec.structs.replace(IndexConfig(), **settings))


@dataclass
class FetcherHarness:
    """A running ``Fetcher``; ``fetch`` queues a job, ``outcome`` waits (bounded) for how it ended."""

    fetcher: Fetcher
    queues: StageQueues
    thread: threading.Thread
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def fetch(self, target: RepoTarget, *, ref: str | None = None, commit_sha: str | None = None) -> str:
        job = f"{uuid.uuid4()}-1"
        request = messages.FetchRequest(
            job=job,
            url=target.url,
            transport=target.transport,
            full_name=target.full_name,
            ref=ref,
            commit_sha=commit_sha,
        )
        self.queues.fetch_inbox.put(messages.encode(request))
        return job

    def outcome(self, job: str, *, timeout: float = 30.0) -> Outcome:
        deadline = time.monotonic() + timeout
        while job not in self.outcomes:
            assert time.monotonic() < deadline, f"job {job} did not finish within {timeout} s"
            self._collect()
        return self.outcomes[job]

    def failure(self, job: str, *, timeout: float = 30.0) -> messages.JobFailed:
        outcome = self.outcome(job, timeout=timeout)
        assert isinstance(outcome, messages.JobFailed), f"expected a failure, got {outcome}"
        return outcome

    def done(self, job: str, *, timeout: float = 30.0) -> messages.FetchDone:
        outcome = self.outcome(job, timeout=timeout)
        assert isinstance(outcome, messages.FetchDone), f"expected the fetch to succeed, got {outcome}"
        return outcome

    def _collect(self) -> None:
        for channel, decode in (
            (self.queues.events, messages.decode_coordinator),
            (self.queues.write_queue, messages.decode_writer),
        ):
            try:
                message = decode(channel.get(timeout=0.05))
            except queue.Empty:
                continue
            if isinstance(message, messages.JobFailed | messages.FetchDone):
                self.outcomes[message.job] = message
            elif isinstance(message, messages.FetchStarted):
                plan = messages.ParsePlan(job=message.job, parse=tuple(range(len(message.listing))))
                self.queues.fetch_inbox.put(messages.encode(plan))
        while True:  # the parsers' share: drop it
            try:
                self.queues.parse_queue.get_nowait()
            except queue.Empty:
                break

    def stop(self) -> None:
        self.queues.fetch_inbox.put(messages.encode(messages.Stop()))
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the fetcher did not stop"


def start_fetcher(config: Config, token: str | None = None) -> FetcherHarness:
    queues = StageQueues(
        fetch_inbox=queue.Queue(), parse_queue=queue.Queue(), write_queue=queue.Queue(), events=queue.Queue()
    )
    fetcher = Fetcher(config, Path(config.index.tmp_dir), token, queues)
    thread = threading.Thread(target=fetcher.run, args=(os.getppid(),), name="test-fetcher", daemon=True)
    thread.start()
    return FetcherHarness(fetcher=fetcher, queues=queues, thread=thread)


@contextmanager
def running_fetcher(config: Config, token: str | None = None) -> Iterator[FetcherHarness]:
    """A fetcher that is stopped (after its jobs end) when the block ends, whether the block failed or not."""
    harness = start_fetcher(config, token)
    try:
        yield harness
    finally:
        harness.stop()
