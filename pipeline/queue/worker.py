"""The consumer side of the job queue: claim, run, record, heartbeat, shut down, survive connection loss.

Guarantees:
- A batch is claimed with one statement (``FOR UPDATE SKIP LOCKED``) and its completions are recorded with one
  statement; every transition out of ``active`` names this worker as owner and the attempt it ran, so a job
  that was rescued, expired or cancelled meanwhile is never completed by it, not even when this worker has
  claimed it again since (the statement matches no row and the result is dropped).
- A handler that raises fails the attempt (retried with backoff while attempts remain); ``PermanentJobError``
  fails the job at once. A handler that completed the job itself, in its own transaction, returns
  ``COMPLETED_BY_HANDLER`` and the worker records nothing for it.
- While a job runs its heartbeat is refreshed every ``heartbeat_interval``; an attempt that is no longer this
  worker's (cancelled, rescued, expired; even when this worker has claimed a later attempt of the same job) is
  marked abandoned at the next heartbeat: ``job.is_abandoned()`` turns true and the handler is expected to
  return early.
- An idle worker is woken by LISTEN/NOTIFY within milliseconds of a send, and polls every ``poll_interval`` as a
  fallback. Each claim loop LISTENs on its own connection; with ``listen_url`` (``database.direct_url``: the claim
  connections go through a transaction pooler, where LISTEN does not work) one listener connection to that URL
  wakes every loop instead. Behind a transaction pooler with no direct URL, LISTEN is an error, not a silent
  fallback to polling (``listen = false`` asks for polling).
- First SIGTERM/SIGINT: stop claiming, let running handlers finish for up to ``shutdown_timeout``, then release
  what is still running back to ``retry`` without consuming an attempt. A stopping worker no longer renews its
  ``workers`` row and deletes it before it wakes the others for the released jobs, so jobs reserved for it are
  claimed by them at once. Second signal: exit at once (exit status
  128 + signal); the rescuer recovers the jobs.
- Lost connection (Postgres restart, network): reconnect with capped exponential backoff and carry on; results
  that could not be recorded are kept and recorded after reconnecting (accepted at most once, by the owner check).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import set_json_loads

from pipeline.config import Config, QueueConfig
from pipeline.db import connect, database_url, direct_url, query
from pipeline.errors import DatabaseError
from pipeline.queue.backoff import retry_delay_seconds
from pipeline.queue.client import GROUP_ACTIVE_INDEX, check_queue_name
from pipeline.queue.errors import PermanentJobError
from pipeline.queue.listener import Listener, channel, drain_notifications
from pipeline.queue.rescuer import Rescuer
from pipeline.queue.retention import Retention, Sweep

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]
# Errors after which the connection is presumed gone: close it, reconnect with backoff, carry on.
CONNECTION_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, DatabaseError)
RECONNECT_DELAY = 0.05
RECONNECT_DELAY_MAX = 2.0
MAX_ERROR_LENGTH = 4000


class Job:
    """A claimed job as its handler sees it."""

    __slots__ = (
        "_abandoned",
        "attempt",
        "id",
        "payload",
        "queue",
        "retry_backoff",
        "retry_delay",
        "retry_delay_max",
        "retry_limit",
    )

    def __init__(  # noqa: PLR0917  (built positionally from a claim row, in the hot loop)
        self,
        job_id: uuid.UUID,
        queue: str,
        payload: dict[str, Any],
        attempt: int,
        retry_limit: int,
        retry_delay: float,
        retry_backoff: bool,
        retry_delay_max: float,
        abandoned: set[tuple[uuid.UUID, int]],
    ) -> None:
        self.id = job_id
        self.queue = queue
        self.payload = payload
        self.attempt = attempt  # 1 for the first run; at most retry_limit + 1
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_backoff = retry_backoff
        self.retry_delay_max = retry_delay_max
        self._abandoned = abandoned

    def is_abandoned(self) -> bool:
        """True once the job is no longer this worker's (cancelled, rescued, expired, released at shutdown):
        the handler should stop, and whatever it returns is not recorded. Marks are per attempt: a later
        attempt of the same job, claimed again by this worker, starts unmarked."""
        return (self.id, self.attempt) in self._abandoned

    def __repr__(self) -> str:
        return f"Job(id={self.id}, queue={self.queue!r}, attempt={self.attempt})"


Handler = Callable[[Job], object]  # returns the job's output (JSON-encodable, or None); raises to fail it


class _CompletedByHandler:
    """Type of ``COMPLETED_BY_HANDLER``."""

    def __repr__(self) -> str:
        return "COMPLETED_BY_HANDLER"


# A handler returns this when it completed the job itself, in the same transaction as its own effects (running
# ``job_complete_many`` with ``Worker.worker_id`` as owner and ``job.attempt``, so it is rejected if that attempt
# is no longer its own); the worker then records nothing for the job.
COMPLETED_BY_HANDLER = _CompletedByHandler()


Attempt = tuple[uuid.UUID, int]
"""One run of a job: its id and attempt number (what the queue's owner checks match, with the worker id)."""


class _Results:
    """Outcomes of one batch, kept until they are recorded (survives reconnects)."""

    __slots__ = ("completed", "failed", "outputs")

    def __init__(self) -> None:
        self.completed: list[Job] = []
        self.outputs: list[str | None] = []
        self.failed: list[tuple[Job, str, bool]] = []  # job, error, permanent

    def __bool__(self) -> bool:
        return bool(self.completed or self.failed)


def new_worker_id() -> str:
    """A worker id unique across hosts and processes: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Runs ``handler`` for the jobs of one queue with ``concurrency`` claim loops, each claiming up to
    ``batch_size`` jobs at a time (each LISTENing on its own connection, or woken by one listener on ``listen_url``),
    plus one supervisor thread (heartbeats, rescuer, retention)."""

    def __init__(
        self,
        url: str,
        schema: str,
        queue: str,
        handler: Handler,
        *,
        config: QueueConfig | None = None,
        batch_size: int = 1,
        concurrency: int = 1,
        maintenance: bool = True,
        worker_id: str | None = None,
        connect_timeout: int = 10,
        retention_sweeps: Sequence[Sweep] = (),
        job_id: uuid.UUID | None = None,
        transaction_pooler: bool = False,
        listen_url: str = "",
    ) -> None:
        """``retention_sweeps``: more tables' retention, run in this worker's retention step (with ``maintenance``)."""
        if batch_size < 1 or concurrency < 1:
            raise ValueError(f"batch_size and concurrency must be at least 1, got {batch_size} and {concurrency}")
        if transaction_pooler and (config or QueueConfig()).listen and not listen_url:
            raise ValueError(
                "LISTEN does not work through a transaction pooler: pass listen_url, or set listen = false"
            )
        self.url = url
        self.listen_url = listen_url  # a direct URL the listener connection uses; empty: LISTEN on each loop's own
        self.schema = schema
        self.queue = check_queue_name(queue)
        self.handler = handler
        self.config = config or QueueConfig()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.maintenance = maintenance
        self.worker_id = worker_id or new_worker_id()
        self.job_id = job_id  # set: claim only this job, by id, whatever its queue (``job_claim_by_id``)
        self._shutdown_timeout = self.config.shutdown_timeout
        self._connect_timeout = connect_timeout
        self._transaction_pooler = transaction_pooler
        self.listening = threading.Event()  # set while the listener on ``listen_url`` is LISTENing
        self._stale_after = self.config.heartbeat_interval * self.config.rescue_after_heartbeats
        self._stopping = threading.Event()  # stop claiming
        self._stop_pipe = _StopPipe()  # a stop wakes the claim loops blocked on their connection's socket at once
        self._finished = threading.Event()  # loops are done: the supervisor may stop heartbeating
        self._wake = [threading.Event() for _ in range(concurrency)]
        # The attempts claimed by this worker and not yet recorded. Two attempts of one job can be held at once
        # (one outlived its expiry while another loop claimed the next), so heartbeats and abandonment marks are
        # per attempt: the late one is marked, the live one is not, however they interleave with the claim loops.
        self._held: set[Attempt] = set()
        self._held_lock = threading.Lock()  # claim loops and the supervisor check-and-change it
        self._abandoned: set[Attempt] = set()
        self._signals = 0
        self.rescuer = Rescuer(
            url, schema, self.config, connect_timeout=connect_timeout, transaction_pooler=transaction_pooler
        )
        self.retention = Retention(
            url,
            schema,
            self.config,
            connect_timeout=connect_timeout,
            transaction_pooler=transaction_pooler,
            sweeps=retention_sweeps,
        )

    @classmethod
    def from_config(cls, config: Config, queue: str, handler: Handler, **options: Any) -> Worker:
        return cls(
            database_url(config),
            config.database.schema,
            queue,
            handler,
            config=config.queue,
            connect_timeout=config.database.connect_timeout,
            transaction_pooler=config.database.transaction_pooler,
            listen_url=listen_url(config),
            **options,
        )

    # ----- running -----

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Work until ``stop()`` or a signal, then shut down as the module docstring describes."""
        if install_signal_handlers:
            self.install_signal_handlers()
        supervisor = threading.Thread(target=self._supervise, name=f"queue-supervisor-{self.queue}", daemon=True)
        loops = [
            threading.Thread(target=self._loop, args=(index,), name=f"queue-loop-{self.queue}-{index}", daemon=True)
            for index in range(self.concurrency)
        ]
        listener = threading.Thread(target=self._listen, name=f"queue-listener-{self.queue}", daemon=True)
        self._stop_pipe.open()
        supervisor.start()
        if self.listen_url and self.config.listen:
            listener.start()
        for loop in loops:
            loop.start()
        logger.info("worker started", extra={"worker_id": self.worker_id, "queue": self.queue})
        while not self._stopping.is_set():
            self._stopping.wait(0.5)
        deadline = time.monotonic() + self._shutdown_timeout
        for loop in loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        if listener.is_alive():
            listener.join(self._connect_timeout)
        if self._held:  # handlers still running past the timeout, or a release that failed on a lost connection
            self._release_held()
        self._stop_pipe.close()
        self._finished.set()
        supervisor.join(self.config.heartbeat_interval + self._connect_timeout)
        logger.info("worker stopped", extra={"worker_id": self.worker_id, "queue": self.queue})

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop this worker: the first gracefully, a second at once. From the main thread only;
        what ``run`` does, for a caller that must take the signals over before it starts."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def stop(self, *, timeout: float | None = None) -> None:
        """Ask for a graceful stop (what the first SIGTERM does); ``timeout`` replaces ``shutdown_timeout``."""
        if timeout is not None:
            self._shutdown_timeout = timeout
        self._stopping.set()
        for event in self._wake:
            event.set()
        self._stop_pipe.signal()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            os._exit(128 + signum)
        logger.info("stopping: finishing running jobs", extra={"signal": signum, "worker_id": self.worker_id})
        self.stop()

    def run_once(self, conn: Connection | None = None) -> int:
        """Claim one batch, run it and record the results on ``conn`` (or a short-lived connection); returns how
        many jobs were claimed. The single step of a claim loop, for tests and scripts."""
        if conn is not None:
            return self._step(conn, self._wake[0], _Results(), wait=False)
        with self._connect() as own:
            return self._step(own, self._wake[0], _Results(), wait=False)

    # ----- claim loops -----

    def _loop(self, index: int) -> None:
        wake = self._wake[index]
        pending = _Results()
        conn: Connection | None = None
        delays = _reconnect_delays()
        while not (self._stopping.is_set() and not pending):
            try:
                if conn is None:
                    conn = self._connect(wake=wake)
                    delays = _reconnect_delays()
                    wake.set()  # notifications sent while disconnected were lost: look before waiting
                if pending:
                    self._record(conn, pending)
                if self._stopping.is_set():
                    break
                self._step(conn, wake, pending, wait=True)
            except Exception as exc:  # a claim loop must survive anything; handler errors never get here
                _discard(conn)
                conn = None
                delay = next(delays)
                _log_loop_error("claim loop", exc, self.worker_id, delay)
                self._stopping.wait(delay)
        if conn is not None:
            conn.close()

    def _step(self, conn: Connection, wake: threading.Event, pending: _Results, *, wait: bool) -> int:
        wake.clear()
        if self.job_id is None:
            claim = (
                query("job_claim"),
                {
                    "name": self.queue,
                    "limit": self.batch_size,
                    "worker_id": self.worker_id,
                    "stale_after": self._stale_after,
                },
            )
        else:
            claim = query("job_claim_by_id"), {"id": self.job_id, "worker_id": self.worker_id}
        try:
            rows = conn.execute(*claim).fetchall()
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != GROUP_ACTIVE_INDEX:
                raise
            # Another claimer started a job of the same group after this claim's snapshot was taken (a claim by
            # id, or a job sent ahead of the group's first one meanwhile): that job runs there, and the next claim,
            # at once, sees it.
            wake.set()
            return 0
        if not rows:
            if wait:
                self._wait_for_work(conn, wake)
            return 0
        queue, abandoned = self.queue, self._abandoned
        jobs = [Job(row[0], queue, row[1], row[2], row[3], row[4], row[5], row[6], abandoned) for row in rows]
        with self._held_lock:
            self._held.update((job.id, job.attempt) for job in jobs)
        unstarted: list[Attempt] = []
        skipped: list[Attempt] = []  # cancelled (or rescued) before their turn: nothing to run or record
        for job in jobs:
            if self._stopping.is_set():
                unstarted.append((job.id, job.attempt))
            elif abandoned and (job.id, job.attempt) in abandoned:  # hashing a UUID costs a Python call
                skipped.append((job.id, job.attempt))
            else:
                self._run_job(job, pending)
        if unstarted:
            self._release(conn, unstarted)
        self._record(conn, pending)
        self._forget(skipped)
        return len(jobs)

    def _run_job(self, job: Job, pending: _Results) -> None:
        try:
            output = self.handler(job)
            if output is COMPLETED_BY_HANDLER:
                self._forget([(job.id, job.attempt)])
                return
            encoded = None if output is None else orjson.dumps(output).decode()
        except Exception as exc:  # any handler error fails the job, never the worker
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
            permanent = isinstance(exc, PermanentJobError)
            logger.info(
                "job failed",
                extra={"queue_job_id": str(job.id), "attempt": job.attempt, "error": message, "permanent": permanent},
            )
            pending.failed.append((job, message, permanent))
        else:
            pending.completed.append(job)
            pending.outputs.append(encoded)

    def _record(self, conn: Connection, pending: _Results) -> None:
        """Record a batch's outcomes (one statement for completions, one for failures), then forget them."""
        if pending.completed:
            completed = pending.completed
            accepted = conn.execute(
                query("job_complete_many"),
                {
                    "ids": [job.id for job in completed],
                    "attempts": [job.attempt for job in completed],
                    "outputs": pending.outputs,
                    "worker_id": self.worker_id,
                },
            ).rowcount
            if accepted != len(completed):
                logger.warning(
                    "completions rejected: the jobs were cancelled, rescued or expired meanwhile",
                    extra={"worker_id": self.worker_id, "rejected": len(completed) - accepted},
                )
            self._forget([(job.id, job.attempt) for job in completed])
            pending.completed, pending.outputs = [], []
        if pending.failed:
            config = self.config
            delays = [
                retry_delay_seconds(
                    job.attempt,
                    delay=job.retry_delay,
                    backoff=job.retry_backoff,
                    delay_max=job.retry_delay_max,
                    jitter=config.retry_jitter,
                )
                for job, _, _ in pending.failed
            ]
            conn.execute(
                query("job_fail_many"),
                {
                    "ids": [job.id for job, _, _ in pending.failed],
                    "attempts": [job.attempt for job, _, _ in pending.failed],
                    "errors": [error for _, error, _ in pending.failed],
                    "delays": delays,
                    "permanent": [permanent for _, _, permanent in pending.failed],
                    "worker_id": self.worker_id,
                },
            )
            self._forget([(job.id, job.attempt) for job, _, _ in pending.failed])
            pending.failed = []

    def _forget(self, attempts: list[Attempt]) -> None:
        """Stop holding these attempts (another attempt of the same job stays held) and drop their marks."""
        with self._held_lock:
            self._held.difference_update(attempts)
        # Usually no mark exists: skip hashing the attempts then. A mark the supervisor adds after this check is
        # for an attempt no longer held, and the supervisor drops such marks itself (``_heartbeat``).
        if self._abandoned:
            self._abandoned.difference_update(attempts)

    def _release(self, conn: Connection, attempts: list[Attempt]) -> None:
        """Give jobs back without consuming their attempt, and wake other workers for them (at shutdown only).

        This worker is forgotten first (its ``workers`` row, which its heartbeats no longer renew once stopping):
        a worker woken here would otherwise still see it alive and leave the jobs reserved for it waiting."""
        conn.execute(query("worker_delete"), {"id": self.worker_id})
        rows = conn.execute(
            query("job_release_many"),
            {
                "ids": [job_id for job_id, _ in attempts],
                "attempts": [n for _, n in attempts],
                "worker_id": self.worker_id,
            },
        ).fetchall()
        for name in {row[1] for row in rows}:
            conn.execute(query("job_notify"), {"name": name})
        self._abandoned.update(attempts)
        with self._held_lock:
            self._held.difference_update(attempts)
        if rows:
            logger.info("jobs released at shutdown", extra={"worker_id": self.worker_id, "released": len(rows)})

    def _holds(self, attempt: Attempt) -> bool:
        with self._held_lock:
            return attempt in self._held

    def _release_held(self) -> None:
        with self._held_lock:
            held = list(self._held)
        if not held:
            return
        try:
            with self._connect() as conn:
                self._release(conn, held)
        except CONNECTION_ERRORS as exc:
            logger.warning(
                "could not release running jobs; the rescuer will recover them",
                extra={"worker_id": self.worker_id, "jobs": len(held), "error": str(exc).strip()},
            )

    def _wait_for_work(self, conn: Connection, wake: threading.Event) -> None:
        """Sleep until a notification for this queue, a stop, or the poll interval, whichever comes first.

        With LISTEN the loop's own connection receives the notification (no hand-off between threads); one that
        arrived during an earlier statement was already turned into ``wake`` by the notify handler.
        """
        deadline = time.monotonic() + self.config.poll_interval
        while not wake.is_set() and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if not self.config.listen or self.listen_url:  # polling, or the listener sets ``wake``
                wake.wait(remaining)
                continue
            socket_ready = self._stop_pipe.wait_readable(conn.fileno(), remaining)
            if socket_ready:
                drain_notifications(conn, self.queue, wake.set)

    # ----- listener: LISTEN apart from the claim loops -----

    def _listen(self) -> None:
        """LISTEN on ``listen_url`` and wake every claim loop on a notification for this queue, until stopped;
        reconnects with backoff like the loops, waking them after each (what was sent meanwhile was lost)."""
        listener = Listener(
            self.listen_url, self.schema, self.queue, self._wake_loops, connect_timeout=self._connect_timeout
        )
        conn: Connection | None = None
        delays = _reconnect_delays()
        while not self._stopping.is_set():
            try:
                if conn is None:
                    conn = listener.connect()
                    delays = _reconnect_delays()
                    self.listening.set()
                    self._wake_loops()
                listener.run_once(conn, 0.25)  # short slices, so a stop() is noticed promptly
            except Exception as exc:  # the listener must survive anything, or the loops only poll
                self.listening.clear()
                _discard(conn)
                conn = None
                delay = next(delays)
                _log_loop_error("listener", exc, self.worker_id, delay)
                self._stopping.wait(delay)
        self.listening.clear()
        if conn is not None:
            conn.close()

    def _wake_loops(self) -> None:
        for event in self._wake:
            event.set()

    # ----- supervisor: heartbeats, maintenance -----

    def _supervise(self) -> None:
        conn: Connection | None = None
        delays = _reconnect_delays()
        heartbeat_every = self.config.heartbeat_interval
        rescue_every = heartbeat_every / 2
        next_heartbeat = next_rescue = 0.0
        next_retention = time.monotonic() + min(self.config.retention_interval, 5.0)
        while not self._finished.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                    delays = _reconnect_delays()
                    next_heartbeat = 0.0
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._heartbeat(conn)
                    next_heartbeat = now + heartbeat_every
                if self.maintenance and now >= next_rescue:
                    self.rescuer.run_once(conn)
                    next_rescue = now + rescue_every
                if self.maintenance and now >= next_retention:
                    self.retention.run_once(conn)
                    next_retention = now + self.config.retention_interval
                until = min(next_heartbeat, next_rescue if self.maintenance else next_heartbeat) - time.monotonic()
                self._finished.wait(min(max(until, 0.0), 0.5))
            except Exception as exc:  # the supervisor must survive anything, or heartbeats stop
                _discard(conn)
                conn = None
                delay = next(delays)
                _log_loop_error("supervisor", exc, self.worker_id, delay)
                self._finished.wait(delay)
        if conn is not None:
            with contextlib.suppress(*CONNECTION_ERRORS):
                conn.execute(query("worker_delete"), {"id": self.worker_id})
            conn.close()

    def _heartbeat(self, conn: Connection) -> None:
        if not self._stopping.is_set():  # a stopping worker claims nothing more: its reservations lapse
            conn.execute(
                query("worker_heartbeat"),
                {"id": self.worker_id, "queue": self.queue, "host": socket.gethostname(), "pid": os.getpid()},
            )
        with self._held_lock:
            held = list(self._held)
        if not held:
            return
        rows = conn.execute(
            query("job_heartbeat"),
            {"ids": [job_id for job_id, _ in held], "attempts": [n for _, n in held], "worker_id": self.worker_id},
        )
        alive = {(row[0], row[1]) for row in rows}
        lost = [attempt for attempt in held if attempt not in alive and self._holds(attempt)]
        if lost:
            self._abandoned.update(lost)
            # an attempt recorded (and forgotten) by its loop meanwhile was not lost: do not keep its mark
            self._abandoned.difference_update([attempt for attempt in lost if not self._holds(attempt)])
            logger.info(
                "jobs abandoned: cancelled, rescued or expired", extra={"worker_id": self.worker_id, "jobs": len(lost)}
            )

    def _connect(self, *, wake: threading.Event | None = None) -> Connection:
        """An autocommit connection; given ``wake`` (and ``listen``), it LISTENs and sets ``wake`` whenever a
        notification for this queue arrives, even in the middle of another statement."""
        conn = connect(
            self.url,
            self.schema,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            transaction_pooler=self._transaction_pooler,
        )
        set_json_loads(orjson.loads, conn)
        if wake is not None and self.config.listen and not self.listen_url:
            queue = self.queue

            def on_notify(notify: psycopg.Notify) -> None:
                if notify.payload == queue:
                    wake.set()

            conn.add_notify_handler(on_notify)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.schema))))
        return conn


