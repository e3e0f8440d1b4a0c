"""The producer and operator side of the job queue: send, cancel, inspect, dead letters, health.

Guarantees: a payload must be a JSON object no larger than ``max_payload_bytes`` once encoded, or ``send`` raises
``PayloadError`` naming the queue (and the item, for ``send_many``) before touching the database; ``send`` with
``conn=`` runs inside the caller's transaction, so the job exists exactly when the caller's own rows do; a
duplicate ``singleton_key`` returns the id of the unfinished job that holds it instead of raising.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec
import orjson
import psycopg
from psycopg.rows import TupleRow
from psycopg.types.json import set_json_loads

from pipeline.config import Config, QueueConfig
from pipeline.db import connect, database_url, query
from pipeline.migrate import check_migrated
from pipeline.queue.errors import JobOptionError, PayloadError
from pipeline.queue.states import JobEventKind, JobState

Connection = psycopg.Connection[TupleRow]
T = TypeVar("T")
StartAfter = datetime | timedelta | float | int | None

DEAD_LETTER_SUFFIX = "__dlq"
MAX_QUEUE_NAME_LENGTH = 200
INT32_MAX = 2**31 - 1
SEND_MANY_CHUNK = 5000  # rows per INSERT statement; all chunks of one call share one transaction
GROUP_ACTIVE_INDEX = "jobs_group_active_idx"  # the unique index that keeps a group's jobs from running together


class JobInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A job as stored, for inspection and tests."""

    id: uuid.UUID
    queue: str
    state: JobState
    priority: int
    attempts: int
    retry_limit: int
    worker_id: str | None
    singleton_key: str | None
    created_at: datetime
    start_after: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]
    output: Any
    redrive_of: uuid.UUID | None


class JobEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt that did not complete (the completing attempt is recorded on the job itself)."""

    attempt: int
    kind: JobEventKind
    next_state: JobState
    worker_id: str | None
    at: datetime
    error: str | None


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    queue: str
    source_queue: str
    source_job_id: uuid.UUID
    attempts: int
    failed_at: datetime
    last_error: str | None
    payload: dict[str, Any]


class Redriven(msgspec.Struct, frozen=True, kw_only=True):
    dead_letter_id: uuid.UUID
    queue: str
    job_id: uuid.UUID | None  # the new job, or the unfinished job already holding its singleton_key


class QueueHealth(msgspec.Struct, frozen=True, kw_only=True):
    queue: str
    counts: dict[str, int]  # by JobState value, every state present
    oldest_waiting_seconds: float | None  # age of the oldest job that could run now but has not started
    active_workers: int  # workers on this queue whose heartbeat is fresh
    failed_last_24h: int
    dead_letters: int


def encode_payload(payload: object, *, queue: str, max_bytes: int, where: str = "payload") -> bytes:
    """JSON-encode a payload, or raise ``PayloadError`` saying what is wrong with it and where."""
    if not isinstance(payload, Mapping):
        raise PayloadError(f"queue {queue!r}: {where} must be a JSON object (a dict), got {type(payload).__name__}")
    try:
        encoded = orjson.dumps(payload)
    except TypeError as exc:
        raise PayloadError(f"queue {queue!r}: {where} is not JSON-encodable: {exc}") from None
    if len(encoded) > max_bytes:
        raise PayloadError(
            f"queue {queue!r}: {where} is {len(encoded)} bytes of JSON, over the limit of {max_bytes} "
            "(queue.max_payload_bytes)"
        )
    if b"\\u0000" in encoded:
        raise PayloadError(f"queue {queue!r}: {where} contains a NUL character, which Postgres JSON cannot store")
    return encoded


def check_queue_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_QUEUE_NAME_LENGTH or name != name.strip():
        raise JobOptionError(
            f"queue name must be a non-empty string of at most {MAX_QUEUE_NAME_LENGTH} characters without "
            f"surrounding spaces, got {name!r}"
        )
    return name


def dead_letter_queue(name: str) -> str:
    """The default dead-letter queue of a queue."""
    return name + DEAD_LETTER_SUFFIX


class Queue:
    """Sends and manages jobs. Thread-safe: calls share one autocommit connection, serialized by a lock.

    A call that finds that connection dead (a server restart) reconnects and runs again, except ``send_many``, which
    raises: it cannot tell whether a lost commit went through. ``send`` is retried with the same job id, so it never
    enqueues twice.
    """

    def __init__(
        self,
        url: str,
        schema: str,
        config: QueueConfig | None = None,
        *,
        connect_timeout: int = 10,
        transaction_pooler: bool = False,
    ) -> None:
        self.url = url
        self.schema = schema
        self.config = config or QueueConfig()
        self._connect_timeout = connect_timeout
        self._transaction_pooler = transaction_pooler  # ``url`` is a transaction-mode pooler (see pipeline.db)
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Queue:
        return cls(
            database_url(config),
            config.database.schema,
            config.queue,
            connect_timeout=config.database.connect_timeout,
            transaction_pooler=config.database.transaction_pooler,
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connection(self) -> Connection:
        """The queue's own autocommit connection (reopened if it was lost)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(
                self.url,
                self.schema,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                transaction_pooler=self._transaction_pooler,
            )
            set_json_loads(orjson.loads, self._conn)
        return self._conn

    # ----- sending -----

    def send(
        self,
        name: str,
        payload: Mapping[str, Any],
        *,
        priority: int = 0,
        start_after: StartAfter = None,
        singleton_key: str | None = None,
        retry_limit: int | None = None,
        retry_delay: float | None = None,
        retry_backoff: bool | None = None,
        retry_delay_max: float | None = None,
        expire_in: float | None = None,
        dead_letter: str | None = None,
        reserved_for: str | None = None,
        group_key: str | None = None,
        conn: Connection | None = None,
    ) -> uuid.UUID:
        """Enqueue one job and return its id (or, for a held ``singleton_key``, the holder's id).

        With ``conn`` (a connection from ``pipeline.db.connect``, so its statements find the project's schema) the
        job is inserted in the caller's open transaction and becomes visible only if the caller commits.

        ``reserved_for`` names a worker id: other workers leave the job alone while that worker's heartbeat is fresh
        and take it once it is not, so a reserved job outlives its worker. The worker's heartbeat is recorded in the
        same transaction (as this process), so the reservation holds from the moment the job is visible.

        ``group_key`` puts the job in a group of its queue whose jobs run one at a time: no worker claims it while
        another job of the group is active, and the group's jobs are claimed in claim order (priority, then
        availability).
        """
        name = check_queue_name(name)
        encoded = encode_payload(payload, queue=name, max_bytes=self.config.max_payload_bytes)
        params = self._options(
            name,
            priority=priority,
            start_after=start_after,
            retry_limit=retry_limit,
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            retry_delay_max=retry_delay_max,
            expire_in=expire_in,
            dead_letter=dead_letter,
        )
        params.update(
            id=uuid.uuid4(),
            payload=encoded.decode(),
            priority=priority,
            singleton_key=singleton_key,
            reserved_for=reserved_for,
            group_key=group_key,
        )
        if conn is not None:
            return self._insert_one(conn, params)
        return self._on_own_connection(lambda own: self._insert_one_idempotent(own, params))

    def _insert_one_idempotent(self, conn: Connection, params: dict[str, Any]) -> uuid.UUID:
        """``_insert_one`` that may be repeated: a retry after a lost connection whose first attempt had in fact
        committed finds its own id taken, which means the job exists."""
        try:
            return self._insert_one(conn, params)
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "jobs_pkey":
                raise
            return uuid.UUID(str(params["id"]))

    def _insert_one(self, conn: Connection, params: dict[str, Any]) -> uuid.UUID:
        if params["reserved_for"] is not None:
            conn.execute(
                query("worker_heartbeat"),
                {
                    "id": params["reserved_for"],
                    "queue": params["name"],
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                },
            )
        for _ in range(5):
            row = conn.execute(query("job_insert"), params).fetchone()
            if row is not None:
                return uuid.UUID(str(row[0]))
            # the singleton_key is held; the holder may finish between our insert and this lookup, so loop
            held = conn.execute(query("job_find_singleton"), params).fetchone()
            if held is not None:
                return uuid.UUID(str(held[0]))
        raise JobOptionError(
            f"queue {params['name']!r}: singleton_key {params['singleton_key']!r} keeps changing hands"
        )

    def send_many(
        self,
        name: str,
        payloads: Iterable[Mapping[str, Any]],
        *,
        priority: int = 0,
        start_after: StartAfter = None,
        singleton_keys: Sequence[str | None] | None = None,
        retry_limit: int | None = None,
        retry_delay: float | None = None,
        retry_backoff: bool | None = None,
        retry_delay_max: float | None = None,
        expire_in: float | None = None,
        dead_letter: str | None = None,
        conn: Connection | None = None,
    ) -> list[uuid.UUID]:
        """Enqueue many jobs of one queue with one multi-row INSERT per chunk, all in one transaction.

        Returns the ids in payload order; a payload whose singleton key is already held gets the holder's id.
        Every payload is validated before anything is written.
        """
        name = check_queue_name(name)
        max_bytes = self.config.max_payload_bytes
        encoded = [
            encode_payload(payload, queue=name, max_bytes=max_bytes, where=f"payload #{index}")
            for index, payload in enumerate(payloads)
        ]
        keys = None if singleton_keys is None else list(singleton_keys)
        if keys is not None and len(keys) != len(encoded):
            raise JobOptionError(f"queue {name!r}: {len(keys)} singleton keys given for {len(encoded)} payloads")
        params = self._options(
            name,
            priority=priority,
            start_after=start_after,
            retry_limit=retry_limit,
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            retry_delay_max=retry_delay_max,
            expire_in=expire_in,
            dead_letter=dead_letter,
        )
        params["priority"] = priority
        if not encoded:
            return []
        if conn is not None:
            return self._insert_many(conn, params, encoded, keys)
        with self._lock:
            own = self.connection()
            with own.transaction():
                return self._insert_many(own, params, encoded, keys)

    def _insert_many(
        self, conn: Connection, params: dict[str, Any], encoded: list[bytes], keys: list[str | None] | None
    ) -> list[uuid.UUID]:
        ids: list[uuid.UUID] = []
        statement = query("job_insert_many")
        for start in range(0, len(encoded), SEND_MANY_CHUNK):
            chunk_keys = None if keys is None else keys[start : start + SEND_MANY_CHUNK]
            payloads = b"[" + b",".join(encoded[start : start + SEND_MANY_CHUNK]) + b"]"
            rows = conn.execute(
                statement, {**params, "payloads": payloads.decode(), "singleton_keys": chunk_keys}
            ).fetchall()
            for offset, (new_id, inserted) in enumerate(rows):
                if inserted:
                    ids.append(new_id)
                    continue
                assert chunk_keys is not None, "only a held singleton_key can skip a row"
                # the holder's id; _insert_one also covers a holder that finished since (the key is free again)
                single = {
                    **params,
                    "id": uuid.uuid4(),
                    "payload": encoded[start + offset].decode(),
                    "singleton_key": chunk_keys[offset],
                    "reserved_for": None,
                    "group_key": None,
                }
                ids.append(self._insert_one(conn, single))
        return ids

    def _options(
        self,
        name: str,
        *,
        priority: int,
        start_after: StartAfter,
        retry_limit: int | None,
        retry_delay: float | None,
        retry_backoff: bool | None,
        retry_delay_max: float | None,
        expire_in: float | None,
        dead_letter: str | None,
    ) -> dict[str, Any]:
        """Validate the per-job options and fill the rest from the queue config, as statement parameters."""
        defaults = self.config
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > INT32_MAX:
            raise JobOptionError(f"queue {name!r}: priority must be a 32-bit integer, got {priority!r}")
        limit = defaults.retry_limit if retry_limit is None else retry_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1000:
            raise JobOptionError(f"queue {name!r}: retry_limit must be an integer from 0 to 1000, got {limit!r}")
        start_at: datetime | None = None
        start_in = 0.0
        if isinstance(start_after, datetime):
            if start_after.tzinfo is None:
                raise JobOptionError(f"queue {name!r}: start_after must be a timezone-aware datetime")
            start_at = start_after
        elif isinstance(start_after, timedelta):
            start_in = start_after.total_seconds()
        elif start_after is not None:
            start_in = _seconds(name, "start_after", start_after)
        return {
            "name": name,
            "start_at": start_at,
            "start_in": start_in,
            "dead_letter": None if dead_letter is None else check_queue_name(dead_letter),
            "retry_limit": limit,
            "retry_delay": _seconds(name, "retry_delay", defaults.retry_delay if retry_delay is None else retry_delay),
            "retry_backoff": defaults.retry_backoff if retry_backoff is None else bool(retry_backoff),
            "retry_delay_max": _seconds(
                name, "retry_delay_max", defaults.retry_delay_max if retry_delay_max is None else retry_delay_max
            ),
            "expire_in": _seconds(name, "expire_in", defaults.expire_in if expire_in is None else expire_in, 1e-3),
        }

    # ----- managing jobs -----

    def cancel(self, job_ids: uuid.UUID | Iterable[uuid.UUID], *, conn: Connection | None = None) -> list[uuid.UUID]:
        """Cancel unfinished jobs; returns those cancelled (finished ones are left alone). A running job's worker
        notices at its next heartbeat, and its result is not recorded."""
        ids = [job_ids] if isinstance(job_ids, uuid.UUID) else list(job_ids)
        rows = self._fetch(query("job_cancel_many"), {"ids": ids}, conn)
        return [row[0] for row in rows]

    def get(self, job_id: uuid.UUID) -> JobInfo | None:
        rows = self._fetch(query("job_get"), {"id": job_id})
        if not rows:
            return None
        fields = JobInfo.__struct_fields__
        return msgspec.convert(dict(zip(fields, rows[0], strict=True)), JobInfo, from_attributes=False)

    def history(self, job_id: uuid.UUID) -> list[JobEvent]:
        """The job's attempts that did not complete, oldest first."""
        fields = JobEvent.__struct_fields__
        return [
            msgspec.convert(dict(zip(fields, row, strict=True)), JobEvent)
            for row in self._fetch(query("job_event_list"), {"id": job_id})
        ]

    def available(self, name: str, *, include_delayed: bool = False) -> int:
        """How many jobs of queue ``name`` are waiting: those a worker could claim now, plus those whose
        ``start_after`` (a delayed start or a retry's backoff) is still ahead when ``include_delayed``."""
        rows = self._fetch(query("job_count_available"), {"name": name, "include_delayed": include_delayed})
        return int(rows[0][0])

    def unfinished(self, name: str) -> int:
        """How many jobs of queue ``name`` are waiting (delayed ones included) or running, counted in one snapshot:
        asking for waiting jobs, then for running ones, misses a job whose failed attempt goes back to waiting in
        between."""
        rows = self._fetch(query("job_count_unfinished"), {"name": name})
        return int(rows[0][0])

    # ----- dead letters -----

    def dead_letters(self, queue: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, newest first; ``queue`` is a dead-letter queue name (e.g. ``index-repo__dlq``)."""
        rows = self._fetch(query("dead_letter_list"), {"queue": queue, "limit": limit})
        return [_dead_letter(row) for row in rows]

    def dead_letter(self, dead_letter_id: uuid.UUID) -> DeadLetter | None:
        rows = self._fetch(query("dead_letter_get"), {"id": dead_letter_id})
        return _dead_letter(rows[0]) if rows else None

    def redrive(
        self, queue: str | None = None, *, ids: Sequence[uuid.UUID] | None = None, conn: Connection | None = None
    ) -> list[Redriven]:
        """Send dead letters back to their source queues as new jobs (fresh attempts): the given ``ids``, or
        every dead letter of the dead-letter queue ``queue``. Removes them from the dead-letter queue. With
        ``conn``, runs in the caller's open transaction."""
        if (queue is None) == (ids is None):
            raise JobOptionError("redrive: give either a dead-letter queue name or dead-letter ids")
        params = {"queue": queue, "ids": None if ids is None else list(ids)}
        rows = self._fetch(query("dead_letter_redrive"), params, conn)
        return [Redriven(dead_letter_id=row[0], queue=row[1], job_id=row[2]) for row in rows]

    def purge_dead_letters(self, queue: str | None = None, *, ids: Sequence[uuid.UUID] | None = None) -> int:
        """Delete dead letters for good: the given ``ids``, or all of dead-letter queue ``queue``."""
        if (queue is None) == (ids is None):
            raise JobOptionError("purge: give either a dead-letter queue name or dead-letter ids")
        params = {"queue": queue, "ids": None if ids is None else list(ids)}
        return self._on_own_connection(lambda own: own.execute(query("dead_letter_purge"), params).rowcount)

    # ----- health -----

    def health(self) -> list[QueueHealth]:
        """Per queue: counts by state, oldest waiting age, live workers, failures in the last 24 h, dead letters.

        Lists every queue that has jobs, live workers or dead letters, and every registered queue (the ``queues``
        table: ``index-repo`` is registered by the migrations) even before its first job. Raises ``DatabaseError``
        when the database is unreachable and ``MigrationError`` when it is not migrated.
        """
        stale_after = self.config.heartbeat_interval * self.config.rescue_after_heartbeats

        def read(conn: Connection) -> tuple[list[TupleRow], dict[str, int], dict[str, int], set[str]]:
            check_migrated(conn, self.schema)
            rows = conn.execute(query("queue_health")).fetchall()
            workers = {row[0]: row[1] for row in conn.execute(query("worker_count_live"), {"stale_after": stale_after})}
            dead = {row[0]: row[1] for row in conn.execute(query("dead_letter_count"))}
            registered = {row[0] for row in conn.execute(query("queue_list_registered"))}
            return rows, workers, dead, registered

        rows, workers, dead, registered = self._on_own_connection(read)
        states = [state.value for state in JobState]
        report: dict[str, QueueHealth] = {}
        for row in rows:
            name = row[0]
            report[name] = QueueHealth(
                queue=name,
                counts={state: int(count) for state, count in zip(states, row[1:7], strict=True)},
                oldest_waiting_seconds=row[7],
                active_workers=int(workers.get(name, 0)),
                failed_last_24h=int(row[8]),
                dead_letters=int(dead.get(name, 0)),
            )
        for name in set(workers) | set(dead) | registered:
            if name not in report:
                report[name] = QueueHealth(
                    queue=name,
                    counts=dict.fromkeys(states, 0),
                    oldest_waiting_seconds=None,
                    active_workers=int(workers.get(name, 0)),
                    failed_last_24h=0,
                    dead_letters=int(dead.get(name, 0)),
                )
        return [report[name] for name in sorted(report)]

    def _fetch(self, statement: str, params: Mapping[str, Any], conn: Connection | None = None) -> list[TupleRow]:
        if conn is not None:
            return conn.execute(statement, params).fetchall()
        return self._on_own_connection(lambda own: own.execute(statement, params).fetchall())

    def _on_own_connection(self, call: Callable[[Connection], T]) -> T:
        """Run ``call`` on the queue's connection. If that connection turns out to be dead (the server restarted or
        dropped it while idle), reconnect and run ``call`` once more; ``call`` must be safe to repeat."""
        with self._lock:
            conn = self.connection()
            try:
                return call(conn)
            except psycopg.OperationalError:
                if not (conn.broken or conn.closed):
                    raise
            return call(self.connection())


def _dead_letter(row: TupleRow) -> DeadLetter:
    return msgspec.convert(dict(zip(DeadLetter.__struct_fields__, row, strict=True)), DeadLetter)


def _seconds(queue: str, option: str, value: object, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
        raise JobOptionError(
            f"queue {queue!r}: {option} must be a finite number of seconds >= {minimum}, got {value!r}"
        )
    return float(value)
