"""``serve --workers N`` as an operator runs it: the real CLI, its real worker processes, real connections.

Which worker answered a connection is read from ``/proc``: the worker holding the server side of that TCP
connection among its file descriptors.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import psycopg
import pytest

from pipeline.migrate import advisory_lock_key
from tests.acceptance.conftest import cli_environment
from tests.acceptance.test_cli_lifecycle import MARKER, cli_env, finish, process_tree, start
from tests.conftest import SCHEMA
from tests.integration.pipeline.harness import alive, children_running, has_sigterm, wait_until_gone

__all__ = ["cli_env"]  # the fixture, shared with the lifecycle tests

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0
MAX_CONNECTIONS = 200  # new connections tried until each worker has answered one
# Another session of this test's database waiting for the migration lock (an advisory lock on one bigint key).
WAITING_FOR_THE_LOCK = """
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted AND pid <> pg_backend_pid()
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((classid::bigint << 32) | objid::bigint) = %s
"""
MCP_ACCEPT = "application/json, text/event-stream"
TOOLS_LIST = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
SECRET_VARIABLES = ("PIPELINE_API_TOKEN", "PIPELINE_WEBHOOK_SECRET", "PIPELINE_GIT_TOKEN")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_workers(server_pid: int, count: int, port: int) -> list[int]:
    """The worker processes of ``server_pid`` once ``count`` of them run and the port answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        workers = alive(children_running(server_pid, b"spawn_main"))
        if len(workers) == count:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                if answers(connection, "GET", "/health", {}) == 200:
                    return workers
            except OSError:
                pass
            finally:
                connection.close()
        assert time.monotonic() < deadline, f"{len(workers)} of {count} workers up, or the port does not answer"
        time.sleep(0.1)


def accepting_process(pids: list[int], server_port: int, client_port: int) -> int:
    """Which of ``pids`` holds the server side of the loopback TCP connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    assert inode is not None, f"no connection from port {client_port} to port {server_port}"
    for pid in pids:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if descriptor.readlink().name == f"socket:[{inode}]":
                    return pid
            except OSError:  # closed while listed
                continue
    raise AssertionError(f"none of {pids} holds the connection from port {client_port}")


def answers(
    connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str], body: bytes = b"{}"
) -> int:
    connection.request(method, path, body=body if method == "POST" else None, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


@contextmanager
def serving(env: dict[str, str], workers: int) -> Iterator[tuple[subprocess.Popen[str], int, list[int]]]:
    """``serve --workers N`` on a free port, once it answers: the command, the port and the worker pids (none with
    one worker: the command serves). Killed at the end if the test has not stopped it."""
    port = free_port()
    server = start(env, "serve", "--workers", str(workers), "--port", str(port))
    try:
        yield server, port, wait_for_workers(server.pid, 0 if workers == 1 else workers, port)
    finally:
        if server.poll() is None:
            server.kill()


@contextmanager
def connected(port: int) -> Iterator[tuple[http.client.HTTPConnection, int]]:
    """A new HTTP connection to the server and its local (client) port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.connect()
        assert connection.sock is not None
        yield connection, connection.sock.getsockname()[1]
    finally:
        connection.close()


def stopped(server: subprocess.Popen[str], env: dict[str, str]) -> tuple[int, str]:
    """SIGTERM, then the exit code and stderr, once no process of the server is left."""
    server.send_signal(signal.SIGTERM)
    code, _, stderr = finish(server)
    assert wait_until_gone(process_tree(env)) == [], "a process of the server outlived it"
    return code, stderr


def test_serve__workers_share_the_port_and_each_has_the_secrets_outside_its_environment(
    cli_env: dict[str, str],
) -> None:
    secrets = {name: f"secret-{uuid.uuid4().hex}" for name in SECRET_VARIABLES}
    json = {"Content-Type": "application/json"}
    authorized = {**json, "Authorization": f"Bearer {secrets[SECRET_VARIABLES[0]]}"}
    env = {**cli_env, **secrets}
    with serving(env, 2) as (server, port, workers):
        answered: dict[int, list[int]] = {}
        for _ in range(MAX_CONNECTIONS):
            with connected(port) as (connection, client_port):
                answered[accepting_process(workers, port, client_port)] = [
                    answers(connection, "GET", "/repositories", {}),  # the worker's own pool reaches the database
                    answers(connection, "POST", "/index", json),  # the API token reached the worker: 401 without it
                    answers(connection, "POST", "/index", authorized),  # 400: the body is checked once the token is
                    answers(connection, "POST", "/webhooks/github", json),  # a secret is set: unsigned is 401, not 404
                    answers(connection, "POST", "/mcp", {**authorized, "Accept": MCP_ACCEPT}, TOOLS_LIST),  # its own
                ]
            if len(answered) == len(workers):
                break
        assert sorted(answered) == sorted(workers), "every worker answers connections"
        assert all(statuses == [200, 401, 400, 401, 200] for statuses in answered.values()), answered

        tree = [pid for pid in process_tree(cli_env) if pid != server.pid]
        assert set(workers) <= set(tree)
        for pid in tree:
            exposed = Path(f"/proc/{pid}/environ").read_bytes() + Path(f"/proc/{pid}/cmdline").read_bytes()
            assert not [name for name, value in secrets.items() if value.encode() in exposed], f"pid {pid}"

        code, stderr = stopped(server, cli_env)
    assert code == 0, stderr[-3000:]


