"""Errors raised at the runtime's boundaries; all derive from ``stages.errors.IndexerError``."""

from stages.errors import IndexerError


class PipelineError(IndexerError):
    """Base of the runtime's own errors (config, database, queue)."""


class ConfigError(PipelineError):
    """A configuration file or environment variable is invalid; the message names the file and key."""


class DatabaseError(PipelineError):
    """Postgres could not be reached or answered with an error (credentials masked)."""


class EmbeddedPostgresError(DatabaseError):
    """The embedded cluster could not be initialised, started or stopped."""


class MigrationError(DatabaseError):
    """A schema migration failed or the database is not migrated."""


class IndexRequestError(PipelineError):
    """An index request names something that cannot be indexed (bad commit sha, bad ref); nothing was enqueued."""
