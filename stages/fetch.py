"""The fetch stage: from a repository target to the source files of one commit, read from the object database.

Flow for one job: ``parse_target`` → ``job_workdir`` → ``clone_bare`` → ``resolve_commit`` → ``list_files`` →
``read_files``. Nothing is ever checked out: the clone is bare and blob bytes come straight from the object database.

Guarantees:

- **Credentials.** A token is only ever handed to libgit2 through ``pygit2.RemoteCallbacks``. It is never part of a
  ``RepoTarget``, a URL written to the clone's config (the clone uses an anonymous remote and writes no remote at
  all), an exception message or a repr. URLs carrying a password in their userinfo are rejected by ``parse_target``
  (the token must come from configuration or the environment instead).
- **Errors.** Every failure raises a ``FetchError`` (a ``stages.errors.GitError``) whose ``retryable`` says whether
  running the job again can help: transport failures yes; bad targets, missing repositories, authentication
  failures, unknown refs or commits and empty repositories no. Messages name the target and never contain the token
  or URL credentials.
- **Temp dirs.** ``job_workdir`` owns ``<tmp_root>/pipeline-<job_id>/`` and removes it on success and on failure;
  ``cleanup_stale_workdirs`` removes the leftovers of crashed runs at worker start-up (a directory whose owner is still
  alive is recognised by its lock and kept).
- **Skips.** Files that are not worth parsing are skipped and counted by reason (``SKIP_REASONS``). ``list_files``
  decides everything it can from the tree and object headers alone (mode, path, extension, size); ``read_files``
  decides ``binary`` and content-``minified`` once it has the bytes, so every blob is inflated exactly once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import posixpath
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final, Literal, NoReturn
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec
import pygit2
from pygit2.enums import FileMode, ObjectType, Option

from stages import languages
from stages.commit import CommitContext
from stages.errors import GitError
from stages.models import Transport

"""How a target is reached: ``file`` is a ``file://`` URL and ``local`` a plain path; both are local transports."""

NETWORK_TRANSPORTS: Final[Mapping[str, Transport]] = {"https": "https", "http": "http", "git": "git", "ssh": "ssh"}
"""URL schemes of the network transports, mapped to their ``Transport``."""

SkipReason = Literal[
    "vendored",
    "minified",
    "too_large",
    "binary",
    "symlink",
    "submodule",
    "unsupported_language",
]
SKIP_REASONS: Final[tuple[SkipReason, ...]] = (
    "vendored",
    "minified",
    "too_large",
    "binary",
    "symlink",
    "submodule",
    "unsupported_language",
)

VENDORED_DIRS: Final = frozenset(
    {
        # installed dependencies
        "node_modules",
        "bower_components",
        "jspm_packages",
        "vendor",
        ".yarn",
        ".pnpm-store",
        # build output
        "dist",
        "build",
        "out",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".output",
        ".vercel",
        ".turbo",
        ".parcel-cache",
        ".cache",
        # test coverage reports
        "coverage",
        ".nyc_output",
        # version control metadata committed by mistake
        ".git",
        ".hg",
        ".svn",
    }
)
"""Directory names skipped wherever they appear in a path (exact, case-sensitive match of one path component)."""

MINIFIED_SUFFIXES: Final = (".min.js", ".min.mjs", ".min.cjs", "-min.js")
BINARY_PROBE_BYTES: Final = 8192
MINIFIED_MIN_BYTES: Final = 1024
MINIFIED_AVERAGE_LINE_BYTES: Final = 300
"""A file of at least ``MINIFIED_MIN_BYTES`` whose lines average more than this many bytes is treated as minified."""