def test_serve__a_worker_that_dies_stops_the_others_and_fails_the_command(cli_env: dict[str, str]) -> None:
    with serving(cli_env, 2) as (server, _, (killed, other)):
        os.kill(killed, signal.SIGKILL)
        code, _, stderr = finish(server)
    assert code == 1, stderr[-3000:]
    assert f"(pid {killed}) exited on its own with status -9; stopped the others" in stderr
    assert wait_until_gone([other]) == []
    assert wait_until_gone(process_tree(cli_env)) == [], "a process of the server outlived it"


def test_serve__one_worker_serves_in_the_command_itself_and_stops_with_exit_0(cli_env: dict[str, str]) -> None:
    with serving(cli_env, 1) as (server, port, workers):
        assert workers == []
        with connected(port) as (connection, client_port):
            assert accepting_process([server.pid], port, client_port) == server.pid
            assert answers(connection, "GET", "/repositories", {}) == 200
        code, stderr = stopped(server, cli_env)
    assert code == 0, stderr[-3000:]


@pytest.mark.parametrize("workers", [1, 2])
def test_serve__a_signal_while_the_server_starts_stops_it_with_exit_0_and_only_log_lines(
    cli_env: dict[str, str], workers: int
) -> None:
    """SIGTERM while the app is still being built, before uvicorn has its own signal handlers: as soon as the
    command says it is serving (one worker), or once each worker process has its handler installed (two). The
    stop is as graceful as later: exit 0, every process gone, and nothing on stderr but JSON log lines (no
    traceback, no unawaited coroutine)."""
    server = start(cli_env, "serve", "--workers", str(workers), "--port", str(free_port()))
    try:
        assert server.stderr is not None
        early = []
        while not (line := server.stderr.readline()) or "serving the API" not in line:
            assert line, f"the command ended before serving: {''.join(early)[-3000:]}"
            early.append(line)
        early.append(line)
        deadline = time.monotonic() + START_TIMEOUT
        while workers > 1 and not (
            len(spawned := alive(children_running(server.pid, b"spawn_main"))) == workers
            and all(has_sigterm(pid, "SigCgt") for pid in spawned)
        ):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.005)
        code, stderr = stopped(server, cli_env)
    finally:
        if server.poll() is None:
            server.kill()
    assert code == 0, stderr[-3000:]
    lines = [*early, *stderr.splitlines()]
    assert [line for line in lines if not line.startswith("{")] == [], stderr[-3000:]


def test_serve__a_signal_while_it_waits_for_the_migration_lock_stops_it_at_once_with_exit_0(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Another process holds the migration lock (a migration in progress): SIGTERM while the command waits for it
    stops the command at once, exit 0, saying so; nothing was migrated."""
    env = {**cli_environment(empty_database_url, tmp_path, parsers=1, shutdown_timeout=1.0), MARKER: uuid.uuid4().hex}
    with psycopg.connect(empty_database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(SCHEMA)])
        server = start(env, "serve", "--workers", "1", "--port", str(free_port()))
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not holder.execute(WAITING_FOR_THE_LOCK, [advisory_lock_key(SCHEMA)]).fetchone():
                assert server.poll() is None, server.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the command never waited for the lock"
                time.sleep(0.05)
            code, stderr = stopped(server, env)
        finally:
            if server.poll() is None:
                server.kill()
        holder.rollback()
    assert code == 0, stderr[-3000:]
    messages = [orjson.loads(line)["msg"] for line in stderr.splitlines()]  # every line is JSON
    assert "stopped by a signal before serving" in messages
    assert "serving the API" not in messages
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", [f"{SCHEMA}.schema_migrations"]).fetchone() == (None,)
