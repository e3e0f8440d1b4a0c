"""The coordinator: one per worker host. Claims ``index-repo`` jobs and runs them through the stage processes.

Topology (all linked by bounded channels of msgpack bytes, ``pipeline.processes.channel``)::

    coordinator ──FetchRequest──▶ fetcher ──ParseItem──▶ parser x N ──ParseResult──▶ writer
         ▲  └───────────────────────WriteBegin──────────────────────────────────────────┘ │
         └──────────────────── Progress / JobDone / JobFailed ◀───────────────────────────┘

Guarantees:
- Up to ``index.jobs`` jobs run at once (one queue-worker claim loop each); per-stage progress is stored in
  ``index_jobs.progress`` at most once per ``index.progress_interval`` per job.
- A job is completed by the writer, in the transaction that switches the snapshot; a fetch or write failure fails
  the attempt, which the queue retries only when retrying can help (non-retryable errors fail the job at once).
- Supervision: if a stage process dies, every in-flight job fails its attempt (the queue retries it; nothing of it
  was committed) and the stage processes are restarted. Children ignore SIGINT/SIGTERM and die with the
  coordinator, even one killed while they are still starting (see ``pipeline.processes``): one thread starts,
  restarts and stops them, and lives as long as they do. If they cannot be started again (or keep dying), the
  worker stops with ``EXIT_STAGE_CRASHES`` and no job waits for them.
- SIGTERM (handled from before the stage processes start): stop claiming, let running jobs finish within
  ``queue.shutdown_timeout``, release the rest back to the queue without consuming an attempt, stop the stage
  processes (``STAGE_STOP_GRACE`` to exit, then SIGKILL; a generation never sent a job is killed at once), return
  (exit 0). A second signal exits at once. Nothing on the way waits for a poll interval: each step wakes on the
  event it waits for (a job's end, the worker's stop, a generation's last event).
- An attempt running longer than ``index.job_timeout`` (counted from when the stage processes take it) fails, not
  retried, with an error naming the limit. The stage processes are then restarted, as after a crash: a plugged-in
  ``extract`` that never returns cannot be interrupted inside its parser, only killed with it. The other in-flight
  attempts fail and the queue retries them (nothing of them was committed).
- ``until_index_job``: exactly that index job runs here (its queue job is claimed by id; enqueued with
  ``reserved_for=worker_id`` no other worker claims it while this one is alive), and ``run`` returns once it is
  finished.
- Secrets stay out of child processes: the git token, the API token and the webhook secret are moved out of this
  process's environment (``pipeline.secrets.take``) before any stage process starts; the fetcher gets the git
  token as an argument.
  The stages get the config without the database URLs and the API token (``config_for_stage``); the writer gets
  the database URL as an argument.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import queue as queue_module
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dill
import msgspec
import multiprocess
import psycopg
from psycopg.rows import TupleRow

from pipeline import index_jobs, messages, secrets
from pipeline.config import ApiConfig, Config
from pipeline.db import connect, database_url
from pipeline.errors import PipelineError
from pipeline.index_jobs import INDEX_QUEUE, IndexJobStatus
from pipeline.log import log_context
from pipeline.processes import StageQueues, stage_process
from pipeline.processes.channel import Channel
from pipeline.queue.client import Queue
from pipeline.queue.errors import PermanentJobError
from pipeline.queue.worker import COMPLETED_BY_HANDLER, Job, Worker, listen_url
from stages.write import EXTRACTOR_VERSION

if TYPE_CHECKING:
    from pipeline.processes.parser import ExtractFunction
    from stages.fetch import RepoTarget

logger = logging.getLogger(__name__)

STAGES_RESTART_LIMIT = 5  # stage-process crashes tolerated before the coordinator gives up (exit code below)
EXIT_STAGE_CRASHES = 70  # named exit code: the stage processes keep dying
STAGE_STOP_GRACE = 1.0  # seconds the stage processes get to exit after ``Stop`` at shutdown, before SIGKILL
# Put on a generation's event queue by the coordinator itself once its processes are gone: no stage sends it.
_END_OF_EVENTS = messages.encode(messages.Stop())


def config_for_stage(config: Config) -> Config:
    """``config`` as the stage processes get it: without ``database.url``, ``database.direct_url`` and the API
    section (its token), since parsers run plugged-in code on hostile input and the fetcher talks to hostile
    servers. The non-secret database settings (schema, pooler mode, timeouts) stay for the writer, which gets the
    URL as an argument."""
    database = msgspec.structs.replace(config.database, url="", direct_url="")
    return msgspec.structs.replace(config, database=database, api=ApiConfig())


def extractor_version_of(extract: ExtractFunction | None, pickled: bytes, *, identity: str | None = None) -> int:
    """The ``extractor_version`` of the per-file results ``extract`` produces (part of their content key).

    The built-in extractor (``None``, or ``stages.extract.extract_source`` itself) keeps ``EXTRACTOR_VERSION``. A
    plugged-in function gets a negative number derived from ``identity`` when the caller gives one (a string it
    changes whenever the function's output changes), else, best effort, from its qualified name, its code and its
    pickle. dill pickles an importable function, and the helpers it calls, by reference, so that hash does not see
    a change inside a helper; pass ``identity`` when that matters. Either way its rows are never reused by another
    extractor nor its current index mistaken for theirs.
    """
    if extract is None or _is_builtin_extractor(extract):
        return EXTRACTOR_VERSION
    if identity is not None:
        return _negative_version(hashlib.sha256(b"identity:" + identity.encode()).digest())
    digest = hashlib.sha256()
    digest.update(f"{getattr(extract, '__module__', '')}.{getattr(extract, '__qualname__', '')}".encode())
    code = getattr(extract, "__code__", None)
    if code is not None:
        digest.update(marshal.dumps(code))
    digest.update(pickled)
    return _negative_version(digest.digest())


def _is_builtin_extractor(extract: ExtractFunction) -> bool:
    """Whether ``extract`` is ``stages.extract.extract_source``, without importing it (tree-sitter) for the check:
    a caller holding that function has imported its module already."""
    builtin = sys.modules.get("stages.extract")
    return builtin is not None and extract is getattr(builtin, "extract_source", None)


def _negative_version(digest: bytes) -> int:
    return -1 - int.from_bytes(digest[:4], "big") % (2**31 - 1)


class StageCrashed(PipelineError):
    """A stage process died while the job was in flight; the attempt fails and the queue retries it."""


class StageFailure(PipelineError):
    """A stage reported the job failed in a way another attempt may fix."""


class JobTimeout(PipelineError):
    """An attempt ran longer than ``index.job_timeout``; the job fails without another attempt."""


@dataclass
class _Topology:
    """One generation of stage processes, the queues between them and the thread routing their events."""

    generation: int
    queues: StageQueues
    processes: list[Any]
    dispatcher: threading.Thread | None = None
    used: bool = False  # a message was put on its queues: stopping it drains them first


class Coordinator:
    """Runs the indexing pipeline on this host. ``run()`` blocks until stopped (or idle, with ``until_idle``)."""

    def __init__(
        self,
        config: Config,
        *,
        extract: ExtractFunction | None = None,
        extractor_identity: str | None = None,
        until_idle: bool = False,
        until_index_job: uuid.UUID | None = None,
        worker_id: str | None = None,
    ) -> None:
        # First of all, before anything can start a process (the embedded Postgres included).
        taken = secrets.take((config.index.token_env, config.api.token_env, config.api.webhook_secret_env))
        self._token = taken.get(config.index.token_env)
        self.config = config
        self._stage_config = config_for_stage(config)
        self.url = database_url(config)
        self.schema = config.database.schema
        self.transaction_pooler = config.database.transaction_pooler
        # Pickled here, with the globals it uses: a function from a notebook kernel's ``__main__`` (no file the
        # spawned parsers could import again) needs its helpers and modules to travel with it. ``None`` (the
        # built-in extractor) travels as ``None``: only the parsers import it (and tree-sitter).
        try:
            self._extract_pickle = dill.dumps(extract, recurse=True)
        except Exception as exc:  # dill raises whatever the object's reducer raises
            name = getattr(extract, "__qualname__", repr(extract))
            raise PipelineError(
                f"the extract function {name} cannot be sent to the parser processes: {type(exc).__name__}: {exc}"
            ) from exc
        self.extractor_version = extractor_version_of(extract, self._extract_pickle, identity=extractor_identity)
        self.until_idle = until_idle
        self.until_index_job = until_index_job
        self.parsers = config.index.parsers or os.cpu_count() or 1
        self.tmp_root = _usable_tmp_root(Path(config.index.tmp_dir or tempfile.gettempdir()))
        self._context = multiprocess.get_context("spawn")
        self._lock = threading.Lock()
        self._inboxes: dict[str, queue_module.Queue[object]] = {}
        self._progress: dict[str, dict[str, dict[str, Any]]] = {}
        self._topology: _Topology | None = None  # None while the stages restart
        self._topology_changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._supervisor_gone = threading.Event()  # no generation of stages will run again
        self._restart_wanted = threading.Event()  # an attempt timed out: its parser may be stuck for good
        self._watcher_wake = threading.Event()  # wakes the until-watcher at once: a job ended, or the worker stops
        self._local = threading.local()
        self._connections: list[psycopg.Connection[TupleRow]] = []
        self.restarts = 0
        self.crashes = 0  # restarts after a stage process died (the ones STAGES_RESTART_LIMIT counts)
        self.exit_code = 0
        own_job = None if until_index_job is None else self._queue_job_of(until_index_job)
        self.worker = Worker(
            self.url,
            self.schema,
            INDEX_QUEUE,
            self._handle,
            config=config.queue,
            concurrency=config.index.jobs if own_job is None else 1,
            batch_size=1,
            connect_timeout=config.database.connect_timeout,
            retention_sweeps=[index_jobs.retention_sweep(config.index.job_delete_after)],
            job_id=own_job,
            worker_id=worker_id,
            transaction_pooler=self.transaction_pooler,
            listen_url=listen_url(config),
        )

    # ----- lifecycle -----

    def _queue_job_of(self, index_job_id: uuid.UUID) -> uuid.UUID:
        with connect(self.url, self.schema, autocommit=True, transaction_pooler=self.transaction_pooler) as conn:
            record = index_jobs.get(conn, index_job_id)
        if record is None or record.queue_job_id is None:
            raise PipelineError(f"index job {index_job_id} does not exist (or has no queue job)")
        return record.queue_job_id

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Start the stages, work until stopped, stop the stages; returns the exit code (0, or a named one)."""
        stages = threading.Thread(target=self._supervise, name="coordinator-stages", daemon=True)
        watcher = None
        if self.until_idle or self.until_index_job is not None:
            watcher = threading.Thread(target=self._watch_for_end, name="coordinator-until", daemon=True)
        if install_signal_handlers:  # before any stage starts: a SIGTERM while they start drains, it does not kill
            self.worker.install_signal_handlers()
        stages.start()
        if watcher is not None:
            watcher.start()
        try:
            self.worker.run(install_signal_handlers=False)
        finally:
            self._stopping.set()
            self._watcher_wake.set()
            stages.join()  # bounded: it stops the stage processes within STAGE_STOP_GRACE, then kills them
            if watcher is not None:
                watcher.join(timeout=self.config.database.connect_timeout)  # woken above; bounded by its query
            for conn in self._connections:
                conn.close()
        return self.exit_code

    def stop(self, *, timeout: float | None = None) -> None:
        """Graceful stop, as the first SIGTERM does; ``timeout`` replaces ``queue.shutdown_timeout`` (0: release
        running jobs at once)."""
        self.worker.stop(timeout=timeout)

    def _start_stages(self, generation: int) -> _Topology:
        context = self._context
        bound = self.config.index.queue_items
        queues = StageQueues(
            fetch_inbox=Channel(context),
            parse_queue=Channel(context, maxsize=bound),
            write_queue=Channel(context, maxsize=bound),
            events=Channel(context),
        )
        parent = os.getpid()
        bodies: list[tuple[str, str, tuple[Any, ...]]] = [
            (
                "pipeline-fetch",
                "pipeline.processes.fetcher:fetcher_main",
                (self._stage_config, str(self.tmp_root), self._token, queues),
            ),
            *(
                (
                    f"pipeline-parse-{index}",
                    "pipeline.processes.parser:parser_main",
                    (self._stage_config, self._extract_pickle, queues),
                )
                for index in range(self.parsers)
            ),
            (
                "pipeline-write",
                "pipeline.processes.writer:writer_main",
                (self._stage_config, self.url, queues, self.extractor_version),
            ),
        ]
        processes = [
            context.Process(target=stage_process, name=name, args=(parent, body, *args), daemon=True)
            for name, body, args in bodies
        ]
        try:
            for process in processes:
                process.start()
        except BaseException:
            for process in processes:
                if process.pid is not None:
                    process.kill()
                    process.join(5)
            raise
        logger.info(
            "stage processes started",
            extra={"generation": generation, "parsers": self.parsers, "pids": [p.pid for p in processes]},
        )
        topology = _Topology(generation=generation, queues=queues, processes=processes)
        topology.dispatcher = threading.Thread(
            target=self._dispatch, args=(topology,), name=f"coordinator-dispatch-{generation}", daemon=True
        )
        topology.dispatcher.start()
        return topology

    def _stop_stages(self, topology: _Topology, *, drain: bool = True) -> None:
        """Stop one generation: with ``drain``, a ``Stop`` message behind the queued work and ``STAGE_STOP_GRACE``
        to exit (no job is running any more: work still queued is of released jobs, not worth waiting for); then
        SIGKILL whatever is left (children ignore SIGTERM). Without ``drain`` (after a crash), kill at once, so no
        process of a failed generation can still commit a job whose attempt was already failed. A generation that
        was never sent anything is killed at once too: it holds no work, and waiting would only wait for it to
        finish starting. Its dispatcher then routes the events still queued and ends at the end marker sent
        behind them (joined within ``STAGE_STOP_GRACE``), before the queues are closed."""
        queues = topology.queues
        if drain and topology.used:
            stop = messages.encode(messages.Stop())
            for target, count in ((queues.fetch_inbox, 1), (queues.parse_queue, self.parsers), (queues.write_queue, 1)):
                for _ in range(count):
                    try:
                        target.put(stop, block=False)
                    except queue_module.Full:
                        break  # a stage behind a full queue is killed below
            deadline = time.monotonic() + STAGE_STOP_GRACE
            for process in topology.processes:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in topology.processes:
            if process.is_alive():
                process.kill()
                process.join(5)
        if topology.dispatcher is not None:
            queues.events.put(_END_OF_EVENTS)
            topology.dispatcher.join(STAGE_STOP_GRACE)
        for channel in (queues.fetch_inbox, queues.parse_queue, queues.write_queue, queues.events):
            channel.close()  # type: ignore[attr-defined]

    def _set_topology(self, topology: _Topology | None) -> None:
        with self._topology_changed:
            self._topology = topology
            self._topology_changed.notify_all()

    def _current_topology(self) -> _Topology:
        """The running generation of stages; waits while they restart, for at most ``index.job_timeout``. Raises
        ``StageCrashed`` if the worker stops, the supervisor has given up, or no generation came up in time."""
        deadline = time.monotonic() + self.config.index.job_timeout
        with self._topology_changed:
            while self._topology is None:
                if self._stopping.is_set():
                    raise StageCrashed("the worker is stopping while the stage processes restart")
                if self._supervisor_gone.is_set():
                    raise StageCrashed("the stage processes are not running (they could not be restarted)")
                if time.monotonic() > deadline:
                    raise StageCrashed(
                        f"the stage processes did not come up within index.job_timeout "
                        f"({self.config.index.job_timeout:g} s)"
                    )
                self._topology_changed.wait(0.2)
            return self._topology

    # ----- threads -----

    def _dispatch(self, topology: _Topology) -> None:
        """Route one generation's events, progress into the per-job table and outcomes to the waiting handler,
        until the end marker ``_stop_stages`` sends once the generation's processes are gone."""
        events = topology.queues.events
        while True:
            try:
                raw = events.get()
            except (OSError, ValueError):  # the queue was closed: its stop gave up waiting for this thread
                return
            if raw == _END_OF_EVENTS:
                return
            message = messages.decode_coordinator(raw)
            with self._lock:
                if isinstance(message, messages.Progress):
                    stages = self._progress.get(message.job)
                    if stages is not None:
                        stages[message.stage] = {
                            "items_in": message.items_in,
                            "items_out": message.items_out,
                            "failed": message.failed,
                            "finished": message.finished,
                            "updated_at": time.time(),
                        }
                    continue
                inbox = self._inboxes.get(message.job)
            if inbox is not None:
                inbox.put(message)

    def _supervise(self) -> None:
        """Start the stage processes, restart them when one dies or a job timed out (failing the attempts in
        flight), and stop them once the worker has stopped. The one thread that starts them, so none outlives the
        thread that started it (the kernel's death signal follows that thread)."""
        running: _Topology | None = None  # the generation whose processes this thread started and still owns
        try:
            running = self._start_stages(generation=1)
            self._set_topology(running)
            while not self._stopping.wait(0.2):
                current, running = running, None  # if the restart raises, it has stopped ``current`` already
                running = self._restart_if_needed(current)
        except Exception:
            logger.exception("the stage processes cannot be kept running; stopping the worker")
            self.exit_code = EXIT_STAGE_CRASHES
        finally:
            self._supervisor_gone.set()
            self._set_topology(None)  # also wakes a job waiting for the stages, which gives up now
            if running is not None:
                self._stop_stages(running)
            if self.exit_code:
                self.worker.stop()

    def _request_restart(self, topology: _Topology) -> None:
        """Have the supervisor replace ``topology`` (if it still runs); from now on no job is dispatched to it."""
        with self._topology_changed:
            if self._topology is topology:
                self._restart_wanted.set()
                self._topology = None

    def _restart_if_needed(self, running: _Topology) -> _Topology:
        """Restart the stages when one of them died (a crash: counts towards ``STAGES_RESTART_LIMIT``) or an
        attempt timed out (its parser may never return); returns the generation now running. Raises what starting
        the next generation raises, and ``PipelineError`` once the stages keep dying."""
        dead = [p for p in running.processes if not p.is_alive()]
        if not (dead or self._restart_wanted.is_set()) or self._stopping.is_set():
            return running
        self._restart_wanted.clear()
        self._set_topology(None)  # no job is dispatched to the dying generation from here on
        self.restarts += 1
        if dead:
            self.crashes += 1
            reason = f"stage process {dead[0].name} died (exit code {dead[0].exitcode})"
            logger.error(
                "stage process died; failing in-flight attempts and restarting the stages",
                extra={"dead": [(p.name, p.exitcode) for p in dead], "restarts": self.restarts},
            )
        else:
            reason = "the stage processes restarted after another job ran past index.job_timeout"
            logger.warning("stage processes restart: a job timed out", extra={"restarts": self.restarts})
        # Kill the whole generation before failing the attempts: its writer must not commit a job afterwards
        # (an attempt whose parser died idle could otherwise still complete in the old writer).
        self._stop_stages(running, drain=False)
        with self._lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            inbox.put(StageCrashed(reason))
        if self.crashes > STAGES_RESTART_LIMIT:
            raise PipelineError(f"the stage processes died {self.crashes} times (last: {reason})")
        restarted = self._start_stages(running.generation + 1)
        self._set_topology(restarted)
        return restarted

    def _watch_for_end(self) -> None:
        """With ``until_idle``/``until_index_job``: stop once there is nothing left to do (``until_idle``: no index
        job waiting, whether it can run now or waits for a retry's backoff or a delayed start, and none running
        anywhere, since a dead worker's job comes back to be run). Looks at once, then whenever a job ends here,
        and every ``queue.poll_interval`` for what other workers do."""
        with (
            Queue(self.url, self.schema, self.config.queue, transaction_pooler=self.transaction_pooler) as queue,
            connect(self.url, self.schema, autocommit=True, transaction_pooler=self.transaction_pooler) as conn,
        ):
            while not self._stopping.is_set():
                with self._lock:
                    busy = bool(self._inboxes)
                if not busy and self._nothing_left(queue, conn):
                    self.stop()
                    return
                self._watcher_wake.wait(self.config.queue.poll_interval)
                self._watcher_wake.clear()  # before the next look, which sees whatever woke it

    def _nothing_left(self, queue: Queue, conn: psycopg.Connection[TupleRow]) -> bool:
        """Whether the end ``_watch_for_end`` waits for has come (asked while no job runs here)."""
        if self.until_index_job is not None:
            job = index_jobs.get(conn, self.until_index_job)
            return job is None or job.status not in (IndexJobStatus.PENDING, IndexJobStatus.PROCESSING)
        return queue.unfinished(INDEX_QUEUE) == 0

    # ----- one job -----

    def _conn(self) -> psycopg.Connection[TupleRow]:
        """This handler thread's own autocommit connection (reopened if it was lost)."""
        conn: psycopg.Connection[TupleRow] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = connect(
                self.url,
                self.schema,
                autocommit=True,
                application_name="pipeline-coordinator",
                transaction_pooler=self.transaction_pooler,
            )
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _handle(self, job: Job) -> object:
        raw_id = job.payload.get("index_job_id")
        try:
            index_job_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise PermanentJobError(f"payload has no valid index_job_id: {raw_id!r}") from None
        conn = self._conn()
        record = index_jobs.get(conn, index_job_id)
        if record is None:
            raise PermanentJobError(f"index job {index_job_id} does not exist")
        with log_context(
            index_job_id=str(index_job_id),
            queue_job_id=str(job.id),
            repository_id=str(record.repository_id),
            attempt=job.attempt,
        ):
            if not index_jobs.start(
                conn, index_job_id, queue_job_id=job.id, attempt=job.attempt, worker_id=self.worker.worker_id
            ):
                logger.info(
                    "index job is finished, or its queue job was released meanwhile; nothing to do",
                    extra={"status": record.status},
                )
                return {"index_job_id": str(index_job_id), "skipped": record.status.value}
            return self._run_job(job, index_job_id, record, conn)

    def _run_job(
        self, job: Job, index_job_id: uuid.UUID, record: index_jobs.IndexJob, conn: psycopg.Connection[TupleRow]
    ) -> object:
        # Per attempt: the stages drop every message of an aborted key for good, and a retry of the same queue job
        # in the same stage processes must start afresh.
        key = messages.attempt_key(str(job.id), job.attempt)
        inbox: queue_module.Queue[object] = queue_module.Queue()
        try:
            target = _target_of(record)
            topology = self._current_topology()
            # Only now: the failure a restart meanwhile sends to every inbox is not this attempt's (a restart after
            # this point is seen as ``self._topology is not topology``), nor is the restart's time.
            with self._lock:
                self._inboxes[key] = inbox
                self._progress[key] = {}
            deadline = time.monotonic() + self.config.index.job_timeout
            self._put(
                topology,
                "write_queue",
                messages.WriteBegin(
                    job=key,
                    queue_job_id=str(job.id),
                    attempt=job.attempt,
                    index_job_id=str(index_job_id),
                    repository_id=str(record.repository_id),
                    worker_id=self.worker.worker_id,
                    force=record.force,
                ),
            )
            self._put(
                topology,
                "fetch_inbox",
                messages.FetchRequest(
                    job=key,
                    url=target.url,
                    transport=target.transport,
                    full_name=record.repository,
                    ref=record.ref,
                    commit_sha=record.commit_sha,
                ),
            )
            last_stored = 0.0
            while True:
                try:
                    outcome: object | None = inbox.get(timeout=min(0.5, self.config.index.progress_interval))
                except queue_module.Empty:
                    outcome = None
                if time.monotonic() - last_stored >= self.config.index.progress_interval:
                    self._store_progress(conn, index_job_id, key)
                    last_stored = time.monotonic()
                if outcome is None and job.is_abandoned():
                    self._abort(key)  # the index job followed its queue job (cancelled, or back to the queue)
                    logger.info("job abandoned: cancelled, released or rescued")
                    return None
                # A restart tells each job in flight why (a message ahead of the new generation); this catches a job
                # it missed, once the new generation runs or none ever will.
                current = self._topology
                if (
                    outcome is None
                    and current is not topology
                    and (current is not None or self._supervisor_gone.is_set())
                ):
                    outcome = StageCrashed("the stage processes restarted while the job was in flight")
                if outcome is None and time.monotonic() > deadline:
                    outcome = JobTimeout(
                        f"the attempt ran longer than index.job_timeout ({self.config.index.job_timeout:g} s)"
                    )
                if outcome is None:
                    continue
                if isinstance(outcome, messages.JobDone):
                    if outcome.skipped:
                        self._abort(key)  # the fetcher and parsers may still be busy with it
                        logger.info("index job skipped: already the current index", extra={"stats": outcome.stats})
                    else:
                        logger.info("index job completed", extra={"stats": outcome.stats})
                    return COMPLETED_BY_HANDLER
                self._abort(key)
                if isinstance(outcome, messages.JobFailed):
                    final = not outcome.retryable or job.attempt > job.retry_limit
                    index_jobs.fail(conn, index_job_id, outcome.error, stage=outcome.stage, final=final)
                    if not outcome.retryable:
                        raise PermanentJobError(outcome.error)
                    raise StageFailure(f"{outcome.stage}: {outcome.error}")
                if isinstance(outcome, JobTimeout):
                    logger.warning("index job timed out", extra={"job_timeout": self.config.index.job_timeout})
                    self._request_restart(topology)
                    index_jobs.fail(conn, index_job_id, str(outcome), stage=self._current_stage(key), final=True)
                    raise PermanentJobError(str(outcome))
                assert isinstance(outcome, StageCrashed)
                index_jobs.fail(conn, index_job_id, str(outcome), stage=None, final=job.attempt > job.retry_limit)
                raise outcome
        finally:
            with self._lock:
                self._inboxes.pop(key, None)
                self._progress.pop(key, None)
            self._watcher_wake.set()

    def _put(self, topology: _Topology, channel: str, message: Any) -> None:
        """Put on one generation's queue (blocking while it is full); a restart meanwhile loses the attempt."""
        data = messages.encode(message)
        topology.used = True
        while True:
            try:
                getattr(topology.queues, channel).put(data, timeout=0.5)
                return
            except queue_module.Full:
                if self._topology is not topology or self._stopping.is_set():
                    raise StageCrashed("the stage processes restarted while the job was being dispatched") from None

    def _abort(self, key: str) -> None:
        """Tell the fetcher and the writer to drop the job (a restarted generation never had it)."""
        topology = self._topology
        if topology is None:
            return
        for channel in ("fetch_inbox", "write_queue"):
            try:
                self._put(topology, channel, messages.Abort(job=key))
            except StageCrashed:
                return

    def _store_progress(self, conn: psycopg.Connection[TupleRow], index_job_id: uuid.UUID, key: str) -> None:
        with self._lock:
            stages = {stage: dict(values) for stage, values in self._progress.get(key, {}).items()}
        if not stages:
            return
        index_jobs.set_progress(conn, index_job_id, stages, _unfinished_stage(stages))

    def _current_stage(self, key: str) -> str:
        """The stage an attempt is in: the last one with progress that has not finished (fetch before any)."""
        with self._lock:
            stages = {stage: dict(values) for stage, values in self._progress.get(key, {}).items()}
        return _unfinished_stage(stages) or "fetch"


def _unfinished_stage(stages: dict[str, dict[str, Any]]) -> str | None:
    return next((s for s in ("write", "parse", "fetch") if s in stages and not stages[s]["finished"]), None)


def _usable_tmp_root(path: Path) -> Path:
    """``path``, created if missing; raises ``PipelineError`` naming it if job directories cannot be made there
    (checked here, before the fetcher would die on it at every start)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(prefix=".pipeline-probe-", dir=path).cleanup()
    except OSError as exc:
        raise PipelineError(f"index.tmp_dir {str(path)!r}: cannot create job directories there: {exc}") from exc
    return path


def _target_of(record: index_jobs.IndexJob) -> RepoTarget:
    """The repository's target, re-derived from its stored URL (which never carries credentials)."""
    from stages.fetch import parse_target  # noqa: PLC0415  (git: a worker that runs no job never loads it)

    return parse_target(record.git_url)
