"""Push webhooks against the real app and a real database, with signatures computed here: every status (404 not
configured, 401 missing or wrong signature, 400 malformed, 413, 415, 422 a host not configured, 200 ping and
redelivery, 202 push and ignored events), deliveries deduplicated, and a signed push that a real worker indexes
from a real https git server."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import orjson
import psycopg
import pygit2
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.api.app import create_app
from pipeline.api.webhooks import DELIVERY_RETENTION_SECONDS
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJobStatus
from tests.git_servers import GitHttpServer, self_signed_certificate, tls_context
from tests.integration.api.conftest import TOKEN
from tests.integration.pipeline.repos import commit_files

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]
SECRET = "webhook-secret-for-tests"
SECRET_ENV = "PIPELINE_WEBHOOK_SECRET"
SHA = "c0ffee" + "1" * 34
CLONE_URL = "https://github.com/acme/app.git"


def app_client(config: Config, **environ: str) -> Client:
    return TestClient(create_app(config, environ={SECRET_ENV: SECRET, **environ}))


@pytest.fixture
def client(config: Config) -> Iterator[Client]:
    with app_client(config) as test_client:
        yield test_client


def github_push(
    *,
    ref: str = "refs/heads/main",
    after: str = SHA,
    clone_url: str = CLONE_URL,
    default_branch: str = "main",
    deleted: bool = False,
    pushed_at: int = 1_765_000_000,
) -> dict[str, Any]:
    """The fields of a GitHub push payload the server reads, among some it does not (``pushed_at`` makes two pushes
    of one commit two different bodies, as on GitHub)."""
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": after,
        "created": False,
        "deleted": deleted,
        "commits": [{"id": after, "message": "change", "added": [], "removed": [], "modified": ["src/a.ts"]}],
        "repository": {
            "full_name": "acme/app",
            "clone_url": clone_url,
            "default_branch": default_branch,
            "private": False,
            "pushed_at": pushed_at,
        },
        "pusher": {"name": "octocat"},
    }


def gitlab_push(*, ref: str = "refs/heads/main", after: str = SHA, url: str = CLONE_URL) -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": ref,
        "before": "0" * 40,
        "after": after,
        "checkout_sha": None if after == "0" * 40 else after,
        "project": {"path_with_namespace": "acme/app", "git_http_url": url, "default_branch": "main"},
    }


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client: Client,
    payload: object,
    *,
    event: str = "push",
    delivery: str | None = None,
    secret: str | None = SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a GitHub delivery signed with ``secret`` (unsigned when ``None``)."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    sent = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/test",
    }
    if secret is not None:
        sent["X-Hub-Signature-256"] = signature(body, secret)
    return client.post("/webhooks/github", content=body, headers={**sent, **(headers or {})})


def deliver_gitlab(
    client: Client, payload: object, *, event: str = "Push Hook", token: str | None = SECRET, key: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": event}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/webhooks/gitlab", content=orjson.dumps(payload), headers=headers)


def index_job_count(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM index_jobs").fetchone()
    assert row is not None
    return int(row[0])


def job_of(conn: Conn, response: httpx.Response) -> index_jobs.IndexJob:
    found = index_jobs.get(conn, uuid.UUID(response.json()["job_id"]))
    assert found is not None
    return found


# ----- configuration and authentication -----


@pytest.mark.parametrize("path", ["/webhooks/github", "/webhooks/gitlab"])
def test_webhooks__without_a_secret_are_404_saying_they_are_not_configured(
    config: Config, conn: Conn, path: str
) -> None:
    with TestClient(create_app(config, environ={})) as unconfigured:
        response = unconfigured.post(path, json=github_push())
    assert response.status_code == 404
    assert "webhooks are not configured" in response.json()["detail"]
    assert SECRET_ENV in response.json()["detail"]
    assert index_job_count(conn) == 0


def test_webhooks__without_a_secret_refuse_an_oversized_body_unread(config: Config, conn: Conn) -> None:
    """404, not 413: the route is refused before its body is read (a 413 would mean the body was looked at)."""
    oversized = b" " * (config.api.webhook_max_body_bytes + 1)
    with TestClient(create_app(config, environ={})) as unconfigured:
        for path in ("/webhooks/github", "/webhooks/gitlab"):
            response = unconfigured.post(path, content=oversized, headers={"Content-Type": "application/json"})
            assert response.status_code == 404, (path, response.text)
    assert index_job_count(conn) == 0


def test_gitlab__a_wrong_token_refuses_an_oversized_body_unread(client: Client, config: Config, conn: Conn) -> None:
    oversized = b" " * (config.api.webhook_max_body_bytes + 1)
    for token in ({}, {"X-Gitlab-Token": "wrong"}):
        response = client.post(
            "/webhooks/gitlab",
            content=oversized,
            headers={"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", **token},
        )
        assert response.status_code == 401, response.text
        assert response.json()["extra"]["field"] == "X-Gitlab-Token"
    assert index_job_count(conn) == 0


def test_github__a_missing_or_wrong_signature_is_401_and_enqueues_nothing(client: Client, conn: Conn) -> None:
    missing = deliver(client, github_push(), secret=None)
    wrong_secret = deliver(client, github_push(), secret="another-secret")
    other_body = deliver(
        client, github_push(), headers={"X-Hub-Signature-256": signature(orjson.dumps(github_push(after="2" * 40)))}
    )
    not_hex = deliver(client, github_push(), headers={"X-Hub-Signature-256": "sha256=zz"})
    for response in (missing, wrong_secret, other_body, not_hex):
        assert response.status_code == 401, response.text
        assert response.json()["extra"]["field"] == "X-Hub-Signature-256"
        assert SECRET not in response.text
    assert "missing" in missing.json()["detail"]
    assert index_job_count(conn) == 0


def test_github__the_signature_is_checked_before_the_body_is_parsed(client: Client) -> None:
    """An unsigned body that is not even JSON is refused for its signature, not read."""
    assert deliver(client, b"{not json", secret=None).status_code == 401
    assert deliver(client, b"{not json", secret="wrong").status_code == 401
    assert deliver(client, b"{not json").status_code == 400


def test_github__neither_the_bearer_token_nor_the_same_origin_guard_applies_but_the_signature_does(
    config: Config, conn: Conn
) -> None:
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    with app_client(config, PIPELINE_API_TOKEN=TOKEN) as guarded:
        assert guarded.post("/index", json={"repository": "acme/app"}).status_code == 401
        signed = deliver(guarded, github_push(), headers=cross_site)
        assert signed.status_code == 202, signed.text
        assert deliver(guarded, github_push(after="2" * 40), secret=None, headers=cross_site).status_code == 401
    assert index_job_count(conn) == 1


def test_webhook_secret__is_moved_out_of_the_environment_and_still_used(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with TestClient(create_app(config)) as from_environment:
        assert SECRET_ENV not in os.environ, "child processes of the server must not inherit the secret"
        assert deliver(from_environment, {"zen": "hi"}, event="ping").status_code == 200


# ----- events -----


def test_github__ping_is_200_and_other_events_are_202_and_ignored(client: Client, conn: Conn) -> None:
    ping = deliver(client, {"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping", delivery="d-ping")
    assert ping.status_code == 200
    assert ping.json()["action"] == "pong"
    assert ping.json()["delivery"] == "d-ping"
    issues = deliver(client, {"action": "opened"}, event="issues")
    assert issues.status_code == 202
    assert issues.json()["action"] == "ignored"
    assert "'issues' events are not indexed" in issues.json()["reason"]
    assert index_job_count(conn) == 0


def test_github__a_push_to_the_default_branch_enqueues_that_commit_at_that_ref(client: Client, conn: Conn) -> None:
    response = deliver(client, github_push(after=SHA.upper()), delivery="d-1")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["action"] == "enqueued"
    assert body["created"] is True
    assert (body["repository"], body["ref"], body["commit_sha"]) == ("acme/app", "refs/heads/main", SHA)
    job = job_of(conn, response)
    assert (job.git_url, job.repository, job.ref, job.commit_sha) == (CLONE_URL, "acme/app", "refs/heads/main", SHA)
    assert job.status is IndexJobStatus.PENDING


def test_github__a_redelivery_enqueues_nothing_new_even_after_the_job_finished(client: Client, conn: Conn) -> None:
    first = deliver(client, github_push(), delivery="d-same")
    job = job_of(conn, first)
    index_jobs.fail(conn, job.id, "boom", stage="fetch", final=True)
    again = deliver(client, github_push(), delivery="d-same")
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "redelivery": True}
    assert index_job_count(conn) == 1
    another_delivery = deliver(client, github_push(pushed_at=1_765_000_060), delivery="d-other")
    assert another_delivery.status_code == 202
    assert another_delivery.json()["job_id"] != first.json()["job_id"], "a new delivery of a failed commit re-runs it"


def test_github__a_signed_body_replayed_under_a_fresh_delivery_id_enqueues_nothing(client: Client, conn: Conn) -> None:
    """The delivery id is not signed: replaying an older push's body under a new id must not roll the index back."""
    older = deliver(client, github_push(after="1" * 40), delivery="d-older")
    newer = deliver(client, github_push(after="2" * 40), delivery="d-newer")
    replay = deliver(client, github_push(after="1" * 40), delivery="d-forged")
    assert replay.status_code == 200, replay.text
    assert replay.json() == {**older.json(), "redelivery": True}
    assert index_job_count(conn) == 2
    assert job_of(conn, newer).status is IndexJobStatus.PENDING, "the newer push stays the one to index"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (github_push(deleted=True, after="0" * 40), "refs/heads/main was deleted"),
        (github_push(ref="refs/tags/v1.0"), "tag pushes are not indexed"),
        (github_push(ref="refs/heads/feature"), "refs/heads/feature is not the default branch (main)"),
    ],
)
def test_github__branch_deletions_tag_pushes_and_other_branches_are_202_and_ignored(
    client: Client, conn: Conn, payload: dict[str, Any], reason: str
) -> None:
    response = deliver(client, payload)
    assert response.status_code == 202
    assert response.json()["action"] == "ignored"
    assert reason in response.json()["reason"]
    assert index_job_count(conn) == 0


