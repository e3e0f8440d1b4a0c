"""CLI handlers for the indexing commands: ``run``, ``enqueue``, ``index``, ``status``.

Every handler applies pending migrations first (cheap when up to date), so a fresh database just works.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import FrameType
from typing import TYPE_CHECKING, Any

import msgspec
import orjson
from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.db import connect
from pipeline.errors import PipelineError
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.migrate import ensure_schema
from pipeline.queue.client import Queue
from pipeline.queue.worker import new_worker_id

if TYPE_CHECKING:
    from pipeline.coordinator import Coordinator

logger = logging.getLogger(__name__)

STAGES = ("fetch", "parse", "write")
SECONDS_ORDER = ("fetch", "parse", "write", "link", "total")
WATCH_INTERVAL = 0.2  # seconds between looks at the job's progress while indexing
STDERR_DRAIN_TIMEOUT = 5.0  # bound on printing the stage processes' last lines (they stopped: it takes far less)
FINISHED = (IndexJobStatus.COMPLETED, IndexJobStatus.FAILED, IndexJobStatus.SKIPPED, IndexJobStatus.CANCELLED)


def _job_json(job: IndexJob) -> str:
    return orjson.dumps(msgspec.to_builtins(job), option=orjson.OPT_INDENT_2).decode()


def run(args: argparse.Namespace, config: Config) -> int:
    from pipeline.coordinator import Coordinator  # noqa: PLC0415  (imports multiprocess and the stages)

    ensure_schema(config)
    return Coordinator(config, until_idle=args.until_idle).run()


def _enqueue(args: argparse.Namespace, config: Config, *, reserved_for: str | None = None) -> index_jobs.Enqueued:
    from pipeline.index_requests import parse_request_target  # noqa: PLC0415  (git: only the commands naming one)

    target = parse_request_target(args.target, base_url=config.index.base_url)
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
    progress on a terminal; print the job as a summary table (``--json``: the full record). The job is reserved
    for this command's worker: no other worker takes it while the command runs, and any worker may once it stops
    (SIGINT or SIGTERM release it at once; a second signal ends the command at once) or dies, so it is never
    stranded. A worker that stops on its own before the job is finished ends the command with ``WorkerStopped``."""
    from pipeline.coordinator import Coordinator  # noqa: PLC0415

    live = not args.json and sys.stderr.isatty()
    if live and config.log.format == "auto":  # the stage processes' stderr becomes a pipe to the bars' console
        config = msgspec.structs.replace(config, log=msgspec.structs.replace(config.log, format="human"))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        worker_id = new_worker_id()
        job_id = _enqueue(args, config, reserved_for=worker_id).job.id
        with _stage_bars() if live else nullcontext() as bars:
            coordinator = Coordinator(config, until_index_job=job_id, worker_id=worker_id)
            final = _run_until_finished(coordinator, config, job_id, bars)
    except _Interrupted as interrupted:
        print(
            "interrupted: the job is released to the queue (any worker, or this command again, runs it)",
            file=sys.stderr,
        )
        return 128 + interrupted.signum
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if args.json:
        print(_job_json(final))
    else:
        Console(soft_wrap=False).print(_summary(final))
    # skipped: the commit was already the repository's current index, which is what was asked for
    return 0 if final.status in (IndexJobStatus.COMPLETED, IndexJobStatus.SKIPPED) else 1


