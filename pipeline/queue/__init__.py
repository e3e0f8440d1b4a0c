"""A Postgres job queue with pg-boss semantics: see docs/queue.md."""

from pipeline.queue.client import DeadLetter, JobEvent, JobInfo, Queue, QueueHealth, Redriven, dead_letter_queue
from pipeline.queue.errors import JobOptionError, PayloadError, PermanentJobError, QueueError
from pipeline.queue.rescuer import Rescued, Rescuer
from pipeline.queue.retention import Retention
from pipeline.queue.states import JobEventKind, JobState
from pipeline.queue.worker import COMPLETED_BY_HANDLER, Handler, Job, Worker

__all__ = [
    "COMPLETED_BY_HANDLER",
    "DeadLetter",
    "Handler",
    "Job",
    "JobEvent",
    "JobEventKind",
    "JobInfo",
    "JobOptionError",
    "JobState",
    "PayloadError",
    "PermanentJobError",
    "Queue",
    "QueueError",
    "QueueHealth",
    "Redriven",
    "Rescued",
    "Rescuer",
    "Retention",
    "Worker",
    "dead_letter_queue",
]
