"""The MCP tools over streamable HTTP: the real app served by uvicorn, the SDK's own client, the test's database;
each tool's result compared with the REST API's answer to the same request on the same server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import msgspec
import psycopg
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult
from psycopg.rows import TupleRow

from pipeline.api.app import create_app
from pipeline.config import Config
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

Conn = psycopg.Connection[TupleRow]
Result = TypeVar("Result")
TOKEN = "mcp-test-token"
ALL_TOOLS = {"index_repository", "get_index_job_status"}


@contextmanager
def served(config: Config, **api: object) -> Iterator[str]:
    """The app for ``config`` with ``api`` settings replaced, served by uvicorn on a free port; yields its URL."""
    app = create_app(msgspec.structs.replace(config, api=msgspec.structs.replace(config.api, **api)), environ={})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def with_client(url: str, use: Callable[[Client], Awaitable[Result]], *, token: str | None = None) -> Result:
    """Run ``use`` with an SDK client connected to ``url``'s ``/mcp`` (sending ``token`` as a bearer token)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def session() -> Result:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), read_timeout_seconds=30) as client,
        ):
            return await use(client)

    return anyio.run(session)


def call(url: str, tool: str, arguments: dict[str, Any], *, token: str | None = None) -> CallToolResult:
    async def use(client: Client) -> CallToolResult:
        return await client.call_tool(tool, arguments)

    return with_client(url, use, token=token)


def structured(result: CallToolResult) -> Any:
    """The result of a call that succeeded, checked to be the same JSON in its text block."""
    assert not result.is_error, result.content
    assert len(result.content) == 1
    assert result.content[0].type == "text"
    assert msgspec.json.decode(result.content[0].text) == result.structured_content
    return result.structured_content


def failure(result: CallToolResult) -> str:
    """The message of a call that failed as a tool error."""
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    assert result.content[0].type == "text"
    return result.content[0].text


def index_jobs_count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM index_jobs").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def url(config: Config) -> Iterator[str]:
    with served(config) as base:
        yield base


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    path = tmp_path / "mcp-repo"
    commit_files(new_repository(path), SOURCES_V1, "first")
    return path


# ----- the tool list -----


def test_tools__each_has_a_description_and_object_schemas_for_its_arguments_and_result(url: str) -> None:
    async def use(client: Client) -> Any:
        return await client.list_tools()

    tools = with_client(url, use).tools
    assert {tool.name for tool in tools} == ALL_TOOLS
    for tool in tools:
        assert len(tool.description or "") > 80, tool.name
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert (tool.output_schema or {}).get("type") == "object", tool.name
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (tool.name != "index_repository"), tool.name


# ----- index_repository and get_index_job_status -----


def test_index_repository__enqueues_as_post_index_does_and_the_job_status_is_get_jobs_body(
    url: str, conn: Conn
) -> None:
    first = structured(call(url, "index_repository", {"repository": "octo/demo", "ref": "main", "priority": 3}))
    assert first["status"] == "pending"
    assert first["created"] is True
    again = structured(call(url, "index_repository", {"repository": "octo/demo", "ref": "main", "priority": 3}))
    assert again == {**first, "created": False}
    rest = httpx.post(f"{url}/index", json={"repository": "octo/demo", "ref": "main", "priority": 3})
    assert rest.status_code == 200, rest.text
    assert rest.json() == again
    assert index_jobs_count(conn) == 1

    status = structured(call(url, "get_index_job_status", {"job_id": first["job_id"]}))
    assert status == httpx.get(f"{url}/jobs/{first['job_id']}").json()
    assert (status["repository"], status["git_url"], status["ref"]) == (
        "octo/demo",
        "https://github.com/octo/demo",
        "main",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Object missing required field `repository`"),
        ({"repository": ""}, "Expected `str` of length >= 1 - at `$.repository`"),
        ({"repository": "octo/demo", "priority": "high"}, "Expected `int`, got `str` - at `$.priority`"),
        ({"repository": "octo/demo", "commit_sha": "xyz"}, "at `$.commit_sha`"),
        ({"repository": "octo/demo", "ref": "main", "commit_sha": "abcdef1"}, "give `ref` or `commit_sha`, not both"),
        ({"repository": "octo/demo", "branch": "main"}, "Object contains unknown field `branch`"),
    ],
)
def test_index_repository__malformed_arguments_are_a_tool_error_naming_them_and_enqueue_nothing(
    url: str, conn: Conn, arguments: dict[str, Any], message: str
) -> None:
    text = failure(call(url, "index_repository", arguments))
    assert text.startswith("invalid arguments: "), text
    assert message in text
    assert index_jobs_count(conn) == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"repository": "octo/demo", "ref": "bad..ref"}, "ref"),
        ({"repository": "ftp://example.com/repo"}, "repository"),
    ],
)
def test_index_repository__what_post_index_answers_422_is_a_tool_error_with_its_detail(
    url: str, conn: Conn, arguments: dict[str, Any], field: str
) -> None:
    rest = httpx.post(f"{url}/index", json=arguments)
    assert rest.status_code == 422, rest.text
    assert failure(call(url, "index_repository", arguments)) == rest.json()["detail"]
    assert rest.json()["detail"].startswith(f"{field}: ")
    assert index_jobs_count(conn) == 0


