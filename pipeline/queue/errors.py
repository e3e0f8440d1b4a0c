"""Errors raised by the job queue."""

from pipeline.errors import PipelineError


class QueueError(PipelineError):
    """Base of the job queue's errors."""


class PayloadError(QueueError, ValueError):
    """A job payload is not a JSON object, cannot be encoded as JSON, or is over the size limit."""


class JobOptionError(QueueError, ValueError):
    """A send option (queue name, priority, delay, retry setting) is out of range."""


class PermanentJobError(QueueError):
    """Raised by a handler for a job that can never succeed (bad payload, missing record): the job fails at once,
    whatever attempts it has left, and goes to its dead-letter queue."""
