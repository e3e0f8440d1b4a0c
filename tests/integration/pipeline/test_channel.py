"""The channel between stage processes (``pipeline.processes.channel``) with real spawned processes: whole messages
in order with many producers and consumers, the bound, timeouts, and peers that die in the middle of a message."""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import multiprocess
import pytest

from pipeline.processes.channel import PIPE_BYTES, Channel

CONTEXT = multiprocess.get_context("spawn")  # as the coordinator starts the stages
LONG = 3 * PIPE_BYTES + 12_345  # longer than the pipe's buffer: written and read in several pieces
WAIT = 30.0  # a bound for a condition on a busy machine, not a figure under test


def payload(producer: int, seq: int) -> bytes:
    """A message that says who sent it and can be checked whole: every third one longer than the pipe."""
    size = LONG if seq % 3 == 0 else 1 + (seq * 7919) % 50_000
    head = f"{producer}:{seq}:".encode()
    return head + hashlib.sha256(head).digest() * (size // 32 + 1)


def produce(channel: Channel, producer: int, count: int) -> None:
    for seq in range(count):
        channel.put(payload(producer, seq))


def consume(channel: Channel, consumer: int, results: Channel) -> None:
    """Get messages until an empty one; report (consumer, producer, seq, intact) of each, in the order received."""
    while message := channel.get(timeout=WAIT):
        producer, seq, _ = message.split(b":", 2)
        intact = message == payload(int(producer), int(seq))
        results.put(f"{consumer} {int(producer)} {int(seq)} {intact}".encode())
    results.put(b"end")


def put_and_report(channel: Channel, message: bytes, ready: Any) -> None:
    ready.set()
    channel.put(message)


def get_and_report(channel: Channel, ready: Any) -> None:
    ready.set()
    channel.get()


def polling(pid: int) -> bool:
    """True once ``pid`` waits in ``poll(2)``: for the processes below, inside a channel call, its message begun."""
    return "poll" in Path(f"/proc/{pid}/wchan").read_text()


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT:g} s"
        time.sleep(0.01)


@pytest.fixture
def processes() -> Iterator[list[Any]]:
    """Processes a test starts; whatever is still running at its end is killed."""
    started: list[Any] = []
    yield started
    for process in started:
        if process.is_alive():
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.join(WAIT)


def start(processes: list[Any], target: Any, *args: Any) -> Any:
    process = CONTEXT.Process(target=target, args=args, daemon=True)
    process.start()
    processes.append(process)
    return process


def test_channel__many_producers_and_consumers_get_every_message_once_whole_and_in_order(
    processes: list[Any],
) -> None:
    producers, consumers, count = 3, 2, 30
    channel = Channel(CONTEXT, maxsize=4)
    results = Channel(CONTEXT)
    for consumer in range(consumers):
        start(processes, consume, channel, consumer, results)
    for producer in range(producers):
        start(processes, produce, channel, producer, count)
    reports: list[tuple[int, int, int, bool]] = []
    while len(reports) < producers * count:
        consumer, producer, seq, intact = results.get(timeout=WAIT).decode().split()
        reports.append((int(consumer), int(producer), int(seq), intact == "True"))
    for _ in range(consumers):
        channel.put(b"")
    assert [results.get(timeout=WAIT) for _ in range(consumers)] == [b"end"] * consumers
    for process in processes:
        process.join(WAIT)
        assert process.exitcode == 0
    assert sorted((p, s, intact) for _, p, s, intact in reports) == [
        (p, s, True) for p in range(producers) for s in range(count)
    ]
    for consumer in range(consumers):
        for producer in range(producers):
            seqs = [s for c, p, s, _ in reports if (c, p) == (consumer, producer)]
            assert seqs == sorted(seqs), f"consumer {consumer} got producer {producer}'s messages out of order"


def test_channel__one_consumer_sees_each_producers_messages_in_the_order_they_were_put(
    processes: list[Any],
) -> None:
    channel = Channel(CONTEXT, maxsize=2)
    for producer in range(3):
        start(processes, produce, channel, producer, 20)
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for _ in range(60):
        message = channel.get(timeout=WAIT)
        producer, seq, _ = message.split(b":", 2)
        assert message == payload(int(producer), int(seq)), "a message arrived cut or mixed with another"
        seen[int(producer)].append(int(seq))
    assert seen == {producer: list(range(20)) for producer in range(3)}


def test_channel__put_raises_full_at_the_bound_and_get_raises_empty_when_nothing_came() -> None:
    channel = Channel(CONTEXT, maxsize=3)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.05)
    with pytest.raises(queue.Empty):
        channel.get_nowait()
    for n in range(3):
        channel.put(f"m{n}".encode(), timeout=0)
    with pytest.raises(queue.Full):
        channel.put(b"one too many", timeout=0.05)
    with pytest.raises(queue.Full):
        channel.put(b"one too many", block=False)
    assert channel.get(timeout=0) == b"m0"
    channel.put(b"m3", block=False)  # the slot the get freed
    assert [channel.get_nowait() for _ in range(3)] == [b"m1", b"m2", b"m3"]


