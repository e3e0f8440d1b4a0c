"""The fetch stage against real repositories built here, served over real transports on loopback.

One source repository (branches, a lightweight and an annotated tag, vendored dirs, a minified file, a huge file,
a binary file named .ts, a symlink, a submodule) is built once per module with pygit2 and served three ways: as a
local path / file URL, by ``git daemon`` and by ``git http-backend`` behind a small HTTP(S) server that demands a
token (``tests/git_servers.py``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pygit2
import pytest
from pygit2.enums import FileMode

from stages import fetch
from stages.errors import GitError
from stages.fetch import isolated
from tests.git_servers import GitHttpServer, free_port, self_signed_certificate, tls_context, trusted_by_libgit2
from tests.git_servers import git_daemon as serve_git_daemon

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "ghs_fetchTestToken0123456789"
MAX_FILE_BYTES = 100_000
SUBMODULE_COMMIT = "1234567890abcdef1234567890abcdef12345678"
SIGNATURE = pygit2.Signature("Fetch Test", "fetch@example.com", 1_700_000_000, 0)


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Submodule:
    commit: str


Entry = bytes | Symlink | Submodule


def write_tree(repo: pygit2.Repository, files: Mapping[str, Entry]) -> pygit2.Oid:
    """A tree (with subtrees) holding ``files``, keyed by slash-separated path."""
    here: dict[str, Entry] = {}
    below: dict[str, dict[str, Entry]] = {}
    for path, entry in files.items():
        head, _, rest = path.partition("/")
        if rest:
            below.setdefault(head, {})[rest] = entry
        else:
            here[head] = entry
    builder = repo.TreeBuilder()
    for name, entry in here.items():
        if isinstance(entry, Symlink):
            builder.insert(name, repo.create_blob(entry.target.encode()), FileMode.LINK)
        elif isinstance(entry, Submodule):
            builder.insert(name, pygit2.Oid(hex=entry.commit), FileMode.COMMIT)
        else:
            builder.insert(name, repo.create_blob(entry), FileMode.BLOB)
    for name, subtree in below.items():
        builder.insert(name, write_tree(repo, subtree), FileMode.TREE)
    return builder.write()


def commit(
    repo: pygit2.Repository, ref: str, files: Mapping[str, Entry], parents: list[pygit2.Oid], message: str
) -> pygit2.Oid:
    return repo.create_commit(ref, SIGNATURE, SIGNATURE, message, write_tree(repo, files), parents)


MINIFIED_CONTENT = b"".join(b"t.a%d=e(t,!0),t.b%d=void 0!==r?r:t[%d];" % (n, n, n) for n in range(100))
BINARY_CONTENT = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

FIRST_FILES: dict[str, Entry] = {
    "README.md": b"# demo\n",
    "src/index.ts": b"export const answer = 41;\n",
}
MAIN_FILES: dict[str, Entry] = {
    "README.md": b"# demo\n\nNow with more files.\n",
    "scripts/tool.rb": b"puts 'not indexed'\n",
    "src/index.ts": b"import { helper } from './util';\nexport const answer = helper(41);\n",
    "src/view.tsx": b"export const View = () => <div>hello</div>;\n",
    "src/util.js": b"export function helper(x) {\n  return x + 1;\n}\n",
    "src/generated.js": MINIFIED_CONTENT,
    "src/huge.ts": b"// padding line of a generated file\n" * 9000,
    "src/logo.ts": BINARY_CONTENT,
    "src/link.ts": Symlink("index.ts"),
    "libs/shared": Submodule(SUBMODULE_COMMIT),
    "public/jquery.min.js": b"!function(){};\n",
    "node_modules/left-pad/index.js": b"module.exports = leftPad;\n",
    "node_modules/left-pad/package.json": b'{"name": "left-pad"}\n',
    "dist/bundle.js": b"console.log('built');\n",
    "web/.next/server/page.js": b"export default 1;\n",
}
FEATURE_FILES: dict[str, Entry] = {**MAIN_FILES, "src/feature.ts": b"export const feature = true;\n"}


@dataclass(frozen=True)
class SourceRepo:
    """The module's source repository: a work tree, a bare copy, and the commits and tags in them."""

    work_tree: Path
    bare: Path
    first: str
    middle: str
    """A commit on main that no ref points at."""
    main: str
    feature: str
    annotated_tag: str


