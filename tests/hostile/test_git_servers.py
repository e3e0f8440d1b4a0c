"""Hostile and broken git servers and repositories, each fetched by a real fetcher loop.

Every case asserts: the error class and a message a user can act on (free of the token and of temp paths), that
the fetcher still completes a good job afterwards, and that the temp directory is left empty.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pygit2
import pytest

from pipeline.config import Config
from stages import fetch
from tests.fetcher_harness import fetcher_config, running_fetcher
from tests.git_servers import (
    Behaviour,
    GitHttpServer,
    RawServer,
    cutting_proxy,
    endless_refs,
    flood_refs,
    free_port,
    garbage,
    git_daemon,
    self_signed_certificate,
    silent,
    tls_context,
    trickle,
    trusted_by_libgit2,
)
from tests.integration.pipeline.repos import commit_files, new_repository

TOKEN = "ghs_hostileTestToken0123456789"
Server = TypeVar("Server", RawServer, GitHttpServer)
SIGNATURE = pygit2.Signature("Hostile Test", "hostile@example.test", 1_700_000_000, 0)


@dataclass(frozen=True)
class Case:
    """One hostile input: where to fetch, what to ask for, and how the failure must look."""

    target: fetch.RepoTarget
    error: type[fetch.FetchError]
    message: str
    ref: str | None = None
    commit_sha: str | None = None
    index: tuple[tuple[str, object], ...] = ()


@dataclass
class World:
    """Repositories on disk and the servers in front of them, shared by every case of the module."""

    good: fetch.RepoTarget
    cases: dict[str, Callable[[], Case]]


def _repo_with_odd_objects(path: Path) -> tuple[str, str]:
    """A repository whose tag ``v-tree`` points at a tree; returns the shas of that tree and of a blob."""
    repo = new_repository(path)
    commit = commit_files(repo, {"src/a.ts": "export const a = 1;\n"}, "c")
    tree = repo[commit].peel(pygit2.Tree)
    blob = tree["src"].peel(pygit2.Tree)["a.ts"].id
    repo.create_tag("v-tree", tree.id, pygit2.enums.ObjectType.TREE, SIGNATURE, "a tag of a tree")
    return str(tree.id), str(blob)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("hostile")
    served = root / "served"
    served.mkdir()
    good_path = root / "good"
    commit_files(new_repository(good_path), {"src/ok.ts": "export const ok = true;\n"}, "good")
    subprocess.run(["git", "clone", "-q", "--bare", str(good_path), str(served / "good.git")], check=True)
    big = new_repository(root / "big")
    commit_files(big, {"src/big.ts": "// " + os.urandom(300_000).hex() + "\n"}, "big")
    subprocess.run(["git", "clone", "-q", "--bare", str(root / "big"), str(served / "big.git")], check=True)
    subprocess.run(["git", "init", "-q", "--bare", "--object-format=sha256", str(served / "sha256.git")], check=True)
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(root / "sha256")], check=True)
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(
        ["git", "-C", str(root / "sha256"), *identity, "commit", "-q", "--allow-empty", "-m", "x"], check=True
    )
    subprocess.run(
        ["git", "-C", str(root / "sha256"), "push", "-q", str(served / "sha256.git"), "HEAD:main"], check=True
    )
    tree, blob = _repo_with_odd_objects(root / "odd")
    headless = pygit2.clone_repository(str(good_path), str(root / "headless.git"), bare=True)
    headless.references.create("HEAD", "refs/heads/gone", force=True)
    pygit2.init_repository(str(served / "empty.git"), bare=True)
    (root / "loop-a").symlink_to(root / "loop-b")
    (root / "loop-b").symlink_to(root / "loop-a")
    key, certificate = self_signed_certificate(root)
    trust = pytest.MonkeyPatch()
    trust.setenv("SSL_CERT_FILE", str(certificate))  # what the clone child processes trust
    (root / "untrusted").mkdir()
    untrusted_key, untrusted_certificate = self_signed_certificate(root / "untrusted")

    servers: list[RawServer | GitHttpServer] = []

    def keep(server: Server) -> Server:
        servers.append(server)
        return server

    def raw(behaviour: Behaviour) -> RawServer:
        return keep(RawServer(behaviour))

    def local(path: Path) -> fetch.RepoTarget:
        return fetch.RepoTarget(url=str(path), transport="local", full_name=path.name)

    with trusted_by_libgit2(certificate), git_daemon(served) as daemon:
        daemon_port = int(daemon.rsplit(":", 1)[1])
        elsewhere = keep(GitHttpServer(served, TOKEN, tls=tls_context(key, certificate), host="127.0.0.2"))
        redirecting = keep(
            GitHttpServer(served, None, tls=tls_context(key, certificate), redirect_to=lambda: elsewhere.url)
        )
        token_http = keep(GitHttpServer(served, TOKEN))
        failing = keep(GitHttpServer(served, None, status=500))
        untrusted = keep(GitHttpServer(served, TOKEN, tls=tls_context(untrusted_key, untrusted_certificate)))
        cases: dict[str, Callable[[], Case]] = {
            "trickling server": lambda: Case(
                target=fetch.parse_target(raw(trickle(0.2)).url("git")),
                error=fetch.FetchDeadlineExceeded,
                message="exceeded the fetch deadline of 1 s",
                index=(("fetch_timeout", 1.0), ("git_io_timeout", 5.0)),  # the deadline binds, not a 0.2 s pause
            ),
            "server that accepts and never answers": lambda: Case(
                target=fetch.parse_target(raw(silent).url("git")),
                error=fetch.TransportError,
                message="timed out",
                index=(("git_io_timeout", 0.5),),
            ),
            "huge ref advertisement": lambda: Case(
                target=fetch.parse_target(raw(flood_refs(20_000)).url("git")),
                error=fetch.LimitExceeded,
                message="advertises 20,001 refs, more than the limit of 1,000",
                index=(("max_refs", 1000),),
            ),
            "endless ref advertisement": lambda: Case(
                target=fetch.parse_target(raw(endless_refs).url("git")),
                error=fetch.LimitExceeded,
                message="more than the fetch may hold in memory",
                index=(("fetch_memory", 96 * 1024 * 1024),),
            ),
            "garbage instead of pkt-lines": lambda: Case(
                target=fetch.parse_target(raw(garbage).url("git")),
                error=fetch.TransportError,
                message="fetching git://127.0.0.1",
            ),
            "pack cut short": lambda: Case(
                target=fetch.parse_target(raw(cutting_proxy(daemon_port, keep_bytes=30_000)).url("git", "/big.git")),
                error=fetch.TransportError,
                message="fetching git://127.0.0.1",
            ),
            "redirect from a token host to another host": lambda: Case(
                target=fetch.parse_target(f"{redirecting.url}/good.git"),
                error=fetch.AuthenticationFailed,
                message=f"https://{elsewhere.host_port}/good.git asks for credentials; the access token is only sent",
                index=(("token_hosts", [redirecting.host_port]),),
            ),
            "redirect from a token host to another token host": lambda: Case(
                target=fetch.parse_target(f"{redirecting.url}/good.git"),
                error=fetch.AuthenticationFailed,
                message="never after a redirect to another host",
                index=(("token_hosts", [redirecting.host_port, elsewhere.host_port]),),
            ),
            "IPv6 address in the URL": lambda: Case(
                target=fetch.parse_target(f"git://[::1]:{free_port()}/good.git"),
                error=fetch.TransportError,
                message="failed to connect to ::1",
            ),
            "401 over plain http": lambda: Case(
                target=fetch.parse_target(f"{token_http.url}/good.git"),
                error=fetch.AuthenticationFailed,
                message="the access token is only sent over https",
                index=(("token_hosts", [token_http.host_port]),),
            ),
            "http 500": lambda: Case(
                target=fetch.parse_target(f"{failing.url}/good.git"),
                error=fetch.TransportError,
                message="500",
            ),
            "untrusted certificate": lambda: Case(
                target=fetch.parse_target(f"{untrusted.url}/good.git"),
                error=fetch.CertificateError,
                message="TLS certificate of https://127.0.0.1",
                index=(("token_hosts", [untrusted.host_port]),),
            ),
            "no repository at that address": lambda: Case(
                target=fetch.parse_target(f"{daemon}/missing.git"),
                error=fetch.NotARepository,
                message="no repository at git://127.0.0.1",
            ),
            "empty repository": lambda: Case(
                target=fetch.parse_target(f"{daemon}/empty.git"),
                error=fetch.EmptyRepository,
                message="has no commits",
            ),
            "sha256 repository over git://": lambda: Case(
                target=fetch.parse_target(f"{daemon}/sha256.git"),
                error=fetch.NotARepository,
                message="uses the SHA-256 object format, which is not supported",
            ),
            "sha256 repository on disk": lambda: Case(
                target=local(root / "sha256"),
                error=fetch.NotARepository,
                message="uses the SHA-256 object format, which is not supported",
            ),
            "symlink loop": lambda: Case(
                target=local(root / "loop-a"), error=fetch.NotARepository, message="symlink loop"
            ),
            "HEAD naming a missing branch": lambda: Case(
                target=local(root / "headless.git"),
                error=fetch.UnknownRevision,
                message="names branch 'gone', which does not exist",
            ),
            "commit sha naming a tree": lambda: Case(
                target=local(root / "odd"),
                error=fetch.UnknownRevision,
                message="names a tree, not a commit",
                commit_sha=tree,
            ),
            "commit sha naming a blob": lambda: Case(
                target=local(root / "odd"),
                error=fetch.UnknownRevision,
                message="names a blob, not a commit",
                commit_sha=blob,
            ),
            "tag pointing at a tree": lambda: Case(
                target=local(root / "odd"),
                error=fetch.UnknownRevision,
                message="names a tree, not a commit",
                ref="v-tree",
            ),
        }
        yield World(good=fetch.parse_target(str(good_path)), cases=cases)
    for server in servers:
        server.close()
    trust.undo()


def _fetch_with_the_stage_functions(case: Case, config: Config, workdir: Path) -> None:
    """What the fetcher does, called directly, so the error's class can be checked."""
    index = config.index
    if case.target.is_local:
        repo = fetch.clone_bare(case.target, workdir, ref=case.ref, commit_sha=case.commit_sha)
    else:
        repo = fetch.clone_isolated(
            case.target,
            workdir,
            deadline=index.fetch_timeout,
            connect_timeout=index.git_connect_timeout,
            io_timeout=index.git_io_timeout,
            token=TOKEN,
            token_hosts=fetch.token_hosts_for(index.token_hosts, index.base_url),
            ref=case.ref,
            commit_sha=case.commit_sha,
            max_refs=index.max_refs,
            memory_bytes=index.fetch_memory,
        )
    fetch.resolve_commit(repo, ref=case.ref, commit_sha=case.commit_sha)


