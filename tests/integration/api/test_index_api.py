"""The index endpoints on a real database with really indexed repositories, and the one error body of the app."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pipeline.config import Config
from tests.integration.api.conftest import TOKEN, client_for

Client = TestClient[Litestar]


def assert_error_body(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The one error shape: status_code, detail, and an ``extra`` object naming the field (or null)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["extra"], dict) and body["extra"]["field"] == field, body
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
