"""The API's database connections: one bounded psycopg pool per app, opened at startup and closed at shutdown.

Guarantees:
- Every pooled connection is what ``pipeline.db.connect`` gives (statements run with ``search_path`` set to the
  schema alone; with ``transaction_pooler``, set by each transaction and never prepared on the server), is in
  autocommit, and is named ``pipeline-api`` in ``pg_stat_activity``; at most ``max_size`` exist.
- A connection is checked before it is handed out: one broken since its last use (a Postgres restart,
  ``pg_terminate_backend``) is discarded and replaced, with every other idle one that broke too, so the request
  still gets a working connection. The check costs a round trip only when the connection's socket has input
  waiting, which a closed or erroring backend leaves there.
- ``connection()`` waits at most ``timeout`` seconds for a connection, then raises ``DatabaseUnavailable`` saying
  whether every connection was busy or why the database cannot be reached; the app answers it with 503. Naming the
  reason takes one direct connection attempt, which may add up to ``connect_timeout`` when the host does not answer.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from pipeline.db import ScopedConnection, connect, search_path_option
from pipeline.errors import DatabaseError

Connection = psycopg.Connection[TupleRow]

APPLICATION_NAME = "pipeline-api"
# The pool retries a failed connection with doubling delays until this many seconds have passed, then gives up
# until a request asks again (and starts afresh at a 1 s delay): after an outage, it reconnects within ~16 s.
RECONNECT_TIMEOUT = 30.0
WARM_UP_SLICE = 0.1  # seconds


class DatabaseUnavailable(DatabaseError):
    """No usable connection within the pool's timeout: every connection is busy or the database is down."""


class DatabasePool:
    """Hands out pooled autocommit connections; ``open`` and ``close`` follow the app's startup and shutdown.

    A closed pool cannot be reused, so each ``open`` builds a fresh one: an app may be started again after a
    shutdown (the test client does so).
    """

    def __init__(
        self,
        url: str,
        schema: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 5.0,
        connect_timeout: int = 10,
        transaction_pooler: bool = False,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"pool size: need 0 <= min_size <= max_size and max_size >= 1, got {min_size}..{max_size}")
        if timeout <= 0:
            raise ValueError(f"pool timeout: need a positive number of seconds, got {timeout}")
        self.url = url
        self.schema = schema
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.transaction_pooler = transaction_pooler
        self._pool: ConnectionPool[Connection] | None = None
        self._lock = threading.Lock()
        self._in_use = 0
        self._failures_before_last_connect = 0
        self._has_connected = False

    def open(self) -> None:
        """Start the pool without waiting for a connection, so the app starts (and reports 503) with the
        database down."""
        with self._lock:
            if self._pool is not None:
                return
            self._failures_before_last_connect = 0
            self._has_connected = False
            # The same connections ``pipeline.db.connect`` makes, built by the pool.
            connection_class: type[Connection] = psycopg.Connection
            kwargs: dict[str, Any] = {
                "autocommit": True,
                "connect_timeout": self.connect_timeout,
                "application_name": APPLICATION_NAME,
            }
            if self.transaction_pooler:
                connection_class = ScopedConnection
                kwargs["schema"] = self.schema
            else:
                kwargs["options"] = search_path_option(self.schema)
            self._pool = ConnectionPool(
                self.url,
                connection_class=connection_class,
                kwargs=kwargs,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.timeout,
                configure=self._connected,
                reconnect_timeout=RECONNECT_TIMEOUT,
                name=APPLICATION_NAME,
                open=False,
            )
            self._pool.open(wait=False)

    def close(self) -> None:
        """Close every pooled connection; requests still holding one have it closed when they hand it back."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A working connection for the duration of the block, returned to the pool afterwards.

        Raises ``DatabaseUnavailable`` when none is free within ``timeout`` seconds, or when the connection breaks
        during the block (the pool then replaces it). While the pool's own attempts to connect are failing and it
        has no connection ready, the request does not wait: it fails at once with the driver's reason.
        """
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("the API's connection pool is closed (the app is not running)")
        conn = self._getconn(pool)
        with self._lock:
            self._in_use += 1
        try:
            yield conn
        except psycopg.OperationalError as exc:
            if conn.broken:
                raise DatabaseUnavailable(f"lost the database connection: {_first_line(exc)}") from exc
            raise
        finally:
            with self._lock:
                self._in_use -= 1
            pool.putconn(conn)

    def _getconn(self, pool: ConnectionPool[Connection]) -> Connection:
        deadline = time.monotonic() + self.timeout
        probed = False
        while True:
            if not probed and self._failing_to_connect(pool):
                self._probe()
                probed = True  # the database answers again: wait for the pool to reconnect
            remaining = deadline - time.monotonic()
            # Until the pool has connected once, wait in short slices: a database that is down when the app starts
            # is then reported as soon as the pool's first attempt fails, not after the whole timeout.
            try:
                conn = pool.getconn(timeout=remaining if self._has_connected else min(remaining, WARM_UP_SLICE))
            except PoolTimeout as exc:
                if time.monotonic() >= deadline:
                    raise self._why_unavailable() from exc
                continue
            if _works(pool, conn):
                return conn

    def _connected(self, conn: Connection) -> None:
        """The pool's ``configure`` hook, run on each new connection: the failures counted so far are history."""
        self._has_connected = True
        pool = self._pool
        if pool is not None:
            self._failures_before_last_connect = pool.get_stats().get("connections_errors", 0)

    def _failing_to_connect(self, pool: ConnectionPool[Connection]) -> bool:
        stats = pool.get_stats()
        return stats.get("pool_available", 0) == 0 and (
            stats.get("connections_errors", 0) > self._failures_before_last_connect
        )

    def _why_unavailable(self) -> DatabaseUnavailable:
        """Tell an exhausted pool from a database that refuses connections."""
        if self._in_use >= self.max_size:
            return DatabaseUnavailable(
                f"all {self.max_size} database connections of the API are busy; none was free within {self.timeout:g} s"
            )
        self._probe()
        return DatabaseUnavailable(
            f"no database connection within {self.timeout:g} s, though the database accepts connections; retry"
        )

    def _probe(self) -> None:
        """One direct connection attempt, closed at once: it returns when the database accepts connections, else
        raises ``DatabaseUnavailable`` with the driver's reason (which the pool only logs)."""
        try:
            probe = connect(
                self.url,
                self.schema,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name=APPLICATION_NAME,
                transaction_pooler=self.transaction_pooler,
            )
        except DatabaseError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        probe.close()


def _works(pool: ConnectionPool[Connection], conn: Connection) -> bool:
    """Check a connection before handing it out. This is the pool's ``check`` done here instead: the pool waits a
    growing delay (1 s, then 2 s, ...) after each failed check, so a restart that broke every idle connection would
    time the request out; here the first broken one has all idle ones checked and replaced at once.

    An idle connection has nothing to read: a backend that was terminated, or a server that stopped, sent its error
    and closed the socket, which makes it readable. So only a connection with input waiting costs the check's round
    trip (an empty query, which also reads that input); the others are handed out as they are."""
    if not conn.closed and not _has_input(conn):
        return True
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        pool.putconn(conn)  # broken: the pool closes it and opens a replacement
        pool.check()
        return False
    return True


def _has_input(conn: Connection) -> bool:
    """Whether the connection's socket is readable (or hung up) now, without waiting."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