def test_github__a_form_encoded_delivery_is_read_from_its_payload_field(client: Client, conn: Conn) -> None:
    body = urlencode({"payload": orjson.dumps(github_push()).decode()}).encode()
    response = deliver(client, body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202, response.text
    assert job_of(conn, response).commit_sha == SHA


def test_github__pushes_in_a_burst_coalesce_to_the_newest_commit(client: Client, conn: Conn) -> None:
    first = deliver(client, github_push(after="1" * 40))
    second = deliver(client, github_push(after="2" * 40))
    assert job_of(conn, first).status is IndexJobStatus.SKIPPED
    assert job_of(conn, second).status is IndexJobStatus.PENDING


# ----- one repository however its URL is spelled -----


def repositories(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT id, full_name, git_url FROM repositories ORDER BY created_at").fetchall()


def test_github__a_push_finds_the_repository_post_index_made_however_its_url_is_spelled(
    client: Client, conn: Conn
) -> None:
    """``POST /index acme/app`` stores https://github.com/acme/app; GitHub's clone URL is Acme/App.git. One
    repository: the push's job is the row the user indexed, which keeps its URL and name."""
    indexed = client.post("/index", json={"repository": "acme/app"})
    assert indexed.status_code == 202, indexed.text
    pushed = deliver(client, github_push(clone_url="https://github.com/Acme/App.git"))
    assert pushed.status_code == 202, pushed.text
    [(repository_id, full_name, git_url)] = repositories(conn)
    assert (full_name, git_url) == ("acme/app", "https://github.com/acme/app")
    assert job_of(conn, pushed).repository_id == repository_id
    assert pushed.json()["repository"] == "acme/app"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://github.com/Acme/App.git", "github.com/acme/app"),
        ("https://GitLab.com/Group/Sub/App.git/", "gitlab.com/group/sub/app"),
        ("ssh://git@github.com/acme/app.git", "github.com/acme/app"),
        ("git@github.com:Acme/App.git", "github.com/acme/app"),
        ("https://git.example.test:8443/Acme/App.git", "git.example.test:8443/Acme/App"),
        ("http://git.example.test/acme/app", "git.example.test/acme/app"),
        ("/srv/git/App.git", "/srv/git/App.git"),
    ],
)
def test_repository_url_key__drops_scheme_user_and_dot_git_and_case_where_paths_ignore_it(
    conn: Conn, url: str, key: str
) -> None:
    assert conn.execute("SELECT repository_url_key(%s)", [url]).fetchone() == (key,)


