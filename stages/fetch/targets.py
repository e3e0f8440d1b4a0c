"""Repository targets: what a user may name (URL, scp-like address, local path, ``owner/name``), validated into a
credential-free ``RepoTarget``, and ``scrub`` for anything that may show a URL."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec
import pygit2

from stages.fetch.errors import InvalidTarget, NotARepository
from stages.hosts import netloc_host
from stages.models import Transport

"""How a target is reached: ``file`` is a ``file://`` URL and ``local`` a plain path; both are local transports."""

NETWORK_TRANSPORTS: Final[Mapping[str, Transport]] = {"https": "https", "http": "http", "git": "git", "ssh": "ssh"}
"""URL schemes of the network transports, mapped to their ``Transport``."""

_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9_.-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>(?!//)[^\s]+)$")
_URL_PASSWORD = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):\S*@")
"""``scheme://user:password@``; the password may hold ``/``, ``:`` or ``@``, so it runs to the last ``@``."""
_SCP_PASSWORD = re.compile(r"(?P<prefix>(?<![^\s'\"(=])[A-Za-z0-9_.-]+):\S*@(?=[A-Za-z0-9.-]+:)")
"""``user:password@host:path``: git would read ``user`` as the host, but whoever typed it meant a password."""
_DEFAULT_PORTS: Final[Mapping[str, int]] = {"https": 443, "http": 80, "git": 9418, "ssh": 22}


class RepoTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where a repository lives, free of credentials by construction.

    ``url`` is what libgit2 is given, and one spelling per repository (so one ``repositories`` row): for a local
    repository (a path or a ``file://`` URL) the resolved absolute path of its root, transport ``local``; for a
    network URL lowercase scheme and host (an IPv6 address in brackets), no default port, no trailing slash; an
    scp-like address with its host lowercased. ``parse_target(target.url)`` gives the same target back.
    ``full_name`` is ``owner/name``: the last two components of the URL's path, ``.git`` dropped (a GitLab
    subgroup's path keeps only its last group, so names fit ``/repositories/{owner}/{name}``); for a local
    repository, the same taken from its ``origin`` remote's URL when it has one, else the last two components of
    its path (``/src/acme/app`` is ``acme/app``): clones of different repositories in folders of the same name do
    not share a name.
    """

    url: str
    transport: Transport
    full_name: str

    @property
    def is_local(self) -> bool:
        return self.transport in {"file", "local"}


def parse_target(target: str, *, base_url: str | None = None, local: bool = True) -> RepoTarget:
    """Validate a repository target and return its credential-free form.

    Accepted, in this order: an existing local path (a repository root: bare, or a work tree with ``.git``); a
    ``https``/``http``/``git``/``ssh``/``file`` URL; an scp-like ssh address (``git@host:owner/name.git``);
    ``owner/name`` joined to ``base_url``. A path that exists always wins over the ``owner/name`` reading. A URL
    with a password in its userinfo is rejected (``InvalidTarget``) so a token never reaches the queue or the
    database; a bare username (``ssh://git@host/…``) is kept. Local targets are checked to be repositories
    (``NotARepository`` otherwise). With ``local=False`` (a request from another machine) the file system is never
    looked at: a ``file://`` URL or a path is ``InvalidTarget``, and ``owner/name`` is always read as one.
    """
    text = target.strip()
    shown = scrub(text)
    if not text:
        raise InvalidTarget("repository target is empty")
    if not local and (text.lower().startswith("file:") or text.startswith(("/", ".", "~"))):
        raise InvalidTarget(
            f"repository target {shown!r} is on this machine (a path or file:// URL); only network repositories "
            "are accepted here"
        )
    if "://" in text:
        return _parse_url(text, shown)
    if _SCP_PASSWORD.match(text):
        raise InvalidTarget(
            f"repository address {shown!r} carries credentials; configure the access token instead of embedding it"
        )
    path = Path(text).expanduser()
    if local and (path.exists() or path.is_symlink()):
        return _local_target(path, shown)
    if text.startswith(("/", "./", "../", "~")):
        raise NotARepository(f"repository path {shown!r} does not exist")
    scp = _SCP_LIKE.match(text)
    if scp is not None:
        url = f"{scp.group('user') or ''}{scp.group('host').lower()}:{scp.group('path').rstrip('/')}"
        return RepoTarget(url=url, transport="ssh", full_name=_full_name(scp.group("path")))
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
    if _has_url_password(text):
        raise InvalidTarget(
            f"repository URL {shown!r} carries credentials; configure the access token instead of embedding it"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget(f"repository URL {shown!r} is malformed: {scrub(str(exc))}") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise InvalidTarget(f"file URL {shown!r} names a host; only local file URLs are supported")
        return _local_target(Path(unquote(parts.path)), shown)
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
    host = netloc_host(parts.hostname)
    netloc = host if port in {None, _DEFAULT_PORTS[scheme]} else f"{host}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    url = urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
    return RepoTarget(url=url, transport=NETWORK_TRANSPORTS[scheme], full_name=_full_name(parts.path))


def _has_url_password(text: str) -> bool:
    """Whether the URL has ``user:password@``, checked before parsing: a password holding ``/`` or ``@`` would not
    parse as one (``https://u:pa/ss@host/`` reads as host ``u``), while ``host:8443/a@b`` is a port and a path."""
    match = _URL_PASSWORD.match(text)
    return match is not None and not re.match(r"\d*(/|$)", text[len(match.group("prefix")) + 1 :])


def _local_target(path: Path, shown: str) -> RepoTarget:
    try:
        resolved = path.expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise NotARepository(f"repository path {shown!r} does not exist") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise NotARepository(f"repository path {shown!r} cannot be resolved (a symlink loop?): {exc}") from None
    try:
        repo = pygit2.Repository(str(resolved), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError as exc:
        if "object format" in str(exc):
            raise NotARepository(
                f"repository path {shown!r} uses the SHA-256 object format, which is not supported"
            ) from None
        raise NotARepository(f"repository path {shown!r} is not a git repository (bare or with .git)") from None
    root = Path(repo.path if repo.is_bare else repo.workdir).resolve()
    return RepoTarget(url=str(root), transport="local", full_name=_origin_name(repo) or _full_name(str(root)))


def _origin_name(repo: pygit2.Repository) -> str | None:
    """``owner/name`` from the ``origin`` remote's URL (a URL, an scp-like address or a path), or ``None`` when the
    repository has no such remote. Only the URL's path is read, so credentials in it never reach the name."""
    try:
        url = repo.remotes["origin"].url
    except (KeyError, pygit2.GitError):
        return None
    if not url:
        return None
    text = url.strip()
    if "://" in text:
        try:
            path = unquote(urlsplit(text).path)
        except ValueError:
            return None
    elif (scp := _SCP_LIKE.match(text)) is not None and not text.startswith(("/", ".", "~")):
        path = scp.group("path")
    else:  # a path, relative to the repository's own directory when it is not absolute
        path = os.path.normpath(Path(repo.path if repo.is_bare else repo.workdir, text))
    return _full_name(path) or None


def _full_name(path: str) -> str:
    """The last two components of a URL's path or a file system path, without a trailing ``.git``."""
    components = [part for part in path.strip("/").split("/") if part not in {"", ".git"}]
    if not components:
        return ""
    components[-1] = components[-1].removesuffix(".git") or components[-1]
    return "/".join(components[-2:])


def scrub(text: str, token: str | None = None) -> str:
    """``text`` with URL and scp-like passwords masked and every occurrence of ``token`` replaced by ``***``."""
    cleaned = _SCP_PASSWORD.sub(r"\g<prefix>:***@", _URL_PASSWORD.sub(r"\g<prefix>:***@", text))
    if token:
        cleaned = cleaned.replace(token, "***")
    return cleaned
