"""The fetch stage: from a repository target to the source files of one commit, read from the object database.

Flow for one job: ``parse_target`` → ``job_workdir`` → ``clone_bare`` (over a network: ``clone_isolated``, the
same in a child process killed at a deadline) → ``resolve_commit`` → ``list_files`` → ``read_files``.
Nothing is ever checked out: the clone is bare and blob bytes come straight from the object database.

Guarantees:

- **Credentials.** A token is only ever handed to libgit2 through ``pygit2.RemoteCallbacks``, only over https and
  only to the configured token hosts (``credentials.token_allowed``, checked against the URL being authenticated,
  which must have the host of the job's own URL, so a redirect elsewhere never gets it). It is never part of a
  ``RepoTarget``, a URL written to the clone's config (the clone uses an anonymous remote and writes no remote at
  all), an exception message or a repr. URLs carrying a password in their userinfo are rejected by ``parse_target``
  (the token must come from configuration or the environment instead).
- **Errors.** Every failure raises a ``FetchError`` (a ``stages.errors.GitError``) whose ``retryable`` says whether
  running the job again can help: transport failures yes; bad targets, missing repositories, authentication
  failures, unknown refs or commits and empty repositories no. Messages name the target and never contain the token
  or URL credentials.
- **Temp dirs.** ``job_workdir`` owns ``<tmp_root>/pipeline-<job_id>/`` (marked with ``WORKDIR_MARKER``) and
  removes it on success and on failure; ``cleanup_stale_workdirs`` removes the marked leftovers of crashed runs at
  worker start-up (a directory whose owner is still alive is recognised by its lock and kept; anything unmarked is
  never touched).
- **Skips.** Files that are not worth parsing are skipped and counted by reason (``SKIP_REASONS``). ``list_files``
  decides everything it can from the tree, its ``.gitattributes`` and object headers (mode, path, extension,
  size); ``read_files`` decides ``binary`` and content-``minified`` once it has the bytes. Every blob is inflated
  once, except when the commit has vendored or generated files: then ``list_files`` also reads the listed files
  to find the ones first-party code imports from (``stages.fetch.vendored``).
- **Paths.** Every path leaving the stage (listed items, commit-context paths and configs) passed
  ``stages.fetch.paths.path_skip_reason``: UTF-8, bounded in length, no component that is empty, ends in a dot
  or space, is ``.git`` or holds a colon, a separator or a control character. Other entries are skipped
  (``invalid_path``, ``unsafe_path``), and the tree walk is iterative, so no tree, however deep or crafted, fails a
  job by its names.
"""

from __future__ import annotations

from stages.fetch.blobs import content_skip_reason, read_files
from stages.fetch.clone import clone_bare, default_branch, resolve_commit, set_network_timeouts
from stages.fetch.context import commit_context
from stages.fetch.credentials import token_allowed, token_hosts_for
from stages.fetch.errors import (
    AuthenticationFailed,
    CertificateError,
    CloneCancelled,
    CorruptObject,
    EmptyRepository,
    FetchDeadlineExceeded,
    FetchError,
    InvalidTarget,
    LimitExceeded,
    MissingObject,
    NotARepository,
    TransportError,
    UnknownRevision,
    WorkdirUnavailable,
)
from stages.fetch.isolated import CloneCancel, clone_isolated
from stages.fetch.targets import NETWORK_TRANSPORTS, RepoTarget, parse_target, scrub
from stages.fetch.tree import SKIP_REASONS, FileItem, FileListing, SkipReason, list_files
from stages.fetch.vendored import DEFAULT_VENDORING, Rescued, Vendoring
from stages.fetch.workdirs import WORKDIR_MARKER, WORKDIR_PREFIX, cleanup_stale_workdirs, job_workdir

__all__ = [
    "DEFAULT_VENDORING",
    "NETWORK_TRANSPORTS",
    "SKIP_REASONS",
    "WORKDIR_MARKER",
    "WORKDIR_PREFIX",
    "AuthenticationFailed",
    "CertificateError",
    "CloneCancel",
    "CloneCancelled",
    "CorruptObject",
    "EmptyRepository",
    "FetchDeadlineExceeded",
    "FetchError",
    "FileItem",
    "FileListing",
    "InvalidTarget",
    "LimitExceeded",
    "MissingObject",
    "NotARepository",
    "RepoTarget",
    "Rescued",
    "SkipReason",
    "TransportError",
    "UnknownRevision",
    "Vendoring",
    "WorkdirUnavailable",
    "cleanup_stale_workdirs",
    "clone_bare",
    "clone_isolated",
    "commit_context",
    "content_skip_reason",
    "default_branch",
    "job_workdir",
    "list_files",
    "parse_target",
    "read_files",
    "resolve_commit",
    "scrub",
    "set_network_timeouts",
    "token_allowed",
    "token_hosts_for",
]