def build_source(path: Path, *, bare: bool) -> SourceRepo:
    repo = pygit2.init_repository(str(path), bare=bare, initial_head="main")
    first = commit(repo, "refs/heads/main", FIRST_FILES, [], "first")
    middle = commit(repo, "refs/heads/main", {**FIRST_FILES, "src/middle.ts": b"export {};\n"}, [first], "middle")
    main = commit(repo, "refs/heads/main", MAIN_FILES, [middle], "second")
    feature = commit(repo, "refs/heads/feature", FEATURE_FILES, [main], "feature")
    repo.references.create("refs/tags/v1", first)
    tag = repo.create_tag("v2", main, pygit2.enums.ObjectType.COMMIT, SIGNATURE, "release 2")
    return SourceRepo(
        work_tree=path,
        bare=path,
        first=str(first),
        middle=str(middle),
        main=str(main),
        feature=str(feature),
        annotated_tag=str(tag),
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceRepo:
    root = tmp_path_factory.mktemp("source")
    work_tree = build_source(root / "work", bare=False)
    bare = build_source(root / "served" / "source.git", bare=True)
    assert work_tree.main == bare.main, "commits are deterministic, so both copies hold the same ones"
    return dataclasses.replace(work_tree, bare=bare.bare)


@pytest.fixture(scope="module")
def served_root(source: SourceRepo) -> Path:
    """The directory both servers export: ``source.git`` (wants by id allowed), ``strict.git`` and ``empty.git``."""
    root = source.bare.parent
    pygit2.Repository(str(source.bare)).config["uploadpack.allowAnySHA1InWant"] = True
    build_source(root / "strict.git", bare=True)
    pygit2.init_repository(str(root / "empty.git"), bare=True, initial_head="main")
    return root


@pytest.fixture(scope="module")
def git_daemon(served_root: Path) -> Iterator[str]:
    """``git://127.0.0.1:<port>`` serving ``served_root``."""
    with serve_git_daemon(served_root) as url:
        yield url


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A key and a self-signed certificate for 127.0.0.1, 127.0.0.2 and localhost, trusted by libgit2 here."""
    key, certificate = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    with trusted_by_libgit2(certificate):
        yield key, certificate


@pytest.fixture(scope="module")
def http_server(served_root: Path) -> Iterator[GitHttpServer]:
    """Plain ``http://127.0.0.1:<port>`` serving ``served_root`` to clients presenting ``TOKEN``."""
    server = GitHttpServer(served_root, TOKEN)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def https_server(served_root: Path, tls_files: tuple[Path, Path]) -> Iterator[GitHttpServer]:
    """``https://127.0.0.1:<port>`` with a trusted certificate, serving ``served_root`` to clients with ``TOKEN``."""
    server = GitHttpServer(served_root, TOKEN, tls=tls_context(*tls_files))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def https_server_with_untrusted_certificate(
    served_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``https://127.0.0.1:<port>`` with a self-signed certificate no trust store has."""
    key, certificate = self_signed_certificate(tmp_path_factory.mktemp("untrusted"))
    server = GitHttpServer(served_root, TOKEN, tls=tls_context(key, certificate))
    try:
        yield server.url
    finally:
        server.close()


def clone(
    target: str,
    workdir: Path,
    *,
    token: str | None = None,
    token_hosts: Collection[str] = (),
    depth: int | None = None,
    ref: str | None = None,
    commit_sha: str | None = None,
) -> pygit2.Repository:
    return fetch.clone_bare(
        fetch.parse_target(target),
        workdir,
        token=token,
        token_hosts=token_hosts,
        depth=depth,
        ref=ref,
        commit_sha=commit_sha,
    )


def read_all(repo: pygit2.Repository, listing: fetch.FileListing) -> dict[str, bytes]:
    return {item.path: data for item, data in fetch.read_files(repo, listing.items, skipped=listing.skipped)}


def bytes_of_every_file(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def assert_token_free(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error)
    assert TOKEN not in text


# ------------------------------------------------------------------------------------------------------ targets


def test_parse_target__https_url_gives_owner_name_and_keeps_the_url() -> None:
    target = fetch.parse_target("https://github.com/acme/widgets.git")

    assert target == fetch.RepoTarget(
        url="https://github.com/acme/widgets.git", transport="https", full_name="acme/widgets"
    )
    assert not target.is_local


def test_parse_target__owner_name_is_joined_to_the_base_url() -> None:
    target = fetch.parse_target("acme/widgets", base_url="https://git.example.com/")

    assert target.url == "https://git.example.com/acme/widgets"
    assert target.full_name == "acme/widgets"


def test_parse_target__owner_name_without_base_url_is_an_invalid_target() -> None:
    with pytest.raises(fetch.InvalidTarget, match="acme/widgets") as caught:
        fetch.parse_target("acme/widgets")

    assert not caught.value.retryable
    assert isinstance(caught.value, GitError)


@pytest.mark.parametrize(
    "url",
    [
        f"https://x-access-token:{TOKEN}@github.com/acme/widgets.git",
        f"https://x-access-token:{TOKEN}/with/slashes@github.com/acme/widgets.git",
        f"https://x-access-token:{TOKEN}@at@github.com/acme/widgets.git",
        "https://deploy:0123456789@github.com/acme/widgets.git",
        "https://deploy:@github.com/acme/widgets.git",
    ],
)
def test_parse_target__password_in_url_is_rejected_without_repeating_it(url: str) -> None:
    password = url.split("@", maxsplit=1)[0].split(":")[2]

    with pytest.raises(fetch.InvalidTarget, match="carries credentials") as caught:
        fetch.parse_target(url)

    assert not password or password not in str(caught.value)
    assert "github.com/acme/widgets.git" in str(caught.value)


def test_parse_target__port_and_an_at_sign_in_the_path_are_not_credentials() -> None:
    assert fetch.parse_target("https://git.example.com:8443/team/lib@2.git").url == (
        "https://git.example.com:8443/team/lib@2.git"
    )


def test_parse_target__user_name_in_https_url_is_rejected() -> None:
    with pytest.raises(fetch.InvalidTarget, match="user name"):
        fetch.parse_target("https://someone@github.com/acme/widgets.git")


def test_parse_target__ssh_url_and_scp_like_address_keep_the_ssh_user() -> None:
    url = fetch.parse_target("ssh://git@github.com:2222/acme/widgets.git")
    scp = fetch.parse_target("git@github.com:acme/widgets.git")

    assert (url.url, url.transport, url.full_name) == (
        "ssh://git@github.com:2222/acme/widgets.git",
        "ssh",
        "acme/widgets",
    )
    assert (scp.url, scp.transport, scp.full_name) == ("git@github.com:acme/widgets.git", "ssh", "acme/widgets")


def test_parse_target__local_work_tree_bare_path_and_file_url_are_local(source: SourceRepo) -> None:
    work_tree = fetch.parse_target(str(source.work_tree))
    bare = fetch.parse_target(str(source.bare))
    file_url = fetch.parse_target(source.bare.as_uri())

    # no origin remote: named by the last two components of their paths
    work_tree_name = f"{source.work_tree.parent.name}/work"
    assert (work_tree.transport, work_tree.url, work_tree.full_name) == ("local", str(source.work_tree), work_tree_name)
    assert (bare.transport, bare.full_name) == ("local", "served/source")
    assert file_url == bare
    assert work_tree.is_local
    assert fetch.parse_target(str(source.work_tree / ".git")) == work_tree
    assert all(fetch.parse_target(target.url) == target for target in (work_tree, bare, file_url))


def test_parse_target__every_spelling_of_a_local_repository_gives_one_target(
    tmp_path: Path, source: SourceRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alias").symlink_to(source.work_tree)
    monkeypatch.chdir(source.work_tree.parent)
    spellings = [
        str(source.work_tree),
        f"{source.work_tree}/",
        f"{source.work_tree}/.git",
        f"{source.work_tree}/.git/",
        source.work_tree.as_uri(),
        f"{source.work_tree.as_uri()}/",
        f"file://localhost{source.work_tree}",
        (source.work_tree / ".git").as_uri(),
        str(tmp_path / "alias"),
        "./work",
        "work/",
    ]

    targets = {fetch.parse_target(spelling) for spelling in spellings}

    assert targets == {
        fetch.RepoTarget(url=str(source.work_tree), transport="local", full_name=f"{source.work_tree.parent.name}/work")
    }


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("https://github.com/acme/widgets.git", "https://github.com/acme/widgets.git"),
        ("HTTPS://GitHub.COM/acme/widgets.git", "https://github.com/acme/widgets.git"),
        ("https://github.com:443/acme/widgets.git/", "https://github.com/acme/widgets.git"),
        ("https://github.com:8443/acme/widgets", "https://github.com:8443/acme/widgets"),
        ("http://Git.Example.com:80/acme/widgets/", "http://git.example.com/acme/widgets"),
        ("git://git.example.com:9418/widgets.git", "git://git.example.com/widgets.git"),
        ("ssh://git@GitHub.com:22/acme/widgets.git", "ssh://git@github.com/acme/widgets.git"),
        ("ssh://git@github.com:2222/acme/widgets.git", "ssh://git@github.com:2222/acme/widgets.git"),
        ("git@GitHub.com:acme/widgets.git/", "git@github.com:acme/widgets.git"),
        ("https://[::1]:8443/acme/widgets.git", "https://[::1]:8443/acme/widgets.git"),
        ("https://[::1]:443/acme/widgets.git", "https://[::1]/acme/widgets.git"),
        ("git://[FE80::1]/acme/widgets", "git://[fe80::1]/acme/widgets"),
        ("ssh://git@[2001:DB8::1]:2222/acme/widgets.git", "ssh://git@[2001:db8::1]:2222/acme/widgets.git"),
        ("http://127.0.0.1:8080/acme/widgets.git", "http://127.0.0.1:8080/acme/widgets.git"),
        ("git@127.0.0.1:acme/widgets.git", "git@127.0.0.1:acme/widgets.git"),
    ],
)
def test_parse_target__network_urls_have_one_canonical_spelling(spelling: str, canonical: str) -> None:
    target = fetch.parse_target(spelling)

    assert target.url == canonical
    assert fetch.parse_target(target.url) == target, "parsing the stored URL again gives the same target"
    assert target.full_name in {"acme/widgets", "widgets"}


@pytest.mark.parametrize(
    "address",
    [
        f"git:{TOKEN}@github.com:acme/widgets.git",
        f"deploy:{TOKEN}@git.example.com:widgets",
        f"u:{TOKEN}@h:a/b",
        f"u:{TOKEN}/slash@h:a/b",
        f"u:{TOKEN}@at@h:a/b",
    ],
)
def test_parse_target__scp_like_address_with_a_password_is_rejected_without_repeating_it(address: str) -> None:
    with pytest.raises(fetch.InvalidTarget, match="carries credentials") as caught:
        fetch.parse_target(address)

    assert TOKEN not in str(caught.value)
    assert not caught.value.retryable


def test_scrub__masks_an_scp_like_password_but_keeps_plain_scp_addresses() -> None:
    message = f"cannot reach git:{TOKEN}@github.com:acme/w.git (tried 'deploy:{TOKEN}@h:x'); git@github.com:acme/w"

    assert fetch.scrub(message) == (
        "cannot reach git:***@github.com:acme/w.git (tried 'deploy:***@h:x'); git@github.com:acme/w"
    )


def test_parse_target__symlink_loop_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")

    for spelling in (str(tmp_path / "a"), (tmp_path / "a").as_uri()):
        with pytest.raises(fetch.NotARepository, match="symlink loop") as caught:
            fetch.parse_target(spelling)
        assert not caught.value.retryable


def test_parse_target__sha256_repository_is_named_as_unsupported(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(tmp_path / "modern")], check=True)

    with pytest.raises(fetch.NotARepository, match="SHA-256 object format, which is not supported"):
        fetch.parse_target(str(tmp_path / "modern"))


def test_parse_target__directory_that_is_not_a_repository_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(fetch.NotARepository, match=re.escape(str(tmp_path))) as caught:
        fetch.parse_target(str(tmp_path))

    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("", "empty"),
        ("ftp://example.com/acme/widgets.git", "unsupported scheme"),
        ("https://", "no host"),
        ("https://github.com", "no repository path"),
        ("https://github.com/acme/widgets?ref=main", "query"),
        ("just some words", "is not a URL"),
        ("./no/such/dir", "does not exist"),
    ],
)
def test_parse_target__malformed_targets_are_rejected_with_the_input_named(target: str, complaint: str) -> None:
    with pytest.raises((fetch.InvalidTarget, fetch.NotARepository), match=complaint) as caught:
        fetch.parse_target(target)

    assert not caught.value.retryable
    assert target.strip() in str(caught.value)


