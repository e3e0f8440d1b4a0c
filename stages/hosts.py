"""Host names as the fetch stage compares and writes them, free of pygit2 so that loading the config stays cheap.

``pipeline.config`` checks ``index.token_hosts`` with ``token_host_key``, the same parsing the credentials rule
(``stages.fetch.credentials.token_allowed``) applies, so an entry the rule could never match is a config error
instead of a silently unused line.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

HTTPS_PORT: Final = 443
FORBIDDEN_IN_URL: Final = frozenset("\\\t\r\n ")
"""Characters no URL we send a token to needs, and that parsers disagree on (``https://a\\@b/``; Python drops tabs)."""

HostKey = tuple[str, int]


def host_key(hostname: str, port: int) -> HostKey | None:
    """``(host, port)`` in one spelling: lowercase, no trailing dot, IDNA-encoded; ``None`` if not a valid name."""
    host = hostname.lower().removesuffix(".")
    if not host:
        return None
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return ascii_host, port


def token_host_key(entry: str) -> HostKey | None:
    """The key of an ``index.token_hosts`` entry (``host``, ``host:port`` or ``[ipv6]:port``; port 443 when none),
    or ``None`` when it is anything else: a scheme, a path, a user, a query, a bad port, a forbidden character."""
    text = entry.strip()
    if not text or FORBIDDEN_IN_URL & set(text) or "%" in text:
        return None
    try:
        parts = urlsplit(f"https://{text}")
        port = parts.port or HTTPS_PORT
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return host_key(parts.hostname, port)


def netloc_host(hostname: str) -> str:
    """``hostname`` as a URL's netloc writes it: an IPv6 address in brackets (``[::1]``), anything else as it is."""
    return f"[{hostname}]" if ":" in hostname else hostname
