"""Bare clones that fetch only what a job needs, and the commit a job asks for."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Final, NoReturn
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import Option
from pygit2.ffi import C, ffi
from pygit2.remotes import RemoteHead

from stages.fetch.credentials import Credentials
from stages.fetch.errors import (
    AuthenticationFailed,
    CertificateError,
    EmptyRepository,
    FetchError,
    LimitExceeded,
    NotARepository,
    TransportError,
    UnknownRevision,
)
from stages.fetch.objects import DEFAULT_MAX_OBJECT_BYTES, peel_tags
from stages.fetch.targets import RepoTarget, scrub

CLONE_DIR: Final = "repo.git"
"""The clone's directory inside a job's work directory."""
_HEX_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_ZERO_OID: Final = "0" * 40
_NOT_FOUND_MARKERS: Final = ("status code: 404", "not exported", "no such repository", "repository not found")
"""Server answers meaning "no repository here" (smart HTTP, git daemon with and without --informative-errors)."""
_ALL_BRANCHES_AND_TAGS: Final = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


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
    token_hosts: Collection[str] = (),
    depth: int | None = None,
    ref: str | None = None,
    commit_sha: str | None = None,
    max_refs: int | None = None,
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

    The token is offered only where ``credentials.token_allowed`` says, against ``token_hosts``. A server
    advertising more than ``max_refs`` refs is refused (``LimitExceeded``) before any of them becomes a Python
    object. Error messages name the target, never the clone's own path under ``workdir``.
    """
    if target.is_local:
        _check_local_source(target)
    path = workdir / CLONE_DIR
    if path.exists():
        shutil.rmtree(path)
    repo = pygit2.init_repository(str(path), bare=True)
    callbacks = Credentials(target, token, token_hosts)
    remote = repo.remotes.create_anonymous(target.url)
    callbacks.begin_operation()
    with _translated(target, token, workdir):
        advertised = _advertised_heads(remote, callbacks, target, max_refs)
    heads = {head.name: str(head.oid) for head in advertised if head.name and str(head.oid) != _ZERO_OID}
    default = _advertised_default_branch(advertised)
    if not heads:
        raise EmptyRepository(f"repository {target.url} has no commits")
    if commit_sha is None and ref is not None and ref != "HEAD" and _match_ref(ref, heads.__contains__) is None:
        raise UnknownRevision(f"ref {ref!r} does not exist in {target.url}")
    if commit_sha is None and (ref is None or ref == "HEAD") and "HEAD" not in heads:
        raise UnknownRevision(
            f"the HEAD of {target.url} {_unborn_head_names(target)}; name a ref or a commit to index instead"
        )
    if target.is_local:
        repo = _link_objects(repo, target, heads)
    else:
        _fetch_needed(
            repo,
            remote,
            heads=heads,
            default=default,
            translated=lambda: _translated(target, token, workdir),
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


def _advertised_heads(
    remote: pygit2.remotes.Remote, callbacks: Credentials, target: RepoTarget, max_refs: int | None
) -> list[RemoteHead]:
    """The refs the server advertises, counted in libgit2's own list before any is turned into a Python object.

    ``Remote.list_heads`` would build every ``RemoteHead`` first (most of the memory a flood of refs costs), so the
    list is read through pygit2's own cffi binding of ``git_remote_ls``, as ``list_heads`` itself does.
    """
    remote.connect(callbacks=callbacks)
    refs = ffi.new("git_remote_head ***")
    size = ffi.new("size_t *")
    if C.git_remote_ls(refs, size, remote._remote) != 0:
        raise TransportError(f"listing the refs of {target.url} failed")
    count = int(size[0])
    if max_refs is not None and count > max_refs:
        raise LimitExceeded(f"{target.url} advertises {count:,} refs, more than the limit of {max_refs:,} (max_refs)")
    return [RemoteHead(refs[0][i]) for i in range(count)]


def _unborn_head_names(target: RepoTarget) -> str:
    """Why a source advertised no HEAD: for a local source, the missing branch its HEAD names."""
    if target.is_local:
        with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
            source = pygit2.Repository(_local_path(target), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
            branch = source.references["HEAD"].target
            if isinstance(branch, str):
                return f"names branch {branch.removeprefix('refs/heads/')!r}, which does not exist"
    return "does not point at an existing branch"


def _check_local_source(target: RepoTarget) -> None:
    """A local source that vanished or became a symlink loop since ``parse_target`` checked it, said plainly."""
    try:
        Path(_local_path(target)).resolve(strict=True)
    except FileNotFoundError:
        raise NotARepository(f"{target.url} no longer exists") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise NotARepository(f"{target.url} cannot be resolved (a symlink loop?): {exc}") from None


def _local_path(target: RepoTarget) -> str:
    return unquote(urlsplit(target.url).path) if target.transport == "file" else target.url


def _link_objects(repo: pygit2.Repository, target: RepoTarget, heads: Mapping[str, str]) -> pygit2.Repository:
    """Hard-link (or copy) the source's object files into the clone, copy its branch and tag refs, reopen the clone.

    Object files are immutable once written, so a link is as good as a copy and survives the source being repacked,
    pruned or deleted. A shallow source gives a shallow clone. A file that vanishes during the walk (a concurrent
    repack) is skipped: if it was needed, reading fails with ``MissingObject``, which is retryable. The clone is
    reopened so that its object database is loaded after the files are in place (libgit2 checks that a ref's target
    exists when the ref is created).
    """
    try:
        source = pygit2.Repository(_local_path(target), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
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
    callbacks: Credentials,
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
def _translated(target: RepoTarget, token: str | None, workdir: Path) -> Iterator[None]:
    """Turn libgit2 failures into ``FetchError`` subclasses with scrubbed messages that name the target, never the
    clone's path (an internal temp directory means nothing to whoever reads the error)."""
    try:
        yield
    except FetchError as exc:
        raise type(exc)(_worded(str(exc), token, workdir)) from None
    except MemoryError:
        raise LimitExceeded(f"{target.url} sent more than the fetch may hold in memory") from None
    except pygit2.GitError as exc:
        _raise_classified(target, _worded(str(exc), token, workdir), isinstance(exc, pygit2.AuthError))


def _worded(message: str, token: str | None, workdir: Path) -> str:
    return scrub(message, token).replace(str(workdir / CLONE_DIR), "the clone").replace(str(workdir), "the clone")


def _raise_classified(target: RepoTarget, message: str, is_auth_error: bool) -> NoReturn:
    lowered = message.lower()
    where = target.url
    if is_auth_error or "status code: 401" in lowered or "status code: 403" in lowered:
        raise AuthenticationFailed(f"authentication to {where} failed: {message}") from None
    if any(marker in lowered for marker in _NOT_FOUND_MARKERS):
        raise NotARepository(f"no repository at {where}: {message}") from None
    if "could not find repository" in lowered or ("unsupported url protocol" in lowered and target.is_local):
        raise NotARepository(f"{where} is not a git repository: {message}") from None
    if "out of memory" in lowered:
        raise LimitExceeded(f"{where} sent more than the fetch may hold in memory: {message}") from None
    if "object format" in lowered:  # libgit2: "unknown (remote) object format 'sha256'"
        raise NotARepository(f"{where} uses the SHA-256 object format, which is not supported: {message}") from None
    if "certificate" in lowered:
        raise CertificateError(f"TLS certificate of {where} was rejected: {message}") from None
    raise TransportError(f"fetching {where} failed: {message}") from None


def resolve_commit(
    repo: pygit2.Repository,
    *,
    ref: str | None = None,
    commit_sha: str | None = None,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> str:
    """The full 40-hex sha of the commit a job asks for.

    ``commit_sha`` (7 to 40 hex digits) wins when given; otherwise ``ref`` is looked up like git does (``HEAD``, a
    full ``refs/…`` name, then ``refs/tags/<ref>``, then ``refs/heads/<ref>``) and peeled through annotated tags;
    with neither, HEAD. Raises ``EmptyRepository`` when the repository has no refs at all and ``UnknownRevision``
    (not retryable) for anything that does not name a commit, ``LimitExceeded`` for a commit or tag object larger
    than ``max_object_bytes`` (checked before it is read: ``stages.fetch.objects``).
    """
    if commit_sha is not None:
        return _resolve_sha(repo, commit_sha, max_object_bytes)
    if not list(repo.references):
        raise EmptyRepository("the repository has no commits")
    name = "HEAD" if ref is None or ref == "HEAD" else _match_ref(ref, lambda candidate: _has_ref(repo, candidate))
    if name is None:
        raise UnknownRevision(f"ref {ref!r} does not exist in the repository")
    try:
        reference = repo.head if name == "HEAD" else repo.references[name]
        target = peel_tags(repo, reference.resolve().target, max_object_bytes)
    except (pygit2.GitError, KeyError, ValueError):
        raise UnknownRevision(f"ref {ref or 'HEAD'!r} does not point at an existing commit") from None
    if target.type != pygit2.enums.ObjectType.COMMIT:
        raise UnknownRevision(f"ref {ref or 'HEAD'!r} names a {target.type_str}, not a commit")
    return str(target.id)


def _has_ref(repo: pygit2.Repository, name: str) -> bool:
    try:
        return name in repo.references
    except (pygit2.GitError, ValueError):
        return False


def _resolve_sha(repo: pygit2.Repository, commit_sha: str, max_object_bytes: int) -> str:
    if not _HEX_SHA.match(commit_sha):
        raise UnknownRevision(f"commit {commit_sha!r} is not a hex sha of 7 to 40 digits")
    try:
        target = peel_tags(repo, repo.expand_id(commit_sha.lower()), max_object_bytes)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"commit {commit_sha!r} does not exist in the repository") from None
    if target.type != pygit2.enums.ObjectType.COMMIT:
        raise UnknownRevision(f"{commit_sha!r} names a {target.type_str}, not a commit")
    return str(target.id)


def default_branch(repo: pygit2.Repository) -> str | None:
    """The short name of the branch HEAD points at (the remote's default branch after ``clone_bare``), if any."""
    try:
        target = repo.references["HEAD"].target
    except (KeyError, pygit2.GitError):
        return None
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target.removeprefix("refs/heads/")
    return None