class WorkerStopped(PipelineError):
    """The ``index`` command's coordinator stopped on its own before the job was finished."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # the command's: the coordinator's own when it named one (70: stages keep dying)


class _CoordinatorThread(threading.Thread):
    """Runs ``coordinator.run`` and keeps how it ended: its exit code, or the exception it raised; ``ended`` is set
    once it has (a waiter interrupted by a signal leaves an event intact, whereas an interrupted ``join`` can take
    a running thread for ended on Python 3.11)."""

    def __init__(self, coordinator: Coordinator) -> None:
        super().__init__(name="coordinator", daemon=True)
        self.coordinator = coordinator
        self.exit_code: int | None = None
        self.error: Exception | None = None
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            self.exit_code = self.coordinator.run(install_signal_handlers=False)
        except Exception as exc:  # reported by the command, in its one line
            logger.debug("the coordinator failed", exc_info=True)
            self.error = exc
        finally:
            self.ended.set()


def _run_until_finished(coordinator: Coordinator, config: Config, job_id: uuid.UUID, bars: Progress | None) -> IndexJob:
    """Run ``coordinator`` in a thread and watch the job until it is finished; the coordinator is stopped and its
    thread joined before this returns or raises (an interrupt releases the running job at once), so no stage
    process outlives the call. Raises ``WorkerStopped`` when the coordinator ends first."""
    thread = _CoordinatorThread(coordinator)
    thread.start()
    release_at_once = True
    try:
        with connect(
            coordinator.url,
            config.database.schema,
            autocommit=True,
            transaction_pooler=config.database.transaction_pooler,
        ) as conn:
            final = _watch(conn, job_id, bars, thread)
        release_at_once = False
    finally:
        try:
            coordinator.stop(timeout=0 if release_at_once else None)
            thread.ended.wait()  # not ``join``, which an interrupt can end early (see ``_CoordinatorThread``)
        except _Interrupted:  # while a finished job's worker stops: release at once, then report the interrupt
            coordinator.stop(timeout=0)
            thread.ended.wait()
            raise
        thread.join()
    if final is None:
        reason = (
            f"{type(thread.error).__name__}: {thread.error}"
            if thread.error is not None
            else f"exit code {thread.exit_code}"
        )
        raise WorkerStopped(
            f"the worker stopped before index job {job_id} was finished ({reason}); the queue keeps the job for "
            "another worker",
            thread.exit_code or 1,
        )
    return final


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while ``index`` runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    for number in (signal.SIGINT, signal.SIGTERM):  # a second one, of either kind, ends the process at once
        signal.signal(number, signal.SIG_DFL)
    raise _Interrupted(signum)


class _RateColumn(ProgressColumn):
    """Items per second of a stage, as rich estimates it from the recent updates."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("    - files/s" if speed is None else f"{speed:>6,.0f} files/s", style="progress.data.speed")


_END_OF_STDERR = b"\x00pipeline: end of the stage processes' stderr\n"  # no log line starts with a NUL