class _StopPipe:
    """A pipe that ``stop()`` writes to, so a claim loop blocked in ``select`` on its connection's socket wakes at
    once (a ``threading.Event`` cannot be selected on). Open while ``Worker.run`` runs; ``signal`` is safe from any
    thread and from a signal handler, before ``open`` and after ``close`` too (then it does nothing)."""

    def __init__(self) -> None:
        # Reentrant: a signal handler calling ``signal`` may interrupt the main thread inside ``open`` or ``close``.
        # Held while writing, so a write never reaches a descriptor number that ``close`` freed for reuse.
        self._lock = threading.RLock()
        self._fds: tuple[int, int] | None = None

    def open(self) -> None:
        with self._lock:
            if self._fds is None:
                self._fds = os.pipe()
                os.set_blocking(self._fds[1], False)

    def signal(self) -> None:
        with self._lock:
            if self._fds is not None:
                with contextlib.suppress(BlockingIOError):  # full: it is readable already
                    os.write(self._fds[1], b"\0")

    def wait_readable(self, fileno: int, timeout: float) -> bool:
        """Wait until ``fileno`` is readable (True), or the pipe was written to or ``timeout`` passed (False)."""
        with self._lock:
            watched = [fileno] if self._fds is None else [fileno, self._fds[0]]
        readable, _, _ = select.select(watched, [], [], timeout)
        return fileno in readable

    def close(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, None  # first: a signal handler interrupting the loop below writes nothing
            for fd in fds or ():
                os.close(fd)


def listen_url(config: Config) -> str:
    """Where a worker LISTENs apart from its claim loops: ``database.direct_url`` when set; empty (each loop LISTENs
    on its own connection) without one, or when not listening. Behind a transaction pooler with no direct URL,
    a ``ConfigError`` names the settings: LISTEN would silently never fire there."""
    if not config.queue.listen:
        return ""
    if config.database.direct_url or config.database.transaction_pooler:
        return direct_url(config, purpose="LISTEN")
    return ""


def _discard(conn: Connection | None) -> None:
    """Close a connection that may be broken, ignoring any error doing so."""
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def _log_loop_error(loop: str, exc: Exception, worker_id: str, retry_in: float) -> None:
    """Connection trouble is expected (restarts, network): a warning. Anything else is a bug: a full traceback."""
    extra = {"worker_id": worker_id, "error": str(exc).strip(), "retry_in": round(retry_in, 3)}
    if isinstance(exc, CONNECTION_ERRORS):
        logger.warning(f"queue {loop}: connection lost; reconnecting", extra=extra)
    else:
        logger.exception(f"queue {loop}: unexpected error; reconnecting", extra=extra)


def _reconnect_delays() -> Iterator[float]:
    attempt = 0
    while True:
        attempt += 1
        yield retry_delay_seconds(
            attempt, delay=RECONNECT_DELAY, backoff=True, delay_max=RECONNECT_DELAY_MAX, jitter=0.5
        )
