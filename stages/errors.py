"""The project's exception hierarchy root, and the errors raised by the stages.

``pipeline.errors`` builds on ``IndexerError`` for the runtime's own boundaries (config, database, queue).
"""


class IndexerError(Exception):
    """Base of every error this project raises on purpose."""


class StageError(IndexerError):
    """A stage could not do its work on one input; the message says which input and why."""


class GitError(StageError):
    """A repository could not be opened, fetched or read (message is free of credentials)."""


class SourceFileError(StageError):
    """One source file could not be parsed (too big, not UTF-8, NUL byte, timeout); the job goes on."""
