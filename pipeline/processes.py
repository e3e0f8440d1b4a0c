"""The stage processes: fetcher → parser pool → writer, linked by bounded ``multiprocess`` queues of msgpack bytes.

Each ``*_main`` function is a process body. Shared guarantees:
- Children ignore SIGINT and SIGTERM: the coordinator decides when they stop (a ``Stop`` message drains the queue
  ahead of it). A child whose coordinator died (parent pid changed) exits on its own within a second.
- Bounded queues give backpressure: a fast stage blocks on ``put`` instead of filling memory.
- A stage never lets one job's failure stop it: the job is reported failed (``JobFailed``) and the loop goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue as queue_module
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import orjson
import psycopg
from psycopg.rows import TupleRow

from pipeline import index_jobs, messages
from pipeline.config import Config, LogConfig
from pipeline.db import connect, query
from pipeline.log import configure_logging, log_context
from stages.commit import commit_context, link_commit
from stages.extract import ExtractionLimits
from stages.fetch import (
    FetchError,
    RepoTarget,
    cleanup_stale_workdirs,
    clone_bare,
    job_workdir,
    list_files,
    read_files,
    resolve_commit,
    scrub,
    set_network_timeouts,
)
from stages.models import FileError, FileExtraction
from stages.parse import ParseLimits
from stages.write import FileRow, SnapshotWriter

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 0.5  # seconds between progress messages of one stage for one job
POLL = 1.0  # seconds a stage waits on its inbox before checking that its parent is alive

ExtractFunction = Callable[..., FileExtraction]
"""``extract(path, source, *, limits, language) -> FileExtraction``: the parser processes' per-file function."""


class BytesQueue(Protocol):
    def put(self, item: bytes, block: bool = True, timeout: float | None = None) -> None: ...
    def get(self, block: bool = True, timeout: float | None = None) -> bytes: ...
    def get_nowait(self) -> bytes: ...


