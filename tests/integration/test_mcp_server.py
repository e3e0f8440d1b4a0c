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

from pipeline import mcp_server
from pipeline.api import schemas
from pipeline.api.app import create_app
from pipeline.config import Config
from pipeline.index_jobs import IndexJobStatus
from tests.integration.indexed import MAIN_TS, SOURCES, position
from tests.integration.pipeline import harness
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

Conn = psycopg.Connection[TupleRow]
Result = TypeVar("Result")
TOKEN = "mcp-test-token"
ALL_TOOLS = {
    "index_repository",
    "get_index_job_status",
    "list_repositories",
    "search_symbols",
    "get_definition",
    "find_usages",
    "file_outline",
    "get_file_imports",
    "get_file_importers",
    "search_code",
    "search_dependencies",
    "analyze_change_impact",
}


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


def test_tools__an_unreachable_database_is_a_tool_error_saying_why_without_the_password(config: Config) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    database = msgspec.structs.replace(
        config.database, url=f"postgresql://indexer:hunter2-secret@127.0.0.1:{port}/index", connect_timeout=2
    )
    with served(msgspec.structs.replace(config, database=database)) as base:
        for tool, arguments in (
            ("get_index_job_status", {"job_id": "00000000-0000-4000-8000-000000000000"}),
            ("search_symbols", {"repository": "acme/app", "q": "x"}),
        ):
            text = failure(call(base, tool, arguments))
            assert "cannot connect" in text, text
            assert "hunter2" not in text


def test_tools__an_unexpected_exception_is_logged_and_reported_without_its_text(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: mcp_server.ToolContext, __: Conn, ___: mcp_server.ToolArguments) -> msgspec.Struct:
        raise RuntimeError("driver said: password=hunter2")

    tool = mcp_server.ToolSpec(
        name="broken",
        title="Broken",
        description="Fails.",
        arguments=mcp_server.ToolArguments,
        result=schemas.Enqueued,
        run=broken,
    )
    context = mcp_server.tool_context(config)
    context.database.open()
    try:

        async def use() -> CallToolResult:
            async with Client(mcp_server.build_server(context, (tool,)), read_timeout_seconds=30) as client:
                return await client.call_tool("broken", {})

        result = anyio.run(use)
    finally:
        context.database.close()
        context.queue.close()
    assert failure(result) == "internal error in broken (logged on the server)"
    logged = [record for record in caplog.records if record.name == "pipeline.mcp_server"]
    assert [(record.getMessage(), record.exc_info is not None) for record in logged] == [("MCP tool failed", True)]


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


def test_http__a_body_over_64_kib_is_refused_before_it_is_parsed(url: str, conn: Conn) -> None:
    arguments = {"repository": "octo/demo", "ref": "x" * 70_000}
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "index_repository", "arguments": arguments},
    }
    refused = httpx.post(f"{url}/mcp", json=request, headers={"Accept": "application/json, text/event-stream"})
    assert refused.status_code == 413, refused.text
    assert index_jobs_count(conn) == 0


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


# ----- the index tools: the REST API's answer to the same request -----


@pytest.fixture
def indexed_url(config: Config, conn: Conn, tmp_path: Path) -> Iterator[str]:
    """The app serving a repository indexed through the index_repository tool by a real worker, renamed
    ``acme/app`` (a local clone is named after its folder)."""
    path = tmp_path / "app"
    commit_files(new_repository(path), dict(SOURCES), "first")
    index = msgspec.structs.replace(config.index, parsers=1, jobs=1, tmp_dir=str(tmp_path / "work"))
    pipeline_config = msgspec.structs.replace(config, index=index)
    with served(pipeline_config, allow_local_targets=True) as base:
        enqueued = structured(call(base, "index_repository", {"repository": str(path)}))
        harness.run_until_idle(pipeline_config)
        job = harness.job(conn, enqueued["job_id"])
        assert job.status is IndexJobStatus.COMPLETED, job.error_message
        conn.execute("UPDATE repositories SET full_name = 'acme/app' WHERE id = %s", [job.repository_id])
        yield base


# The REST route of each index tool; ``{repo}`` and ``{path}`` are filled from the arguments, the others are the
# query parameters.
ROUTES = {
    "list_repositories": "/repositories",
    "search_symbols": "/repositories/{repo}/symbols",
    "get_definition": "/repositories/{repo}/definition",
    "find_usages": "/repositories/{repo}/references",
    "file_outline": "/repositories/{repo}/files/{path}/outline",
    "get_file_imports": "/repositories/{repo}/files/{path}/imports",
    "get_file_importers": "/repositories/{repo}/files/{path}/importers",
    "search_code": "/repositories/{repo}/search",
    "search_dependencies": "/repositories/{repo}/packages",
    "analyze_change_impact": "/repositories/{repo}/impact",
}