@contextmanager
def _stage_bars() -> Iterator[Progress]:
    """One ``Progress`` (rich's ``Live`` inside) with a bar per stage on the terminal that stderr is.

    While it is shown, file descriptor 2 is a pipe read by a thread that prints each line above the bars through
    the bars' console, cut to the terminal's width: this process's log lines and those of the stage processes
    (which inherit the descriptor) never land inside the bars, and the bars are drawn once, not left behind as
    stale copies. On exit (the caller has stopped the stage processes by then) the descriptor is restored and an
    end marker written behind the lines still in the pipe: the reader prints them and stops at the marker, whoever
    else still holds the pipe, and only then is the terminal's descriptor closed.
    """
    from multiprocess import resource_tracker  # noqa: PLC0415  (only a live index needs it)

    sys.stderr.flush()
    # multiprocess's resource tracker is started by the first queue and keeps the stderr it was started with until
    # this process exits: it must get the terminal, not the pipe.
    resource_tracker.ensure_running()
    terminal = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
    console = Console(file=terminal)
    columns = (
        TextColumn("{task.description:>5}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    at_marker = threading.Event()
    reader = threading.Thread(
        target=_print_lines, args=(read_end, console, at_marker), name="stderr-above-bars", daemon=True
    )
    reader.start()
    try:
        with progress:
            try:
                yield progress
            finally:
                sys.stderr.flush()
                os.dup2(terminal.fileno(), 2)
                os.write(write_end, _END_OF_STDERR)
                os.close(write_end)
                reader.join(timeout=STDERR_DRAIN_TIMEOUT)
    finally:
        # logged once the bars are gone: a line written to the terminal while they are drawn would be overdrawn
        if reader.is_alive():  # the reader is stuck (never expected): it keeps the terminal it prints to
            logger.warning("the stage processes' last lines were not all printed", extra={"stderr_pipe": "stuck"})
        else:
            terminal.close()
            ended = "drained to its end marker" if at_marker.is_set() else "ended without its end marker"
            logger.debug(f"stage processes' stderr {ended}")


def _print_lines(read_end: int, console: Console, at_marker: threading.Event) -> None:
    """Print each line of the pipe through ``console`` until the end marker (then set ``at_marker``) or the pipe's
    end."""
    with os.fdopen(read_end, "rb") as pipe:
        for line in pipe:
            if line == _END_OF_STDERR:
                at_marker.set()
                return
            text = line.decode("utf-8", errors="replace").rstrip()
            console.print(Text(text), no_wrap=True, overflow="ellipsis", soft_wrap=False, highlight=False)


def _watch(conn: Any, job_id: uuid.UUID, bars: Progress | None, coordinator: _CoordinatorThread) -> IndexJob | None:
    """Look at the job until it is finished, drawing its per-stage progress on ``bars`` when given, every
    ``WATCH_INTERVAL`` and at once when the ``coordinator`` thread ends (it stops once the job is finished);
    ``None`` once that thread has ended while the job is not finished."""
    tasks = {stage: bars.add_task(stage, total=None) for stage in STAGES} if bars else {}
    while True:
        running = not coordinator.ended.is_set()  # read before the job: a job finished just before the end counts
        job = index_jobs.get(conn, job_id)
        assert job is not None
        for stage, task in tasks.items():
            values = job.progress.get(stage)
            if values and bars is not None:
                done = values["items_out"] + values["failed"]
                total = done if values.get("finished") else values["items_in"] or None
                bars.update(task, total=total, completed=done)
        if job.status in FINISHED:
            return job
        if not running:
            return None
        coordinator.ended.wait(WATCH_INTERVAL)


def _summary(job: IndexJob) -> Group:
    """The job in two lines and a compact table: files, symbols, references, links, dependencies, skipped files by
    reason, seconds per stage (or, for a job that stored nothing, its per-stage progress and error)."""
    revision = f"commit {job.commit_sha or '-'}" + (f"  ref {job.ref}" if job.ref else "")
    lines: list[RenderableType] = [
        Text(f"job {job.id}: {job.status.value}"),
        Text(f"repository {job.repository} ({job.git_url})  {revision}  attempts {job.retry_count + 1}"),
    ]
    if job.error_message:
        lines.append(Text(f"error ({job.last_stage or '-'}): {job.error_message}"))
    if job.status == IndexJobStatus.SKIPPED:
        lines.append(Text("this commit is already the repository's current index (--force indexes it again)"))
    table = Table(show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    stats = job.stats
    if stats.get("files_seen") is not None:
        table.add_row(
            "files",
            f"{stats.get('files_parsed', 0)} parsed of {stats['files_seen']} seen, "
            f"{stats.get('files_failed_to_parse', 0)} failed to parse",
        )
        for key in ("symbols", "references", "imports", "dependencies"):
            table.add_row(key, str(stats.get(key, 0)))
        table.add_row(
            "links", f"{stats.get('reference_links', 0)} references, {stats.get('resolved_imports', 0)} imports"
        )
        skipped = {reason: count for reason, count in stats.get("skipped", {}).items() if count}
        table.add_row("skipped", ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())) or "none")
        seconds = stats.get("seconds", {})
        table.add_row("seconds", ", ".join(f"{stage} {seconds[stage]}" for stage in SECONDS_ORDER if stage in seconds))
    else:
        for stage in STAGES:
            values = job.progress.get(stage)
            if values:
                table.add_row(stage, f"{values['items_in']} in, {values['items_out']} out, {values['failed']} failed")
    if table.row_count:
        lines.append(table)
    return Group(*lines)


def status(args: argparse.Namespace, config: Config) -> int:
    url = ensure_schema(config)
    with connect(
        url, config.database.schema, autocommit=True, transaction_pooler=config.database.transaction_pooler
    ) as conn:
        if args.job_id is not None:
            job = index_jobs.get(conn, args.job_id)
            if job is None:
                raise PipelineError(f"no index job {args.job_id}")
            if args.json:
                print(_job_json(job))
            else:
                Console(soft_wrap=False).print(_summary(job))
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
