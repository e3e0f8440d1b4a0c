"""``GET /repositories/{repo}/search`` on the real app, a real database and a repository indexed by the pipeline."""

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
from pipeline.index_jobs import IndexJobStatus
from tests.integration.pipeline import harness
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow

Client = TestClient[Litestar]

SOURCES: dict[str, bytes | str] = {
    "src/app.ts": (
        "export class Greeter {\n"
        "  greet(name: string): string {\n"
        "    return `Hello, ${name}`;\n"
        "  }\n"
        "}\n"
        "export const greeting = 'hello';\n"
    ),
    "lib/old.js": "// Hello from js\n",
}


@pytest.fixture
def repository(pipeline_config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path) -> str:
    """The id of a repository indexed by the pipeline, renamed ``octo/demo`` (a local clone is named after its
    folder) to reach the ``owner/name`` spellings."""
    path = tmp_path / "demo"
    commit = commit_files(new_repository(path), SOURCES, "first")
    job_id = harness.enqueue(pipeline_config, str(path), commit_sha=commit)
    harness.run_until_idle(pipeline_config)
    job = harness.job(conn, job_id)
    assert job.status is IndexJobStatus.COMPLETED, job.error_message
    conn.execute("UPDATE repositories SET full_name = 'octo/demo' WHERE id = %s", [job.repository_id])
    return str(job.repository_id)


def search(client: Client, repo: str, **params: Any) -> Any:
    response = client.get(f"/repositories/{repo}/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: Any, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert body["extra"]["field"] == field, body


def test_search__lines_with_column_text_and_symbol_by_id_or_owner_name(client: Client, repository: str) -> None:
    expected = {
        "items": [
            {"path": "lib/old.js", "line": 1, "column": 3, "text": "// Hello from js", "symbol": None},
            {
                "path": "src/app.ts",
                "line": 3,
                "column": 12,
                "text": "    return `Hello, ${name}`;",
                "symbol": {"id": "1:1", "name": "greet", "kind": "method"},
            },
            {
                "path": "src/app.ts",
                "line": 6,
                "column": 25,
                "text": "export const greeting = 'hello';",
                "symbol": {"id": "1:2", "name": "greeting", "kind": "constant"},
            },
        ],
        "truncated": False,
    }
    for spelling in (repository, "octo/demo", "Octo/Demo", "octo%2Fdemo"):
        assert search(client, spelling, q="hello") == expected, spelling


def test_search__regex_case_path_and_limit(client: Client, repository: str) -> None:
    def found(**params: Any) -> list[tuple[str, int]]:
        return [(item["path"], item["line"]) for item in search(client, repository, **params)["items"]]

    assert found(q=r"^export\s+const", regex="true") == [("src/app.ts", 6)]
    assert found(q="Hello", case="true") == [("lib/old.js", 1), ("src/app.ts", 3)]
    assert found(q="hello", path="src") == [("src/app.ts", 3), ("src/app.ts", 6)]
    assert found(q="hello", path="**/*.js") == [("lib/old.js", 1)]
    limited = search(client, repository, q="hello", limit=1)
    assert [item["line"] for item in limited["items"]] == [1]
    assert limited["truncated"] is True


def test_search__bad_input_and_unknown_repository_answer_the_one_error_body(client: Client, repository: str) -> None:
    base = f"/repositories/{repository}/search"
    assert_error(client.get(base, params={"q": "(", "regex": "true"}), 400, "q")
    missing = client.get(base)  # Litestar's own check of a required parameter: the detail names it
    assert missing.status_code == 400
    assert "'q'" in missing.json()["detail"]
    assert_error(client.get(base, params={"q": ""}), 400, "q")
    assert_error(client.get(base, params={"q": "x", "limit": 0}), 400, "limit")
    assert_error(client.get(base, params={"q": "x", "limit": 501}), 400, "limit")
    assert_error(client.get(base, params={"q": "x", "path": "../up"}), 400, "path")
    assert_error(client.get(f"/repositories/{uuid.uuid4()}/search", params={"q": "x"}), 404, "repository")
    assert_error(client.get("/repositories/octo/nothing/search", params={"q": "x"}), 404, "repository")
