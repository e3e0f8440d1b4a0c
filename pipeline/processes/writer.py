"""The writer process: binary COPY per job, the cross-file step, the atomic switch and completion (loads the
database, not git)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
import psycopg
from psycopg.rows import TupleRow

from pipeline import index_jobs, messages
from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.log import log_context
from pipeline.processes import BytesQueue, StageQueues, Throttle, child_setup, inbox_messages, progress_message
from stages.commit import CommitContext, LinkedCommit, link_commit, link_commit_batches
from stages.incremental import ContentKey, StoredFiles, load_base, plan_delta, stored_results
from stages.languages import is_declaration_file
from stages.models import LinkFile
from stages.resolvers import CommitResolver
from stages.write import EXTRACTOR_VERSION, FileRow, SnapshotWriter

logger = logging.getLogger(__name__)


@dataclass
class _WriteJob:
    """The writer's state for one in-flight job."""

    job: str
    begin: messages.WriteBegin | None = None
    commit_sha: str | None = None
    listing: tuple[messages.ListedFile, ...] = ()
    conn: psycopg.Connection[TupleRow] | None = None
    writer: SnapshotWriter | None = None
    waiting: list[tuple[messages.ParseResult, bytes]] = field(default_factory=list)
    # What the cross-file step at the end of the job reads of each file parsed in this job, on disk until then
    # (created with the job's snapshot writer). Files not parsed (their results were stored already) are read
    # back from the database where a link needs them.
    parsed: _SpilledLinkFiles | None = None
    received: int = 0  # parse results stored so far
    expected: int | None = None
    done: messages.FetchDone | None = None
    parse_failed: int = 0
    started: float = field(default_factory=time.monotonic)
    # Time the parsers spent on this job's files, summed over files (parsers run side by side, so it can exceed
    # the job's wall time). Results wait here until the job's transaction is open, so their arrival times say
    # nothing of it: a job whose time went into one file read 0.0.
    parse_seconds: float = 0.0
    parse_blocked_seconds: float = 0.0  # the parsers' time blocked on the full write channel, summed likewise
    write_seconds: float = 0.0  # time spent storing: opening the job, COPY batches, cross-file rows, the switch
    link_seconds: float = 0.0  # time spent planning what to relink, reading files back and linking

    @property
    def ready(self) -> bool:
        return self.begin is not None and self.commit_sha is not None


def writer_main(config: Config, url: str, queues: StageQueues, extractor_version: int = EXTRACTOR_VERSION) -> None:
    """Process body of the writer; see ``Writer``."""
    parent = child_setup(config.log, "write")
    writer = Writer(config, url, queues.events, queues.fetch_inbox, extractor_version=extractor_version)
    try:
        for raw in inbox_messages(queues.write_queue, parent):
            message = messages.decode_writer(raw)
            if isinstance(message, messages.Stop):
                break
            writer.run_once(message, raw)
    finally:
        writer.close()


