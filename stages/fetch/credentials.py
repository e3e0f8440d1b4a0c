"""The one place a git access token is handed out: the libgit2 credentials callback, and the rule deciding where to.

The rule (``token_allowed``): the token goes only over ``https``, and only to a host (and port) it is configured for.
It is checked against the URL libgit2 is authenticating to at that moment, which after a redirect is the
redirect's target, not the repository URL the job named; so a redirect to another host or to plain ``http`` never
receives it; nor does a redirect from one token host to another (the token goes only to the host of the
repository the job named). Anything that cannot be parsed unambiguously is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import pygit2

from stages.fetch.errors import AuthenticationFailed
from stages.fetch.targets import RepoTarget, scrub
from stages.hosts import FORBIDDEN_IN_URL, HTTPS_PORT, HostKey, host_key, netloc_host, token_host_key


def token_allowed(url: str, token_hosts: Iterable[str], *, repository_url: str) -> bool:
    """Whether the access token may be sent to ``url`` while fetching ``repository_url``: both ``https`` URLs of the
    same host and port, which is one of ``token_hosts``.

    ``token_hosts`` entries are ``host`` (port 443) or ``host:port`` (``stages.hosts.token_host_key``). Hosts compare
    case-insensitively, without a trailing dot and in their IDNA (punycode) form, so ``Bücher.example.`` and
    ``xn--bcher-kva.example`` are the same host and a look-alike is not. The host is the URL's real host: userinfo
    (``https://allowed@evil/``) is ignored, and a URL with a backslash or whitespace, or a percent sign before its
    path, is refused outright. Requiring the repository's own host means a redirect never carries the token to
    another host, even to another token host.
    """
    wanted = _https_host_key(url)
    return (
        wanted is not None
        and wanted == _https_host_key(repository_url)
        and wanted in {token_host_key(entry) for entry in token_hosts}
    )


def token_hosts_for(configured: Iterable[str], base_url: str) -> list[str]:
    """The token hosts in force: ``configured``, or when that is empty the host (and port) of ``base_url``."""
    hosts = [entry.strip() for entry in configured if entry.strip()]
    if hosts:
        return hosts
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return []
    if not parts.hostname:
        return []
    host = netloc_host(parts.hostname)
    return [host if port is None else f"{host}:{port}"]


def _https_host_key(url: str) -> HostKey | None:
    """The host key of an ``https`` URL, or ``None`` for any other URL or one that cannot be read unambiguously."""
    try:
        parts = urlsplit(url)
        port = parts.port or HTTPS_PORT
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname or FORBIDDEN_IN_URL & set(url) or "%" in parts.netloc:
        return None
    return host_key(parts.hostname, port)


class Credentials(pygit2.RemoteCallbacks):
    """Hands the token to libgit2 once per server and network operation, only where ``token_allowed``; a second
    request from the same URL means that server rejected it.

    libgit2 keeps a credential for the rest of its connection to one server and asks again only after a 401 with
    it; a redirect to another server asks again, with that server's URL, and is judged on that URL.
    """

    def __init__(self, target: RepoTarget, token: str | None, token_hosts: Iterable[str] = ()) -> None:
        super().__init__()
        self._target = target
        self._token = token
        self._token_hosts = tuple(token_hosts)
        self._asked_by: set[str] = set()

    def begin_operation(self) -> None:
        """Called before each connection (listing refs, each fetch): the first request of each gets the token."""
        self._asked_by.clear()

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> pygit2.UserPass | pygit2.KeypairFromAgent:
        if url in self._asked_by:
            raise AuthenticationFailed(f"{scrub(url)} rejected the configured credentials")
        self._asked_by.add(url)
        if self._target.transport == "ssh" and allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        if self._token is None:
            raise AuthenticationFailed(f"{self._target.url} requires authentication and no access token is configured")
        if not token_allowed(url, self._token_hosts, repository_url=self._target.url):
            hosts = ", ".join(self._token_hosts) or "no host"
            raise AuthenticationFailed(
                f"{scrub(url)} asks for credentials; the access token is only sent over https to {hosts}, and only"
                f" to the host of {self._target.url} (never after a redirect to another host)"
            )
        if not allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            raise AuthenticationFailed(f"{self._target.url} does not accept token authentication")
        return pygit2.UserPass("x-access-token", self._token)
