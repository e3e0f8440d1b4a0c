"""A real worker process for the queue's process tests: ``python worker_proc.py URL QUEUE LOG [options]``.

The handler appends ``start <job id> <attempt> <pid>`` to LOG when a job starts and ``done ...`` when it returns,
so a test can tell which process ran what and how often. ``--sleep S`` makes each job take S seconds (returning
early if the job is abandoned), ``--sleep-first`` only the first job this process runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pipeline.config import QueueConfig
from pipeline.queue import Job, Worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("log")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--sleep-first", action="store_true")
    parser.add_argument("--shutdown-timeout", type=float, default=5.0)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--no-maintenance", action="store_true")
    args = parser.parse_args()
    pid = os.getpid()
    log = open(args.log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115  (open for the process's life)
    jobs_run = 0

    def handler(job: Job) -> dict[str, int]:
        nonlocal jobs_run
        jobs_run += 1
        log.write(f"start {job.id} {job.attempt} {pid}\n")
        if args.sleep and (jobs_run == 1 or not args.sleep_first):
            deadline = time.monotonic() + args.sleep
            while time.monotonic() < deadline and not job.is_abandoned():
                time.sleep(0.02)
        log.write(f"done {job.id} {job.attempt} {pid}\n")
        return {"pid": pid}

    config = QueueConfig(heartbeat_interval=args.heartbeat, poll_interval=0.2, shutdown_timeout=args.shutdown_timeout)
    worker = Worker(
        args.url,
        "pipeline",
        args.queue,
        handler,
        config=config,
        batch_size=args.batch,
        concurrency=args.concurrency,
        maintenance=not args.no_maintenance,
    )
    print("ready", flush=True)
    worker.run()
    log.write(f"exit {pid}\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
