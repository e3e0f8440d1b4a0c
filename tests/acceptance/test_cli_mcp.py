"""``python -m pipeline mcp`` as an assistant's host runs it: a real process on stdio, driven by the SDK's client."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.acceptance.conftest import cli_environment
from tests.conftest import ROOT

Result = TypeVar("Result")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment, its config letting tools index repositories on this machine."""
    environment = cli_environment(database_url, tmp_path, parsers=1, shutdown_timeout=10)
    with Path(environment["PIPELINE_CONFIG"]).open("a") as config:
        config.write("[api]\nallow_local_targets = true\n")
    return environment


def over_stdio(env: dict[str, str], use: Callable[[Client], Awaitable[Result]]) -> Result:
    """Run ``use`` with the SDK's client talking to a fresh ``python -m pipeline mcp`` process."""
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "pipeline", "mcp", "--config", env["PIPELINE_CONFIG"]], env=env, cwd=ROOT
    )

    async def session() -> Result:
        async with Client(server, read_timeout_seconds=60) as client:
            return await use(client)

    return anyio.run(session)


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def test_mcp__an_assistant_indexes_a_repository_follows_its_job_and_queries_the_index(
    env: dict[str, str], repo_path: Path
) -> None:
    async def enqueue(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        assert {"index_repository", "get_index_job_status"} <= {tool.name for tool in tools.tools}
        enqueued: dict[str, Any] = structured(
            await client.call_tool("index_repository", {"repository": str(repo_path)})
        )
        status = structured(await client.call_tool("get_index_job_status", {"job_id": enqueued["job_id"]}))
        assert status["status"] == "pending"
        return enqueued

    enqueued = over_stdio(env, enqueue)
    assert enqueued["created"] is True
    worker = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--until-idle", "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr

    async def follow_then_query(client: Client) -> list[Any]:
        job = structured(await client.call_tool("get_index_job_status", {"job_id": enqueued["job_id"]}))
        assert job["status"] == "completed", job
        repository = job["repository_id"]
        return [
            structured(await client.call_tool(tool, {"repository": repository, **arguments}))
            for tool, arguments in (
                ("search_symbols", {"q": "helper", "match": "exact"}),
                ("file_outline", {"path": "src/util.ts"}),
                ("search_code", {"q": "helper(1)"}),
                ("search_dependencies", {"q": "react"}),
            )
        ]

    symbols, outline, lines, packages = over_stdio(env, follow_then_query)
    assert [(item["name"], item["path"]) for item in symbols["items"]] == [("helper", "src/util.ts")]
    assert [node["symbol"]["name"] for node in outline["symbols"]] == ["helper", "Greeter", "Id", "Color"]
    assert [(item["path"], item["line"]) for item in lines["items"]] == [("src/view.tsx", 3)]
    assert [(item["name"], item["versions"]) for item in packages["items"]] == [("react", ["^18.2.0"])]


def test_mcp__stdout_carries_only_the_protocol_and_closing_stdin_ends_the_server_with_0(env: dict[str, str]) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "mcp", "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = server.communicate(msgspec.json.encode(initialize) + b"\n", timeout=60)
    finally:
        server.kill()  # a no-op once it exited
    assert server.returncode == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    answer = msgspec.json.decode(lines[0])
    assert (answer["id"], answer["result"]["serverInfo"]["name"]) == (1, "repo-indexer")
    assert b"serving MCP on stdio" in stderr  # the log goes to stderr, never onto the protocol's stream


def test_mcp__an_unreachable_database_ends_the_command_at_start_with_one_line_saying_so(env: dict[str, str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = {**env, "PIPELINE_DATABASE_URL": f"postgresql://indexer:hunter2@127.0.0.1:{port}/index"}
    server = subprocess.run(
        [sys.executable, "-m", "pipeline", "mcp", "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=unreachable,
        input=b"",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert server.returncode == 1, server.stderr
    assert server.stdout == b""  # nothing a client could take for the protocol
    last = server.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("error: cannot connect"), last
    assert "hunter2" not in server.stderr.decode()
