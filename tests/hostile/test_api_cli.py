"""Hostile and broken input to the HTTP API, the CLI and its config files.

Each case asserts a clear error (status code or exit code, and a message naming the problem), that the server
still answers or the CLI exited on its own with one line on stderr and no traceback, and that nothing was enqueued.
The API cases share one app on one database, and the CLI cases run side by side, so the file takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pipeline.api.app import MAX_BODY_BYTES, create_app
from pipeline.config import MAX_CONFIG_BYTES, load_config
from pipeline.errors import ConfigError
from pipeline.index_requests import MAX_TARGET_LENGTH
from tests.conftest import ROOT, SCHEMA, DatabaseFactory, server_reachable_tmpdir

Client = TestClient[Litestar]
NOBODY = 65534


@pytest.fixture(scope="module")
def database_url(test_databases: DatabaseFactory) -> Iterator[str]:
    """One migrated database for the whole file: no case may enqueue anything into it."""
    name = test_databases.create()
    try:
        yield test_databases.url(name)
    finally:
        test_databases.drop(name)


def index_jobs(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {SCHEMA}.index_jobs").fetchone()
    assert row is not None
    return int(row[0])


# ----------------------------------------------------------------------------------------------------- the HTTP API


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[Client]:
    base = load_config(ROOT / "configs" / "test.toml", environ={})
    config = msgspec.structs.replace(base, database=msgspec.structs.replace(base.database, url=database_url))
    with TestClient(create_app(config, environ={})) as test_client:
        yield test_client


def nested(depth: int) -> bytes:
    return b'{"repository": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass(frozen=True)
class Post:
    """A hostile ``POST /index``: the raw body and headers, and the status and words the answer must have."""

    body: bytes
    status: int
    words: str
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def as_json(value: Any) -> bytes:
    return json.dumps(value).encode()


POSTS = {
    "text/plain body (a cross-site simple request)": Post(
        as_json({"repository": "octo/demo"}), 415, "must be application/json", {"Content-Type": "text/plain"}
    ),
    "form-encoded body": Post(
        b"repository=octo%2Fdemo",
        415,
        "must be application/json",
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "body without a content type": Post(as_json({"repository": "octo/demo"}), 415, "got none", {}),
    "body larger than the limit": Post(
        as_json({"repository": "octo/demo", "ref": "x" * MAX_BODY_BYTES}), 413, "Request Entity Too Large"
    ),
    "JSON nested 30,000 deep": Post(nested(30_000), 400, "nested too deeply"),
    "JSON nested 100 deep": Post(nested(100), 400, "repository: Expected `str`, got `array`"),
    "JSON array instead of an object": Post(b"[]", 400, "Expected `object`, got `array`"),
    "JSON null": Post(b"null", 400, "Expected `object`, got `null`"),
    "truncated JSON": Post(b'{"repository": "octo/de', 400, "truncated"),
    "invalid UTF-8 in the body": Post(b'{"repository": "octo/\xff\xfe"}', 400, "Invalid UTF-8"),
    "unknown field": Post(
        as_json({"repository": "octo/demo", "callback": "http://x"}), 400, "unknown field `callback`"
    ),
    "priority below the range": Post(as_json({"repository": "octo/demo", "priority": -(10**9)}), 400, "priority"),
    "priority beyond 64 bits": Post(as_json({"repository": "octo/demo", "priority": 2**70}), 400, "priority"),
    "NUL in the repository": Post(as_json({"repository": "octo/de\u0000mo"}), 400, "repository"),
    "control character in the ref": Post(as_json({"repository": "octo/demo", "ref": "ma\u001bin"}), 422, "ref: "),
    "control character in the repository": Post(as_json({"repository": "octo/\u0007demo"}), 422, "repository: "),
    "URL carrying a password": Post(
        as_json({"repository": "https://bob:hunter2@example.test/o/r.git"}), 422, "carries credentials"
    ),
    "both a ref and a commit sha": Post(
        as_json({"repository": "octo/demo", "ref": "main", "commit_sha": "abcdef1"}), 400, "not both"
    ),
    "fullwidth letters posing as owner/name": Post(
        as_json({"repository": "\uff4f\uff43\uff54\uff4f/demo"}), 422, "repository: "
    ),
    "right-to-left override in the name": Post(as_json({"repository": "octo/\u202eomed"}), 422, "repository: "),
    "repository longer than the shared limit": Post(
        as_json({"repository": "a" * (MAX_TARGET_LENGTH + 1)}), 400, "repository"
    ),
    "cross-origin JSON request": Post(
        as_json({"repository": "octo/demo"}),
        403,
        "is not this server",
        {"Content-Type": "application/json", "Origin": "https://evil.example"},
    ),
    "cross-site fetch metadata": Post(
        as_json({"repository": "octo/demo"}),
        403,
        "Sec-Fetch-Site",
        {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
    ),
}


@pytest.mark.parametrize("case", list(POSTS), ids=list(POSTS))
def test_post_index__hostile_input_is_refused_clearly_and_enqueues_nothing(
    client: Client, database_url: str, case: str
) -> None:
    post = POSTS[case]
    response = client.post("/index", content=post.body, headers=post.headers)
    assert response.status_code == post.status, response.text[:500]
    answer = response.json()
    assert answer["status_code"] == post.status
    assert post.words in answer["detail"], answer["detail"][:500]
    assert "hunter2" not in response.text
    assert client.get("/health").status_code == 200, "the server still answers"
    assert index_jobs(database_url) == 0


HOSTS: dict[str, list[tuple[str, str]] | None] = {  # the Host headers a request carries; None: no Host header at all
    "DNS rebinding: another site's name on our port": [("Host", "evil.example:8000")],
    "another site's name without a port": [("Host", "evil.example")],
    "a name ending in an allowed one": [("Host", "evil-localhost")],
    "an allowed name as a subdomain of another site": [("Host", "localhost.evil.example")],
    "another site's name with a trailing dot": [("Host", "evil.example.")],
    "two trailing dots": [("Host", "localhost..")],
    "port beyond 65535": [("Host", "localhost:99999")],
    "negative port": [("Host", "localhost:-1")],
    "port that is not a number": [("Host", "localhost:http")],
    "two ports": [("Host", "localhost:8000:8000")],
    "user info before the name": [("Host", "evil.example@localhost")],
    "a path after the name": [("Host", "localhost/evil")],
    "unclosed IPv6 bracket": [("Host", "[::1")],
    "not an IPv6 address in brackets": [("Host", "[zz::1]:8000")],
    "non-ASCII name": [("Host", "l\u043ecalhost")],
    "empty Host": [("Host", "")],
    "missing Host": None,
    "Host given twice": [("Host", "localhost"), ("Host", "evil.example")],
}


def asgi_request(app: Litestar, method: str, path: str, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    """One request handed to the app as its server would, with exactly ``headers``: the test client always adds one
    Host header of its own, and a server on the network may pass none (HTTP/1.0) or two."""
    body = as_json({"repository": "octo/demo"}) if method == "POST" else b""
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    if body:
        raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.0",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = next(message["status"] for message in sent if message["type"] == "http.response.start")
    content = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return status, json.loads(content)


@pytest.mark.parametrize("case", list(HOSTS), ids=list(HOSTS))
def test_any_request__a_host_this_server_does_not_answer_to_is_400_and_enqueues_nothing(
    client: Client, database_url: str, case: str
) -> None:
    for method, path in (("POST", "/index"), ("GET", "/jobs"), ("GET", "/")):
        status, answer = asgi_request(client.app, method, path, HOSTS[case] or [])
        assert status == 400, (path, answer)
        assert answer["status_code"] == 400
        # Litestar's router refuses a few malformed ones itself, in the same error shape, before our check
        assert answer["detail"].startswith("Host: the header ") or answer["detail"] == "Invalid host header"
    assert client.get("/health", headers={"Host": "LOCALHOST.:8000"}).status_code == 200, "the server still answers"
    assert index_jobs(database_url) == 0


# ------------------------------------------------------------------------------------------------------------ the CLI


@dataclass(frozen=True)
class Run:
    """A hostile command line: its arguments, extra environment, and the exit code and words its error must have."""

    args: tuple[str, ...]
    exit_code: int
    words: str
    env: dict[str, str] = field(default_factory=dict)
    as_json: bool = False


def write_files(folder: Path) -> dict[str, Path]:
    """The hostile config files (and a binary one); the folder is traversable so the FIFO can be found."""
    files = {
        "binary": folder / "binary.toml",
        "not-toml": folder / "not.toml",
        "unknown-key": folder / "unknown.toml",
        "wrong-type": folder / "wrong.toml",
        "huge": folder / "huge.toml",
        "fifo": folder / "fifo.toml",
        "directory": folder / "configs.d",
        "bad-allowed-host": folder / "hosts.toml",
        "link-one-file": folder / "link.toml",
    }
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    files["not-toml"].write_text("{ this is json, not toml }\n")
    files["unknown-key"].write_text("[queue]\nretry_limit = 3\nretry_limt = 5\n")
    files["wrong-type"].write_text("[api]\nport = 'eighty'\n")
    files["bad-allowed-host"].write_text("[api]\nallowed_hosts = ['https://indexer.example:8000/']\n")
    files["link-one-file"].write_text("[index]\nlink_files = 1\n")
    files["huge"].write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    os.mkfifo(files["fifo"])
    files["directory"].mkdir()
    return files


def runs(files: dict[str, Path], busy_port: int) -> dict[str, Run]:
    bad_url = {"PIPELINE_DATABASE_URL": "postgresql://[::1"}
    return {
        "malformed database URL": Run(("db", "status"), 2, "PIPELINE_DATABASE_URL: malformed URL", bad_url),
        "9,000-character target": Run(("enqueue", "a" * 9000), 1, f"at most {MAX_TARGET_LENGTH}"),
        "negative status --limit": Run(("status", "--limit", "-1"), 2, "--limit: must be at least 1, got -1"),
        "negative dlq --limit": Run(("dlq", "list", "--limit", "-5"), 2, "--limit: must be at least 1, got -5"),
        "non-numeric --priority": Run(("enqueue", "octo/demo", "--priority", "high"), 2, "--priority: invalid int"),
        "a ref and a commit": Run(("enqueue", "octo/demo", "--ref", "main", "--commit", "abcdef1"), 2, "not allowed"),
        "a target that is no repository, with --json": Run(
            ("enqueue", "/no/such/repository", "--json"), 1, "does not exist", as_json=True
        ),
        "a target with a newline": Run(("enqueue", "octo/\ndemo"), 1, "is not a URL"),
        "status of an unknown job": Run(
            ("status", "00000000-0000-0000-0000-000000000000"), 1, "no index job 00000000-0000-0000-0000-000000000000"
        ),
        "serve on a port in use": Run(
            ("serve", "--port", str(busy_port)), 1, f"cannot listen on 127.0.0.1:{busy_port}: Address already in use"
        ),
        "two different --config files": Run(
            ("--config", str(files["wrong-type"]), "status", "--config", str(files["not-toml"])),
            2,
            "--config given twice with different files",
        ),
        "config: binary file": Run(("status", "--config", str(files["binary"])), 2, "cannot read config file"),
        "config: not TOML": Run(("status", "--config", str(files["not-toml"])), 2, "not valid TOML"),
        "config: unknown key": Run(("status", "--config", str(files["unknown-key"])), 2, "unknown key `retry_limt`"),
        "config: wrong type": Run(("status", "--config", str(files["wrong-type"])), 2, "api.port: Expected `int`"),
        "config: huge": Run(("status", "--config", str(files["huge"])), 2, f"larger than {MAX_CONFIG_BYTES} bytes"),
        "config: a FIFO": Run(("status", "--config", str(files["fifo"])), 2, "is not a regular file"),
        "config: an allowed host that is a URL": Run(
            ("status", "--config", str(files["bad-allowed-host"])),
            2,
            "api.allowed_hosts: 'https://indexer.example:8000/' is not a host name or IP address",
        ),
        "config: a cross-file step of one file at a time": Run(
            ("status", "--config", str(files["link-one-file"])), 2, "index.link_files: Expected `int` >= 2"
        ),
        "db check of an unknown repository": Run(
            ("db", "check", "--repository", "nobody/nothing"), 2, "no repository with id, full name or git URL"
        ),
        "config: a directory": Run(("status", "--config", str(files["directory"])), 2, "is a directory"),
        "config: a directory, with --json": Run(
            ("--json", "status", "--config", str(files["directory"])), 2, "is a directory", as_json=True
        ),
    }


@dataclass(frozen=True)
class Outcome:
    run: Run
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def outcomes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every hostile command line, started side by side and each awaited with a bound."""
    folder = tmp_path_factory.mktemp("hostile-cli")
    files = write_files(folder)
    base = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    env = {**base, "PIPELINE_DATABASE_URL": database_url}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases = runs(files, busy.getsockname()[1])
        started = {
            name: subprocess.Popen(
                [sys.executable, "-m", "pipeline", *run.args],
                cwd=ROOT,
                env={**env, **run.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, run in cases.items()
        }
        results = {}
        for name, process in started.items():
            try:
                stdout, stderr = process.communicate(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
            results[name] = Outcome(cases[name], process.returncode, stdout, stderr)
    return results


def case_names() -> list[str]:
    """The names of ``runs``, known before any file exists (the paths only end up in the arguments)."""
    names = ("binary", "not-toml", "unknown-key", "wrong-type", "huge", "fifo", "bad-allowed-host", "link-one-file")
    placeholders = {name: Path(name) for name in names}
    return list(runs({**placeholders, "directory": Path("directory")}, 0))


@pytest.mark.parametrize("case", case_names())
def test_cli__hostile_input_is_one_clear_line_on_stderr_with_a_documented_exit_code(
    outcomes: dict[str, Outcome], database_url: str, case: str
) -> None:
    outcome = outcomes[case]
    assert outcome.returncode == outcome.run.exit_code, outcome.stderr[-2000:]
    assert outcome.stderr.count("\n") == 1, outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stderr
    if outcome.run.as_json:
        error = json.loads(outcome.stderr)
        assert error["exit_code"] == outcome.run.exit_code
        message = error["error"]
    else:
        assert outcome.stderr.startswith("error: ")
        message = outcome.stderr
    assert outcome.run.words in message, message
    assert outcome.stdout == ""
    assert index_jobs(database_url) == 0


@pytest.fixture
def unreadable_configs() -> Iterator[dict[str, Path]]:
    """A config file nobody but root may read, and one in a directory nobody but root may enter."""
    folder = server_reachable_tmpdir("pipeline-hostile-config-")
    unreadable = folder / "secret.toml"
    unreadable.write_text("[log]\nlevel = 'debug'\n")
    unreadable.chmod(0)
    closed = folder / "closed"
    closed.mkdir()
    (closed / "inside.toml").write_text("[log]\nlevel = 'debug'\n")
    closed.chmod(0)
    try:
        yield {"an unreadable file": unreadable, "a file in a directory that cannot be entered": closed / "inside.toml"}
    finally:
        closed.chmod(0o700)
        shutil.rmtree(folder)


@contextmanager
def without_root() -> Iterator[None]:
    """Root reads every file, so when this is root the block runs with the effective uid of ``nobody`` (the saved
    uid stays root, which gets it back)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.parametrize("case", ["an unreadable file", "a file in a directory that cannot be entered"])
def test_config__a_file_this_user_cannot_read_is_a_config_error_naming_it(
    unreadable_configs: dict[str, Path], case: str
) -> None:
    path = unreadable_configs[case]
    with without_root(), pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value).startswith(f"{path}: cannot read config file: ")
    assert "Permission denied" in str(raised.value)
