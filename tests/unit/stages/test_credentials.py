"""The rule deciding where the git access token may go (``stages.fetch.credentials.token_allowed``)."""

from __future__ import annotations

import pytest

from pipeline.config import decode_config
from pipeline.errors import ConfigError
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
    assert token_allowed(url, HOSTS, repository_url=url)


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
    assert not token_allowed(url, HOSTS, repository_url=url), why


def test_token_allowed__no_token_hosts_means_nowhere() -> None:
    assert not token_allowed("https://github.com/acme/widgets.git", [], repository_url="https://github.com/acme/w")


@pytest.mark.parametrize("entry", ["https://github.com", "github.com/acme", "user@github.com", "", "github.com:x"])
def test_token_allowed__malformed_entries_allow_nothing(entry: str) -> None:
    url = "https://github.com/acme/widgets.git"

    assert not token_allowed(url, [entry], repository_url=url)


@pytest.mark.parametrize(
    ("url", "repository_url"),
    [
        ("https://git.example.com:8443/widgets.git", "https://github.com/acme/widgets.git"),
        ("https://github.com/acme/widgets.git", "https://git.example.com:8443/widgets.git"),
        ("https://github.com/acme/widgets.git", "http://github.com/acme/widgets.git"),
        ("https://github.com/acme/widgets.git", "https://github.com:8443/acme/widgets.git"),
    ],
)
def test_token_allowed__never_to_another_host_than_the_repository_s_even_a_token_host(
    url: str, repository_url: str
) -> None:
    assert not token_allowed(url, HOSTS, repository_url=repository_url)


def test_token_allowed__same_host_in_another_spelling_and_path() -> None:
    assert token_allowed(
        "https://GitHub.com./acme/widgets.git/info/refs", HOSTS, repository_url="https://github.com/acme/widgets.git"
    )


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        ("[::1]:8443", "https://[::1]:8443/a/b.git"),
        ("[::1]", "https://[::1]/a/b.git"),
        ("127.0.0.1:8443", "https://127.0.0.1:8443/a/b.git"),
    ],
)
def test_token_allowed__ip_address_token_hosts(entry: str, url: str) -> None:
    assert token_allowed(url, [entry], repository_url=url)


@pytest.mark.parametrize(
    ("configured", "base_url", "expected"),
    [
        ([], "https://github.com", ["github.com"]),
        ([], "https://git.example.com:8443/scm", ["git.example.com:8443"]),
        ([" ghe.example.com ", ""], "https://github.com", ["ghe.example.com"]),
        ([], "not a url", []),
        ([], "https://[::1]:8443/scm", ["[::1]:8443"]),
        ([], "https://[2001:db8::1]", ["[2001:db8::1]"]),
    ],
)
def test_token_hosts_for__configured_hosts_else_the_base_url_host(
    configured: list[str], base_url: str, expected: list[str]
) -> None:
    assert token_hosts_for(configured, base_url) == expected


@pytest.mark.parametrize("entry", ["https://github.com", "github.com/acme", "user@github.com", "", "github.com:x"])
def test_config__a_token_host_the_rule_can_never_match_is_an_error_naming_it(entry: str) -> None:
    with pytest.raises(ConfigError) as caught:
        decode_config(f'[index]\ntoken_hosts = ["github.com", "{entry}"]\n', "test.toml")

    assert str(caught.value).startswith(f"test.toml: index.token_hosts: {entry!r} is not a host name")


def test_config__token_hosts_the_rule_can_match_are_accepted() -> None:
    hosts = ["github.com", "git.example.com:8443", "[::1]:8443", "127.0.0.1", "bücher.example"]

    assert decode_config(f"[index]\ntoken_hosts = {hosts!r}\n".replace("'", '"'), "t").index.token_hosts == hosts