def _child_setup(log: LogConfig, stage: str) -> int:
    """Ignore terminal and service signals (the coordinator stops us), configure logs; returns the parent pid."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(log)
    logger.debug("stage process started", extra={"stage": stage, "pid": os.getpid()})
    return os.getppid()


def _inbox(inbox: BytesQueue, parent: int) -> Iterator[bytes]:
    """Yield messages until the parent process is gone."""
    while True:
        try:
            yield inbox.get(timeout=POLL)
        except queue_module.Empty:
            if os.getppid() != parent:
                logger.warning("coordinator is gone; stage process exits")
                return


class _Throttle:
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


# ------------------------------------------------------------------------------------------------------- fetcher


@dataclass(frozen=True)
class StageQueues:
    """The queues of one generation of stage processes (bounded where a fast producer could outrun)."""

    fetch_inbox: BytesQueue
    parse_queue: BytesQueue
    write_queue: BytesQueue
    events: BytesQueue


def fetcher_main(config: Config, tmp_root: str, token: str | None, queues: StageQueues) -> None:
    """Process body of the fetcher; see ``Fetcher``."""
    parent = _child_setup(config.log, "fetch")
    Fetcher(config, Path(tmp_root), token, queues).run(parent)


class Fetcher:
    """Clone bare, list the tree, stream file items to the parsers; the commit context goes to the writer.

    At start, removes per-job directories left by crashed runs (``stages.fetch.cleanup_stale_workdirs``). Each job's
    clone lives in ``<tmp_root>/pipeline-<job>/`` and is removed when the job's files have all been sent or it
    failed. Fetch errors are reported with ``retryable`` from the error's class and are free of the token.
    """

    def __init__(self, config: Config, tmp_root: Path, token: str | None, queues: StageQueues) -> None:
        self.config = config
        self.tmp_root = tmp_root
        self.token = token
        self.queues = queues
        self.aborted: set[str] = set()
        self.deferred: list[messages.FetchRequest | messages.Stop] = []
        self.throttle = _Throttle()

    def run(self, parent: int) -> None:
        index = self.config.index
        set_network_timeouts(connect_seconds=index.git_connect_timeout, io_seconds=index.git_io_timeout)
        self.tmp_root.mkdir(parents=True, exist_ok=True)
        removed = cleanup_stale_workdirs(self.tmp_root)
        if removed:
            logger.info("removed leftover job directories", extra={"count": len(removed)})
        for message in self._requests(parent):
            if isinstance(message, messages.Stop):
                return
            if isinstance(message, messages.Abort):
                self.aborted.add(message.job)
            elif message.job not in self.aborted:
                self.run_once(message)

    def _requests(self, parent: int) -> Iterator[messages.FetcherInbox]:
        inbox = _inbox(self.queues.fetch_inbox, parent)
        while True:
            while self.deferred:
                yield self.deferred.pop(0)
            raw = next(inbox, None)
            if raw is None:
                return
            yield messages.decode_fetcher(raw)

    def _check_inbox(self) -> None:
        """Between files: note aborts without blocking; other messages wait their turn."""
        while True:
            try:
                message = messages.decode_fetcher(self.queues.fetch_inbox.get_nowait())
            except queue_module.Empty:
                return
            if isinstance(message, messages.Abort):
                self.aborted.add(message.job)
            else:
                self.deferred.append(message)

    def run_once(self, request: messages.FetchRequest) -> None:
        """Fetch one job; any failure is reported to the coordinator, never raised."""
        with log_context(job_id=request.job, stage="fetch"):
            try:
                self._fetch(request)
            except FetchError as exc:
                self._failed(request, scrub(str(exc), self.token), retryable=exc.retryable)
            except Exception as exc:  # an unexpected error fails the job, not the fetcher
                logger.exception("fetch failed")
                self._failed(request, scrub(f"{type(exc).__name__}: {exc}", self.token), retryable=True)

    def _failed(self, request: messages.FetchRequest, error: str, *, retryable: bool) -> None:
        failure = messages.JobFailed(job=request.job, stage="fetch", error=error, retryable=retryable)
        self.queues.events.put(messages.encode(failure))

    def _fetch(self, request: messages.FetchRequest) -> None:
        started = time.monotonic()
        queues = self.queues
        target = RepoTarget(url=request.url, transport=request.transport, full_name=request.full_name)
        with job_workdir(self.tmp_root, request.job) as workdir:
            repo = clone_bare(target, workdir, token=self.token, ref=request.ref, commit_sha=request.commit_sha)
            commit_sha = resolve_commit(repo, ref=request.ref, commit_sha=request.commit_sha)
            listing = list_files(repo, commit_sha, max_file_bytes=self.config.index.max_file_bytes)
            listed = len(listing.items)
            queues.write_queue.put(
                messages.encode(messages.FetchStarted(job=request.job, commit_sha=commit_sha, files=listed))
            )
            sent = sent_bytes = 0
            for item, data in read_files(repo, listing.items, skipped=listing.skipped):
                if sent % 64 == 0:
                    self._check_inbox()
                    if request.job in self.aborted:
                        logger.info("job aborted while fetching")
                        return
                item_message = messages.ParseItem(
                    job=request.job, file_idx=sent, path=item.path, oid=item.oid, language=item.language, data=data
                )
                queues.parse_queue.put(messages.encode(item_message))
                sent += 1
                sent_bytes += len(data)
                if self.throttle.ready(request.job):
                    queues.events.put(_progress(request.job, "fetch", listed, sent, 0))
            done = messages.FetchDone(
                job=request.job,
                files=sent,
                files_seen=listing.files_seen,
                skipped=listing.skipped,
                bytes=sent_bytes,
                context=commit_context(repo, commit_sha),
                seconds=round(time.monotonic() - started, 3),
            )
            queues.write_queue.put(messages.encode(done))
            queues.events.put(_progress(request.job, "fetch", listed, sent, listed - sent, finished=True))
            self.throttle.forget(request.job)


def _progress(job: str, stage: str, items_in: int, items_out: int, failed: int, *, finished: bool = False) -> bytes:
    return messages.encode(
        messages.Progress(
            job=job, stage=stage, items_in=items_in, items_out=items_out, failed=failed, finished=finished
        )
    )


# ------------------------------------------------------------------------------------------------------- parsers


def parser_main(config: Config, extract: ExtractFunction, queues: StageQueues) -> None:
    """Parse and extract each file in this process (trees never leave it) and send the rows to the writer.

    A file that cannot be parsed still yields a result (with ``error`` set), so the writer's count always closes.
    """
    parent = _child_setup(config.log, "parse")
    limits = ExtractionLimits(
        parse=ParseLimits(max_bytes=config.index.max_file_bytes, parse_timeout_seconds=config.index.parse_timeout)
    )
    for raw in _inbox(queues.parse_queue, parent):
        message = messages.decode_parser(raw)
        if isinstance(message, messages.Stop):
            return
        try:
            extraction = extract(message.path, message.data, limits=limits, language=message.language)
        except Exception as exc:  # a bug on one file must not lose the file or stop the pool
            logger.exception("extraction raised", extra={"path": message.path})
            extraction = FileExtraction(
                path=message.path,
                language=message.language,
                is_declaration_file=False,
                size_bytes=len(message.data),
                had_syntax_errors=False,
                error=FileError(kind="internal_error", message=f"{type(exc).__name__}: {exc}"),
            )
        result = messages.ParseResult(
            job=message.job, file_idx=message.file_idx, oid=message.oid, extraction=extraction
        )
        queues.write_queue.put(messages.encode(result))


# -------------------------------------------------------------------------------------------------------- writer


@dataclass
class _WriteJob:
    """The writer's state for one in-flight job."""

    job: str
    begin: messages.WriteBegin | None = None
    commit_sha: str | None = None
    conn: psycopg.Connection[TupleRow] | None = None
    writer: SnapshotWriter | None = None
    waiting: list[messages.ParseResult] = field(default_factory=list)
    extractions: dict[int, FileExtraction] = field(default_factory=dict)
    expected: int | None = None
    done: messages.FetchDone | None = None
    parse_failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.begin is not None and self.commit_sha is not None