WORKDIR_PREFIX: Final = "pipeline-"
_CLONE_DIR: Final = "repo.git"
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9_.-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>(?!//)[^\s]+)$")
_HEX_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_URL_PASSWORD = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@")
_ZERO_OID: Final = "0" * 40
_NOT_FOUND_MARKERS: Final = ("status code: 404", "not exported", "no such repository", "repository not found")
"""Server answers meaning "no repository here" (smart HTTP, git daemon with and without --informative-errors)."""
_ALL_BRANCHES_AND_TAGS: Final = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


# --------------------------------------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------------------------------------- structs


class RepoTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where a repository lives, free of credentials by construction.

    ``url`` is what libgit2 is given: a URL for network and ``file`` transports, an absolute path for ``local``.
    ``full_name`` is ``owner/name`` taken from the URL path (the last two components, ``.git`` dropped), or the
    directory name for a local repository.
    """

    url: str
    transport: Transport
    full_name: str

    @property
    def is_local(self) -> bool:
        return self.transport in {"file", "local"}


class FileItem(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One file to parse: its path in the commit, its blob id (40 hex), its language and its size in bytes."""

    path: str
    oid: str
    language: str
    size: int


class FileListing(msgspec.Struct, kw_only=True):
    """The files of one commit worth reading, and how many of the others were skipped for which reason.

    ``items`` are sorted by path. ``skipped`` has every ``SKIP_REASONS`` key; pass it to ``read_files`` so the
    ``binary`` and content-``minified`` decisions taken there land in the same counts. ``files_seen`` counts every
    non-directory entry of the tree (blobs, symlinks, submodules), vendored ones included.
    """

    commit_sha: str
    items: list[FileItem]
    skipped: dict[str, int]
    files_seen: int
    bytes_selected: int


# --------------------------------------------------------------------------------------------------------- targets


def parse_target(target: str, *, base_url: str | None = None) -> RepoTarget:
    """Validate a repository target and return its credential-free form.

    Accepted, in this order: an existing local path (a repository root: bare, or a work tree with ``.git``); a
    ``https``/``http``/``git``/``ssh``/``file`` URL; an scp-like ssh address (``git@host:owner/name.git``);
    ``owner/name`` joined to ``base_url``. A path that exists always wins over the ``owner/name`` reading. A URL
    with a password in its userinfo is rejected (``InvalidTarget``) so a token never reaches the queue or the
    database; a bare username (``ssh://git@host/…``) is kept. Local targets are checked to be repositories
    (``NotARepository`` otherwise).
    """
    text = target.strip()
    shown = scrub(text)
    if not text:
        raise InvalidTarget("repository target is empty")
    if "://" in text:
        return _parse_url(text, shown)
    path = Path(text).expanduser()
    if path.exists():
        return _local_target(path, shown)
    if text.startswith(("/", "./", "../", "~")):
        raise NotARepository(f"repository path {shown!r} does not exist")
    scp = _SCP_LIKE.match(text)
    if scp is not None:
        return RepoTarget(url=text, transport="ssh", full_name=_full_name(scp.group("path")))
    if _OWNER_NAME.match(text):
        if base_url is None:
            raise InvalidTarget(f"repository target {shown!r} looks like owner/name but no base URL is configured")
        joined = f"{base_url.rstrip('/')}/{text}"
        try:
            return _parse_url(joined, scrub(joined))
        except InvalidTarget as exc:
            raise InvalidTarget(f"repository target {shown!r} with base URL {scrub(base_url)!r}: {exc}") from None
    raise InvalidTarget(
        f"repository target {shown!r} is not a URL (https, http, git, ssh, file), an existing local path or owner/name"
    )


def _parse_url(text: str, shown: str) -> RepoTarget:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget(f"repository URL {shown!r} is malformed: {scrub(str(exc))}") from None
    scheme = parts.scheme.lower()
    if parts.password is not None:
        raise InvalidTarget(
            f"repository URL {shown!r} carries credentials; configure the access token instead of embedding it"
        )
    if scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise InvalidTarget(f"file URL {shown!r} names a host; only local file URLs are supported")
        local = _local_target(Path(unquote(parts.path)), shown)
        return RepoTarget(url=urlunsplit(("file", "", local.url, "", "")), transport="file", full_name=local.full_name)
    if scheme not in NETWORK_TRANSPORTS:
        raise InvalidTarget(f"repository URL {shown!r} has unsupported scheme {parts.scheme!r}")
    if not parts.hostname:
        raise InvalidTarget(f"repository URL {shown!r} has no host")
    if parts.path.strip("/") == "":
        raise InvalidTarget(f"repository URL {shown!r} has no repository path")
    if parts.query or parts.fragment:
        raise InvalidTarget(f"repository URL {shown!r} must not have a query or fragment")
    if scheme != "ssh" and parts.username is not None:
        raise InvalidTarget(f"repository URL {shown!r} carries a user name; configure the access token instead")
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    url = urlunsplit((scheme, netloc, parts.path, "", ""))
    return RepoTarget(url=url, transport=NETWORK_TRANSPORTS[scheme], full_name=_full_name(parts.path))


def _local_target(path: Path, shown: str) -> RepoTarget:
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise NotARepository(f"repository path {shown!r} does not exist")
    try:
        pygit2.Repository(str(resolved), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        raise NotARepository(f"repository path {shown!r} is not a git repository (bare or with .git)") from None
    directory = resolved.parent if resolved.name == ".git" else resolved
    name = directory.name.removesuffix(".git") or directory.name
    return RepoTarget(url=str(resolved), transport="local", full_name=name)


def _full_name(url_path: str) -> str:
    components = [part for part in url_path.strip("/").split("/") if part]
    components[-1] = components[-1].removesuffix(".git")
    return "/".join(components[-2:])


def scrub(text: str, token: str | None = None) -> str:
    """``text`` with URL passwords masked and every occurrence of ``token`` replaced by ``***``."""
    cleaned = _URL_PASSWORD.sub(r"\g<prefix>:***@", text)
    if token:
        cleaned = cleaned.replace(token, "***")
    return cleaned


# --------------------------------------------------------------------------------------------------------- workdirs


@contextlib.contextmanager
def job_workdir(tmp_root: Path, job_id: str) -> Iterator[Path]:
    """Create ``<tmp_root>/pipeline-<job_id>/`` for one job and remove it when the block ends, however it ends.

    While the block runs, the process holds an exclusive ``flock`` on the directory itself, so
    ``cleanup_stale_workdirs`` in any process keeps it; the kernel drops the lock when the owner dies (even by
    SIGKILL), which is what makes a crashed run's directory stale. A directory is only ever deleted by the holder of
    its lock: a leftover of an earlier attempt of the same job is replaced once its lock is free, and the directory
    is removed before the lock is released. ``job_id`` must be a plain name (letters, digits, ``_.-``) so it cannot
    escape ``tmp_root``.
    """
    if not _JOB_ID.match(job_id):
        raise ValueError(f"job id {job_id!r} is not usable in a directory name")
    workdir = tmp_root / f"{WORKDIR_PREFIX}{job_id}"
    tmp_root.mkdir(parents=True, exist_ok=True)
    lock_fd = _create_locked_dir(workdir)
    try:
        yield workdir
    finally:
        try:
            shutil.rmtree(workdir)
        finally:
            os.close(lock_fd)


def _create_locked_dir(path: Path) -> int:
    """Create ``path`` afresh and return a descriptor holding an exclusive lock on it.

    A cleanup in another process may lock and delete the new directory before this process locks it; the identity
    check after locking notices that and starts over.
    """
    while True:
        _remove_entry(path, wait=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(path, fd):
            return fd
        os.close(fd)


def cleanup_stale_workdirs(tmp_root: Path, active_job_ids: Iterable[str] = ()) -> list[Path]:
    """Remove the ``pipeline-*`` entries under ``tmp_root`` left by crashed runs; return those removed.

    Kept: directories of ``active_job_ids`` and directories locked by a live ``job_workdir`` (in any process).
    Anything else with the prefix is removed: directories while holding their lock, so no job can be using them;
    plain files and symlinks are unlinked, never followed.
    """
    if not tmp_root.is_dir():
        return []
    active = {f"{WORKDIR_PREFIX}{job_id}" for job_id in active_job_ids}
    return [
        entry
        for entry in sorted(tmp_root.iterdir())
        if entry.name.startswith(WORKDIR_PREFIX) and entry.name not in active and _remove_entry(entry, wait=False)
    ]


def _remove_entry(path: Path, *, wait: bool) -> bool:
    """Remove a workdir entry; a directory only under its lock (waiting for it, or giving up when it is held).

    Returns whether something was removed. Concurrent removers are safe: whoever holds the lock deletes.
    """
    try:
        is_dir = stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False
    if not is_dir:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return False
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # gone, or replaced by something that is not a directory since the lstat
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _same_file(path, fd):
            return False
        shutil.rmtree(path)
        return True
    finally:
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        on_disk = path.lstat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


# --------------------------------------------------------------------------------------------------------- clone


class _Credentials(pygit2.RemoteCallbacks):
    """Hands the token to libgit2 once per network operation; a second request means the server rejected it.

    libgit2 keeps a credential for the rest of its connection and asks again only after a 401 with it.
    """

    def __init__(self, target: RepoTarget, token: str | None) -> None:
        super().__init__()
        self._target = target
        self._token = token
        self.attempts = 0

    def begin_operation(self) -> None:
        """Called before each connection (listing refs, each fetch): the first request of each gets the token."""
        self.attempts = 0

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> pygit2.UserPass | pygit2.KeypairFromAgent:
        self.attempts += 1
        if self.attempts > 1:
            raise AuthenticationFailed(f"{self._target.url} rejected the configured credentials")
        if self._target.transport == "ssh" and allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        if self._token is None:
            raise AuthenticationFailed(f"{self._target.url} requires authentication and no access token is configured")
        if not allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            raise AuthenticationFailed(f"{self._target.url} does not accept token authentication")
        return pygit2.UserPass("x-access-token", self._token)


def set_network_timeouts(*, connect_seconds: float, io_seconds: float) -> tuple[float, float]:
    """Bound how long libgit2 waits to connect and for each read or write; return the previous ``(connect, io)``.

    Without this a server that accepts a connection and then stays silent blocks a fetch forever. The setting is
    process-wide (libgit2 global options), so the fetcher process sets it once at start-up; a timeout surfaces as a
    retryable ``TransportError``. ``0`` means no limit.
    """
    previous = (
        pygit2.option(Option.GET_SERVER_CONNECT_TIMEOUT) / 1000,
        pygit2.option(Option.GET_SERVER_TIMEOUT) / 1000,
    )
    pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, round(connect_seconds * 1000))
    pygit2.option(Option.SET_SERVER_TIMEOUT, round(io_seconds * 1000))
    return previous


def clone_bare(
    target: RepoTarget,
    workdir: Path,
    *,
    token: str | None = None,
    depth: int | None = None,
    ref: str | None = None,
    commit_sha: str | None = None,
) -> pygit2.Repository:
    """Clone ``target`` bare into ``<workdir>/repo.git`` and return the repository.

    Network transports fetch only what the job needs: with ``commit_sha``, the advertised ref whose tip it is, else
    that object by id (servers that allow it), else every branch and tag with full history; with ``ref`` (looked up
    like ``resolve_commit``: full name, then tag, then branch), that ref; otherwise the default branch. ``depth``
    ``None`` means 1 (a shallow fetch of just the commit), ``0`` full history.

    Local transports (a path or ``file://``) clone like ``git clone --bare --local``: the source's object files are
    hard-linked (copied across filesystems) and every branch and tag ref is copied, so nothing is re-packed
    (libgit2's local fetch re-packs every object: 0.96 s against 0.19 s for an 18 MB corpus) and ``depth`` is
    ignored. The clone stays readable if the source is repacked or deleted afterwards.

    Unknown refs raise ``UnknownRevision`` before any object is transferred; a repository without commits raises
    ``EmptyRepository``. HEAD of the clone points at the source's default branch (possibly unborn in the clone when
    another ref was fetched), or is detached at the source's HEAD commit when the source's HEAD is detached. The
    token travels only through the credentials callback. ``resolve_commit`` with the same ``ref``/``commit_sha``
    then gives the commit.
    """
    path = workdir / _CLONE_DIR
    if path.exists():
        shutil.rmtree(path)
    repo = pygit2.init_repository(str(path), bare=True)
    callbacks = _Credentials(target, token)
    remote = repo.remotes.create_anonymous(target.url)
    callbacks.begin_operation()
    with _translated(target, token):
        advertised = remote.list_heads(callbacks=callbacks)
    heads = {head.name: str(head.oid) for head in advertised if head.name and str(head.oid) != _ZERO_OID}
    default = _advertised_default_branch(advertised)
    if not heads:
        raise EmptyRepository(f"repository {target.url} has no commits")
    if commit_sha is None and ref is not None and ref != "HEAD" and _match_ref(ref, heads.__contains__) is None:
        raise UnknownRevision(f"ref {ref!r} does not exist in {target.url}")
    if target.is_local:
        repo = _link_objects(repo, target, heads)
    else:
        _fetch_needed(
            repo,
            remote,
            heads=heads,
            default=default,
            translated=lambda: _translated(target, token),
            callbacks=callbacks,
            depth=depth,
            ref=ref,
            commit_sha=commit_sha,
        )
    if default is not None:
        repo.set_head(default)
    elif "HEAD" in heads and heads["HEAD"] in repo:
        repo.set_head(pygit2.Oid(hex=heads["HEAD"]))
    return repo


def _link_objects(repo: pygit2.Repository, target: RepoTarget, heads: Mapping[str, str]) -> pygit2.Repository:
    """Hard-link (or copy) the source's object files into the clone, copy its branch and tag refs, reopen the clone.

    Object files are immutable once written, so a link is as good as a copy and survives the source being repacked,
    pruned or deleted. A shallow source gives a shallow clone. A file that vanishes during the walk (a concurrent
    repack) is skipped: if it was needed, reading fails with ``MissingObject``, which is retryable. The clone is
    reopened so that its object database is loaded after the files are in place (libgit2 checks that a ref's target
    exists when the ref is created).
    """
    source_path = unquote(urlsplit(target.url).path) if target.transport == "file" else target.url
    try:
        source = pygit2.Repository(source_path, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        raise NotARepository(f"{target.url} is no longer a git repository") from None
    git_dir = Path(source.path)
    common_dir_file = git_dir / "commondir"
    if common_dir_file.is_file():
        git_dir = (git_dir / common_dir_file.read_text(encoding="utf-8").strip()).resolve()
    source_objects = git_dir / "objects"
    clone_objects = Path(repo.path) / "objects"
    for directory, _, names in os.walk(source_objects):
        relative = Path(directory).relative_to(source_objects)
        (clone_objects / relative).mkdir(parents=True, exist_ok=True)
        for name in names:
            if relative == Path("info") and name == "alternates":
                _absolute_alternates(source_objects, clone_objects)
            elif not name.startswith(("tmp_", "incoming-")):
                _link_or_copy(Path(directory) / name, clone_objects / relative / name)
    if (git_dir / "shallow").is_file():
        shutil.copy2(git_dir / "shallow", Path(repo.path) / "shallow")
    clone = pygit2.Repository(repo.path)
    for name, oid in heads.items():
        if name.startswith(("refs/heads/", "refs/tags/")) and not name.endswith("^{}"):
            clone.references.create(name, oid, force=True)
    return clone


def _link_or_copy(source: Path, destination: Path) -> None:
    """Hard-link a file, copying it when linking is impossible (another filesystem, a file owned by someone else)."""
    try:
        os.link(source, destination)
    except FileNotFoundError:
        return
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(source, destination)


def _absolute_alternates(source_objects: Path, clone_objects: Path) -> None:
    """Carry the source's own alternates over, made absolute (relative ones are relative to the source)."""
    lines = (source_objects / "info" / "alternates").read_text(encoding="utf-8").splitlines()
    paths = [str((source_objects / line).resolve()) for line in lines if line.strip() and not line.startswith("#")]
    (clone_objects / "info" / "alternates").write_text("".join(f"{path}\n" for path in paths), encoding="utf-8")


def _fetch_needed(
    repo: pygit2.Repository,
    remote: pygit2.remotes.Remote,
    *,
    heads: Mapping[str, str],
    default: str | None,
    translated: Callable[[], contextlib.AbstractContextManager[None]],
    callbacks: _Credentials,
    depth: int | None,
    ref: str | None,
    commit_sha: str | None,
) -> None:
    """Fetch the refs (or the object) a job needs over a network transport."""
    shallow = 1 if depth is None else depth

    def fetch(refspecs: list[str], fetch_depth: int) -> None:
        callbacks.begin_operation()
        with translated():
            remote.fetch(refspecs, callbacks=callbacks, depth=fetch_depth)

    if commit_sha is not None:
        wanted = commit_sha.lower()
        tip = next((name for name, oid in heads.items() if name != "HEAD" and oid == wanted), None)
        if tip is not None:
            fetch([_refspec(tip.removesuffix("^{}"))], shallow)
        elif not _fetch_object(repo, wanted, shallow, fetch):
            fetch(list(_ALL_BRANCHES_AND_TAGS), 0)
    elif ref is not None and ref != "HEAD":
        name = _match_ref(ref, heads.__contains__)
        assert name is not None
        fetch([_refspec(name)], shallow)
    elif default is not None:
        fetch([_refspec(default)], shallow)
    else:
        fetch(list(_ALL_BRANCHES_AND_TAGS), shallow)


def _advertised_default_branch(heads: list[pygit2.remotes.RemoteHead]) -> str | None:
    for head in heads:
        if head.name == "HEAD" and head.symref_target:
            return str(head.symref_target)
    return None


def _refspec(name: str) -> str:
    return f"+{name}:{name}"


def _fetch_object(
    repo: pygit2.Repository, commit_sha: str, depth: int, fetch: Callable[[list[str], int], None]
) -> bool:
    """Fetch one object by id; ``False`` when the server refuses wants that are not ref tips (or the id is short)."""
    if len(commit_sha) != 40 or not _HEX_SHA.match(commit_sha):
        return False
    try:
        fetch([commit_sha.lower()], depth)
    except TransportError:
        return False
    return commit_sha.lower() in repo


def _match_ref(ref: str, exists: Callable[[str], bool]) -> str | None:
    """The full ref name ``ref`` means, in git's order: ``refs/…`` as given, then tag, then branch; else ``None``."""
    candidates = [ref] if ref.startswith("refs/") else [f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"]
    return next((candidate for candidate in candidates if exists(candidate)), None)


@contextlib.contextmanager
def _translated(target: RepoTarget, token: str | None) -> Iterator[None]:
    """Turn libgit2 failures into ``FetchError`` subclasses with scrubbed messages that name the target."""
    try:
        yield
    except FetchError as exc:
        raise type(exc)(scrub(str(exc), token)) from None
    except pygit2.GitError as exc:
        _raise_classified(target, scrub(str(exc), token), isinstance(exc, pygit2.AuthError))


def _raise_classified(target: RepoTarget, message: str, is_auth_error: bool) -> NoReturn:
    lowered = message.lower()
    where = target.url
    if is_auth_error or "status code: 401" in lowered or "status code: 403" in lowered:
        raise AuthenticationFailed(f"authentication to {where} failed: {message}") from None
    if any(marker in lowered for marker in _NOT_FOUND_MARKERS):
        raise NotARepository(f"no repository at {where}: {message}") from None
    if "could not find repository" in lowered or ("unsupported url protocol" in lowered and target.is_local):
        raise NotARepository(f"{where} is not a git repository: {message}") from None
    if "certificate" in lowered:
        raise CertificateError(f"TLS certificate of {where} was rejected: {message}") from None
    raise TransportError(f"fetching {where} failed: {message}") from None


# --------------------------------------------------------------------------------------------------------- commits


def resolve_commit(repo: pygit2.Repository, *, ref: str | None = None, commit_sha: str | None = None) -> str:
    """The full 40-hex sha of the commit a job asks for.

    ``commit_sha`` (7 to 40 hex digits) wins when given; otherwise ``ref`` is looked up like git does (``HEAD``, a
    full ``refs/…`` name, then ``refs/tags/<ref>``, then ``refs/heads/<ref>``) and peeled through annotated tags;
    with neither, HEAD. Raises ``EmptyRepository`` when the repository has no refs at all and ``UnknownRevision``
    (not retryable) for anything that does not name a commit.
    """
    if commit_sha is not None:
        return _resolve_sha(repo, commit_sha)
    if not list(repo.references):
        raise EmptyRepository(f"repository {repo.path} has no commits")
    name = "HEAD" if ref is None or ref == "HEAD" else _match_ref(ref, lambda candidate: _has_ref(repo, candidate))
    if name is None:
        raise UnknownRevision(f"ref {ref!r} does not exist in the repository")
    try:
        reference = repo.head if name == "HEAD" else repo.references[name]
        commit = reference.peel(pygit2.Commit)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise UnknownRevision(f"ref {ref or 'HEAD'!r} does not name a commit: {exc}") from None
    return str(commit.id)


def _has_ref(repo: pygit2.Repository, name: str) -> bool:
    try:
        return name in repo.references
    except (pygit2.GitError, ValueError):
        return False


def _resolve_sha(repo: pygit2.Repository, commit_sha: str) -> str:
    if not _HEX_SHA.match(commit_sha):
        raise UnknownRevision(f"commit {commit_sha!r} is not a hex sha of 7 to 40 digits")
    try:
        obj = repo[commit_sha.lower()]
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"commit {commit_sha!r} does not exist in the repository") from None
    return str(commit.id)


def default_branch(repo: pygit2.Repository) -> str | None:
    """The short name of the branch HEAD points at (the remote's default branch after ``clone_bare``), if any."""
    try:
        target = repo.references["HEAD"].target
    except (KeyError, pygit2.GitError):
        return None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target.removeprefix("refs/heads/")
    return None


# --------------------------------------------------------------------------------------------------------- files


def list_files(
    repo: pygit2.Repository,
    commit_sha: str,
    *,
    max_file_bytes: int,
    language_for_path: Callable[[str], str | None] = languages.language_name_for_path,
    vendored_dirs: frozenset[str] = VENDORED_DIRS,
) -> FileListing:
    """The files of the tree at ``commit_sha`` worth parsing, without reading any blob.

    Each non-directory entry is either kept or counted under the first reason that applies, in this order:
    ``vendored`` (below a directory named in ``vendored_dirs``, whatever the entry is), ``submodule`` (gitlink),
    ``symlink``, ``unsupported_language`` (``language_for_path`` gives ``None``), ``minified`` (name ends in one of
    ``MINIFIED_SUFFIXES``), ``too_large`` (size from the object header above ``max_file_bytes``).
    ``binary`` and content-``minified`` are decided by ``read_files``. Path names that are not UTF-8 are decoded
    with replacement characters (the blob id still identifies the content).
    """
    try:
        commit = repo[commit_sha].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"commit {commit_sha!r} does not exist in the repository") from None
    walker = _TreeWalker(repo.odb, max_file_bytes, language_for_path, vendored_dirs)
    try:
        walker.walk(commit.tree, "")
    except (KeyError, pygit2.GitError) as exc:
        raise MissingObject(f"the tree of commit {commit.id} cannot be read from the clone: {exc}") from None
    walker.items.sort(key=lambda item: item.path)
    return FileListing(
        commit_sha=str(commit.id),
        items=walker.items,
        skipped=walker.skipped,
        files_seen=walker.files_seen,
        bytes_selected=sum(item.size for item in walker.items),
    )


class _TreeWalker:
    """Recursive tree walk that fills the kept items and skip counts of one listing."""

    def __init__(
        self,
        odb: pygit2.Odb,
        max_file_bytes: int,
        language_for_path: Callable[[str], str | None],
        vendored_dirs: frozenset[str],
    ) -> None:
        self.odb = odb
        self.max_file_bytes = max_file_bytes
        self.language_for_path = language_for_path
        self.vendored_dirs = vendored_dirs
        self.items: list[FileItem] = []
        self.skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
        self.files_seen = 0

    def walk(self, tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            raw_name = entry.raw_name
            assert raw_name is not None
            name = raw_name.decode("utf-8", "replace")
            mode = entry.filemode
            if mode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                if name in self.vendored_dirs:
                    vendored = self._count_files(entry)
                    self.skipped["vendored"] += vendored
                    self.files_seen += vendored
                else:
                    self.walk(entry, f"{prefix}{name}/")
                continue
            self.files_seen += 1
            reason = self._visit_file(mode, prefix + name, entry.id)
            if reason is not None:
                self.skipped[reason] += 1

    def _visit_file(self, mode: int, path: str, oid: pygit2.Oid) -> SkipReason | None:
        """Keep the file (``None``) or say why it is skipped."""
        if mode == FileMode.COMMIT:
            return "submodule"
        if mode == FileMode.LINK:
            return "symlink"
        language = self.language_for_path(path)
        if language is None:
            return "unsupported_language"
        if path.endswith(MINIFIED_SUFFIXES):
            return "minified"
        size = self.odb.read_header(oid)[1]
        if size > self.max_file_bytes:
            return "too_large"
        self.items.append(FileItem(path=path, oid=str(oid), language=language, size=size))
        return None

    def _count_files(self, tree: pygit2.Tree) -> int:
        count = 0
        for entry in tree:
            if entry.filemode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                count += self._count_files(entry)
            else:
                count += 1
        return count


def read_files(
    repo: pygit2.Repository,
    items: Iterable[FileItem],
    *,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[FileItem, bytes]]:
    """Yield each item with its blob bytes from the object database, in the order given, skipping unusable content.

    A blob with a NUL byte in its first ``BINARY_PROBE_BYTES`` is skipped as ``binary``; one of at least
    ``MINIFIED_MIN_BYTES`` whose lines average more than ``MINIFIED_AVERAGE_LINE_BYTES`` as ``minified``. Skips
    are added to ``skipped`` when given (pass ``FileListing.skipped``), so the counts are final once the iterator
    is exhausted. A blob absent from the clone raises ``MissingObject``. Stopping early is safe: nothing is held.
    """
    odb = repo.odb
    for item in items:
        try:
            object_type, data = odb.read(item.oid)
        except (KeyError, ValueError, pygit2.GitError):
            raise MissingObject(f"blob {item.oid} of {item.path!r} is missing from the clone") from None
        if object_type != ObjectType.BLOB:
            raise MissingObject(f"object {item.oid} of {item.path!r} is not a blob")
        reason = content_skip_reason(data)
        if reason is not None:
            if skipped is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
            continue
        yield item, data


def content_skip_reason(data: bytes) -> SkipReason | None:
    """``binary`` or ``minified`` when the bytes are not worth parsing as source, else ``None``."""
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        return "binary"
    if len(data) >= MINIFIED_MIN_BYTES and len(data) / (data.count(b"\n") + 1) > MINIFIED_AVERAGE_LINE_BYTES:
        return "minified"
    return None


# --------------------------------------------------------------------------------------------------------- context

CONFIG_NAMES = frozenset({"tsconfig.json", "jsconfig.json", "package.json"})
MAX_CONFIG_BYTES = 1024 * 1024


def commit_context(repo: pygit2.Repository, commit_sha: str) -> CommitContext:
    """What the cross-file step needs from the commit, from one walk of its tree (no checkout): every path outside
    vendored directories (bare specifiers name external packages whether or not they were committed), and the text
    of each ``tsconfig.json``/``jsconfig.json``/``package.json`` up to ``MAX_CONFIG_BYTES``."""
    tree = repo[commit_sha].peel(pygit2.Commit).tree
    paths: list[str] = []
    configs: dict[str, str] = {}
    stack: list[tuple[pygit2.Tree, str]] = [(tree, "")]
    while stack:
        current, prefix = stack.pop()
        for entry in current:
            name = entry.name or ""
            path = f"{prefix}{name}"
            if entry.filemode == FileMode.TREE:
                if name not in VENDORED_DIRS:
                    assert isinstance(entry, pygit2.Tree)
                    stack.append((entry, f"{path}/"))
                continue
            if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                continue
            paths.append(path)
            if posixpath.basename(path) in CONFIG_NAMES:
                blob = repo[entry.id]
                assert isinstance(blob, pygit2.Blob)
                if blob.size <= MAX_CONFIG_BYTES:
                    configs[path] = blob.data.decode("utf-8", "replace")
    paths.sort()
    return CommitContext(paths=tuple(paths), configs=configs)