def test_scrub__masks_url_passwords_and_the_token_wherever_they_appear() -> None:
    message = f"GET https://x-access-token:{TOKEN}@github.com/acme/w.git failed; token={TOKEN}; ssh://git@host/r"

    assert fetch.scrub(message, TOKEN) == (
        "GET https://x-access-token:***@github.com/acme/w.git failed; token=***; ssh://git@host/r"
    )


# ------------------------------------------------------------------------------------------------------ workdirs


def test_job_workdir__is_created_for_the_job_and_removed_after_success(tmp_path: Path) -> None:
    with fetch.job_workdir(tmp_path, "job-1") as workdir:
        assert workdir == tmp_path / "pipeline-job-1"
        (workdir / "scratch").write_bytes(b"x")

    assert not workdir.exists()


def test_job_workdir__is_removed_when_the_job_fails(tmp_path: Path, source: SourceRepo) -> None:
    def index_missing_branch() -> None:
        with fetch.job_workdir(tmp_path, "job-2") as workdir:
            repo = clone(str(source.work_tree), workdir)
            fetch.resolve_commit(repo, ref="no-such-branch")

    with pytest.raises(fetch.UnknownRevision):
        index_missing_branch()

    assert list(tmp_path.iterdir()) == []


def _replace_by_a_file(workdir: Path) -> None:
    """Leave what ``shutil.rmtree`` cannot remove as a tree (it raises ``NotADirectoryError``)."""
    shutil.rmtree(workdir)
    workdir.write_bytes(b"")