# ----- bad input -----


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        ({k: v for k, v in github_push().items() if k != "after"}, "after"),
        ({**github_push(), "after": "xyz"}, "after"),
        ({**github_push(), "ref": 5}, "ref"),
        ({**github_push(), "repository": {"default_branch": "main"}}, "repository.clone_url"),
        ({**github_push(), "repository": {"clone_url": 7, "default_branch": "main"}}, "repository.clone_url"),
    ],
)
def test_github__a_malformed_payload_is_400_naming_the_field(
    client: Client, conn: Conn, payload: object, field: str
) -> None:
    response = deliver(client, payload)
    assert response.status_code == 400, response.text
    assert response.json()["extra"]["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")
    assert index_job_count(conn) == 0


@pytest.mark.parametrize(("header", "value"), [("X-GitHub-Event", ""), ("X-GitHub-Delivery", "x" * 201)])
def test_github__a_missing_or_overlong_header_is_400_naming_it(client: Client, header: str, value: str) -> None:
    response = deliver(client, github_push(), headers={header: value})
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == header


def test_github__a_body_that_is_neither_json_nor_a_form_is_415(client: Client) -> None:
    response = deliver(client, orjson.dumps(github_push()), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["extra"]["field"] == "Content-Type"


def test_github__a_body_over_the_configured_limit_is_413(config: Config, conn: Conn) -> None:
    limited = msgspec.structs.replace(config, api=msgspec.structs.replace(config.api, webhook_max_body_bytes=4096))
    payload = orjson.dumps({**github_push(), "padding": "x" * 4096})
    with app_client(limited) as client:
        assert deliver(client, payload).status_code == 413
        assert deliver(client, github_push()).status_code == 202, "a body within the limit is read"
    assert index_job_count(conn) == 1


@pytest.mark.parametrize(
    "clone_url",
    [
        "https://evil.example/acme/app.git",  # a host the server does not index
        "http://github.com/acme/app.git",  # not https: the token could travel in clear
        "https://github.com:8443/acme/app.git",  # another port is another server
        "file:///etc/app.git",
    ],
)
def test_github__a_repository_on_a_host_not_configured_is_422_and_never_enqueued(
    client: Client, conn: Conn, clone_url: str
) -> None:
    response = deliver(client, github_push(clone_url=clone_url))
    assert response.status_code == 422, response.text
    assert response.json()["extra"]["field"] == "repository.clone_url"
    assert "index.token_hosts" in response.json()["detail"]
    assert index_job_count(conn) == 0


def test_github__a_host_listed_in_token_hosts_is_accepted(config: Config, conn: Conn) -> None:
    index = msgspec.structs.replace(config.index, token_hosts=["git.example.test"])
    with app_client(msgspec.structs.replace(config, index=index)) as client:
        accepted = deliver(client, github_push(clone_url="https://git.example.test/acme/app.git"))
        refused = deliver(client, github_push(clone_url=CLONE_URL))
    assert accepted.status_code == 202, accepted.text
    assert refused.status_code == 422, "token_hosts replaces the host of base_url"


# ----- deliveries kept -----


def test_deliveries__older_than_the_retention_are_deleted_as_new_ones_arrive(client: Client, conn: Conn) -> None:
    deliver(client, github_push(after="1" * 40), delivery="old")
    conn.execute(
        "UPDATE webhook_deliveries SET received_at = now() - %s * interval '1 second' - interval '1 minute'",
        [DELIVERY_RETENTION_SECONDS],
    )
    deliver(client, github_push(after="2" * 40), delivery="new")
    assert conn.execute("SELECT delivery_id FROM webhook_deliveries").fetchall() == [("new",)]


# ----- GitLab -----


def test_gitlab__a_missing_or_wrong_token_is_401_and_enqueues_nothing(client: Client, conn: Conn) -> None:
    for token in (None, "wrong", SECRET + "x"):
        response = deliver_gitlab(client, gitlab_push(), token=token)
        assert response.status_code == 401
        assert response.json()["extra"]["field"] == "X-Gitlab-Token"
    assert index_job_count(conn) == 0


def test_gitlab__a_push_enqueues_and_a_retry_with_its_idempotency_key_does_not(client: Client, conn: Conn) -> None:
    first = deliver_gitlab(client, gitlab_push(), key="k-1")
    assert first.status_code == 202, first.text
    assert (first.json()["action"], first.json()["delivery"]) == ("enqueued", "k-1")
    assert (job_of(conn, first).ref, job_of(conn, first).commit_sha) == ("refs/heads/main", SHA)
    again = deliver_gitlab(client, gitlab_push(), key="k-1")
    assert again.status_code == 200
    assert again.json()["redelivery"] is True
    assert index_job_count(conn) == 1


def test_gitlab__without_an_idempotency_key_the_same_body_is_one_delivery(client: Client, conn: Conn) -> None:
    first = deliver_gitlab(client, gitlab_push())
    assert first.json()["delivery"].startswith("sha256:")
    assert deliver_gitlab(client, gitlab_push()).json()["redelivery"] is True
    assert index_job_count(conn) == 1


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("Tag Push Hook", gitlab_push(ref="refs/tags/v1"), "tag pushes are not indexed"),
        ("Push Hook", gitlab_push(after="0" * 40), "was deleted"),
        ("Merge Request Hook", {"object_kind": "merge_request"}, "'Merge Request Hook' events are not indexed"),
    ],
)
def test_gitlab__tags_deletions_and_other_events_are_202_and_ignored(
    client: Client, conn: Conn, event: str, payload: dict[str, Any], reason: str
) -> None:
    response = deliver_gitlab(client, payload, event=event)
    assert response.status_code == 202
    assert reason in response.json()["reason"]
    assert index_job_count(conn) == 0