CASES = [
    "trickling server",
    "server that accepts and never answers",
    "huge ref advertisement",
    "endless ref advertisement",
    "garbage instead of pkt-lines",
    "pack cut short",
    "redirect from a token host to another host",
    "redirect from a token host to another token host",
    "IPv6 address in the URL",
    "401 over plain http",
    "http 500",
    "untrusted certificate",
    "no repository at that address",
    "empty repository",
    "sha256 repository over git://",
    "sha256 repository on disk",
    "symlink loop",
    "HEAD naming a missing branch",
    "commit sha naming a tree",
    "commit sha naming a blob",
    "tag pointing at a tree",
]


@pytest.mark.parametrize("name", CASES)
def test_hostile_git_input__fails_clearly_and_the_fetcher_goes_on(world: World, tmp_path: Path, name: str) -> None:
    case = world.cases[name]()
    clones = tmp_path / "clones"
    config = fetcher_config(clones, **dict(case.index))

    with running_fetcher(config, token=TOKEN) as harness:
        failure = harness.failure(harness.fetch(case.target, ref=case.ref, commit_sha=case.commit_sha))
        assert harness.done(harness.fetch(world.good)).files == 1, "the fetcher still completes a good job"

    with pytest.raises(case.error) as caught, fetch.job_workdir(tmp_path / "stage", "case") as workdir:
        _fetch_with_the_stage_functions(case, config, workdir)
    assert case.message in str(caught.value)
    assert case.message in failure.error
    assert failure.retryable == case.error.retryable
    assert TOKEN not in failure.error
    assert str(clones) not in failure.error, "an internal temp path means nothing to the user"
    assert list(clones.iterdir()) == [], "the job directory is removed"
