"""The rescuer: recovers jobs whose worker died (heartbeat stopped) or whose attempt outlived ``expire_in``.

Guarantees: a job is rescued only while it is still ``active`` (rows locked by a concurrent completion are
skipped, and a completion arriving after the rescue matches no row), so a rescue and a late completion never both
win. The attempt counts: a rescued job goes back to ``retry`` (available at once) while attempts remain, else to
``failed`` with a dead letter. A worker is judged dead when its heartbeat is older than
``heartbeat_interval * rescue_after_heartbeats`` — detection within about two heartbeat intervals, since every
worker runs ``run_once`` every half interval — except during the same span after a server restart.
"""

from __future__ import annotations

import logging
import threading
import uuid

import msgspec
import psycopg
from psycopg.rows import TupleRow

from pipeline.config import QueueConfig
from pipeline.db import connect, query
from pipeline.errors import DatabaseError
from pipeline.queue.states import JobState

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]


class Rescued(msgspec.Struct, frozen=True, kw_only=True):
    job_id: uuid.UUID
    queue: str
    state: JobState  # retry, or failed when it had no attempts left
    expired: bool  # past expire_in, rather than a silent worker


class Rescuer:
    """Run ``run_once()`` periodically (every worker does, every half heartbeat interval) or as its own service."""

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
        self._transaction_pooler = transaction_pooler

    @property
    def stale_after(self) -> float:
        return self.config.heartbeat_interval * self.config.rescue_after_heartbeats

    def run_once(self, conn: Connection | None = None) -> list[Rescued]:
        """Rescue every job that is due now, on ``conn`` (autocommit) or a short-lived connection of its own."""
        if conn is None:
            with connect(
                self.url,
                self.schema,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                transaction_pooler=self._transaction_pooler,
            ) as own:
                return self._rescue(own)
        return self._rescue(conn)

    def run(self, stop: threading.Event) -> None:
        """Rescue every half heartbeat interval until ``stop`` is set."""
        while not stop.wait(self.config.heartbeat_interval / 2):
            try:
                self.run_once()
            except (psycopg.OperationalError, DatabaseError) as exc:
                logger.warning("rescuer could not reach the database", extra={"error": str(exc).strip()})

    def _rescue(self, conn: Connection) -> list[Rescued]:
        rows = conn.execute(query("job_rescue"), {"stale_after": self.stale_after}).fetchall()
        rescued = [Rescued(job_id=row[0], queue=row[1], state=JobState(row[2]), expired=row[3]) for row in rows]
        for name in {item.queue for item in rescued if item.state is JobState.RETRY}:
            conn.execute(query("job_notify"), {"name": name})
        for item in rescued:
            logger.warning(
                "job expired" if item.expired else "job rescued from a silent worker",
                extra={"queue_job_id": str(item.job_id), "queue": item.queue, "state": item.state.value},
            )
        return rescued
