"""The stage processes: fetcher → parser pool → writer, linked by bounded channels of msgpack bytes (``channel``).

Each ``*_main`` function is a process body, started through ``stage_process``. Shared guarantees:
- A child dies with its coordinator, also while it is still starting: ``stage_process`` asks the kernel to SIGKILL
  it when its parent goes (``PR_SET_PDEATHSIG``) before it imports the stage, then checks that the parent is the
  coordinator pid it was given (one that died before that exits at once). The kernel's "parent" is the *thread*
  that started the child, so stage processes must be started by a thread that outlives them.
- Children ignore SIGINT and SIGTERM: the coordinator decides when they stop (a ``Stop`` message drains the queue
  ahead of it).
- Bounded channels give backpressure: a fast stage blocks on ``put`` instead of filling memory; the time a stage
  spends blocked so is measured per job (``put_blocking``) and reported apart from its busy time.
- A stage never lets one job's failure stop it: the job is reported failed (``JobFailed``) and the loop goes on.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue as queue_module
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline import messages
from pipeline.config import LogConfig
from pipeline.log import configure_logging
from stages.lifetime import die_with_parent

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress messages of one stage for one job
POLL = 1.0  # seconds a stage waits on its inbox before checking that its parent is alive


class BytesQueue(Protocol):
    """What a stage needs of a channel: ``channel.Channel`` between processes, ``queue.Queue`` in a test's thread."""

    def put(self, item: bytes, block: bool = True, timeout: float | None = None) -> None: ...
    def get(self, block: bool = True, timeout: float | None = None) -> bytes: ...
    def get_nowait(self) -> bytes: ...


def stage_process(parent: int, target: str, *args: Any) -> None:
    """The body of every stage process: die with ``parent`` (the coordinator's pid), then import ``target``
    (``"module:function"``, imported only now so that the guard is set before the stage's imports) and run it.

    Once the stage has returned, its log lines are flushed onto stderr and the process exits at once (status 0)
    instead of tearing its interpreter down, which takes tens of milliseconds per stage process at every stop;
    what it put on its channels is in their pipes already (``Channel.put`` writes before it returns). A stage that
    raises exits as any process does (status 1)."""
    die_with_parent(parent)
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(*args)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def child_setup(log: LogConfig, stage: str) -> int:
    """Ignore terminal and service signals (the coordinator stops us), configure logs; returns the parent pid."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(log)
    logger.debug("stage process started", extra={"stage": stage, "pid": os.getpid()})
    return os.getppid()


def inbox_messages(inbox: BytesQueue, parent: int) -> Iterator[bytes]:
    """Yield messages until the parent process is gone."""
    while True:
        try:
            yield inbox.get(timeout=POLL)
        except queue_module.Empty:
            if os.getppid() != parent:
                logger.warning("coordinator is gone; stage process exits")
                return


def put_blocking(channel: BytesQueue, data: bytes) -> float:
    """Put ``data``, waiting while ``channel`` is full; returns the seconds that took, which is time blocked on a
    full channel but for the copy into it (microseconds per message, see ``bench/channel_bench.py``)."""
    started = time.monotonic()
    channel.put(data)
    return time.monotonic() - started


class Throttle:
    """True at most once per ``every`` seconds per key (and always when forced)."""

    def __init__(self, every: float = PROGRESS_EVERY) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def ready(self, key: str, *, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last.get(key, 0.0) >= self.every:
            self._last[key] = now
            return True
        return False

    def forget(self, key: str) -> None:
        self._last.pop(key, None)


@dataclass(frozen=True)
class StageQueues:
    """The channels of one generation of stage processes (bounded where a fast producer could outrun)."""

    fetch_inbox: BytesQueue
    parse_queue: BytesQueue
    write_queue: BytesQueue
    events: BytesQueue


def progress_message(
    job: str, stage: str, items_in: int, items_out: int, failed: int, *, finished: bool = False
) -> bytes:
    return messages.encode(
        messages.Progress(
            job=job, stage=stage, items_in=items_in, items_out=items_out, failed=failed, finished=finished
        )
    )
