"""Fetch-stage errors: each class says whether running the job again can help (``retryable``)."""

from __future__ import annotations

from stages.errors import GitError


class FetchError(GitError):
    """A fetch-stage failure; ``retryable`` says whether running the job again can help."""

    retryable: bool = False


class InvalidTarget(FetchError):
    """The target string is not a URL, a local repository path or ``owner/name`` that this stage accepts."""


class NotARepository(FetchError):
    """The target exists but is not a git repository, or the server has no repository at that address."""


class AuthenticationFailed(FetchError):
    """The server demanded credentials and none were configured, or it rejected the ones given."""


class UnknownRevision(FetchError):
    """The requested ref or commit does not exist in the repository (retrying cannot make it appear)."""


class EmptyRepository(FetchError):
    """The repository has no commits at all."""


class TransportError(FetchError):
    """The network or the server failed (connection refused, DNS, timeout, 5xx): a later attempt may succeed."""

    retryable = True


class CertificateError(FetchError):
    """The server's TLS certificate was not accepted; retrying will not change it."""


class MissingObject(FetchError):
    """An object the tree refers to is absent from the clone (a truncated transfer); a fresh clone may fix it."""

    retryable = True


class CorruptObject(FetchError):
    """An object of the clone is there but cannot be read as what the tree says it is; a fresh clone repeats it."""


class LimitExceeded(FetchError):
    """The repository or the server's answer exceeds a configured bound (refs, memory, files or bytes of a job)."""


class FetchDeadlineExceeded(FetchError):
    """The whole clone took longer than its deadline (a server trickling bytes); a later attempt may be quicker."""

    retryable = True


class WorkdirUnavailable(FetchError):
    """The temp directory for a job's clone cannot be used (missing permission, not a directory, disk full)."""

    retryable = True


class CloneCancelled(FetchError):
    """The clone was stopped from outside (its job was aborted); nobody waits for the job's outcome any more."""
