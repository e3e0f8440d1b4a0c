"""A bounded channel of byte strings between processes: one OS pipe, each message written once as it is.

``multiprocess.Queue`` pickles what it is given (msgpack bytes, pickled again) and writes it from a feeder thread;
this channel writes the bytes themselves, from the calling thread, behind a 4-byte length. Guarantees:
- Any number of producer and consumer processes (and threads): a message is written whole under a write lock and
  read whole under a read lock (inter-process locks), so messages never interleave; each producer's messages
  arrive in the order it put them.
- Bounded: with ``maxsize``, at most that many messages are in the channel (a semaphore counts them, as
  ``multiprocessing.Queue``'s does) and a ``put`` blocks while it is full; the pipe's buffer (``PIPE_BYTES``)
  bounds the bytes, so a put also blocks while the bytes waiting exceed it. Without ``maxsize`` only the bytes
  are bounded.
- Timeouts as ``queue.Queue``'s: ``put(timeout=…)`` raises ``queue.Full`` having written nothing, and
  ``get(timeout=…)`` raises ``queue.Empty``. They bound every wait (for room, for a lock, for the pipe), so a
  caller with a timeout never hangs on a peer that died, even one that died holding a lock. Exceptions, where
  waiting is the only correct thing to do: a message longer than ``select.PIPE_BUF`` (4 KB) that was partly
  written is finished, however long that takes (a half-written message cannot be taken back); and a ``get`` whose
  timeout ends in the middle of a message raises ``queue.Empty`` and keeps what it read, and the read lock, so that
  the next ``get`` of this process returns the message whole.
- Without a timeout, ``put``/``get`` wait as long as it takes: a stage process blocked on a dead peer is killed
  by the coordinator, which restarts every stage when one dies.
- Sent to a child process as an argument of ``Process`` (``spawn`` or ``fork``), like ``multiprocess`` queues.
- ``close()`` releases this process's ends; a ``put``/``get`` running in another thread of the process finishes
  first (within its timeout), so the descriptors are never reused under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue as queue_module
import select
import threading
import time
from typing import Any

PIPE_BYTES = 1024 * 1024  # the pipe's buffer, asked of the kernel (Linux caps it at /proc/sys/fs/pipe-max-size)
_HEADER = 4  # bytes of the length in front of each message (little-endian)
_LONGEST = 2**32 - 1


class Channel:
    """A FIFO of byte strings across processes (see the module docstring for what it guarantees)."""

    def __init__(self, context: Any, maxsize: int = 0) -> None:
        """``context``: the ``multiprocess`` context whose processes will use the channel (its locks and pipe
        ends are sent to them the way that context sends arguments); ``maxsize``: messages at most (0: no
        bound but the pipe's)."""
        self.maxsize = maxsize
        self._reader, self._writer = context.Pipe(duplex=False)
        for end in (self._reader, self._writer):
            os.set_blocking(end.fileno(), False)
        _grow_pipe(self._writer.fileno())
        self._read_lock = context.Lock()
        self._write_lock = context.Lock()
        self._slots = context.BoundedSemaphore(maxsize) if maxsize > 0 else None
        self._local_state()

    def _local_state(self) -> None:
        """The state of this process only (not sent to children)."""
        self._guard = threading.Lock()  # guards the fields below
        self._users = 0
        self._closed = False
        self._reading = threading.Lock()  # one reading thread per process: a partial message is this process's
        # The message being read, kept when a ``get`` times out in its middle: the chunks read so far (``None``:
        # none begun, the read lock is free), their length, and the length they add up to (``None``: the header).
        self._partial: list[bytes] | None = None
        self._partial_got = 0
        self._partial_size: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "maxsize": self.maxsize,
            "reader": self._reader,
            "writer": self._writer,
            "read_lock": self._read_lock,
            "write_lock": self._write_lock,
            "slots": self._slots,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.maxsize = state["maxsize"]
        self._reader, self._writer = state["reader"], state["writer"]
        self._read_lock, self._write_lock, self._slots = state["read_lock"], state["write_lock"], state["slots"]
        self._local_state()

    # ----- producing -----

    def put(self, item: bytes, block: bool = True, timeout: float | None = None) -> None:
        """Append ``item``; waits while the channel is full, at most ``timeout`` seconds (``block=False``: not at
        all), then raises ``queue.Full`` having written nothing."""
        if len(item) > _LONGEST:
            raise ValueError(f"a channel message holds at most {_LONGEST:,} bytes, got {len(item):,}")
        deadline = _deadline(block, timeout)
        self._enter()
        try:
            if self._slots is not None and not self._slots.acquire(block, _remaining(deadline)):
                raise queue_module.Full
            try:
                if not self._write_lock.acquire(block, _remaining(deadline)):
                    raise queue_module.Full
                try:
                    self._write(len(item).to_bytes(_HEADER, "little") + item, deadline)
                finally:
                    self._write_lock.release()
            except BaseException:
                if self._slots is not None:
                    self._slots.release()
                raise
        finally:
            self._exit()

    def _write(self, frame: bytes, deadline: float | None) -> None:
        """Write ``frame`` whole (under the write lock). Until its first byte is written, ``deadline`` bounds the
        wait for room in the pipe (``queue.Full``); after that, the rest is written however long it takes."""
        fd = self._writer.fileno()
        view = memoryview(frame)
        written = 0
        while written < len(frame):
            try:
                written += os.write(fd, view[written:])
                continue
            except BlockingIOError:
                pass
            if written == 0:
                if not _wait(fd, select.POLLOUT, _remaining(deadline)):
                    raise queue_module.Full
            else:
                _wait(fd, select.POLLOUT, None)

    # ----- consuming -----

    def get(self, block: bool = True, timeout: float | None = None) -> bytes:
        """The oldest message; waits for one at most ``timeout`` seconds (``block=False``: not at all), then
        raises ``queue.Empty``. Raises ``EOFError`` once no process holds the write end any more."""
        deadline = _deadline(block, timeout)
        self._enter()
        try:
            if not _acquire_thread_lock(self._reading, block, deadline):
                raise queue_module.Empty
            try:
                return self._read(block, deadline)
            finally:
                self._reading.release()
        finally:
            self._exit()

    def get_nowait(self) -> bytes:
        return self.get(block=False)

    def _read(self, block: bool, deadline: float | None) -> bytes:
        """One whole message (under the read lock, which this process may hold already: see ``_partial``)."""
        if self._partial is None:
            if not self._read_lock.acquire(block, _remaining(deadline)):
                raise queue_module.Empty
            self._partial, self._partial_got, self._partial_size = [], 0, None
        fd = self._reader.fileno()
        while True:
            want = _HEADER if self._partial_size is None else self._partial_size
            if self._partial_got < want:
                try:
                    chunk = os.read(fd, want - self._partial_got)
                except BlockingIOError:
                    if not _wait(fd, select.POLLIN, _remaining(deadline)):
                        self._release_unless_partial()
                        raise queue_module.Empty from None
                    continue
                if not chunk:
                    self._release_unless_partial()
                    raise EOFError("the channel's write end is closed in every process: no message can come")
                self._partial.append(chunk)
                self._partial_got += len(chunk)
                continue
            whole = self._partial[0] if len(self._partial) == 1 else b"".join(self._partial)
            if self._partial_size is None:
                self._partial, self._partial_got, self._partial_size = [], 0, int.from_bytes(whole, "little")
                continue
            self._partial = self._partial_size = None
            self._read_lock.release()
            if self._slots is not None:
                self._slots.release()
            return whole

    def _release_unless_partial(self) -> None:
        """Give the read lock back, unless a message is half read: then this process keeps it (and the bytes) to
        finish that message in its next ``get``."""
        if self._partial_size is None and not self._partial:
            self._partial = None
            self._read_lock.release()

    # ----- closing -----

    def close(self) -> None:
        """Release this process's ends of the pipe (once no ``put``/``get`` of this process uses them)."""
        with self._guard:
            self._closed = True
            if self._users == 0:
                self._release_ends()

    def _enter(self) -> None:
        with self._guard:
            if self._closed:
                raise ValueError("the channel is closed")
            self._users += 1

    def _exit(self) -> None:
        with self._guard:
            self._users -= 1
            if self._closed and self._users == 0:
                self._release_ends()

    def _release_ends(self) -> None:
        self._reader.close()
        self._writer.close()


def _grow_pipe(fd: int) -> None:
    """Ask for a ``PIPE_BYTES`` buffer, so a producer runs ahead of a briefly busy consumer by more than the
    default 64 KB; where the kernel refuses (above its limit, or a user over its pipe quota), the default stays."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _deadline(block: bool, timeout: float | None) -> float | None:
    if not block:
        return time.monotonic()
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError(f"timeout must be a non-negative number of seconds, got {timeout}")
    return time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (``None``: no deadline)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _acquire_thread_lock(lock: threading.Lock, block: bool, deadline: float | None) -> bool:
    if not block:
        return lock.acquire(blocking=False)
    remaining = _remaining(deadline)
    return lock.acquire(timeout=-1 if remaining is None else remaining)


def _wait(fd: int, event: int, timeout: float | None) -> bool:
    """Wait until ``fd`` is ready for ``event``, at most ``timeout`` seconds (``None``: as long as it takes)."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(None if timeout is None else timeout * 1000))
