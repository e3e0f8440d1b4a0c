"""What carrying a stage message costs: ``multiprocess.Queue`` against ``pipeline.processes.channel.Channel``.

One producer process puts N copies of a message (msgpack bytes, as the stages send them) and one consumer process
gets them, through a channel bounded at ``index.queue_items`` (256) messages; each process measures its own CPU
time (all its threads: the queue's feeder thread included). Two messages: a ``ParseItem`` carrying an ~8 KB source
file (what the fetcher sends a parser) and the ``ParseResult`` of that file's extraction (what a parser sends the
writer). Transports alternate within each repetition, so both see the same machine load.

Prints, per message and transport, the median and range over the repetitions of: CPU seconds per 10,000 messages
(producer + consumer) and wall seconds per 10,000 messages.

Run: ``python bench/channel_bench.py [--messages N] [--reps R]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import multiprocess

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR.parent))

from pipeline import messages  # noqa: E402 - bench scripts run from a checkout
from pipeline.processes.channel import Channel  # noqa: E402
from stages.extract import extract_source  # noqa: E402

BOUND = 256  # index.queue_items' default
PER = 10_000  # figures are per this many messages
REPORT_WAIT = 120.0  # seconds a run may take before the bench gives up on it (a process that died never reports)


def typescript_source(target_bytes: int) -> bytes:
    """A TypeScript module of about ``target_bytes``: imports, classes, functions and calls, as real files mix them."""
    parts = ['import { Observable, map } from "rxjs";\nimport type { Config } from "./config";\n\n']
    n = 0
    while sum(map(len, parts)) < target_bytes:
        parts.append(
            f"/** Item {n}. */\nexport class Item{n} extends Base {{\n"
            f"  private readonly values: Map<string, number> = new Map();\n"
            f"  constructor(readonly name: string, config: Config) {{ super(config); }}\n"
            f"  get size(): number {{ return this.values.size; }}\n"
            f"  add(key: string, value: number): this {{\n"
            f"    this.values.set(key, value + helper{n}(key));\n    return this;\n  }}\n"
            f"}}\n\nexport function helper{n}(key: string): number {{\n"
            f"  return key.length > {n} ? Math.max(key.length, {n}) : parseInt(key, 10);\n}}\n\n"
        )
        n += 1
    return "".join(parts).encode()


def payloads() -> dict[str, bytes]:
    source = typescript_source(8 * 1024)
    path = "src/items.ts"
    item = messages.ParseItem(job="job-1", file_idx=1, path=path, oid="0" * 40, language="typescript", data=source)
    result = messages.ParseResult(
        job="job-1", file_idx=1, oid="0" * 40, extraction=extract_source(path, source, language="typescript")
    )
    return {"ParseItem": messages.encode(item), "ParseResult": messages.encode(result)}


def produce(channel: Any, payload: bytes, count: int, report: Any) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        channel.put(payload)
    report.put(("producer", time.process_time() - cpu, started))


def consume(channel: Any, count: int, report: Any) -> None:
    cpu = time.process_time()
    for _ in range(count):
        channel.get()
    report.put(("consumer", time.process_time() - cpu, time.perf_counter()))


def run_once(make: Callable[[], Any], payload: bytes, count: int, context: Any) -> tuple[float, float]:
    """(CPU seconds of producer + consumer, wall seconds from the first put to the last get) for ``count``
    messages; starting the processes is not counted (``perf_counter`` is one clock for all processes)."""
    channel = make()
    report = context.Queue()
    consumer = context.Process(target=consume, args=(channel, count, report))
    producer = context.Process(target=produce, args=(channel, payload, count, report))
    consumer.start()
    producer.start()
    figures = {role: (cpu, at) for role, cpu, at in (report.get(timeout=REPORT_WAIT) for _ in range(2))}
    producer.join()
    consumer.join()
    return figures["producer"][0] + figures["consumer"][0], figures["consumer"][1] - figures["producer"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    context = multiprocess.get_context("spawn")
    transports: dict[str, Callable[[], Any]] = {
        "multiprocess.Queue": lambda: context.Queue(maxsize=BOUND),
        "Channel": lambda: Channel(context, maxsize=BOUND),
    }
    for name, payload in payloads().items():
        cpu: dict[str, list[float]] = {t: [] for t in transports}
        wall: dict[str, list[float]] = {t: [] for t in transports}
        for _ in range(args.reps):
            for transport, make in transports.items():
                seconds, elapsed = run_once(make, payload, args.messages, context)
                cpu[transport].append(seconds * PER / args.messages)
                wall[transport].append(elapsed * PER / args.messages)
        print(f"{name} ({len(payload):,} bytes), {args.messages:,} messages x {args.reps} reps, per {PER:,} messages:")
        for transport in transports:
            print(
                f"  {transport:<19} CPU {_spread(cpu[transport])} s   wall {_spread(wall[transport])} s"
                f"   ({_per_message(cpu[transport])} µs CPU per message)"
            )
        old, new = (statistics.median(cpu[t]) for t in transports)
        print(f"  Channel CPU / Queue CPU: {new / old:.2f}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f} [{min(values):.3f}-{max(values):.3f}]"


def _per_message(values: list[float]) -> str:
    return f"{statistics.median(values) / PER * 1e6:5.1f}"


if __name__ == "__main__":
    main()