def test_job_workdir__a_failed_removal_never_replaces_the_job_s_own_error(tmp_path: Path) -> None:
    def job() -> None:
        with fetch.job_workdir(tmp_path, "j") as workdir:
            _replace_by_a_file(workdir)
            raise fetch.UnknownRevision("the job's own error")

    with pytest.raises(fetch.UnknownRevision, match="the job's own error"):
        job()


def test_job_workdir__a_failed_removal_after_success_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with fetch.job_workdir(tmp_path, "j") as workdir:
        _replace_by_a_file(workdir)

    assert [record.message for record in caplog.records] == ["a job directory could not be removed"]
    assert caplog.records[0].workdir == str(workdir)


def test_job_workdir__replaces_the_leftover_of_an_earlier_attempt(tmp_path: Path) -> None:
    leftover = tmp_path / "pipeline-job-3"
    leftover.mkdir()
    (leftover / fetch.WORKDIR_MARKER).write_bytes(b"")
    (leftover / "stale").write_bytes(b"old")

    with fetch.job_workdir(tmp_path, "job-3") as workdir:
        assert [path.name for path in workdir.iterdir()] == [fetch.WORKDIR_MARKER]


def test_job_workdir__foreign_directory_of_the_same_name_is_left_alone(tmp_path: Path) -> None:
    foreign = tmp_path / "pipeline-job-4"
    foreign.mkdir()
    (foreign / "PG_VERSION").write_bytes(b"16\n")

    with (
        pytest.raises(fetch.WorkdirUnavailable, match="not created by this system"),
        fetch.job_workdir(tmp_path, "job-4"),
    ):
        pass

    assert (foreign / "PG_VERSION").read_bytes() == b"16\n"


@pytest.mark.parametrize("kind", ["a file", "below a file"])
def test_job_workdir__unusable_temp_root_names_it(tmp_path: Path, kind: str) -> None:
    (tmp_path / "occupied").write_bytes(b"")
    root = tmp_path / "occupied" if kind == "a file" else tmp_path / "occupied" / "deeper"

    with pytest.raises(fetch.WorkdirUnavailable, match=re.escape(str(root))) as caught, fetch.job_workdir(root, "j"):
        pass

    assert caught.value.retryable


@pytest.mark.parametrize("job_id", ["../escape", "a/b", "", ".hidden"])
def test_job_workdir__job_ids_that_could_escape_the_root_are_refused(tmp_path: Path, job_id: str) -> None:
    with pytest.raises(ValueError, match="job id"), fetch.job_workdir(tmp_path, job_id):
        pass


def test_cleanup_stale_workdirs__removes_the_workdir_of_a_killed_worker(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from stages.fetch import job_workdir\n"
        "with job_workdir(Path(sys.argv[1]), 'crashed') as workdir:\n"
        "    (workdir / 'repo.git').mkdir()\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline() == b"ready\n"
        assert fetch.cleanup_stale_workdirs(tmp_path) == [], "a live worker's directory must be kept"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        assert worker.stdout is not None
        worker.stdout.close()

    assert (tmp_path / "pipeline-crashed" / "repo.git").is_dir()
    assert fetch.cleanup_stale_workdirs(tmp_path) == [tmp_path / "pipeline-crashed"]
    assert list(tmp_path.iterdir()) == []


def test_cleanup_stale_workdirs__removes_only_marked_dirs_of_dead_jobs(tmp_path: Path) -> None:
    for name in ("pipeline-active", "pipeline-stale", "pipeline-pg-1234", "pipeline-pgsock-ab", "unrelated"):
        (tmp_path / name).mkdir()
    for name in ("pipeline-active", "pipeline-stale"):
        (tmp_path / name / fetch.WORKDIR_MARKER).write_bytes(b"")
    (tmp_path / "pipeline-pg-1234" / "PG_VERSION").write_bytes(b"16\n")
    (tmp_path / "pipeline-stray-file").write_bytes(b"")
    outside = tmp_path / "unrelated" / "keep-me"
    outside.write_bytes(b"")
    (tmp_path / "unrelated" / fetch.WORKDIR_MARKER).write_bytes(b"")
    (tmp_path / "pipeline-symlink").symlink_to(tmp_path / "unrelated")

    with fetch.job_workdir(tmp_path, "live") as live:
        removed = fetch.cleanup_stale_workdirs(tmp_path, active_job_ids=["active"])
        assert live.is_dir()

    assert removed == [tmp_path / "pipeline-stale"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "pipeline-active",
        "pipeline-pg-1234",
        "pipeline-pgsock-ab",
        "pipeline-stray-file",
        "pipeline-symlink",
        "unrelated",
    ]
    assert (tmp_path / "pipeline-pg-1234" / "PG_VERSION").exists()
    assert outside.exists()


def test_cleanup_stale_workdirs__missing_root_removes_nothing(tmp_path: Path) -> None:
    assert fetch.cleanup_stale_workdirs(tmp_path / "absent") == []


# ------------------------------------------------------------------------------------------------------ local clones


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (None, "main"),
        ("HEAD", "main"),
        ("main", "main"),
        ("refs/heads/feature", "feature"),
        ("feature", "feature"),
        ("v1", "first"),
        ("v2", "main"),
        ("heads/main", "main"),
    ],
)
def test_resolve_commit__branches_and_tags_of_a_local_clone(
    tmp_path: Path, source: SourceRepo, ref: str | None, expected: str
) -> None:
    repo = clone(str(source.work_tree), tmp_path, ref=ref)

    assert fetch.resolve_commit(repo, ref=ref) == getattr(source, expected)
    assert fetch.default_branch(repo) == "main"