def writer_main(config: Config, url: str, queues: StageQueues) -> None:
    """Process body of the writer; see ``Writer``."""
    parent = _child_setup(config.log, "write")
    writer = Writer(config, url, queues.events)
    try:
        for raw in _inbox(queues.write_queue, parent):
            message = messages.decode_writer(raw)
            if isinstance(message, messages.Stop):
                break
            writer.run_once(message)
    finally:
        writer.close()


class Writer:
    """Store each job's rows with binary COPY in one transaction per job, then link, switch and complete.

    The job's snapshot, its ``index_jobs`` completion and its queue job's completion commit together; if anything
    fails first, the transaction rolls back and nothing of the job is visible. Results of aborted jobs are dropped.
    Per-file results are kept until the job ends: the cross-file step needs them all.
    """

    def __init__(self, config: Config, url: str, events: BytesQueue) -> None:
        self.config = config
        self.url = url
        self.events = events
        self.jobs: dict[str, _WriteJob] = {}
        self.aborted: set[str] = set()
        self.throttle = _Throttle()

    def run_once(self, message: messages.WriterInbox) -> None:
        """Handle one message; a failure fails that job only (reported to the coordinator)."""
        if isinstance(message, messages.Stop) or message.job in self.aborted:
            return
        if isinstance(message, messages.Abort):
            self.aborted.add(message.job)
            self._drop(message.job)
            return
        state = self.jobs.setdefault(message.job, _WriteJob(job=message.job))
        with log_context(job_id=message.job, stage="write"):
            try:
                self._step(state, message)
                if state.ready and state.done is not None and len(state.extractions) == state.done.files:
                    self._finish(state)
            except Exception as exc:  # any error fails this job, never the writer
                logger.exception("write failed")
                self._drop(state.job)
                self._report(messages.JobFailed(job=state.job, stage="write", error=_describe(exc), retryable=True))

    def close(self) -> None:
        for job in list(self.jobs):
            self._drop(job)

    def _report(self, message: messages.CoordinatorInbox) -> None:
        self.events.put(messages.encode(message))

    def _drop(self, job: str) -> None:
        state = self.jobs.pop(job, None)
        self.throttle.forget(job)
        if state is not None and state.conn is not None:
            with contextlib.suppress(psycopg.Error):
                state.conn.rollback()
            state.conn.close()

    def _step(self, state: _WriteJob, message: messages.WriterInbox) -> None:
        if isinstance(message, messages.WriteBegin):
            state.begin = message
        elif isinstance(message, messages.FetchStarted):
            state.commit_sha = message.commit_sha
            state.expected = message.files
        elif isinstance(message, messages.FetchDone):
            state.done = message
        elif isinstance(message, messages.ParseResult):
            state.waiting.append(message)
        if not state.ready:
            return
        if state.writer is None:
            state.writer = self._begin(state)
        for result in state.waiting:
            extraction = result.extraction
            state.extractions[result.file_idx] = extraction
            state.parse_failed += extraction.error is not None
            row = FileRow(file_idx=result.file_idx, path=extraction.path, blob_oid=result.oid, extraction=extraction)
            state.writer.add_file(row)
        state.waiting.clear()
        received = len(state.extractions)
        expected = state.done.files if state.done else state.expected or received
        complete = state.done is not None and received == expected
        if self.throttle.ready(state.job, force=complete):
            self.events.put(_progress(state.job, "parse", expected, received, state.parse_failed, finished=complete))
            self.events.put(_progress(state.job, "write", received, state.writer.stats.files, 0))

    def _begin(self, state: _WriteJob) -> SnapshotWriter:
        begin, commit_sha = state.begin, state.commit_sha
        assert begin is not None
        assert commit_sha is not None
        state.conn = connect(self.url, self.config.database.schema, application_name="pipeline-writer")
        writer = SnapshotWriter(
            state.conn,
            repository_id=uuid.UUID(begin.repository_id),
            commit_sha=commit_sha,
            index_job_id=uuid.UUID(begin.index_job_id),
            batch_rows=self.config.index.batch_rows,
        )
        writer.begin()
        return writer

    def _finish(self, state: _WriteJob) -> None:
        """Link, switch the snapshot and complete both job records in the job's one transaction; commit."""
        conn, writer, done, begin, commit_sha = state.conn, state.writer, state.done, state.begin, state.commit_sha
        assert conn is not None
        assert writer is not None
        assert done is not None
        assert begin is not None
        assert commit_sha is not None
        link_started = time.monotonic()
        linked = link_commit([state.extractions[idx] for idx in range(done.files)], done.context)
        link_seconds = time.monotonic() - link_started
        writer.finish(linked.linked, linked.package_versions)
        stats = _job_stats(state, writer, done, link_seconds, linked.diagnostics)
        stage_totals = {"items_in": done.files, "items_out": done.files, "finished": True}
        progress = {
            "fetch": {**stage_totals, "failed": 0},
            "parse": {**stage_totals, "failed": state.parse_failed},
            "write": {**stage_totals, "failed": 0},
        }
        index_job_id = uuid.UUID(begin.index_job_id)
        if not index_jobs.complete(conn, index_job_id, stats, progress, commit_sha=commit_sha):
            self._lost(state, "the index job is no longer processing")
            return
        completion = {
            "ids": [uuid.UUID(state.job)],
            "outputs": [orjson.dumps({"index_job_id": str(index_job_id)}).decode()],
            "worker_id": begin.worker_id,
        }
        if conn.execute(query("job_complete_many"), completion).rowcount != 1:
            # Rescued, cancelled or expired meanwhile: this attempt lost, and nothing of it becomes visible.
            self._lost(state, "the queue job is no longer owned by this worker")
            return
        conn.commit()
        self.jobs.pop(state.job, None)
        self._drop(state.job)
        logger.info("job committed", extra={"files": writer.stats.files, "symbols": writer.stats.symbols})
        self._report(messages.JobDone(job=state.job, stats=stats))

    def _lost(self, state: _WriteJob, why: str) -> None:
        self._drop(state.job)
        self._report(messages.JobFailed(job=state.job, stage="write", error=why, retryable=False))


def _job_stats(
    state: _WriteJob,
    writer: SnapshotWriter,
    done: messages.FetchDone,
    link_seconds: float,
    diagnostics: tuple[str, ...],
) -> dict[str, Any]:
    """The stats recorded on a completed index job (documented in the README)."""
    counts = writer.stats
    return {
        **msgspec.to_builtins(counts),
        "commit_sha": state.commit_sha,
        "files_seen": done.files_seen,
        "files_parsed": done.files - state.parse_failed,
        "files_failed_to_parse": state.parse_failed,
        "skipped": done.skipped,
        "bytes": done.bytes,
        "dependencies": counts.file_dependencies + counts.symbol_dependencies + counts.package_dependencies,
        "seconds": {
            "fetch": done.seconds,
            "link": round(link_seconds, 3),
            "total": round(time.monotonic() - state.started, 3),
        },
        "resolver_diagnostics": list(diagnostics[:20]),
    }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, psycopg.OperationalError):
        return f"database error: {str(exc).strip()}"
    return f"{type(exc).__name__}: {exc}"
