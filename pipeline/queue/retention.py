"""Retention: deletes finished jobs so the jobs table (and its indexes) stays small.

Guarantees: completed and cancelled jobs are deleted once ``delete_after`` seconds have passed since they finished,
failed jobs after ``failed_delete_after``; active and waiting jobs and dead letters are never touched (dead letters
stay until redriven or purged). Deletes go in bounded batches so no statement holds many locks for long, and
workers silent for longer than ``delete_after`` are forgotten. Tables built on the queue (the index jobs) add their
own ``sweeps``, which run in the same step, so one retention loop keeps every table small.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import psycopg
from psycopg.rows import TupleRow

from pipeline.config import QueueConfig
from pipeline.db import connect, query
from pipeline.errors import DatabaseError

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]
DELETE_BATCH = 5000
Sweep = Callable[[Connection], int]
"""One more table's retention: deletes what is due on the given autocommit connection, returns how many rows."""


class Retention:
    """Run ``run_once()`` periodically (every worker does, every ``retention_interval``) or as its own service."""

    def __init__(
        self,
        url: str,
        schema: str,
        config: QueueConfig | None = None,
        *,
        connect_timeout: int = 10,
        sweeps: Sequence[Sweep] = (),
        transaction_pooler: bool = False,
    ) -> None:
        self.url = url
        self.schema = schema
        self.config = config or QueueConfig()
        self.sweeps = tuple(sweeps)
        self._connect_timeout = connect_timeout
        self._transaction_pooler = transaction_pooler

    def run_once(self, conn: Connection | None = None) -> int:
        """Delete what is due now, jobs then each sweep's rows; returns how many jobs were deleted."""
        if conn is None:
            with connect(
                self.url,
                self.schema,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                transaction_pooler=self._transaction_pooler,
            ) as own:
                return self._sweep(own)
        return self._sweep(conn)

    def run(self, stop: threading.Event) -> None:
        """Sweep every ``retention_interval`` until ``stop`` is set; an unreachable database is retried next time."""
        while not stop.wait(self.config.retention_interval):
            try:
                self.run_once()
            except (psycopg.OperationalError, DatabaseError) as exc:
                logger.warning("retention could not reach the database", extra={"error": str(exc).strip()})

    def _sweep(self, conn: Connection) -> int:
        params = {
            "delete_after": self.config.delete_after,
            "failed_delete_after": self.config.failed_delete_after,
            "limit": DELETE_BATCH,
        }
        deleted = 0
        while True:
            count = conn.execute(query("job_delete_finished"), params).rowcount
            deleted += count
            if count < DELETE_BATCH:
                break
        conn.execute(query("worker_delete_stale"), {"stale_after": max(self.config.delete_after, 3600.0)})
        for sweep in self.sweeps:
            sweep(conn)
        return deleted
