"""CLI handlers for the indexing commands: ``run``, ``enqueue``, ``index``, ``status``.

Every handler applies pending migrations first (cheap when up to date), so a fresh database just works.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import uuid
from types import FrameType
from typing import Any

import msgspec
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.db import connect, database_url
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.migrate import ensure_schema
from pipeline.queue.client import Queue
from pipeline.queue.worker import new_worker_id
from stages.fetch import parse_target

logger = logging.getLogger(__name__)

STAGES = ("fetch", "parse", "write")
FINISHED = (IndexJobStatus.COMPLETED, IndexJobStatus.FAILED, IndexJobStatus.SKIPPED, IndexJobStatus.CANCELLED)


def _job_json(job: IndexJob) -> str:
    return orjson.dumps(msgspec.to_builtins(job), option=orjson.OPT_INDENT_2).decode()


def run(args: argparse.Namespace, config: Config) -> int:
    from pipeline.coordinator import Coordinator  # noqa: PLC0415  (imports multiprocess and the stages)

    ensure_schema(config)
    return Coordinator(config, until_idle=args.until_idle).run()


def _enqueue(args: argparse.Namespace, config: Config, *, reserved_for: str | None = None) -> index_jobs.Enqueued:
    target = parse_target(args.target, base_url=config.index.base_url)
    url = ensure_schema(config)
    pooler = config.database.transaction_pooler
    with (
        Queue(url, config.database.schema, config.queue, transaction_pooler=pooler) as queue,
        connect(url, config.database.schema, transaction_pooler=pooler) as conn,
    ):
        enqueued = index_jobs.enqueue(
            conn,
            queue,
            target,
            ref=args.ref,
            commit_sha=args.commit,
            priority=args.priority,
            force=args.force,
            reserved_for=reserved_for,
        )
        conn.commit()
    return enqueued


def enqueue(args: argparse.Namespace, config: Config) -> int:
    enqueued = _enqueue(args, config)
    if args.json:
        print(orjson.dumps({"job_id": str(enqueued.job.id), "created": enqueued.created}).decode())
    else:
        print(enqueued.job.id)
    return 0


def index(args: argparse.Namespace, config: Config) -> int:
    """Enqueue, then run a coordinator in this process tree for that job only until it is finished, showing
    progress. The job is reserved for this command's worker: no other worker takes it while the command runs, and
    any worker may once it stops (SIGINT or SIGTERM release it at once) or dies, so it is never stranded."""
    from pipeline.coordinator import Coordinator  # noqa: PLC0415

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    running: tuple[Coordinator, threading.Thread] | None = None
    try:
        worker_id = new_worker_id()
        job_id = _enqueue(args, config, reserved_for=worker_id).job.id
        coordinator = Coordinator(config, until_index_job=job_id, worker_id=worker_id)
        worker = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False}, daemon=True)
        worker.start()
        running = coordinator, worker
        console = Console(stderr=True)
        with connect(
            database_url(config),
            config.database.schema,
            autocommit=True,
            transaction_pooler=config.database.transaction_pooler,
        ) as conn:
            final = _watch(conn, job_id, console, live=console.is_terminal and not args.json)
        coordinator.stop()
        worker.join()
    except _Interrupted as interrupted:
        print("interrupted: the job is released; the same command resumes it", file=sys.stderr)
        if running is not None:
            running[0].stop(timeout=0)
            running[1].join()
        return 128 + interrupted.signum
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print(_job_json(final) if args.json else _describe(final))
    # skipped: the commit was already the repository's current index, which is what was asked for
    return 0 if final.status in (IndexJobStatus.COMPLETED, IndexJobStatus.SKIPPED) else 1


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while ``index`` runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    raise _Interrupted(signum)


def _watch(conn: Any, job_id: uuid.UUID, console: Console, *, live: bool) -> IndexJob:
    """Poll the job until it is finished; on a terminal, draw one progress bar per stage."""
    columns = (TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not live, transient=False) as bars:
        tasks = {stage: bars.add_task(stage, total=None) for stage in STAGES}
        while True:
            job = index_jobs.get(conn, job_id)
            assert job is not None
            for stage in STAGES:
                values = job.progress.get(stage)
                if values:
                    bars.update(tasks[stage], total=values["items_in"] or None, completed=values["items_out"])
            if job.status in FINISHED:
                return job
            time.sleep(0.2)


def _describe(job: IndexJob) -> str:
    lines = [
        f"job {job.id}: {job.status.value}",
        f"repository {job.repository} ({job.git_url})",
        f"commit {job.commit_sha or '-'}  ref {job.ref or '-'}  attempts {job.retry_count + 1}",
    ]
    if job.error_message:
        lines.append(f"error ({job.last_stage or '-'}): {job.error_message}")
    stats = job.stats
    if job.status == IndexJobStatus.SKIPPED:
        lines.append("this commit is already the repository's current index (--force indexes it again)")
    elif stats:
        lines.append(
            "files seen {files_seen}, parsed {files_parsed}, failed to parse {files_failed_to_parse}, "
            "symbols {symbols}, references {references}, imports {imports}, dependencies {dependencies}".format_map(
                {
                    key: stats.get(key, 0)
                    for key in (
                        "files_seen",
                        "files_parsed",
                        "files_failed_to_parse",
                        "symbols",
                        "references",
                        "imports",
                        "dependencies",
                    )
                }
            )
        )
        skipped = {reason: count for reason, count in stats.get("skipped", {}).items() if count}
        if skipped:
            lines.append("skipped " + ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())))
        lines.append("seconds " + ", ".join(f"{stage} {value}" for stage, value in stats.get("seconds", {}).items()))
    for stage in STAGES:
        values = job.progress.get(stage)
        if values:
            lines.append(f"  {stage:>5}: in {values['items_in']}, out {values['items_out']}, failed {values['failed']}")
    return "\n".join(lines)


def status(args: argparse.Namespace, config: Config) -> int:
    url = ensure_schema(config)
    with connect(
        url, config.database.schema, autocommit=True, transaction_pooler=config.database.transaction_pooler
    ) as conn:
        if args.job_id is not None:
            job = index_jobs.get(conn, args.job_id)
            if job is None:
                print(f"error: no index job {args.job_id}")
                return 1
            print(_job_json(job) if args.json else _describe(job))
            return 0
        jobs = index_jobs.list_jobs(conn, limit=args.limit)
    if args.json:
        print(orjson.dumps([msgspec.to_builtins(job) for job in jobs]).decode())
        return 0
    table = Table(title=f"recent index jobs ({len(jobs)})")
    for column in ("id", "repository", "commit", "status", "attempts", "symbols", "created"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            str(job.id),
            job.repository,
            (job.commit_sha or job.ref or "-")[:12],
            job.status.value,
            str(job.retry_count + 1),
            str(job.stats.get("symbols", "-")),
            job.created_at.isoformat(timespec="seconds"),
        )
    Console().print(table)
    return 0
