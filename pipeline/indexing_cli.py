"""CLI handlers for the indexing commands: ``run``, ``enqueue``, ``index``, ``status``.

Every handler applies pending migrations first (cheap when up to date), so a fresh database just works.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
import uuid
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
from pipeline.index_requests import parse_request_target
from pipeline.migrate import migrate
from pipeline.queue.client import Queue

logger = logging.getLogger(__name__)

STAGES = ("fetch", "parse", "write")
FINISHED = (IndexJobStatus.COMPLETED, IndexJobStatus.FAILED, IndexJobStatus.SKIPPED, IndexJobStatus.CANCELLED)


def _prepared_url(config: Config) -> str:
    url = database_url(config)
    migrate(url, config.database.schema)
    return url


def _job_json(job: IndexJob) -> str:
    return orjson.dumps(msgspec.to_builtins(job), option=orjson.OPT_INDENT_2).decode()


def run(args: argparse.Namespace, config: Config) -> int:
    from pipeline.coordinator import Coordinator  # noqa: PLC0415  (imports multiprocess and the stages)

    _prepared_url(config)
    return Coordinator(config, until_idle=args.until_idle).run()


def _enqueue(args: argparse.Namespace, config: Config) -> index_jobs.Enqueued:
    target = parse_request_target(args.target, base_url=config.index.base_url)
    url = _prepared_url(config)
    with Queue(url, config.database.schema, config.queue) as queue, connect(url, config.database.schema) as conn:
        enqueued = index_jobs.enqueue(
            conn, queue, target, ref=args.ref, commit_sha=args.commit, priority=args.priority, force=args.force
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
    """Enqueue, then run a coordinator in this process tree until that job is finished, showing progress."""
    from pipeline.coordinator import Coordinator  # noqa: PLC0415

    enqueued = _enqueue(args, config)
    job_id = enqueued.job.id
    coordinator = Coordinator(config, until_index_job=job_id)
    worker = threading.Thread(target=coordinator.run, kwargs={"install_signal_handlers": False}, daemon=True)
    worker.start()
    console = Console(stderr=True)
    url = database_url(config)
    try:
        with connect(url, config.database.schema, autocommit=True) as conn:
            final = _watch(conn, job_id, console, live=console.is_terminal and not args.json)
    except KeyboardInterrupt:
        console.print("interrupted: releasing the job back to the queue")
        coordinator.stop()
        worker.join()
        return 130
    coordinator.stop()
    worker.join()
    print(_job_json(final) if args.json else _describe(final))
    # skipped: the commit was already the repository's current index, which is what was asked for
    return 0 if final.status in (IndexJobStatus.COMPLETED, IndexJobStatus.SKIPPED) else 1


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
    url = _prepared_url(config)
    with connect(url, config.database.schema, autocommit=True) as conn:
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
