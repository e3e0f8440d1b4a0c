"""LISTEN for a queue's notifications on a connection of its own, apart from the connections that claim jobs.

Behind a transaction-mode pooler a LISTEN is made on whichever server connection runs that transaction, and the
notification goes to that server connection, not to the client: LISTEN never fires. A ``Listener`` connects to a
direct URL (``database.direct_url``) instead; a worker runs one and wakes its claim loops from it.

Guarantees: ``connect`` returns once the LISTEN is active, so every job inserted (and committed) afterwards is
reported by a later ``run_once``; ``run_once`` returns after at most ``timeout`` seconds and raises
``psycopg.OperationalError`` when the server closed the connection.
"""

from __future__ import annotations

import select
from collections.abc import Callable

import psycopg
from psycopg import pq, sql
from psycopg.rows import TupleRow

from pipeline.db import connect

Connection = psycopg.Connection[TupleRow]
APPLICATION_NAME = "pipeline-listener"


def channel(schema: str) -> str:
    """The channel a schema's job inserts notify (see the ``jobs_notify_insert`` trigger); the payload is the
    queue's name."""
    return f"{schema}.jobs"


def drain_notifications(conn: Connection, queue: str, on_notify: Callable[[], None]) -> int:
    """Read what arrived on an idle connection, calling ``on_notify`` for each notification for ``queue``; returns
    how many. Uses libpq directly: psycopg's ``notifies()`` does not mix with a notify handler that catches
    notifications arriving during statements."""
    wanted = queue.encode()
    found = 0
    with conn.lock:
        pgconn = conn.pgconn
        pgconn.consume_input()
        if pgconn.status != pq.ConnStatus.OK:
            raise psycopg.OperationalError("the connection was closed by the server")
        while (notify := pgconn.notifies()) is not None:
            if notify.extra == wanted:
                found += 1
                on_notify()
    return found


class Listener:
    """Calls ``on_notify`` for every notification of a job sent to ``queue`` in ``schema``, LISTENing on ``url``."""

    def __init__(
        self, url: str, schema: str, queue: str, on_notify: Callable[[], None], *, connect_timeout: int = 10
    ) -> None:
        self.url = url
        self.schema = schema
        self.queue = queue
        self.on_notify = on_notify
        self.connect_timeout = connect_timeout

    def connect(self) -> Connection:
        """A direct autocommit connection on which the LISTEN is active."""
        conn = connect(
            self.url,
            self.schema,
            autocommit=True,
            connect_timeout=self.connect_timeout,
            application_name=APPLICATION_NAME,
        )
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.schema))))
        except BaseException:
            conn.close()
            raise
        return conn

    def run_once(self, conn: Connection, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for notifications on ``conn``; returns how many were for this queue."""
        readable, _, _ = select.select([conn.fileno()], [], [], timeout)
        return drain_notifications(conn, self.queue, self.on_notify) if readable else 0
