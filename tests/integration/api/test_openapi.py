"""The published OpenAPI document: valid, complete, and true to the app (a property test finds no server error)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar import Litestar
from litestar.testing import TestClient
from openapi_spec_validator import validate
from schemathesis.checks import positive_data_acceptance

from pipeline.api.app import create_app
from pipeline.api.routes import ApiContext
from pipeline.config import Config

ENDPOINTS = {
    ("/index", "post"),
    ("/jobs/{job_id}", "get"),
    ("/jobs/{job_id}/events", "get"),
    ("/jobs/{job_id}/timeline", "get"),
    ("/jobs/series", "get"),
    ("/jobs/counts", "get"),
    ("/jobs", "get"),
    ("/repositories", "get"),
    *(
        (f"{prefix}{tail}", "get")
        for prefix in ("/repositories/{repo}", "/repositories/{owner}/{name}")
        for tail in (
            "",
            "/symbols",
            "/definition",
            "/references",
            "/files/{file_path}",
            "/packages",
            "/impact",
            "/search",
        )
    ),
    ("/repositories/{repo}/search", "get"),
    ("/repositories/{owner}/{name}/search", "get"),
    ("/health", "get"),
    ("/metrics", "get"),
    ("/admin/dead-letters", "get"),
    ("/admin/jobs/{job_id}/retry", "post"),
    ("/admin/jobs/{job_id}/cancel", "post"),
}
WEBHOOKS = {("/webhooks/github", "post"), ("/webhooks/gitlab", "post")}  # signed by the sender, no bearer token


@pytest.fixture
def app(config: Config) -> Iterator[Litestar]:
    app = create_app(config, environ={})
    yield app
    context: ApiContext = app.state.context
    context.queue.close()


def openapi(app: Litestar) -> dict[str, Any]:
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_openapi__the_document_is_a_valid_openapi_3_1_schema(app: Litestar) -> None:
    document = openapi(app)
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_openapi__documents_every_endpoint_and_the_bearer_scheme_on_posts(app: Litestar) -> None:
    document = openapi(app)
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == ENDPOINTS | WEBHOOKS
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, method in ENDPOINTS | WEBHOOKS:
        operation = document["paths"][path][method]
        bearer = method == "post" and (path, method) not in WEBHOOKS
        assert (operation.get("security") == [{"bearer": []}]) == bearer, (path, method)
    body = document["paths"]["/index"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("IndexRequest")


def test_openapi__generated_requests_never_get_a_server_error(app: Litestar) -> None:
    """Schemathesis draws requests for every operation from our own document and runs its checks on each answer
    (no 5xx, documented status codes, bodies matching their schemas, invalid input rejected). The examples are
    derived from the test, not drawn at random, so a run in CI is repeatable."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ENDPOINTS | WEBHOOKS)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
        )
        def answers_without_server_error(case: schemathesis.Case) -> None:
            # a schema-valid body may still name a repository that does not exist: that 422 is by design
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        answers_without_server_error()