def test_gitlab__a_malformed_payload_is_400_naming_the_field(client: Client) -> None:
    payload = {**gitlab_push(), "project": {"default_branch": "main"}}
    response = deliver_gitlab(client, payload)
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "project.git_http_url"


# ----- end to end -----


@contextmanager
def https_git_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> Iterator[tuple[GitHttpServer, pygit2.Repository]]:
    """A bare repository at ``path`` served over https by ``git http-backend``, with a self-signed certificate that
    the worker's clone processes trust (``SSL_CERT_FILE``)."""
    repository = pygit2.init_repository(str(tmp_path / "served" / path), bare=True, initial_head="main")
    key, certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    server = GitHttpServer(tmp_path / "served", None, tls=tls_context(key, certificate))
    try:
        yield server, repository
    finally:
        server.close()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHttpServer, pygit2.Repository]]:
    with https_git_server(tmp_path, monkeypatch, "acme/app.git") as served:
        yield served


def with_token_host(config: Config, server: GitHttpServer) -> Config:
    """``config`` fetching from ``server`` (the host webhooks accept)."""
    return msgspec.structs.replace(config, index=msgspec.structs.replace(config.index, token_hosts=[server.host_port]))


def current_commit(conn: Conn) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT s.commit_sha FROM repositories r JOIN snapshots s ON s.id = r.current_snapshot_id"
    ).fetchone()