class Writer:
    """Store each job's rows with binary COPY in one transaction per job, then link, switch and complete.

    The job's snapshot, its ``index_jobs`` completion and its queue job's completion commit together; if anything
    fails first, the transaction rolls back and nothing of the job is visible. Results of aborted jobs are dropped.
    Per-file results are stored under ``extractor_version`` (that of the parsers' extract function), and a commit
    is skipped as already indexed only if its current snapshot was built by that same version.

    Incremental (``stages.incremental``): when the listing arrives, the results already stored for its files are
    found and locked, and the fetcher is told to read and parse only the others (``ParsePlan``). At the end, if
    the repository's current snapshot can be built on (same extractor, same config files), it is updated in place
    with the files that changed and the cross-file rows they can affect; otherwise a full snapshot is written.
    """

    def __init__(
        self,
        config: Config,
        url: str,
        events: BytesQueue,
        plans: BytesQueue,
        *,
        extractor_version: int = EXTRACTOR_VERSION,
    ) -> None:
        self.config = config
        self.extractor_version = extractor_version
        self.url = url
        self.events = events
        self.plans = plans  # the fetcher's inbox: ParsePlan, and Abort of a job skipped here
        self.jobs: dict[str, _WriteJob] = {}
        self.aborted: set[str] = set()
        self.throttle = Throttle()

    def run_once(self, message: messages.WriterInbox, raw: bytes = b"") -> None:
        """Handle one message; a failure fails that job only (reported to the coordinator)."""
        if isinstance(message, messages.Stop) or message.job in self.aborted:
            return
        if isinstance(message, messages.Abort):
            self.aborted.add(message.job)
            self._drop(message.job)
            return
        state = self.jobs.setdefault(message.job, _WriteJob(job=message.job))
        begin = message if isinstance(message, messages.WriteBegin) else state.begin
        index_job_id = begin.index_job_id if begin is not None else None
        with log_context(**messages.log_fields(message.job), index_job_id=index_job_id, stage="write"):
            try:
                self._step(state, message, raw)
                if state.job not in self.jobs:
                    return  # skipped: its commit is the current index already
                if state.ready and state.done is not None and state.received == state.done.files:
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
        if state is not None and state.parsed is not None:
            state.parsed.close()
        if state is not None and state.conn is not None:
            with contextlib.suppress(psycopg.Error):
                state.conn.rollback()
            state.conn.close()

    def _step(self, state: _WriteJob, message: messages.WriterInbox, raw: bytes) -> None:
        if isinstance(message, messages.WriteBegin):
            state.begin = message
        elif isinstance(message, messages.FetchStarted):
            state.commit_sha = message.commit_sha
            state.listing = message.listing
        elif isinstance(message, messages.FetchDone):
            state.done = message
        elif isinstance(message, messages.ParseResult):
            state.waiting.append((message, raw or messages.encode(message)))
        if not state.ready:
            return
        storing = time.monotonic()
        if state.writer is None:
            state.writer = self._begin(state)
            if state.writer is None:
                return
            self._plan(state, state.writer)
            state.parsed = _SpilledLinkFiles(self.config.index.tmp_dir or None)
        assert state.parsed is not None
        for result, encoded in state.waiting:
            extraction = result.extraction
            state.parse_seconds += result.seconds
            state.parse_blocked_seconds += result.blocked_seconds
            state.parsed.add(result.file_idx, encoded)
            state.received += 1
            state.parse_failed += extraction.error is not None
            path = state.listing[result.file_idx].path
            row = FileRow(
                file_idx=result.file_idx, path=path, blob_oid=result.oid, extraction=extraction, text=result.text
            )
            state.writer.add_file(row)
        state.waiting.clear()
        state.write_seconds += time.monotonic() - storing
        received = state.received
        expected = state.done.files if state.done else state.expected or received
        complete = state.done is not None and received == expected
        if self.throttle.ready(state.job, force=complete):
            self.events.put(
                progress_message(state.job, "parse", expected, received, state.parse_failed, finished=complete)
            )
            self.events.put(progress_message(state.job, "write", received, state.writer.stats.files, 0))

    def _begin(self, state: _WriteJob) -> SnapshotWriter | None:
        """Open the job's transaction and its snapshot; ``None`` if the job was closed instead (skipped)."""
        begin, commit_sha = state.begin, state.commit_sha
        assert begin is not None
        assert commit_sha is not None
        state.conn = connect(
            self.url,
            self.config.database.schema,
            application_name="pipeline-writer",
            transaction_pooler=self.config.database.transaction_pooler,
        )
        if not begin.force and self._skipped(state, state.conn):
            return None
        writer = SnapshotWriter(
            state.conn,
            repository_id=uuid.UUID(begin.repository_id),
            commit_sha=commit_sha,
            index_job_id=uuid.UUID(begin.index_job_id),
            batch_rows=self.config.index.batch_rows,
            extractor_version=self.extractor_version,
        )
        writer.begin()
        return writer

    def _plan(self, state: _WriteJob, writer: SnapshotWriter) -> None:
        """Add the listed files whose results are stored already (locked until the job commits) and tell the
        fetcher to read and parse only the others."""
        listing = state.listing
        keys = [ContentKey(file.oid, file.language, is_declaration_file(file.path)) for file in listing]
        stored = stored_results(state.conn, keys, self.extractor_version) if state.conn is not None else {}
        for position, result_id in sorted(stored.items()):
            writer.add_stored(position, listing[position].path, result_id)
        parse = tuple(position for position in range(len(listing)) if position not in stored)
        state.expected = len(parse)
        self.plans.put(messages.encode(messages.ParsePlan(job=state.job, parse=parse)))

    def _skipped(self, state: _WriteJob, conn: psycopg.Connection[TupleRow]) -> bool:
        """If the commit is the repository's current index already (same extractor version), close the index job
        as skipped and complete the queue job in one transaction, and drop the job; True if it was closed."""
        begin, commit_sha = state.begin, state.commit_sha
        assert begin is not None
        assert commit_sha is not None
        current = conn.execute(
            query("index_job_current_snapshot"),
            {
                "repository_id": uuid.UUID(begin.repository_id),
                "commit_sha": commit_sha,
                "extractor_version": self.extractor_version,
            },
        ).fetchone()
        if current is None:
            return False
        stats = {
            "commit_sha": commit_sha,
            "reason": "already the current index",
            "current_snapshot_id": str(current[0]),
        }
        # the queue job first: rows are locked jobs → index_jobs, as a cancel or rescue does (its trigger)
        if not self._complete_queue_job(conn, begin, skipped=True):
            self._lost(state, "the queue job is no longer owned by this worker")
        elif not index_jobs.skip(conn, uuid.UUID(begin.index_job_id), stats, commit_sha=commit_sha):
            self._lost(state, "the index job is no longer processing")
        else:
            conn.commit()
            self.aborted.add(state.job)  # results of files already on their way are dropped
            self.plans.put(messages.encode(messages.Abort(job=state.job)))  # the fetcher waits for a plan
            self._drop(state.job)
            logger.info("job skipped: its commit is the current index", extra={"commit_sha": commit_sha})
            self._report(messages.JobDone(job=state.job, stats=stats, skipped=True))
        return True

    def _complete_queue_job(
        self, conn: psycopg.Connection[TupleRow], begin: messages.WriteBegin, *, skipped: bool = False
    ) -> bool:
        """Complete the queue job in ``conn``'s transaction; False if this attempt no longer owns it (rescued,
        cancelled or expired meanwhile), and then nothing of the job may become visible."""
        output: dict[str, object] = {"index_job_id": begin.index_job_id}
        if skipped:
            output["skipped"] = True
        completion = {
            "ids": [uuid.UUID(begin.queue_job_id)],
            "attempts": [begin.attempt],
            "outputs": [orjson.dumps(output).decode()],
            "worker_id": begin.worker_id,
        }
        return conn.execute(query("job_complete_many"), completion).rowcount == 1

    def _finish(self, state: _WriteJob) -> None:
        """Link, store the snapshot (in place, incrementally, when the current one allows) and complete both job
        records in the job's one transaction; commit."""
        conn, writer, done, begin, commit_sha = state.conn, state.writer, state.done, state.begin, state.commit_sha
        assert conn is not None
        assert writer is not None
        assert done is not None
        assert begin is not None
        assert commit_sha is not None
        finishing = time.monotonic()
        diagnostics = self._store_snapshot(state, conn, writer, done.context, force=begin.force)
        state.write_seconds += time.monotonic() - finishing - state.link_seconds
        stats = _job_stats(state, writer, done, diagnostics)
        stage_totals = {"items_in": done.files, "items_out": done.files, "finished": True}
        progress = {
            "fetch": {**stage_totals, "failed": 0},
            "parse": {**stage_totals, "failed": state.parse_failed},
            "write": {**stage_totals, "failed": 0},
        }
        # The queue job first: a cancel or a rescue locks the queue job, then (its trigger) the index job; the same
        # order here means the two never wait on each other in a deadlock.
        if not self._complete_queue_job(conn, begin):
            self._lost(state, "the queue job is no longer owned by this worker")
            return
        if not index_jobs.complete(conn, uuid.UUID(begin.index_job_id), stats, progress, commit_sha=commit_sha):
            self._lost(state, "the index job is no longer processing")
            return
        conn.commit()
        self.jobs.pop(state.job, None)
        self._drop(state.job)
        logger.info("job committed", extra={"files": writer.stats.files, "symbols": writer.stats.symbols})
        self._report(messages.JobDone(job=state.job, stats=stats))

    def _store_snapshot(
        self,
        state: _WriteJob,
        conn: psycopg.Connection[TupleRow],
        writer: SnapshotWriter,
        context: CommitContext,
        *,
        force: bool,
    ) -> tuple[str, ...]:
        """Link and write the job's snapshot; returns the resolver's diagnostics. Holds the repository's row lock
        from reading the current snapshot to the commit, so no other job changes it in between."""
        writer.flush()
        previous, requested_later = writer.lock_repository()
        if requested_later:
            writer.supersede()
            return ()
        linking = time.monotonic()
        assert state.parsed is not None
        parsed = state.parsed
        results = dict(writer.files.values())
        parsed_paths = {state.listing[position].path for position in parsed}
        resolver = CommitResolver.from_files(context.paths, context.configs.get)
        base = None if previous is None or force else load_base(conn, previous, self.extractor_version)
        position_of = {state.listing[position].path: position for position in parsed}

        def parsed_file(path: str) -> LinkFile | None:
            position = position_of.get(path)
            return None if position is None else parsed[position]

        delta = (
            None if base is None else plan_delta(conn, base, results, context, resolver=resolver, parsed=parsed_file)
        )
        file_ids = (
            {path: file_id for file_id, path in enumerate(sorted(results))}
            if base is None or delta is None
            else delta.file_ids
        )
        parsed.renumber({position: file_ids[state.listing[position].path] for position in parsed})
        stored = {file_ids[path]: (path, result_id) for path, result_id in results.items() if path not in parsed_paths}
        if base is None or delta is None:
            # A full snapshot links every file: a batch of files at a time, each batch's rows copied before the
            # next is linked, holding at most ``link_files`` files' link data at once.
            capacity = self.config.index.link_files
            files = StoredFiles(conn, parsed, stored, capacity=capacity)
            batches = _prefetched(files, sorted(file_ids.values()), max(1, capacity // 2))
            linked = link_commit_batches(files, paths=file_ids, batches=batches, resolver=resolver, max_tables=capacity)
            state.link_seconds = time.monotonic() - linking
            writer.finish(_timed(linked, state), context=context, file_ids=file_ids)
            diagnostics = resolver.diagnostics
        else:
            files = StoredFiles(conn, parsed, stored, linked=delta.relink)
            files.prefetch(delta.relink)
            files.prefetch(delta.link_visits(files, resolver))
            incremental = link_commit(files, context, paths=file_ids, only=delta.relink, resolver=resolver)
            state.link_seconds = time.monotonic() - linking
            writer.finish_delta(base, delta, incremental.linked, incremental.package_versions, context)
            diagnostics = incremental.diagnostics
        writer.stats.files_read_back = files.loaded
        writer.stats.link_files_held = files.held
        return diagnostics

    def _lost(self, state: _WriteJob, why: str) -> None:
        self._drop(state.job)
        self._report(messages.JobFailed(job=state.job, stage="write", error=why, retryable=False))


class _SpilledLinkFiles(Mapping[int, LinkFile]):
    """The link input of each file parsed in one job, kept in an unnamed temporary file (removed when closed or
    when the process ends) until the cross-file step reads it: the writer holds two integers per file, not the
    file's names and structure (about 14 KB of objects per file decoded, on the pinned npm corpus).

    Files are added by listing position as their results arrive (the encoded ``ParseResult`` as received) and
    decoded each time they are read; ``renumber`` then keys them by the snapshot's file ids."""

    def __init__(self, directory: str | None) -> None:
        try:
            if directory is not None:
                os.makedirs(directory, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=directory, buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            where = directory or tempfile.gettempdir()
            raise OSError(f"the writer cannot create its link spill file in {where}: {exc.strerror or exc}") from exc
        self._where: dict[int, tuple[int, int]] = {}  # key → (offset, length)
        self._end = 0

    def add(self, key: int, encoded: bytes) -> None:
        written = self._file.write(encoded)
        if written != len(encoded):
            raise OSError(f"short write to the link spill file: {written} of {len(encoded)} bytes")
        self._where[key] = (self._end, len(encoded))
        self._end += len(encoded)

    def renumber(self, new_keys: Mapping[int, int]) -> None:
        self._where = {new_keys[key]: where for key, where in self._where.items()}

    def __getitem__(self, key: int) -> LinkFile:
        offset, length = self._where[key]
        return messages.decode_link_input(os.pread(self._file.fileno(), length, offset)).extraction

    def __iter__(self) -> Iterator[int]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def close(self) -> None:
        self._file.close()


def _prefetched(files: StoredFiles, file_ids: list[int], size: int) -> Iterator[list[int]]:
    """``file_ids`` in batches of ``size``, reading each batch's stored files in one round just before it is linked."""
    for start in range(0, len(file_ids), size):
        batch = file_ids[start : start + size]
        files.prefetch(batch)
        yield batch


def _timed(linked: Iterable[LinkedCommit], state: _WriteJob) -> Iterator[LinkedCommit]:
    """``linked`` as it comes, adding the time spent linking (computing the next batch) to ``state.link_seconds``."""
    batches = iter(linked)
    while True:
        started = time.monotonic()
        batch = next(batches, None)
        state.link_seconds += time.monotonic() - started
        if batch is None:
            return
        yield batch


def _job_stats(
    state: _WriteJob, writer: SnapshotWriter, done: messages.FetchDone, diagnostics: tuple[str, ...]
) -> dict[str, Any]:
    """The stats recorded on a completed index job (documented in the README). Per stage, ``seconds`` holds the
    time it was busy with the job and, apart, the time it was blocked on a full channel (fetch, parse) or waited
    (write: for the job's results, or on other jobs), so the figures show which stage holds the others back."""
    counts = writer.stats
    total = time.monotonic() - state.started
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
            "fetch": round(done.seconds - done.blocked_seconds, 3),
            "fetch_blocked": done.blocked_seconds,
            "parse": round(state.parse_seconds, 3),
            "parse_blocked": round(state.parse_blocked_seconds, 3),
            "write": round(state.write_seconds, 3),
            "link": round(state.link_seconds, 3),
            "write_waiting": round(max(0.0, total - state.write_seconds - state.link_seconds), 3),
            "total": round(total, 3),
        },
        "resolver_diagnostics": list(diagnostics[:20]),
    }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, psycopg.OperationalError):
        return f"database error: {str(exc).strip()}"
    return f"{type(exc).__name__}: {exc}"