def test_index_repository__local_targets_follow_api_allow_local_targets(
    config: Config, conn: Conn, repo_path: Path
) -> None:
    with served(config, allow_local_targets=False) as base:
        text = failure(call(base, "index_repository", {"repository": str(repo_path)}))
        assert text.startswith("repository: ")
        assert "is on this machine (a path or file:// URL)" in text
        assert index_jobs_count(conn) == 0
    with served(config, allow_local_targets=True) as base:
        enqueued = structured(call(base, "index_repository", {"repository": str(repo_path)}))
        assert enqueued["created"] is True
        job = structured(call(base, "get_index_job_status", {"job_id": enqueued["job_id"]}))
        assert job["git_url"] == str(repo_path)


def test_get_index_job_status__an_unknown_or_malformed_id_is_a_tool_error(url: str) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert httpx.get(f"{url}/jobs/{unknown}").status_code == 404
    assert failure(call(url, "get_index_job_status", {"job_id": unknown})) == f"no index job {unknown}"
    assert "Invalid UUID - at `$.job_id`" in failure(call(url, "get_index_job_status", {"job_id": "job-1"}))


def test_tools__an_unreachable_database_is_a_tool_error_saying_why(config: Config) -> None:
    database = msgspec.structs.replace(config.database, url=config.database.url.replace("/test_", "/missing_"))
    with served(msgspec.structs.replace(config, database=database)) as base:
        text = failure(call(base, "get_index_job_status", {"job_id": "00000000-0000-4000-8000-000000000000"}))
    assert "cannot connect" in text or "does not exist" in text, text


def test_tools__an_unknown_tool_is_a_protocol_error_listing_the_tools(url: str) -> None:
    with pytest.RaisesGroup(
        pytest.RaisesExc(MCPError, match="unknown tool 'drop_index'; the tools are "), flatten_subgroups=True
    ):
        call(url, "drop_index", {})


# ----- the HTTP endpoint's guards -----


def test_http__with_a_token_configured_every_request_needs_it_even_with_reads_open(config: Config, conn: Conn) -> None:
    with served(config, token=TOKEN, protect_reads=False) as base:
        for token in (None, "wrong-token"):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            refused = httpx.post(f"{base}/mcp", json={}, headers=headers)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in refused.text
            with pytest.RaisesGroup(MCPError, flatten_subgroups=True):  # the client cannot even connect
                call(base, "index_repository", {"repository": "octo/demo"}, token=token)
        assert index_jobs_count(conn) == 0
        enqueued = structured(call(base, "index_repository", {"repository": "octo/demo"}, token=TOKEN))
        assert enqueued["created"] is True


def test_http__another_host_name_or_a_cross_origin_page_is_refused(url: str, conn: Conn) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    rebound = httpx.post(f"{url}/mcp", json=request, headers={"Host": "evil.example:8000"})
    assert rebound.status_code == 400, rebound.text
    assert rebound.json()["detail"].startswith("Host: ")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        for method in ("GET", "POST", "DELETE"):
            refused = httpx.request(method, f"{url}/mcp", json=request, headers=headers)
            assert refused.status_code == 403, (method, headers, refused.text)
    assert index_jobs_count(conn) == 0