def rest(url: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    """The REST request asking what ``tool`` is asked with ``arguments`` (lists as repeated parameters, booleans
    as true/false)."""
    route = ROUTES[tool]
    params = {
        name: value
        for name, value in arguments.items()
        if name != "repository" and not (name == "path" and "{path}" in route)
    }
    path = route.format(repo=arguments.get("repository"), path=arguments.get("path"))
    return httpx.get(f"{url}{path}", params=params)


def test_index_tools__answer_what_the_rest_api_answers_to_the_same_request(indexed_url: str) -> None:
    url = indexed_url
    helper = structured(call(url, "search_symbols", {"repository": "acme/app", "q": "helper", "match": "exact"}))
    assert [(item["name"], item["path"]) for item in helper["items"]] == [("helper", "src/util.ts")]
    helper_id = helper["items"][0]["id"]
    line, column = position(MAIN_TS, "helper(2)")
    cases: list[tuple[str, dict[str, Any]]] = [
        ("list_repositories", {}),
        ("list_repositories", {"limit": 1}),
        ("search_symbols", {"q": "help"}),
        ("search_symbols", {"q": "Clint", "match": "fuzzy"}),
        ("search_symbols", {"q": "h", "kind": "function", "exported": True, "path": "src", "limit": 1}),
        ("get_definition", {"path": "src/main.ts", "line": line, "column": column}),
        ("find_usages", {"symbol": helper_id}),
        ("find_usages", {"path": "src/main.ts", "line": line, "column": column, "limit": 1}),
        ("file_outline", {"path": "src/client.ts"}),
        ("get_file_imports", {"path": "src/main.ts"}),
        ("get_file_importers", {"path": "src/util.ts"}),
        ("search_code", {"q": "helper("}),
        ("search_code", {"q": "^export function \\w+", "regex": True, "case": True, "path": "src/*.ts", "limit": 2}),
        ("search_dependencies", {}),
        ("search_dependencies", {"q": "REACT"}),
        ("analyze_change_impact", {"path": ["src/util.ts"], "symbol": [helper_id], "depth": 2}),
    ]
    for tool, arguments in cases:
        named = arguments if tool == "list_repositories" else {"repository": "acme/app", **arguments}
        expected = rest(url, tool, named)
        assert expected.status_code == 200, (tool, expected.text)
        assert structured(call(url, tool, named)) == expected.json(), tool
        lists = [value for value in expected.json().values() if isinstance(value, list)]
        assert not lists or any(lists), (tool, "an empty answer compares nothing")

    usages = structured(call(url, "find_usages", {"repository": "acme/app", "symbol": helper_id}))
    assert {(item["path"], (item["enclosing"] or {}).get("name")) for item in usages["items"]} == {
        ("src/main.ts", "main"),
        ("src/util.ts", "helperTwice"),
    }
    impact = structured(call(url, "analyze_change_impact", {"repository": "acme/app", "path": ["src/util.ts"]}))
    assert {(file["path"], file["depth"]) for file in impact["files"]} >= {("src/util.ts", 0), ("src/main.ts", 1)}


def test_index_tools__what_the_rest_api_refuses_is_a_tool_error_with_its_detail(indexed_url: str) -> None:
    url = indexed_url
    structured(call(url, "index_repository", {"repository": "octo/pending"}))  # enqueued, never indexed
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("search_symbols", {"repository": "octo/missing", "q": "x"}, 404),
        ("search_symbols", {"repository": "octo/pending", "q": "x"}, 409),
        ("file_outline", {"path": "src\\util.ts"}, 400),
        ("get_definition", {"path": "../etc/passwd", "line": 1, "column": 0}, 400),
        ("file_outline", {"path": "src/missing.ts"}, 404),
        ("get_definition", {"path": "src/main.ts", "line": 999, "column": 0}, 422),
        ("get_definition", {"path": "src/main.ts", "line": 5, "column": 0}, 404),
        ("find_usages", {"symbol": "999:1"}, 404),
        ("find_usages", {"symbol": "1:1", "path": "src/main.ts", "line": 1, "column": 9}, 400),
        ("find_usages", {"path": "src/main.ts", "line": 1}, 400),
        ("analyze_change_impact", {}, 400),
        ("search_code", {"q": "(", "regex": True}, 400),
        ("search_code", {"q": ""}, 400),
        ("search_symbols", {"q": "x", "cursor": "not-a-cursor"}, 400),
    ]
    for tool, arguments, status in cases:
        named = {"repository": "acme/app", **arguments}
        expected = rest(url, tool, named)
        assert expected.status_code == status, (tool, arguments, expected.text)
        assert failure(call(url, tool, named)) == expected.json()["detail"], (tool, arguments)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search_symbols", {"q": "x", "limit": 0}, "Expected `int` >= 1 - at `$.limit`"),
        ("search_symbols", {"q": "x", "limit": 201}, "Expected `int` <= 200 - at `$.limit`"),
        ("search_symbols", {"q": "x" * 201}, "Expected `str` of length <= 200 - at `$.q`"),
        ("search_symbols", {"q": "x", "match": "regex"}, "Invalid enum value 'regex' - at `$.match`"),
        ("get_definition", {"path": "src/main.ts", "line": 0, "column": 0}, "Expected `int` >= 1 - at `$.line`"),
        ("get_definition", {"path": "src/main.ts", "line": 1}, "Object missing required field `column`"),
        ("find_usages", {"symbol": "helper"}, "Expected `str` matching regex"),
        ("search_code", {"q": "x", "limit": 501}, "Expected `int` <= 500 - at `$.limit`"),
        ("analyze_change_impact", {"path": ["a.ts"] * 201}, "Expected `array` of length <= 200 - at `$.path`"),
        ("analyze_change_impact", {"path": ["a.ts"], "depth": 11}, "Expected `int` <= 10 - at `$.depth`"),
        ("file_outline", {"path": "a.ts", "recursive": True}, "Object contains unknown field `recursive`"),
        ("file_outline", {"path": "a.ts"}, "Object missing required field `repository`"),
    ],
)
def test_index_tools__out_of_bounds_arguments_are_refused_naming_them(
    url: str, tool: str, arguments: dict[str, Any], message: str
) -> None:
    if "repository" not in message:
        arguments = {"repository": "acme/app", **arguments}
    text = failure(call(url, tool, arguments))
    assert text.startswith("invalid arguments: "), text
    assert message in text
