"""Fixtures and helpers for the queue's integration tests (real Postgres, real worker processes)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Config
from pipeline.queue import Handler, Queue, Worker

WORKER_SCRIPT = Path(__file__).with_name("worker_proc.py")


@pytest.fixture
def queue(config: Config) -> Iterator[Queue]:
    with Queue.from_config(config) as client:
        yield client


class RunningWorker:
    """A Worker running on a background thread of the test process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def start_worker(config: Config) -> Iterator[Callable[..., RunningWorker]]:
    started: list[RunningWorker] = []

    def start(name: str, handler: Handler, **options: Any) -> RunningWorker:
        running = RunningWorker(Worker.from_config(config, name, handler, **options))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def spawn_workers(count: int, url: str, queue: str, log: Path, *args: str) -> list[subprocess.Popen[str]]:
    """Start ``count`` worker_proc.py processes at once and wait until each says it is ready."""
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), url, queue, str(log), *args], stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        ready = process.stdout.readline().strip()
        process.stdout.close()  # the worker prints nothing after this line
        assert ready == "ready"
    return processes


def spawn_worker(url: str, queue: str, log: Path, *args: str) -> subprocess.Popen[str]:
    """Start one worker_proc.py process and wait until it is ready."""
    [process] = spawn_workers(1, url, queue, log, *args)
    return process


def wait_until(condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def log_lines(log: Path, kind: str) -> list[list[str]]:
    """The ``kind`` lines (start, done, exit) of a worker_proc log, split into fields."""
    if not log.exists():
        return []
    return [line.split()[1:] for line in log.read_text().splitlines() if line.startswith(kind + " ")]
