"""The pipe that wakes a worker's claim loops blocked on their connection's socket when the worker stops."""

from __future__ import annotations

import os
import socket
import threading

from pipeline.queue.worker import _StopPipe

NEVER = 3600.0  # a timeout no test waits out
BOUND = 30.0  # seconds a woken thread may take to run on a busy machine; not a figure under test


def test_stop_pipe__a_signal_wakes_a_wait_on_a_quiet_socket_at_once() -> None:
    pipe = _StopPipe()
    pipe.open()
    quiet, other_end = socket.socketpair()
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(pipe.wait_readable(quiet.fileno(), NEVER)))
    try:
        waiter.start()
        pipe.signal()
        waiter.join(BOUND)
        assert not waiter.is_alive(), "the signal did not wake the wait"
        assert outcome == [False]  # woken by the stop, not by the socket
        assert pipe.wait_readable(quiet.fileno(), NEVER) is False  # and it stays signalled
    finally:
        pipe.close()
        quiet.close()
        other_end.close()


def test_stop_pipe__a_readable_socket_is_reported_as_such() -> None:
    pipe = _StopPipe()
    pipe.open()
    readable, other_end = socket.socketpair()
    try:
        other_end.send(b"notification")
        assert pipe.wait_readable(readable.fileno(), NEVER) is True
    finally:
        pipe.close()
        readable.close()
        other_end.close()


def test_stop_pipe__signal_before_open_and_after_close_does_nothing_and_leaks_nothing() -> None:
    before = len(os.listdir("/proc/self/fd"))
    pipe = _StopPipe()
    pipe.signal()
    pipe.open()
    pipe.close()
    pipe.signal()
    pipe.close()
    assert len(os.listdir("/proc/self/fd")) == before
