"""Job states, defined once: this enum mirrors the Postgres type ``job_state`` (0001_queue.sql)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life; each comment says who moves a job out of that state."""

    CREATED = "created"  # a worker claims it (-> active); cancel (-> cancelled)
    RETRY = "retry"  # a worker claims it once start_after passes (-> active); cancel (-> cancelled)
    ACTIVE = "active"  # its owning worker (-> completed | retry | failed, or -> retry unchanged at shutdown);
    # the rescuer when its heartbeat stops or expire_in passes (-> retry | failed); cancel (-> cancelled)
    COMPLETED = "completed"  # terminal: retention deletes it after delete_after
    CANCELLED = "cancelled"  # terminal: retention deletes it after delete_after
    FAILED = "failed"  # terminal: retention deletes it after failed_delete_after; its dead letter is redriven/purged

    @property
    def is_finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED)


class JobEventKind(StrEnum):
    """How an attempt ended without completing (mirrors ``job_event_kind``)."""

    ERROR = "error"  # the handler raised
    RESCUED = "rescued"  # the worker stopped sending heartbeats
    EXPIRED = "expired"  # the attempt ran longer than expire_in
    RELEASED = "released"  # given back at worker shutdown; the attempt was not counted
    CANCELLED = "cancelled"  # cancelled while running
