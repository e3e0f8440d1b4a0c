"""The rule deciding where the git access token may go (``stages.fetch.credentials.token_allowed``)."""

from __future__ import annotations

import pytest

from stages.fetch import token_allowed, token_hosts_for

HOSTS = ["github.com", "git.example.com:8443", "xn--bcher-kva.example"]


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/widgets.git",
        "https://github.com:443/acme/widgets.git",
        "https://GitHub.COM/acme/widgets.git",
        "HTTPS://github.com/acme/widgets.git",
        "https://github.com./acme/widgets.git",
        "https://git.example.com:8443/widgets.git",
        "https://bücher.example/widgets.git",
        "https://BÜCHER.example./widgets.git",
    ],
)
def test_token_allowed__https_to_a_token_host_and_port(url: str) -> None:
    assert token_allowed(url, HOSTS)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://github.com/acme/widgets.git", "plain http"),
        ("git://github.com/acme/widgets.git", "git transport"),
        ("ssh://git@github.com/acme/widgets.git", "ssh transport"),
        ("https://gitlab.com/acme/widgets.git", "another host"),
        ("https://github.com.evil.example/acme/widgets.git", "a suffix of a token host"),
        ("https://evilgithub.com/acme/widgets.git", "a host ending like a token host"),
        ("https://github.com:8443/acme/widgets.git", "a token host on another port"),
        ("https://git.example.com/widgets.git", "a host:port entry on the default port"),
        ("https://github.com@evil.example/acme/widgets.git", "userinfo naming the token host"),
        ("https://x-access-token:github.com@evil.example/", "userinfo with a password naming the token host"),
        ("https://evil.example\\@github.com/", "a backslash before the at sign"),
        ("https://evil.example%2F@github.com/", "a percent-encoded slash in the userinfo"),
        ("https://%67ithub.com/acme/widgets.git", "a percent-encoded host"),
        ("https://g\u0456thub.com/acme/widgets.git", "a look-alike (Cyrillic i)"),
        ("https://github.com:99999/acme/widgets.git", "an invalid port"),
        ("https:///acme/widgets.git", "no host"),
        ("https://github.com\t/acme", "whitespace in the host"),
        ("", "nothing"),
    ],
)
def test_token_allowed__refuses(url: str, why: str) -> None:
    assert not token_allowed(url, HOSTS), why


def test_token_allowed__no_token_hosts_means_nowhere() -> None:
    assert not token_allowed("https://github.com/acme/widgets.git", [])


@pytest.mark.parametrize("entry", ["https://github.com", "github.com/acme", "user@github.com", "", "github.com:x"])
def test_token_allowed__malformed_entries_allow_nothing(entry: str) -> None:
    assert not token_allowed("https://github.com/acme/widgets.git", [entry])


@pytest.mark.parametrize(
    ("configured", "base_url", "expected"),
    [
        ([], "https://github.com", ["github.com"]),
        ([], "https://git.example.com:8443/scm", ["git.example.com:8443"]),
        ([" ghe.example.com ", ""], "https://github.com", ["ghe.example.com"]),
        ([], "not a url", []),
    ],
)
def test_token_hosts_for__configured_hosts_else_the_base_url_host(
    configured: list[str], base_url: str, expected: list[str]
) -> None:
    assert token_hosts_for(configured, base_url) == expected
