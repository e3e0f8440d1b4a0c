"""The names the API answers to: the ``Host`` header of a request against ``api.allowed_hosts``.

A page on ``evil.example`` whose DNS is re-pointed to 127.0.0.1 (DNS rebinding) reaches a local server as the same
origin as itself; only the ``Host`` header, ``evil.example:8000``, shows that the browser thinks it talks to another
site. Names are compared without the port (the server answered on its own port anyway), lowercase, without one
trailing dot (``localhost.`` is ``localhost`` in DNS), an IPv6 address in brackets. No Litestar here, so that
loading the config can check its entries cheaply.
"""

from __future__ import annotations

import ipaddress
import re

# Always answered to, with api.host: a rebinding page cannot make its Host one of them (it names its own site).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
MAX_PORT = 65535
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*))(?::(?P<port>[0-9]{1,5}))?", re.ASCII)


def host_header_name(value: str) -> str | None:
    """The name in a ``Host`` header value (``name[:port]``, ``[ipv6][:port]``), or ``None`` when it is none."""
    match = _HOST.fullmatch(value.lower())
    if match is None or (match["port"] is not None and int(match["port"]) > MAX_PORT):
        return None
    return _normalised(match["name"])


def allowed_host_name(entry: str) -> str | None:
    """The name of an ``api.allowed_hosts`` entry or of ``api.host`` (a host name, an IPv4 address, an IPv6 address
    with or without brackets; no port), or ``None`` when it is anything else."""
    text = entry.strip().lower()
    if ":" in text and not text.startswith("["):
        text = f"[{text}]"  # a bare IPv6 address, checked below
    match = _HOST.fullmatch(text)
    return None if match is None or match["port"] is not None else _normalised(match["name"])


def allowed_names(entries: list[str], api_host: str) -> frozenset[str]:
    """The names of ``api.allowed_hosts``, ``api.host`` and ``LOOPBACK_NAMES``."""
    names = [allowed_host_name(entry) for entry in [*entries, api_host, *LOOPBACK_NAMES]]
    return frozenset(name for name in names if name is not None)


def _normalised(name: str) -> str | None:
    if name.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]"
        except ValueError:
            return None
    name = name.removesuffix(".")
    return name if name and not name.endswith(".") and ".." not in name else None