def test_resolve_commit__full_and_abbreviated_sha_and_annotated_tag_object(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.bare), tmp_path)

    assert fetch.resolve_commit(repo, commit_sha=source.first) == source.first
    assert fetch.resolve_commit(repo, commit_sha=source.feature[:10].upper()) == source.feature
    assert fetch.resolve_commit(repo, commit_sha=source.annotated_tag) == source.main


@pytest.mark.parametrize(
    "request_",
    [{"ref": "no-such-branch"}, {"ref": "bad ref name"}, {"commit_sha": "f" * 40}, {"commit_sha": "not-hex"}],
)
def test_resolve_commit__unknown_ref_or_sha_is_not_retryable(
    tmp_path: Path, source: SourceRepo, request_: dict[str, str]
) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    with pytest.raises(fetch.UnknownRevision) as caught:
        fetch.resolve_commit(repo, **request_)

    assert not caught.value.retryable
    assert next(iter(request_.values())) in str(caught.value)


def test_resolve_commit__tree_sha_is_not_a_commit(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.bare), tmp_path)
    tree = str(repo[source.main].peel(pygit2.Tree).id)

    with pytest.raises(fetch.UnknownRevision, match=tree):
        fetch.resolve_commit(repo, commit_sha=tree)


def test_clone_bare__local_clone_links_objects_and_outlives_its_source(tmp_path: Path) -> None:
    source = build_source(tmp_path / "packed.git", bare=True)
    subprocess.run(["git", "-C", str(source.bare), "gc", "--quiet"], check=True)
    packs = list((source.bare / "objects" / "pack").glob("*.pack"))
    assert packs, "git gc should have packed the objects"

    repo = clone(str(source.bare), tmp_path / "work")

    assert os.stat(packs[0]).st_nlink == 2, "the pack is hard-linked, not re-packed"
    assert {ref for ref in repo.references if ref != "HEAD"} == {
        "refs/heads/main",
        "refs/heads/feature",
        "refs/tags/v1",
        "refs/tags/v2",
    }
    shutil.rmtree(source.bare)
    listing = fetch.list_files(repo, fetch.resolve_commit(repo, ref="v2"), max_file_bytes=MAX_FILE_BYTES)
    assert set(read_all(repo, listing)) == {"src/index.ts", "src/util.js", "src/view.tsx"}


def test_clone_bare__file_url_lists_the_same_files_as_the_path(tmp_path: Path, source: SourceRepo) -> None:
    by_path = clone(str(source.bare), tmp_path / "path")
    by_url = clone(source.bare.as_uri(), tmp_path / "url")

    listings = [fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES) for repo in (by_path, by_url)]

    assert listings[0] == listings[1]
    assert read_all(by_path, listings[0]) == read_all(by_url, listings[1])


def test_clone_bare__local_unknown_ref_fails_before_cloning(tmp_path: Path, source: SourceRepo) -> None:
    with pytest.raises(fetch.UnknownRevision, match="no-such-branch") as caught:
        clone(str(source.work_tree), tmp_path, ref="no-such-branch")

    assert not caught.value.retryable


def test_clone_bare__empty_repository_is_not_retryable(tmp_path: Path) -> None:
    empty = pygit2.init_repository(str(tmp_path / "empty.git"), bare=True)

    with pytest.raises(fetch.EmptyRepository, match="no commits") as caught:
        clone(str(tmp_path / "empty.git"), tmp_path / "work")
    with pytest.raises(fetch.EmptyRepository) as from_resolve:
        fetch.resolve_commit(empty)

    assert not caught.value.retryable
    assert empty.path.rstrip("/") not in str(from_resolve.value), "no internal path in a user's error"


def test_clone_bare__source_deleted_after_parsing_is_not_a_repository(tmp_path: Path, source: SourceRepo) -> None:
    copy = pygit2.clone_repository(str(source.bare), str(tmp_path / "copy.git"), bare=True)
    target = fetch.parse_target(copy.path)
    for path in sorted(Path(copy.path).rglob("*"), reverse=True):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()

    with pytest.raises(fetch.NotARepository) as caught:
        fetch.clone_bare(target, tmp_path / "work")

    assert not caught.value.retryable


# ------------------------------------------------------------------------------------------------------ listing