def test_channel__an_unbounded_channel_is_bounded_by_its_pipe_and_a_timed_put_never_blocks_past_it() -> None:
    channel = Channel(CONTEXT)
    message = b"x" * 4000  # at most PIPE_BUF: written whole or not at all
    sent = 0
    try:
        while sent < 10 * PIPE_BYTES // len(message):
            channel.put(message, timeout=0.01)
            sent += 1
    except queue.Full:
        pass
    assert 60_000 <= sent * len(message) <= PIPE_BYTES, "the pipe held less than the kernel's default buffer, or more"
    with pytest.raises(queue.Full):
        channel.put(message, timeout=0.05)
    assert channel.get(timeout=0) == message


def test_channel__a_get_that_times_out_in_the_middle_of_a_message_returns_it_whole_on_the_next_get(
    processes: list[Any],
) -> None:
    channel = Channel(CONTEXT)
    ready = CONTEXT.Event()
    message = payload(7, 0)
    producer = start(processes, put_and_report, channel, message, ready)
    assert ready.wait(WAIT)
    wait_for(lambda: polling(producer.pid), "the producer waiting to write the rest of its message")
    os.kill(producer.pid, signal.SIGSTOP)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.2)  # reads what the pipe holds, then the rest does not come in time
    os.kill(producer.pid, signal.SIGCONT)
    assert channel.get(timeout=WAIT) == message


def test_channel__a_producer_that_died_in_the_middle_of_a_message_hangs_no_one(processes: list[Any]) -> None:
    channel = Channel(CONTEXT)
    ready = CONTEXT.Event()
    producer = start(processes, put_and_report, channel, payload(1, 0), ready)
    assert ready.wait(WAIT)
    wait_for(lambda: polling(producer.pid), "the producer waiting to write the rest of its message")
    producer.kill()
    producer.join(WAIT)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.2)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.2)  # the rest of the message never comes; each get still ends in time
    with pytest.raises(queue.Full):
        channel.put(b"after", timeout=0.2)  # the dead producer holds the write lock for good


def test_channel__a_consumer_that_died_in_the_middle_of_a_message_hangs_no_one(processes: list[Any]) -> None:
    channel = Channel(CONTEXT, maxsize=4)
    producer_ready, consumer_ready = CONTEXT.Event(), CONTEXT.Event()
    producer = start(processes, put_and_report, channel, payload(2, 0), producer_ready)
    assert producer_ready.wait(WAIT)
    wait_for(lambda: polling(producer.pid), "the producer waiting to write the rest of its message")
    os.kill(producer.pid, signal.SIGSTOP)  # the consumer drains the pipe, then waits for the rest
    consumer = start(processes, get_and_report, channel, consumer_ready)
    assert consumer_ready.wait(WAIT)
    wait_for(lambda: polling(consumer.pid), "the consumer waiting to read the rest of the message")
    consumer.kill()
    consumer.join(WAIT)
    os.kill(producer.pid, signal.SIGCONT)
    with pytest.raises(queue.Empty):
        channel.get(timeout=0.2)  # the dead consumer holds the read lock for good
    with pytest.raises(queue.Full):
        channel.put(b"after", timeout=0.2)  # the producer is still writing the message nobody reads


def test_channel__a_consumer_that_died_leaves_a_full_channel_whose_timed_put_raises_full(
    processes: list[Any],
) -> None:
    channel = Channel(CONTEXT, maxsize=2)
    ready = CONTEXT.Event()
    consumer = start(processes, get_and_report, channel, ready)
    assert ready.wait(WAIT)
    consumer.kill()
    consumer.join(WAIT)
    channel.put(b"a", timeout=0)
    channel.put(b"b", timeout=0)
    with pytest.raises(queue.Full):
        channel.put(b"c", timeout=0.2)


def test_channel__close_waits_for_a_get_in_another_thread_and_later_calls_raise() -> None:
    channel = Channel(CONTEXT)
    outcome: list[BaseException] = []

    def get() -> None:
        try:
            channel.get(timeout=0.5)
        except BaseException as exc:
            outcome.append(exc)

    getter = threading.Thread(target=get)
    getter.start()
    channel.close()
    getter.join(WAIT)
    assert len(outcome) == 1
    assert isinstance(outcome[0], queue.Empty | ValueError), outcome
    with pytest.raises(ValueError, match="closed"):
        channel.put(b"late")
    with pytest.raises(ValueError, match="closed"):
        channel.get(timeout=0)