def test_signed_push__of_a_repository_indexed_under_another_spelling_makes_that_one_current(
    pipeline_config: Config, conn: Conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository is served as ``acme/app`` only; the push names ``acme/app.git``. The push's job is the first
    row's and fetches the URL that row was indexed from, so it works and makes that row current."""
    with https_git_server(tmp_path, monkeypatch, "acme/app") as (server, repository):
        config = with_token_host(pipeline_config, server)
        first = commit_files(repository, {"src/a.ts": "export const a = 1;\n"}, "first")
        with app_client(config) as client:
            assert client.post("/index", json={"repository": f"{server.url}/acme/app"}).status_code == 202
            assert Coordinator(config, until_idle=True).run(install_signal_handlers=False) == 0
            assert current_commit(conn) == (first,)
            pushed = commit_files(repository, {"src/a.ts": "export const a = 2;\n"}, "second")
            response = deliver(client, github_push(after=pushed, clone_url=f"{server.url}/acme/app.git"))
        assert response.status_code == 202, response.text
        assert Coordinator(config, until_idle=True).run(install_signal_handlers=False) == 0
    job = job_of(conn, response)
    assert job.status is IndexJobStatus.COMPLETED, job.error_message
    [(repository_id, _, git_url)] = repositories(conn)
    assert (job.repository_id, git_url) == (repository_id, f"{server.url}/acme/app")
    assert current_commit(conn) == (pushed,)


def test_signed_push__is_indexed_by_a_worker_and_becomes_the_current_index(
    pipeline_config: Config, conn: Conn, served: tuple[GitHttpServer, pygit2.Repository]
) -> None:
    server, repository = served
    commit_files(repository, {"src/a.ts": "export const a = 1;\n"}, "first")
    pushed = commit_files(repository, {"src/a.ts": "export const a = 2;\n", "src/b.ts": "export const b = a;\n"}, "b")
    config = with_token_host(pipeline_config, server)
    with app_client(config) as client:
        response = deliver(client, github_push(after=pushed, clone_url=f"{server.url}/acme/app.git"))
    assert response.status_code == 202, response.text

    assert Coordinator(config, until_idle=True).run(install_signal_handlers=False) == 0

    job = job_of(conn, response)
    assert job.status is IndexJobStatus.COMPLETED, job.error_message
    current = conn.execute(
        "SELECT s.commit_sha, r.full_name FROM repositories r JOIN snapshots s ON s.id = r.current_snapshot_id "
        "WHERE r.id = %s",
        [job.repository_id],
    ).fetchone()
    assert current == (pushed, "acme/app")
    symbols = conn.execute(
        "SELECT f.path, s.name FROM repositories r JOIN snapshot_files f ON f.snapshot_id = r.current_snapshot_id "
        "JOIN symbols s ON s.file_result_id = f.file_result_id WHERE r.id = %s ORDER BY 1",
        [job.repository_id],
    ).fetchall()
    assert symbols == [("src/a.ts", "a"), ("src/b.ts", "b")]