def test_list_files__counts_every_skip_reason_and_keeps_source_files(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    listing = fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES)

    assert [item.path for item in listing.items] == [
        "src/generated.js",
        "src/index.ts",
        "src/logo.ts",
        "src/util.js",
        "src/view.tsx",
    ]
    assert listing.skipped == {
        "vendored": 4,
        "generated": 0,
        "invalid_path": 0,
        "unsafe_path": 0,
        "corrupt_object": 0,
        "minified": 1,
        "too_large": 1,
        "binary": 0,
        "symlink": 1,
        "submodule": 1,
        "unsupported_language": 2,
    }
    assert listing.files_seen == len(MAIN_FILES)
    assert listing.commit_sha == source.main
    assert listing.bytes_selected == sum(item.size for item in listing.items)


def test_list_files__items_carry_language_blob_id_and_size(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    items = {item.path: item for item in fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES).items}

    index = MAIN_FILES["src/index.ts"]
    assert isinstance(index, bytes)
    assert items["src/index.ts"] == fetch.FileItem(
        path="src/index.ts", oid=str(pygit2.hash(index)), language="typescript", size=len(index)
    )
    assert items["src/view.tsx"].language == "tsx"
    assert items["src/util.js"].language == "javascript"


def test_list_files__file_at_exactly_the_size_limit_is_kept(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)
    huge = MAIN_FILES["src/huge.ts"]
    assert isinstance(huge, bytes)

    listing = fetch.list_files(repo, source.main, max_file_bytes=len(huge))

    assert "src/huge.ts" in {item.path for item in listing.items}
    assert listing.skipped["too_large"] == 0


def test_list_files__language_function_decides_what_is_supported(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    def ruby_only(path: str) -> str | None:
        return "ruby" if path.endswith(".rb") else None

    listing = fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES, language_for_path=ruby_only)

    assert [(item.path, item.language) for item in listing.items] == [("scripts/tool.rb", "ruby")]
    assert listing.skipped["unsupported_language"] == 8


def test_list_files__vendored_dirs_can_be_narrowed(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    vendoring = fetch.Vendoring(anywhere=frozenset({"node_modules"}), at_package_root=frozenset())
    listing = fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES, vendoring=vendoring)

    assert {"dist/bundle.js", "web/.next/server/page.js"} <= {item.path for item in listing.items}
    assert listing.skipped["vendored"] == 2


def test_list_files__unknown_commit_is_not_retryable(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)

    with pytest.raises(fetch.UnknownRevision) as caught:
        fetch.list_files(repo, "e" * 40, max_file_bytes=MAX_FILE_BYTES)

    assert not caught.value.retryable


def test_read_files__yields_blob_bytes_and_counts_binary_and_minified_content(
    tmp_path: Path, source: SourceRepo
) -> None:
    repo = clone(str(source.work_tree), tmp_path)
    listing = fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES)

    contents = read_all(repo, listing)

    assert contents == {path: MAIN_FILES[path] for path in ("src/index.ts", "src/util.js", "src/view.tsx")}
    assert listing.skipped["binary"] == 1
    assert listing.skipped["minified"] == 2


def test_read_files__missing_blob_names_the_file(tmp_path: Path, source: SourceRepo) -> None:
    repo = clone(str(source.work_tree), tmp_path)
    ghost = fetch.FileItem(path="src/ghost.ts", oid="d" * 40, language="typescript", size=1)

    with pytest.raises(fetch.MissingObject, match=re.escape("src/ghost.ts")):
        list(fetch.read_files(repo, [ghost]))


def test_file_item__round_trips_through_msgpack() -> None:
    item = fetch.FileItem(path="src/ünïcode.ts", oid="a" * 40, language="typescript", size=12)

    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(item), type=fetch.FileItem)

    assert decoded == item


# ------------------------------------------------------------------------------------------------------ git daemon


def test_clone_bare__git_daemon_default_branch_is_a_shallow_fetch(
    tmp_path: Path, git_daemon: str, source: SourceRepo
) -> None:
    repo = clone(f"{git_daemon}/source.git", tmp_path)

    assert fetch.resolve_commit(repo) == source.main
    assert repo.is_shallow
    assert source.first not in repo, "the parent commit must not have been transferred"
    assert fetch.default_branch(repo) == "main"
    assert "refs/heads/feature" not in repo.references


def test_clone_bare__git_daemon_depth_zero_fetches_history(tmp_path: Path, git_daemon: str, source: SourceRepo) -> None:
    repo = clone(f"{git_daemon}/source.git", tmp_path, depth=0, ref="feature")

    assert not repo.is_shallow
    assert fetch.resolve_commit(repo, ref="feature") == source.feature
    assert source.first in repo


@pytest.mark.parametrize(("ref", "expected"), [("v2", "main"), ("v1", "first"), ("feature", "feature")])
def test_clone_bare__git_daemon_fetches_just_the_requested_ref(
    tmp_path: Path, git_daemon: str, source: SourceRepo, ref: str, expected: str
) -> None:
    repo = clone(f"{git_daemon}/source.git", tmp_path, ref=ref)

    assert repo.is_shallow
    assert fetch.resolve_commit(repo, ref=ref) == getattr(source, expected)


def test_clone_bare__git_daemon_commit_below_a_tip_is_fetched_by_id(
    tmp_path: Path, git_daemon: str, source: SourceRepo
) -> None:
    repo = clone(f"{git_daemon}/source.git", tmp_path, commit_sha=source.middle)

    assert repo.is_shallow
    assert fetch.resolve_commit(repo, commit_sha=source.middle) == source.middle
    assert source.main not in repo
    assert source.first not in repo


def test_clone_bare__server_refusing_wants_by_id_falls_back_to_full_history(
    tmp_path: Path, git_daemon: str, source: SourceRepo
) -> None:
    repo = clone(f"{git_daemon}/strict.git", tmp_path, commit_sha=source.middle)

    assert not repo.is_shallow
    assert fetch.resolve_commit(repo, commit_sha=source.middle) == source.middle


