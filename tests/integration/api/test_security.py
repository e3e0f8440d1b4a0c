"""What a browser on another site can and cannot make the API do, and the headers every response carries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from litestar.utils.sync import AsyncCallable
from psycopg.rows import TupleRow

from pipeline import secrets
from pipeline.api.app import DASHBOARD_CSP, create_app
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from tests.integration.api.conftest import TOKEN, client_for

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]
OWN_ORIGIN = "http://testserver.local"  # the TestClient's base URL, hence the Host header the app sees


def index_jobs_count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM index_jobs").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"repository": "octo/demo"}', "text/plain"),
        (b"repository=octo%2Fdemo", "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="repository"\r\n\r\nocto/demo\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        (b'{"repository": "octo/demo"}', None),
    ],
)
def test_post_index__a_body_that_is_not_declared_json_is_415_and_enqueues_nothing(
    client: Client, conn: Conn, content: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/index", content=content, headers=headers)
    assert response.status_code == 415, response.text
    body = response.json()
    assert body["status_code"] == 415
    assert body["detail"].startswith("Content-Type: the body must be application/json")
    assert index_jobs_count(conn) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver.local.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_post__a_cross_origin_request_is_403_even_as_json(client: Client, conn: Conn, headers: dict[str, str]) -> None:
    response = client.post("/index", json={"repository": "octo/demo"}, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["status_code"] == 403
    assert "cross-" in response.json()["detail"]
    assert index_jobs_count(conn) == 0
    assert client.post("/admin/jobs/00000000-0000-0000-0000-000000000000/cancel", headers=headers).status_code == 403


def test_post__the_dashboards_own_requests_are_accepted(client: Client) -> None:
    same_origin = {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "same-origin"}
    created = client.post("/index", json={"repository": "octo/demo"}, headers=same_origin)
    assert created.status_code == 202, created.text
    cancelled = client.post(f"/admin/jobs/{created.json()['job_id']}/cancel", headers=same_origin)
    assert cancelled.status_code == 202, cancelled.text


def test_get__cross_origin_reads_are_not_refused(client: Client) -> None:
    assert client.get("/jobs", headers={"Origin": "https://evil.example"}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/static/dashboard.js", "/jobs", "/health", "/no/such/page", "/openapi.json"])
def test_every_response__carries_the_security_headers(client: Client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["content-security-policy"] == DASHBOARD_CSP
    assert "frame-ancestors 'none'" in DASHBOARD_CSP
    assert "unsafe-inline" not in DASHBOARD_CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_the_schema_page__is_served_under_the_dashboards_policy_and_loads_nothing_from_elsewhere(
    client: Client, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DASHBOARD_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text
    assert "<style" not in response.text
    assert "//" not in response.text.replace("<!--", "")  # no URL with a host: every asset is this server's


def test_the_dashboard__has_no_inline_script_or_style(client: Client) -> None:
    page = client.get("/").text
    assert "<script>" not in page
    assert "<style" not in page
    assert " style=" not in page
    assert "onclick=" not in page


@pytest.fixture
def token_in_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PIPELINE_API_TOKEN", TOKEN)
    yield
    secrets._taken.clear()  # later tests run without a token, as their environment says


def test_the_api_token__still_required_after_a_coordinator_in_this_process_took_it_from_the_environment(
    config: Config, conn: Conn, token_in_environment: None
) -> None:
    Coordinator(config)  # moves the tokens out of os.environ, so that no stage process inherits them
    with TestClient(create_app(config)) as client:
        refused = client.post("/index", json={"repository": "octo/demo"})
        assert refused.status_code == 401, refused.text
        assert index_jobs_count(conn) == 0
        accepted = client.post("/index", json={"repository": "octo/demo"}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code == 202, accepted.text


REBINDING = {  # what a page on evil.example, its DNS re-pointed to 127.0.0.1, sends as its own origin
    "Host": "evil.example:8000",
    "Origin": "http://evil.example:8000",
    "Sec-Fetch-Site": "same-origin",
}


def test_dns_rebinding__a_page_under_another_name_can_neither_enqueue_nor_read(
    config: Config, conn: Conn, repo_path: Path
) -> None:
    with client_for(config, allowed_hosts=[], allow_local_targets=True) as client:
        posted = client.post("/index", json={"repository": f"file://{repo_path}"}, headers=REBINDING)
        assert posted.status_code == 400, posted.text
        assert posted.json() == {
            "status_code": 400,
            "detail": "Host: the header 'evil.example:8000' is not a name this server answers to (api.allowed_hosts)",
            "extra": {"field": "Host"},
        }
        assert index_jobs_count(conn) == 0
        for path in ("/jobs", "/metrics", "/admin/dead-letters", "/health", "/", "/static/dashboard.js"):
            read = client.get(path, headers={"Host": "evil.example:8000"})
            assert read.status_code == 400, (path, read.text)
            assert read.json()["detail"].startswith("Host: ")
        assert client.get("/jobs", headers={"Host": "127.0.0.1:8000"}).status_code == 200


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost", "LOCALHOST:9", "localhost.:8000", "[::1]:8000", "[0:0::1]", "api.test"]
)
def test_allowed_hosts__loopback_names_and_api_host_are_answered_on_any_port(config: Config, host: str) -> None:
    with client_for(config, host="API.test", allowed_hosts=[]) as client:
        response = client.get("/jobs", headers={"Host": host})
        assert response.status_code == 200, response.text


def test_allowed_hosts__an_extra_name_is_answered_and_others_still_refused(config: Config) -> None:
    with client_for(config, host="0.0.0.0", allowed_hosts=["Indexer.Internal.", "10.0.0.5", "fd00::5"]) as client:
        for host in ("indexer.internal", "indexer.internal:8000", "10.0.0.5:80", "[fd00::5]:8000", "localhost"):
            assert client.get("/jobs", headers={"Host": host}).status_code == 200, host
        for host in ("0.0.0.1", "indexer.internal.evil.example", "evil.example", "10.0.0.6"):
            assert client.get("/jobs", headers={"Host": host}).status_code == 400, host


@pytest.mark.parametrize(
    "target", ["{repo}", "file://{repo}", "FILE://{repo}", "./demo-repo", "~/demo-repo", "/no/such/path"]
)
def test_post_index__local_targets_are_refused_unless_allowed_without_looking_at_the_disk(
    config: Config, conn: Conn, repo_path: Path, target: str
) -> None:
    with client_for(config, allow_local_targets=False) as client:
        response = client.post("/index", json={"repository": target.format(repo=repo_path)})
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("repository: ")
        assert "is on this machine (a path or file:// URL)" in response.json()["detail"]
        assert index_jobs_count(conn) == 0
        assert client.post("/index", json={"repository": "octo/demo"}).status_code == 202


def test_every_guard__runs_on_the_event_loop_not_in_a_worker_thread(config: Config) -> None:
    """Litestar runs a guard that is a plain function in a worker thread: a thread round trip per guard and request
    for a few header comparisons, which queues the requests of a busy server behind each other."""
    app = create_app(config, environ={})
    handlers = [
        handler
        for route in app.routes
        for handler in (route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler])
    ]
    threaded = {
        f"{guard.func.__qualname__} on {handler}"
        for handler in handlers
        for guard in handler.resolve_guards()
        if isinstance(guard, AsyncCallable)
    }
    assert len(handlers) > 30
    assert threaded == set()
