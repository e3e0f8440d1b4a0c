"""The index endpoints on a real database with really indexed repositories, and the one error body of the app."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import TupleRow

from pipeline.config import Config
from tests.integration.api.conftest import TOKEN, client_for
from tests.integration.indexed import MAIN_TS, UTIL_TS, add_repository, index_repository, position

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]


def assert_error_body(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The one error shape: status_code, detail, and an ``extra`` object naming the field (or null)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["extra"], dict), body
    assert body["extra"]["field"] == field, body
    return body


# ----- one error body -----


def test_errors__every_error_status_of_the_app_has_one_body_shape(client: Client) -> None:
    assert_error_body(client.get("/no/such/route"), 404)
    assert_error_body(client.post("/jobs"), 405)
    assert_error_body(client.get("/jobs?limit=0"), 400, "limit")
    assert_error_body(client.get("/jobs?cursor=xyz"), 400, "cursor")
    assert_error_body(client.get(f"/jobs/{uuid.uuid4()}"), 404)
    assert_error_body(client.get(f"/repositories/{uuid.uuid4()}"), 404, "repository")
    assert_error_body(client.post("/index", json={"repository": "octo/demo", "ref": "bad..ref"}), 422, "ref")
    body = assert_error_body(client.post("/index", json={"repository": "octo/demo", "colour": "red"}), 400, "colour")
    assert body["extra"]["problems"][0]["key"] == "colour"
    assert_error_body(client.get("/jobs", headers={"Host": "evil.example"}), 400, "Host")


def test_errors__a_guard_refusal_keeps_its_headers_in_the_one_shape(config: Config) -> None:
    with client_for(config, token=TOKEN, protect_reads=True) as client:
        response = client.get("/repositories/octo/demo")
        assert_error_body(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error_body(client.post("/index", json={}, headers={"Sec-Fetch-Site": "cross-site"}), 403)


# ----- GET /repositories/{repo} -----


def test_get_repository__by_id_owner_name_in_any_case_or_encoded_slash(client: Client) -> None:
    job = client.post("/index", json={"repository": "octo/demo"}).json()
    repository_id = client.get(f"/jobs/{job['job_id']}").json()["repository_id"]
    for spelling in (repository_id, "octo/demo", "Octo/Demo", "octo%2Fdemo"):
        response = client.get(f"/repositories/{spelling}")
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["id"] == repository_id
        assert response.json()["current"] is None
    assert_error_body(client.get("/repositories/octo/other"), 404, "repository")


# ----- the index endpoints, on a really indexed repository -----


@pytest.fixture
def indexed(conn: Conn, tmp_path: Path) -> uuid.UUID:
    return index_repository(conn, tmp_path)


def test_get_repositories__lists_with_counts_and_pages(client: Client, indexed: uuid.UUID, conn: Conn) -> None:
    add_repository(conn, "zed/later")
    first = client.get("/repositories?limit=1").json()
    assert [item["full_name"] for item in first["items"]] == ["acme/app"]
    assert first["items"][0]["counts"] == {"files": 4, "symbols": 9, "references": 10, "links": 9}
    second = client.get(f"/repositories?limit=1&cursor={first['next_cursor']}").json()
    assert [item["full_name"] for item in second["items"]] == ["zed/later"]
    assert second["next_cursor"] is None
    assert_error_body(client.get("/repositories?cursor=abc"), 400, "cursor")
    assert_error_body(client.get("/repositories?limit=1000"), 400, "limit")


def test_get_symbols__ranked_and_every_bad_parameter_is_400(client: Client, indexed: uuid.UUID) -> None:
    found = client.get("/repositories/acme/app/symbols?q=helper")
    assert found.status_code == 200, found.text
    assert [item["name"] for item in found.json()["items"]] == ["helper", "helperTwice"]
    assert found.json()["items"][0]["range"] == {"start": {"line": 1, "column": 0}, "end": {"line": 3, "column": 1}}
    fuzzy = client.get(f"/repositories/{indexed}/symbols", params={"q": "helpr", "match": "fuzzy"}).json()
    assert fuzzy["items"][0]["name"] == "helper"
    assert client.get("/repositories/acme%2Fapp/symbols?q=Client&kind=class&exported=true").json()["items"][0][
        "doc"
    ] == ("Talks to the server.")
    assert_error_body(client.get("/repositories/acme/app/symbols"), 400, "q")
    assert_error_body(client.get("/repositories/acme/app/symbols?q=x&match=regex"), 400, "match")
    assert_error_body(client.get("/repositories/acme/app/symbols?q=x&limit=1000000"), 400, "limit")
    assert_error_body(client.get("/repositories/acme/app/symbols?q=x&exported=maybe"), 400, "exported")
    assert_error_body(client.get("/repositories/acme/app/symbols?q=x&path=../up"), 400, "path")


def test_get_definition__members_unlinked_and_bad_positions(client: Client, indexed: uuid.UUID) -> None:
    line, column = position(MAIN_TS, "create")
    found = client.get(
        "/repositories/acme/app/definition", params={"path": "src/main.ts", "line": line, "column": column}
    )
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["at"]["qualifier"] == "Client"
    assert (body["definition"]["name"], body["definition"]["path"], body["definition"]["parent"]["name"]) == (
        "create",
        "src/client.ts",
        "Client",
    )
    line, column = position(MAIN_TS, "log")
    unlinked = client.get(f"/repositories/{indexed}/definition?path=src/main.ts&line={line}&column={column}").json()
    assert unlinked["definition"] is None
    assert "unlinked" in unlinked["reason"]
    base = "/repositories/acme/app/definition?path="
    assert_error_body(client.get(f"{base}src/main.ts&line=100000&column=0"), 422, "line")
    assert_error_body(client.get(f"{base}src/main.ts&line=12&column=0"), 422, "line")
    assert_error_body(client.get(f"{base}src/main.ts&line=10&column=2"), 422, "column")
    assert_error_body(client.get(f"{base}src/main.ts&line=5&column=0"), 404, "column")
    assert_error_body(client.get(f"{base}src/main.ts&line=0&column=0"), 400, "line")
    assert_error_body(client.get(f"{base}src/main.ts&line=1&column=-1"), 400, "column")
    assert_error_body(client.get(f"{base}src/main.ts&line=x&column=0"), 400, "line")
    assert_error_body(client.get(f"{base}src/nope.ts&line=1&column=0"), 404, "path")
    for outside in ("../etc/passwd", "/etc/passwd", "src/%2E%2E/%2E%2E/x.ts", "src%5Cmain.ts"):
        assert_error_body(client.get(f"{base}{outside}&line=1&column=0"), 400, "path")
    assert_error_body(client.get("/repositories/acme/app/definition?line=1&column=0"), 400, "path")


def test_get_references__by_symbol_or_position_with_pages(client: Client, indexed: uuid.UUID) -> None:
    line, column = position(UTIL_TS, "helper")
    helper = client.get(f"/repositories/acme/app/definition?path=src/util.ts&line={line}&column={column}").json()
    symbol = helper["definition"]["id"]
    found = client.get(f"/repositories/acme/app/references?symbol={symbol}&limit=2").json()
    assert found["total"] == 3
    assert len(found["items"]) == 2
    assert found["items"][0]["enclosing"]["name"] == "main"
    rest = client.get(f"/repositories/acme/app/references?symbol={symbol}&limit=2&cursor={found['next_cursor']}").json()
    assert [item["enclosing"]["name"] for item in rest["items"]] == ["helperTwice"]
    line, column = position(MAIN_TS, "helper(2)")
    by_position = client.get(f"/repositories/acme/app/references?path=src/main.ts&line={line}&column={column}").json()
    assert by_position["symbol"]["id"] == symbol
    assert by_position["total"] == 3
    assert_error_body(client.get("/repositories/acme/app/references?symbol=helper"), 400, "symbol")
    assert_error_body(client.get("/repositories/acme/app/references?symbol=999:1"), 404, "symbol")
    assert_error_body(client.get("/repositories/acme/app/references"), 400, "symbol")


def test_get_file_views__outline_imports_importers(client: Client, indexed: uuid.UUID) -> None:
    outline = client.get("/repositories/acme/app/files/src/client.ts/outline")
    assert outline.status_code == 200, outline.text
    assert [child["symbol"]["name"] for child in outline.json()["symbols"][0]["children"]] == ["create", "run", "step"]
    imports = client.get(f"/repositories/{indexed}/files/src/main.ts/imports").json()["imports"]
    assert [(item["specifier"], item["resolution"]) for item in imports] == [
        ("./client", "file"),
        ("./util", "file"),
        ("react", "external"),
        ("fs", "builtin"),
    ]
    importers = client.get("/repositories/acme%2Fapp/files/src/util.ts/importers").json()
    assert [item["path"] for item in importers["importers"]] == ["src/main.ts"]
    assert_error_body(client.get("/repositories/acme/app/files/src/nope.ts/outline"), 404, "path")
    assert_error_body(client.get("/repositories/acme/app/files/src/%2E%2E/x.ts/outline"), 400, "path")
    assert_error_body(client.get("/repositories/acme/app/files/src/main.ts/callers"), 404)


def test_get_packages_and_impact(client: Client, indexed: uuid.UUID) -> None:
    packages = client.get("/repositories/acme/app/packages").json()["items"]
    assert [(item["name"], item["versions"], item["files"]) for item in packages] == [
        ("fs", [], 1),
        ("react", ["^18.2.0"], 1),
    ]
    assert [item["name"] for item in client.get("/repositories/acme/app/packages?q=rea").json()["items"]] == ["react"]
    impact = client.get("/repositories/acme/app/impact?path=src/util.ts&path=src/client.ts&depth=1").json()
    assert sorted((item["path"], item["depth"]) for item in impact["files"]) == [
        ("src/client.ts", 0),
        ("src/main.ts", 1),
        ("src/util.ts", 0),
    ]
    assert_error_body(client.get("/repositories/acme/app/impact"), 400, "path")
    assert_error_body(client.get("/repositories/acme/app/impact?path=src/util.ts&depth=99"), 400, "depth")
    assert_error_body(client.get("/repositories/acme/app/impact?symbol=oops"), 400, "symbol")


def test_index_endpoints__unknown_ambiguous_and_not_indexed_repositories(
    client: Client, indexed: uuid.UUID, conn: Conn
) -> None:
    for path in ("symbols?q=x", "definition?path=a.ts&line=1&column=0", "files/a.ts/outline", "packages"):
        assert_error_body(client.get(f"/repositories/nobody/nothing/{path}"), 404, "repository")
        assert_error_body(client.get(f"/repositories/{uuid.uuid4()}/{path}"), 404, "repository")
    add_repository(conn, "octo/waiting")
    body = assert_error_body(client.get("/repositories/octo/waiting/symbols?q=x"), 409, "repository")
    assert "no index yet" in body["detail"]
    twin = add_repository(conn, "ACME/app", url="https://mirror.example.test/acme/app.git")
    body = assert_error_body(client.get("/repositories/acme/app/symbols?q=x"), 409, "repository")
    assert str(twin) in body["detail"]
    assert str(indexed) in body["detail"]
    assert client.get(f"/repositories/{indexed}/symbols?q=helper").status_code == 200