def test_clone_bare__git_daemon_unknown_sha_is_not_retryable(tmp_path: Path, git_daemon: str) -> None:
    repo = clone(f"{git_daemon}/strict.git", tmp_path, commit_sha="c" * 40)

    with pytest.raises(fetch.UnknownRevision) as caught:
        fetch.resolve_commit(repo, commit_sha="c" * 40)

    assert not caught.value.retryable


def test_clone_bare__git_daemon_unknown_ref_fails_before_fetching(tmp_path: Path, git_daemon: str) -> None:
    with pytest.raises(fetch.UnknownRevision, match="release-9") as caught:
        clone(f"{git_daemon}/source.git", tmp_path, ref="release-9")

    assert not caught.value.retryable


def test_clone_bare__git_daemon_empty_repository_is_not_retryable(tmp_path: Path, git_daemon: str) -> None:
    with pytest.raises(fetch.EmptyRepository) as caught:
        clone(f"{git_daemon}/empty.git", tmp_path)

    assert not caught.value.retryable


def test_clone_bare__git_daemon_missing_repository_is_not_retryable(tmp_path: Path, git_daemon: str) -> None:
    with pytest.raises(fetch.NotARepository, match=re.escape("nope.git")) as caught:
        clone(f"{git_daemon}/nope.git", tmp_path)

    assert not caught.value.retryable


_CHILD_OUT_OF_MEMORY = """
from stages.fetch import isolated

def clone_bare(*args: object, **kwargs: object) -> None:
    raise MemoryError

isolated.clone_bare = clone_bare  # a MemoryError outside any libgit2 call, where no translation catches it
isolated.child_main()
"""


def test_clone_isolated__a_child_out_of_memory_anywhere_answers_limit_exceeded(tmp_path: Path) -> None:
    request = isolated.CloneRequest(
        target=fetch.parse_target("git://127.0.0.1:1/x.git"),
        workdir=str(tmp_path),
        token=None,
        token_hosts=[],
        ref=None,
        commit_sha=None,
        depth=None,
        max_refs=None,
        connect_timeout=1.0,
        io_timeout=1.0,
        deadline=10.0,
        memory_bytes=None,
    )

    child = subprocess.run(
        [sys.executable, "-c", _CHILD_OUT_OF_MEMORY],
        input=msgspec.msgpack.encode(request),
        capture_output=True,
        check=True,
        timeout=60,
    )

    outcome = msgspec.msgpack.decode(child.stdout, type=isolated.CloneOutcome)
    assert (outcome.error, outcome.message) == (
        "LimitExceeded",
        "git://127.0.0.1:1/x.git sent more than the fetch may hold in memory",
    )


def test_clone_bare__closed_port_is_a_retryable_transport_error(tmp_path: Path) -> None:
    url = f"git://127.0.0.1:{free_port()}/source.git"

    with pytest.raises(fetch.TransportError, match=re.escape("127.0.0.1")) as caught:
        clone(url, tmp_path, token=TOKEN)

    assert caught.value.retryable
    assert_token_free(caught.value)


# ------------------------------------------------------------------------------------------------------ http


def test_clone_bare__https_with_token_matches_the_local_clone_and_writes_no_token(
    tmp_path: Path, https_server: GitHttpServer, source: SourceRepo
) -> None:
    repo = clone(
        f"{https_server.url}/source.git", tmp_path / "https", token=TOKEN, token_hosts=[https_server.host_port]
    )
    local = clone(str(source.work_tree), tmp_path / "local")
    sha = fetch.resolve_commit(repo)

    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)

    assert repo.is_shallow
    assert sha == source.main
    assert listing == fetch.list_files(local, sha, max_file_bytes=MAX_FILE_BYTES)
    assert read_all(repo, listing)["src/index.ts"] == MAIN_FILES["src/index.ts"]
    assert TOKEN.encode() not in bytes_of_every_file(tmp_path / "https")
    assert TOKEN not in repr(repo)
    assert "[remote" not in (Path(repo.path) / "config").read_text()
    assert https_server.seen.saw_token(TOKEN)


def test_clone_bare__rejected_token_is_not_retryable_and_token_free(
    tmp_path: Path, https_server: GitHttpServer
) -> None:
    wrong = TOKEN[::-1]

    with pytest.raises(fetch.AuthenticationFailed, match="rejected") as caught:
        clone(f"{https_server.url}/source.git", tmp_path, token=wrong, token_hosts=[https_server.host_port])

    assert not caught.value.retryable
    assert wrong not in "".join(traceback.format_exception(caught.value))
    assert_token_free(caught.value)


def test_clone_bare__http_without_token_is_an_authentication_failure(
    tmp_path: Path, http_server: GitHttpServer
) -> None:
    with pytest.raises(fetch.AuthenticationFailed, match="no access token") as caught:
        clone(f"{http_server.url}/source.git", tmp_path)

    assert not caught.value.retryable


def test_clone_bare__token_never_goes_over_plain_http_even_to_a_token_host(
    tmp_path: Path, http_server: GitHttpServer
) -> None:
    with pytest.raises(fetch.AuthenticationFailed, match="only sent over https") as caught:
        clone(f"{http_server.url}/source.git", tmp_path, token=TOKEN, token_hosts=[http_server.host_port])

    assert not caught.value.retryable
    assert_token_free(caught.value)
    assert http_server.seen.requests, "the server was asked"
    assert not http_server.seen.authorizations()


def test_clone_bare__https_host_that_is_not_a_token_host_never_sees_the_token(
    tmp_path: Path, https_server: GitHttpServer
) -> None:
    with pytest.raises(fetch.AuthenticationFailed, match=re.escape("git.example.com")) as caught:
        clone(f"{https_server.url}/source.git", tmp_path, token=TOKEN, token_hosts=["git.example.com"])

    assert_token_free(caught.value)
    assert https_server.seen.requests
    assert not https_server.seen.authorizations()


