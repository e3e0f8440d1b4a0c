"""Hostile input to the index endpoints (query API and code search) on one really indexed repository.

Each case asserts a clear error in the app's one body shape, naming the input at fault, or a bounded answer; and
that the server still answers afterwards. The cases share one app on one database, so the file takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pipeline.api.app import create_app
from pipeline.config import load_config
from tests.conftest import ROOT, SCHEMA, DatabaseFactory
from tests.integration.indexed import FULL_NAME, index_repository

Client = TestClient[Litestar]
REPO = f"/repositories/{FULL_NAME}"


@pytest.fixture(scope="module")
def client(test_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    name = test_databases.create()
    url = test_databases.url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {SCHEMA}")
            index_repository(conn, tmp_path_factory.mktemp("hostile-index"))
        config = load_config(ROOT / "configs" / "test.toml", environ={"PIPELINE_DATABASE_URL": url})
        with TestClient(create_app(config, environ={})) as test_client:
            yield test_client
    finally:
        test_databases.drop(name)


# (request, status, field the error names)
HOSTILE: list[tuple[str, int, str | None]] = [
    (f"{REPO}/files/..%2F..%2Fetc%2Fpasswd/outline", 400, "path"),
    (f"{REPO}/files/%2Fetc%2Fpasswd/outline", 404, "path"),  # a path of the repository, which has none such
    (f"{REPO}/definition?path=src%00/main.ts&line=1&column=0", 400, "path"),
    (f"{REPO}/definition?path=src/main.ts&line=0&column=0", 400, "line"),
    (f"{REPO}/definition?path=src/main.ts&line=99999999&column=0", 400, "line"),
    (f"{REPO}/definition?path=src/main.ts&line=1000&column=0", 422, "line"),  # past the end of the file
    (f"{REPO}/definition?path=src/main.ts&line=1&column=-1", 400, "column"),
    (f"{REPO}/definition?path=src/nope.ts&line=1&column=0", 404, "path"),
    (f"{REPO}/references?symbol=1:2:3", 400, "symbol"),
    (f"{REPO}/references?symbol=999999:0", 404, "symbol"),
    (f"{REPO}/symbols?q={'x' * 10_000}", 400, "q"),
    (f"{REPO}/symbols?q=a&match=bogus", 400, "match"),
    (f"{REPO}/symbols?q=a&limit=1000000000", 400, "limit"),
    (f"{REPO}/symbols?q=a&cursor=not-a-cursor", 400, "cursor"),
    (f"{REPO}/impact?path=src/util.ts&depth=1000", 400, "depth"),
    (f"{REPO}/search?q=(&regex=true", 400, "q"),
    (f"{REPO}/search?q=a&limit=1000000", 400, "limit"),
    ("/repositories/acme%00/app/symbols?q=a", 400, "repository"),
    ("/repositories/nobody/nothing/symbols?q=a", 404, "repository"),
]


def error_body(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert isinstance(body["extra"], dict), body
    return body


@pytest.mark.parametrize(("request_path", "status", "field"), HOSTILE)
def test_index_endpoints__hostile_input_is_a_clear_error_naming_its_field(
    client: Client, request_path: str, status: int, field: str | None
) -> None:
    response = client.get(request_path)
    assert response.status_code == status, response.text
    body = error_body(response)
    assert body["detail"], body
    if field is not None:
        assert field in body["detail"], body
    assert client.get(f"{REPO}/symbols?q=helper").status_code == 200, "the server stopped answering"


def test_code_search__a_catastrophic_regular_expression_is_bounded(client: Client) -> None:
    """Nested quantifiers that backtrack exponentially in some engines: an answer or a 422, never a hang."""
    response = client.get(f"{REPO}/search", params={"q": "(a+)+$", "regex": "true"})
    assert response.status_code in (200, 422), response.text
    assert client.get(f"{REPO}/symbols?q=helper").status_code == 200
