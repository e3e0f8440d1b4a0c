"""The fetcher process: clone bare, list the tree, stream file items to the parsers (loads git, not the database)."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from pathlib import Path

import pygit2

from pipeline import messages
from pipeline.config import Config
from pipeline.log import log_context
from pipeline.processes import (
    POLL,
    StageQueues,
    Throttle,
    child_setup,
    inbox_messages,
    progress_message,
    put_blocking,
)
from stages.fetch import (
    CloneCancel,
    CloneCancelled,
    FetchError,
    FileListing,
    LimitExceeded,
    RepoTarget,
    WorkdirUnavailable,
    cleanup_stale_workdirs,
    clone_bare,
    clone_isolated,
    commit_context,
    job_workdir,
    list_files,
    read_files,
    resolve_commit,
    scrub,
    set_network_timeouts,
    token_hosts_for,
)

logger = logging.getLogger(__name__)


def fetcher_main(config: Config, tmp_root: str, token: str | None, queues: StageQueues) -> None:
    """Process body of the fetcher; see ``Fetcher``."""
    parent = child_setup(config.log, "fetch")
    Fetcher(config, Path(tmp_root), token, queues).run(parent)


class Fetcher:
    """Clone bare, list the tree, stream file items to the parsers; the commit context goes to the writer.

    Jobs run concurrently, each in a thread of its own, so a slow server delays only its own job. A network clone
    runs in a child process (``stages.fetch.clone_isolated``) killed at ``index.fetch_timeout``, bounded by
    ``index.fetch_memory`` and ``index.max_refs``; it is the only process besides this one that holds the token.
    An ``Abort`` (also sent at the job time limit) kills the job's clone child at once. Local clones (hard links,
    no server) run here. A job whose selected files exceed ``index.max_job_files`` or
    ``index.max_job_bytes``, or whose commit, tags or trees hold an object larger than ``index.max_tree_object_bytes``
    (read here, after the clone, so checked by its header before libgit2 inflates it), fails at once, not retryably.

    After listing a commit, a job sends the listing to the writer and waits for its ``ParsePlan``: only the files
    whose results are not stored yet are read and sent to the parsers.

    At start, removes the job directories left by crashed runs (``stages.fetch.cleanup_stale_workdirs``); a temp
    directory that cannot be used fails each job with an error naming ``index.tmp_dir``, and the fetcher stays up.
    Each job's clone lives in ``<tmp_root>/pipeline-<job>/`` and is removed when the job's files have all been sent
    or it failed. Fetch errors are reported with ``retryable`` from the error's class and are free of the token.
    ``Stop`` waits for the running jobs; a dead coordinator ends the process at once.
    """

    def __init__(self, config: Config, tmp_root: Path, token: str | None, queues: StageQueues) -> None:
        self.config = config
        self.tmp_root = tmp_root
        self.token = token
        self.token_hosts = token_hosts_for(config.index.token_hosts, config.index.base_url)
        self.queues = queues
        self.aborted: set[str] = set()
        self.running: dict[str, threading.Thread] = {}
        self.cancels: dict[str, CloneCancel] = {}  # per running job: kills its clone child on Abort
        # per running job: the writer's plan (None: the job was aborted meanwhile)
        self.plans: dict[str, queue_module.SimpleQueue[messages.ParsePlan | None]] = {}
        self.throttle = Throttle()

    def run(self, parent: int) -> None:
        index = self.config.index
        set_network_timeouts(connect_seconds=index.git_connect_timeout, io_seconds=index.git_io_timeout)
        self.clean_temp_root()
        for raw in inbox_messages(self.queues.fetch_inbox, parent):
            message = messages.decode_fetcher(raw)
            if isinstance(message, messages.Stop):
                # Stop comes when no job runs here any more: a fetch still waiting for the writer's plan is of a
                # released job, and no plan will come for it.
                for job, waiting in list(self.plans.items()):
                    self.aborted.add(job)
                    waiting.put(None)
                self.wait_for_jobs()
                return
            if isinstance(message, messages.Abort):
                self.aborted.add(message.job)
                cancel = self.cancels.get(message.job)
                if cancel is not None:
                    cancel.cancel()
                plans = self.plans.get(message.job)
                if plans is not None:
                    plans.put(None)
            elif isinstance(message, messages.ParsePlan):
                plans = self.plans.get(message.job)
                if plans is not None:
                    plans.put(message)
            elif message.job not in self.aborted:
                self.start(message)

    def clean_temp_root(self) -> None:
        """Remove crashed runs' job directories; an unusable temp root is logged here and fails each job later."""
        try:
            self.tmp_root.mkdir(parents=True, exist_ok=True)
            removed = cleanup_stale_workdirs(self.tmp_root)
        except OSError as exc:
            logger.error("index.tmp_dir cannot be used", extra={"tmp_dir": str(self.tmp_root), "error": str(exc)})
            return
        if removed:
            logger.info("removed leftover job directories", extra={"count": len(removed)})

    def start(self, request: messages.FetchRequest) -> None:
        """Run one job in a thread of its own."""
        self.running = {job: thread for job, thread in self.running.items() if thread.is_alive()}
        self.cancels[request.job] = CloneCancel()
        self.plans[request.job] = queue_module.SimpleQueue()
        thread = threading.Thread(target=self.run_once, args=(request,), name=f"fetch-{request.job}", daemon=True)
        self.running[request.job] = thread
        thread.start()

    def wait_for_jobs(self) -> None:
        for thread in list(self.running.values()):
            thread.join()

    def run_once(self, request: messages.FetchRequest) -> None:
        """Fetch one job; any failure is reported to the coordinator, never raised."""
        with log_context(**messages.log_fields(request.job), stage="fetch"):
            try:
                self._fetch(request)
            except CloneCancelled:
                logger.info("job aborted while cloning")
            except WorkdirUnavailable as exc:
                self._failed(request, f"index.tmp_dir: {scrub(str(exc), self.token)}", retryable=exc.retryable)
            except FetchError as exc:
                self._failed(request, scrub(str(exc), self.token), retryable=exc.retryable)
            except Exception as exc:  # an unexpected error fails the job, not the fetcher
                logger.exception("fetch failed")
                self._failed(request, scrub(f"{type(exc).__name__}: {exc}", self.token), retryable=True)
            finally:
                self.throttle.forget(request.job)
                self.cancels.pop(request.job, None)
                self.plans.pop(request.job, None)

    def _failed(self, request: messages.FetchRequest, error: str, *, retryable: bool) -> None:
        failure = messages.JobFailed(job=request.job, stage="fetch", error=error, retryable=retryable)
        self.queues.events.put(messages.encode(failure))

    def _clone(self, target: RepoTarget, workdir: Path, request: messages.FetchRequest) -> pygit2.Repository:
        index = self.config.index
        if target.is_local:
            return clone_bare(target, workdir, ref=request.ref, commit_sha=request.commit_sha, max_refs=index.max_refs)
        return clone_isolated(
            target,
            workdir,
            deadline=index.fetch_timeout,
            connect_timeout=index.git_connect_timeout,
            io_timeout=index.git_io_timeout,
            token=self.token,
            token_hosts=self.token_hosts,
            ref=request.ref,
            commit_sha=request.commit_sha,
            max_refs=index.max_refs,
            memory_bytes=index.fetch_memory,
            cancel=self.cancels.get(request.job),
        )

    def _check_job_limits(self, listing: FileListing) -> None:
        index = self.config.index
        files, selected = len(listing.items), listing.bytes_selected
        if files > index.max_job_files:
            raise LimitExceeded(
                f"the commit has {files:,} files to parse, more than index.max_job_files ({index.max_job_files:,})"
            )
        if selected > index.max_job_bytes:
            raise LimitExceeded(
                f"the commit's files to parse hold {selected:,} bytes, more than index.max_job_bytes "
                f"({index.max_job_bytes:,})"
            )

    def _fetch(self, request: messages.FetchRequest) -> None:
        started = time.monotonic()
        index = self.config.index
        queues = self.queues
        target = RepoTarget(url=request.url, transport=request.transport, full_name=request.full_name)
        with job_workdir(self.tmp_root, request.job) as workdir:
            repo = self._clone(target, workdir, request)
            if request.job in self.aborted:
                logger.info("job aborted while cloning")
                return
            max_object_bytes = index.max_tree_object_bytes
            commit_sha = resolve_commit(
                repo, ref=request.ref, commit_sha=request.commit_sha, max_object_bytes=max_object_bytes
            )
            listing = list_files(
                repo,
                commit_sha,
                max_file_bytes=index.max_file_bytes,
                max_entries=index.max_tree_entries,
                max_object_bytes=max_object_bytes,
            )
            self._check_job_limits(listing)
            files = tuple(messages.ListedFile(item.path, item.oid, item.language) for item in listing.items)
            blocked = put_blocking(
                queues.write_queue,
                messages.encode(messages.FetchStarted(job=request.job, commit_sha=commit_sha, listing=files)),
            )
            waiting = time.monotonic()
            plan = self._plan(request.job)
            blocked += time.monotonic() - waiting  # on the writer, as on a full channel
            if plan is None:
                logger.info("job aborted while waiting for the writer's plan")
                return
            listed = len(plan.parse)
            position = {item.path: index for index, item in enumerate(listing.items)}
            wanted = [listing.items[index] for index in plan.parse]
            sent = sent_bytes = 0
            for item, data in read_files(repo, wanted, skipped=listing.skipped):
                if sent % 64 == 0 and request.job in self.aborted:
                    logger.info("job aborted while fetching")
                    return
                item_message = messages.ParseItem(
                    job=request.job,
                    file_idx=position[item.path],
                    path=item.path,
                    oid=item.oid,
                    language=item.language,
                    data=data,
                )
                blocked += put_blocking(queues.parse_queue, messages.encode(item_message))
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
                context=commit_context(
                    repo,
                    commit_sha,
                    max_entries=index.max_tree_entries,
                    max_object_bytes=max_object_bytes,
                    rescued=listing.rescued,
                ),
                seconds=round(time.monotonic() - started, 3),
                blocked_seconds=round(blocked, 3),
            )
            queues.write_queue.put(messages.encode(done))
            queues.events.put(progress_message(request.job, "fetch", listed, sent, listed - sent, finished=True))

    def _plan(self, job: str) -> messages.ParsePlan | None:
        """Wait for the writer's plan of ``job``; ``None`` if the job is aborted first (the writer skipped or
        failed it). A writer that dies makes the coordinator restart the stages, this process with them."""
        plans = self.plans[job]
        while job not in self.aborted:
            try:
                return plans.get(timeout=POLL)
            except queue_module.Empty:
                continue
        return None