@pytest.mark.parametrize("redirect_host", ["127.0.0.2", "127.0.0.1"], ids=["other-host", "other-port"])
@pytest.mark.parametrize("first_demands_token", [True, False], ids=["after-auth", "before-auth"])
@pytest.mark.parametrize("both_token_hosts", [False, True], ids=["to-a-stranger", "to-another-token-host"])
def test_clone_bare__redirect_from_a_token_host_elsewhere_never_carries_the_token(
    tmp_path: Path,
    served_root: Path,
    tls_files: tuple[Path, Path],
    *,
    redirect_host: str,
    first_demands_token: bool,
    both_token_hosts: bool,
) -> None:
    elsewhere = GitHttpServer(served_root, TOKEN, tls=tls_context(*tls_files), host=redirect_host)
    allowed = GitHttpServer(
        served_root,
        TOKEN if first_demands_token else None,
        tls=tls_context(*tls_files),
        redirect_to=lambda: elsewhere.url,
    )
    token_hosts = [allowed.host_port, elsewhere.host_port] if both_token_hosts else [allowed.host_port]
    try:
        with pytest.raises(fetch.AuthenticationFailed, match=re.escape(elsewhere.host_port)) as caught:
            clone(f"{allowed.url}/source.git", tmp_path, token=TOKEN, token_hosts=token_hosts)
    finally:
        allowed.close()
        elsewhere.close()

    assert_token_free(caught.value)
    assert elsewhere.seen.requests, "the redirect was followed"
    assert not elsewhere.seen.authorizations()
    assert allowed.seen.saw_token(TOKEN) == first_demands_token


def test_clone_bare__https_untrusted_certificate_is_not_retryable_and_token_free(
    tmp_path: Path, https_server_with_untrusted_certificate: str
) -> None:
    url = f"{https_server_with_untrusted_certificate}/source.git"

    with pytest.raises(
        fetch.CertificateError, match=r"TLS certificate of https://127\.0\.0\.1:\d+/source\.git"
    ) as caught:
        clone(url, tmp_path, token=TOKEN, token_hosts=[url.split("/")[2]])

    assert not caught.value.retryable
    assert_token_free(caught.value)


def test_clone_bare__https_missing_repository_is_not_retryable(tmp_path: Path, https_server: GitHttpServer) -> None:
    with pytest.raises(fetch.NotARepository, match="404") as caught:
        clone(f"{https_server.url}/nope.git", tmp_path, token=TOKEN, token_hosts=[https_server.host_port])

    assert not caught.value.retryable
    assert_token_free(caught.value)


def test_clone_bare__https_commit_below_a_tip_is_fetched_shallow(
    tmp_path: Path, https_server: GitHttpServer, source: SourceRepo
) -> None:
    repo = clone(
        f"{https_server.url}/source.git",
        tmp_path,
        token=TOKEN,
        token_hosts=[https_server.host_port],
        commit_sha=source.middle,
    )

    assert repo.is_shallow
    assert fetch.resolve_commit(repo, commit_sha=source.middle) == source.middle
    listing = fetch.list_files(repo, source.middle, max_file_bytes=MAX_FILE_BYTES)
    assert [item.path for item in listing.items] == ["src/index.ts", "src/middle.ts"]


def test_clone_bare__source_with_detached_head_gives_a_detached_head(tmp_path: Path, source: SourceRepo) -> None:
    detached = pygit2.clone_repository(str(source.bare), str(tmp_path / "detached.git"), bare=True)
    detached.set_head(pygit2.Oid(hex=source.first))

    repo = clone(detached.path, tmp_path / "work")

    assert fetch.resolve_commit(repo) == source.first
    assert fetch.default_branch(repo) is None


@pytest.fixture
def short_network_timeouts() -> Iterator[None]:
    previous = fetch.set_network_timeouts(connect_seconds=0.5, io_seconds=0.5)
    try:
        yield
    finally:
        fetch.set_network_timeouts(connect_seconds=previous[0], io_seconds=previous[1])


@pytest.mark.usefixtures("short_network_timeouts")
@pytest.mark.parametrize("scheme", ["http", "git"])
def test_clone_bare__silent_server_times_out_as_a_retryable_error(tmp_path: Path, scheme: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"{scheme}://127.0.0.1:{silent.getsockname()[1]}/source.git"

        with pytest.raises(fetch.TransportError, match="timed out") as caught:
            clone(url, tmp_path, token=TOKEN)

    assert caught.value.retryable
    assert_token_free(caught.value)


def test_job_workdir__a_concurrent_cleanup_never_removes_a_live_workdir(tmp_path: Path) -> None:
    done = threading.Event()
    sweeps = 0

    def sweep() -> None:
        nonlocal sweeps
        while not done.is_set():
            fetch.cleanup_stale_workdirs(tmp_path)
            sweeps += 1

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    try:
        for attempt in range(200):
            with fetch.job_workdir(tmp_path, "contended") as workdir:
                (workdir / "payload").write_text(str(attempt))
                time.sleep(0.0005)
                assert (workdir / "payload").read_text() == str(attempt)
    finally:
        done.set()
        sweeper.join(timeout=10)

    assert sweeps > 0
    assert list(tmp_path.iterdir()) == []


def test_clone_bare__local_clone_of_a_shallow_repository_is_shallow(
    tmp_path: Path, git_daemon: str, source: SourceRepo
) -> None:
    shallow = clone(f"{git_daemon}/source.git", tmp_path / "shallow")
    assert shallow.is_shallow

    repo = clone(shallow.path, tmp_path / "work")

    assert repo.is_shallow
    assert fetch.resolve_commit(repo) == source.main
    listing = fetch.list_files(repo, source.main, max_file_bytes=MAX_FILE_BYTES)
    assert len(read_all(repo, listing)) == 3
