"""The fetcher process: clone bare, list the tree, stream file items to the parsers (loads git, not the database)."""

from __future__ import annotations

import logging
import queue as queue_module
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline import messages
from pipeline.config import Config
from pipeline.log import log_context
from pipeline.processes import StageQueues, Throttle, child_setup, inbox_messages, progress_message
from stages.fetch import (
    FetchError,
    RepoTarget,
    cleanup_stale_workdirs,
    clone_bare,
    commit_context,
    job_workdir,
    list_files,
    read_files,
    resolve_commit,
    scrub,
    set_network_timeouts,
)

logger = logging.getLogger(__name__)


def fetcher_main(config: Config, tmp_root: str, token: str | None, queues: StageQueues) -> None:
    """Process body of the fetcher; see ``Fetcher``."""
    parent = child_setup(config.log, "fetch")
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
        self.throttle = Throttle()

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
        inbox = inbox_messages(self.queues.fetch_inbox, parent)
        while True:
            while self.deferred:
                yield self.deferred.pop(0)
            raw = next(inbox, None)
            if raw is None:
                return
            yield messages.decode_fetcher(raw)

    def _checkinbox_messages(self) -> None:
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
        with log_context(**messages.log_fields(request.job), stage="fetch"):
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
                    self._checkinbox_messages()
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
                    queues.events.put(progress_message(request.job, "fetch", listed, sent, 0))
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
            queues.events.put(progress_message(request.job, "fetch", listed, sent, listed - sent, finished=True))
            self.throttle.forget(request.job)
