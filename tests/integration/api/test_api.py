"""The HTTP API against the real app and a real database: every endpoint, every error status, pagination, auth."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import psycopg
import pygit2
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.api import store
from pipeline.api.app import create_app
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.index_jobs import IndexJobStatus
from pipeline.queue.client import Queue
from tests.claims import claim_and_start
from tests.integration.api.conftest import TOKEN, client_for

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]


def enqueue(client: Client, repository: str, **fields: object) -> str:
    response = client.post("/index", json={"repository": repository, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


# ----- POST /index -----


def test_post_index__creates_a_pending_job_and_a_duplicate_returns_it_with_200(client: Client, repo_path: Path) -> None:
    first = client.post("/index", json={"repository": str(repo_path), "priority": 5})
    assert first.status_code == 202
    body = first.json()
    assert body["status"] == "pending"
    assert body["created"] is True
    again = client.post("/index", json={"repository": str(repo_path), "priority": 5})
    assert again.status_code == 200
    assert again.json() == {**body, "created": False}


def test_post_index__accepts_owner_name_and_urls(client: Client) -> None:
    by_name = client.get(f"/jobs/{enqueue(client, 'octo/demo')}").json()
    assert by_name["git_url"] == "https://github.com/octo/demo"
    assert by_name["repository"] == "octo/demo"
    by_url = client.get(f"/jobs/{enqueue(client, 'https://example.test/team/app.git', ref='main')}").json()
    assert (by_url["git_url"], by_url["ref"]) == ("https://example.test/team/app.git", "main")


def test_post_index__force_is_kept_on_the_job_upgrades_a_duplicate_and_survives_a_retry(
    client: Client, conn: Conn
) -> None:
    def forced(job_id: str) -> bool:
        found = index_jobs.get(conn, uuid.UUID(job_id))
        assert found is not None
        return found.force

    plain = enqueue(client, "octo/other")
    assert not forced(plain)
    job_id = enqueue(client, "octo/demo")
    again = client.post("/index", json={"repository": "octo/demo", "force": True})
    assert again.status_code == 200
    assert again.json()["job_id"] == job_id
    assert forced(job_id), "a forced request that finds the unfinished job forces it"
    assert [event.event for event in index_jobs.events(conn, uuid.UUID(job_id))][-1] == "forced"

    index_jobs.fail(conn, uuid.UUID(job_id), "boom", stage="fetch", final=True)
    retried = client.post(f"/admin/jobs/{job_id}/retry")
    assert retried.status_code == 202, retried.text
    assert forced(retried.json()["job_id"]), "an operator's retry of a forced job is forced"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repository": 5}, "repository"),
        ({"repository": "octo/demo", "force": "yes"}, "force"),
        ({}, "repository"),
        ({"repository": ""}, "repository"),
        ({"repository": "octo/de\u0000mo"}, "repository"),
        ({"repository": "octo/demo", "commit_sha": "xyz"}, "commit_sha"),
        ({"repository": "octo/demo", "priority": "high"}, "priority"),
        ({"repository": "octo/demo", "ref": ""}, "ref"),
        ({"repository": "octo/demo", "colour": "red"}, "colour"),
    ],
)
def test_post_index__an_invalid_body_is_400_naming_the_field(client: Client, body: object, field: str) -> None:
    response = client.post("/index", json=body)
    assert response.status_code == 400
    assert field in response.json()["detail"]


def test_post_index__a_body_that_is_not_json_is_400(client: Client) -> None:
    response = client.post("/index", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "malformed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"repository": "/no/such/repository"}, "repository", "does not exist"),
        ({"repository": "https://user:hunter2@example.test/o/r.git"}, "repository", "carries credentials"),
        ({"repository": "octo/demo", "ref": "bad..ref"}, "ref", "not a valid git ref"),
    ],
)
def test_post_index__a_target_or_ref_that_cannot_be_indexed_is_422_naming_the_field(
    client: Client, body: object, field: str, words: str, conn: Conn
) -> None:
    response = client.post("/index", json=body)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: ")
    assert words in response.json()["detail"]
    assert response.json()["extra"] == {"field": field}
    assert "hunter2" not in response.text
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (0,)


def test_post_index__a_ref_and_a_commit_sha_together_are_400_and_enqueue_nothing(client: Client, conn: Conn) -> None:
    response = client.post("/index", json={"repository": "octo/demo", "ref": "main", "commit_sha": "abcdef1"})
    assert response.status_code == 400
    assert response.json()["status_code"] == 400
    assert "give `ref` or `commit_sha`, not both" in response.json()["detail"]
    assert conn.execute("SELECT count(*) FROM index_jobs").fetchone() == (0,)


def test_post_index__a_local_commit_spelled_short_or_full_in_any_case_is_one_job(
    client: Client, repo_path: Path
) -> None:
    full = str(pygit2.Repository(str(repo_path)).head.target)
    first = client.post("/index", json={"repository": str(repo_path), "commit_sha": full[:7]})
    assert first.status_code == 202
    assert client.get(f"/jobs/{first.json()['job_id']}").json()["commit_sha"] == full
    for spelling in (full.upper(), full[:12].upper(), full):
        again = client.post("/index", json={"repository": str(repo_path), "commit_sha": spelling})
        assert (again.status_code, again.json()["job_id"]) == (200, first.json()["job_id"]), spelling


def test_post_index__an_unknown_short_sha_of_a_local_repository_is_kept_for_the_fetch_to_refuse(
    client: Client, repo_path: Path
) -> None:
    job_id = enqueue(client, str(repo_path), commit_sha="ABCDEF1")
    assert client.get(f"/jobs/{job_id}").json()["commit_sha"] == "abcdef1"


@pytest.fixture
def served_repository(repo_path: Path, tmp_path: Path) -> Iterator[str]:
    """``repo_path`` as a bare copy behind ``git daemon`` on a loopback port: a remote, whose short shas the API
    cannot expand before fetching."""
    root = tmp_path / "served"
    pygit2.clone_repository(str(repo_path), str(root / "demo.git"), bare=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={root}", "--listen=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert daemon.poll() is None, "git daemon exited at start-up"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "git daemon did not listen"
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/demo.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_post_index__a_remote_commit_spelled_short_and_full_is_two_jobs_but_one_current_snapshot(
    pipeline_config: Config, repo_path: Path, served_repository: str, conn: Conn
) -> None:
    full = str(pygit2.Repository(str(repo_path)).head.target)
    with TestClient(create_app(pipeline_config, environ={})) as client:
        short_id = enqueue(client, served_repository, commit_sha=full[:9])
        full_id = enqueue(client, served_repository, commit_sha=full.upper())
        assert short_id != full_id, "a remote short sha is kept as given until the fetch resolves it"
        assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
        jobs = [client.get(f"/jobs/{job_id}").json() for job_id in (short_id, full_id)]
        assert [job["commit_sha"] for job in jobs] == [full, full]
        assert sorted(job["status"] for job in jobs) in (["completed", "completed"], ["completed", "skipped"])
        repository = client.get(f"/repositories/{jobs[0]['repository_id']}").json()
    assert repository["current"]["commit_sha"] == full
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,), "the other job's snapshot is gone"


# ----- GET /jobs/{id} and GET /jobs -----


def test_get_job__returns_the_job_and_404_for_an_unknown_or_malformed_id(client: Client) -> None:
    job_id = enqueue(client, "octo/demo", commit_sha="ABCDEF1")
    job = client.get(f"/jobs/{job_id}").json()
    assert job["id"] == job_id
    assert job["commit_sha"] == "abcdef1"
    assert (job["status"], job["retry_count"], job["progress"], job["stats"]) == ("pending", 0, {}, {})
    assert job["started_at"] is None
    unknown = client.get(f"/jobs/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert "no index job" in unknown.json()["detail"]
    assert client.get("/jobs/not-a-uuid").status_code == 404


def test_get_job__reports_elapsed_time_and_an_eta_once_the_stage_input_is_known(client: Client, conn: Conn) -> None:
    job_id = uuid.UUID(enqueue(client, "octo/demo"))
    assert claim_and_start(conn, job_id, "worker")
    started = conn.execute("SELECT extract(epoch FROM started_at) FROM index_jobs WHERE id = %s", [job_id]).fetchone()
    assert started is not None
    begin = float(started[0])
    progress = {
        "fetch": {"items_in": 10, "items_out": 10, "failed": 0, "finished": True, "updated_at": begin + 1},
        "parse": {"items_in": 10, "items_out": 4, "failed": 1, "finished": False, "updated_at": begin + 2},
    }
    index_jobs.set_progress(conn, job_id, progress, "parse")
    stages = client.get(f"/jobs/{job_id}").json()["progress"]
    assert stages["fetch"]["elapsed_seconds"] == pytest.approx(1.0, abs=0.01)
    assert stages["fetch"]["eta_seconds"] is None
    parse = stages["parse"]
    assert (parse["items_in"], parse["items_out"], parse["failed"], parse["finished"]) == (10, 4, 1, False)
    assert parse["elapsed_seconds"] > 0
    assert parse["eta_seconds"] == pytest.approx(parse["elapsed_seconds"], rel=0.05)  # 5 of 10 done


def job_events(body: str) -> list[dict[str, Any]]:
    return [orjson.loads(line.removeprefix("data: ")) for line in body.splitlines() if line.startswith("data: ")]


def test_job_events__stream_the_job_until_it_is_finished(client: Client, config: Config, conn: Conn) -> None:
    job_id = enqueue(client, "octo/demo")

    def cancel() -> None:
        with Queue(config.database.url, config.database.schema) as queue:
            store.cancel(conn, queue, uuid.UUID(job_id))

    # the test client hands over a response once it has ended, so the job is cancelled while the stream runs
    canceller = threading.Timer(1.5, cancel)
    canceller.start()
    response = client.get(f"/jobs/{job_id}/events")
    canceller.join()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: job" in response.text
    statuses = [event["status"] for event in job_events(response.text)]
    assert statuses[0] == "pending"
    assert statuses[-1] == "cancelled"
    assert statuses.count("cancelled") == 1
    assert len(statuses) >= 2
    finished = client.get(f"/jobs/{job_id}/events")
    assert [event["status"] for event in job_events(finished.text)] == ["cancelled"]
    assert client.get(f"/jobs/{uuid.uuid4()}/events").status_code == 404


def test_get_jobs__pages_newest_first_without_gaps_or_repeats(client: Client) -> None:
    created = [enqueue(client, f"octo/repo{number}") for number in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/jobs", params=params).json()
        seen += [job["id"] for job in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


def test_get_jobs__filters_by_status_and_repository(client: Client) -> None:
    first = enqueue(client, "octo/one")
    second = enqueue(client, "octo/two")
    assert client.post(f"/admin/jobs/{first}/cancel").status_code == 202
    cancelled = client.get("/jobs", params={"status": "cancelled"}).json()["jobs"]
    assert [job["id"] for job in cancelled] == [first]
    by_name = client.get("/jobs", params={"repository": "octo/two"}).json()["jobs"]
    assert [job["id"] for job in by_name] == [second]
    by_url = client.get("/jobs", params={"repository": "https://github.com/octo/one"}).json()["jobs"]
    assert [job["id"] for job in by_url] == [first]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"cursor": "x"}, "cursor"),
        ({"repository": "a\u0000b"}, "repository"),
    ],
)
def test_get_jobs__bad_query_parameters_are_400_naming_them(
    client: Client, params: dict[str, object], field: str
) -> None:
    response = client.get("/jobs", params=params)
    assert response.status_code == 400
    assert field in response.json()["detail"]


# ----- GET /repositories/{id} -----


def test_get_repository__before_indexing_has_no_current_index_and_unknown_is_404(client: Client) -> None:
    job = client.get(f"/jobs/{enqueue(client, 'octo/demo')}").json()
    repository = client.get(f"/repositories/{job['repository_id']}").json()
    assert repository["full_name"] == "octo/demo"
    assert repository["index_jobs"] == 1
    assert repository["current"] is None
    assert client.get(f"/repositories/{uuid.uuid4()}").status_code == 404


# ----- indexing for real: repository summary, metrics, dead letters, retry -----


@pytest.mark.slow
def test_api__a_real_index_run_shows_in_the_job_the_repository_and_the_metrics(
    pipeline_config: Config, repo_path: Path
) -> None:
    with TestClient(create_app(pipeline_config, environ={})) as client:
        job_id = enqueue(client, str(repo_path))
        assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
        job = client.get(f"/jobs/{job_id}").json()
        assert job["status"] == "completed", job["error_message"]
        assert job["stats"]["symbols"] > 0
        assert {"fetch", "parse", "write"} <= set(job["progress"])
        assert all(stage["finished"] and stage["eta_seconds"] is None for stage in job["progress"].values())
        repository = client.get(f"/repositories/{job['repository_id']}").json()
        current = repository["current"]
        assert current["commit_sha"] == job["commit_sha"]
        assert current["index_job_id"] == job_id
        assert current["files"] > 0
        assert current["stats"]["symbols"] == job["stats"]["symbols"]
        assert repository["last_indexed_at"] is not None
        metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = parse_metrics(metrics.text)
    assert samples['pipeline_index_jobs{status="completed"}'] == 1
    assert samples["pipeline_index_jobs_completed_total"] == 1
    assert samples["pipeline_index_jobs_failed_total"] == 0
    assert samples['pipeline_index_job_duration_seconds_count{status="completed"}'] == 1
    assert samples['pipeline_index_job_duration_seconds_bucket{le="+Inf",status="completed"}'] == 1
    assert samples["pipeline_index_job_claim_latency_seconds_count"] == 1
    assert samples['pipeline_stage_items_out_total{stage="parse"}'] > 0
    assert samples['pipeline_queue_depth{queue="index-repo"}'] == 0


def parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.slow
def test_admin__a_failed_job_is_a_dead_letter_and_retry_enqueues_a_fresh_job(
    pipeline_config: Config, repo_path: Path, conn: Conn
) -> None:
    with TestClient(create_app(pipeline_config, environ={})) as client:
        failed_id = enqueue(client, str(repo_path), commit_sha="0123456789" * 4)
        assert Coordinator(pipeline_config, until_idle=True).run(install_signal_handlers=False) == 0
        failed = client.get(f"/jobs/{failed_id}").json()
        assert failed["status"] == "failed"
        assert "does not exist" in failed["error_message"]
        letters = client.get("/admin/dead-letters").json()
        assert [letter["index_job_id"] for letter in letters] == [failed_id]
        assert "does not exist" in letters[0]["last_error"]
        assert parse_metrics(client.get("/metrics").text)['pipeline_queue_dead_letters{queue="index-repo"}'] == 1

        retried = client.post(f"/admin/jobs/{failed_id}/retry")
        assert retried.status_code == 202
        body = retried.json()
        assert body["retry_of"] == failed_id
        assert body["status"] == "pending"
        assert body["dead_letters_removed"] == 1
        assert client.get("/admin/dead-letters").json() == []
        fresh = client.get(f"/jobs/{body['job_id']}").json()
        assert (fresh["commit_sha"], fresh["repository_id"]) == (failed["commit_sha"], failed["repository_id"])
        assert client.get(f"/jobs/{failed_id}").json()["status"] == "failed"
        assert [event.event for event in index_jobs.events(conn, uuid.UUID(failed_id))][-1] == "retried"

        conflict = client.post(f"/admin/jobs/{body['job_id']}/retry")
        assert conflict.status_code == 409
        assert "pending" in conflict.json()["detail"]
        assert client.post(f"/admin/jobs/{uuid.uuid4()}/retry").status_code == 404


# ----- cancel -----


def test_cancel__a_pending_job_is_cancelled_with_its_queue_job(client: Client, config: Config, conn: Conn) -> None:
    job_id = enqueue(client, "octo/demo")
    response = client.post(f"/admin/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json() == {"job_id": job_id, "status": "cancelled", "cancel_requested": True}
    record = index_jobs.get(conn, uuid.UUID(job_id))
    assert record is not None
    assert record.status == IndexJobStatus.CANCELLED
    assert record.queue_job_id is not None
    with Queue(config.database.url, config.database.schema) as queue:
        info = queue.get(record.queue_job_id)
    assert info is not None
    assert info.state == "cancelled"
    again = client.post(f"/admin/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    assert client.post(f"/admin/jobs/{uuid.uuid4()}/cancel").status_code == 404


# ----- health -----


def test_health__reports_queue_depth_and_schema_version(client: Client) -> None:
    enqueue(client, "octo/one")
    enqueue(client, "octo/two")
    response = client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert health["healthy"] is True
    assert health["database"] is True
    assert health["schema_version"] == health["expected_schema_version"] > 0
    [queue] = health["queues"]
    assert (queue["queue"], queue["depth"], queue["active_workers"], queue["failed_last_24h"]) == (
        "index-repo",
        2,
        0,
        0,
    )
    assert queue["oldest_waiting_seconds"] >= 0


def test_health__an_unreachable_database_is_503(config: Config) -> None:
    database = msgspec.structs.replace(config.database, url=config.database.url.replace("/test_", "/missing_"))
    with TestClient(create_app(msgspec.structs.replace(config, database=database), environ={})) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] is False
    assert "cannot connect" in response.json()["error"]


def test_health__an_unmigrated_database_is_503(config: Config, empty_database_url: str) -> None:
    database = msgspec.structs.replace(config.database, url=empty_database_url)
    with TestClient(create_app(msgspec.structs.replace(config, database=database), environ={})) as client:
        response = client.get("/health")
    assert response.status_code == 503
    health = response.json()
    assert (health["database"], health["schema_version"]) == (True, None)
    assert "not migrated" in health["error"]


# ----- auth -----


def test_auth__without_a_token_configured_posts_are_open(client: Client) -> None:
    assert client.post("/index", json={"repository": "octo/demo"}).status_code == 202


def test_auth__with_a_token_posts_need_it_and_reads_stay_open(config: Config, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + TOKEN
    with client_for(config, token=TOKEN) as client:
        for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": f"Basic {TOKEN}"}):
            response = client.post("/index", json={"repository": "octo/demo"}, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
            assert wrong not in response.text
            assert all(TOKEN not in value for value in response.headers.values())
        for path in (f"/admin/jobs/{uuid.uuid4()}/retry", f"/admin/jobs/{uuid.uuid4()}/cancel"):
            assert client.post(path).status_code == 401
        authorized = client.post(
            "/index", json={"repository": "octo/demo"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert authorized.status_code == 202
        assert TOKEN not in authorized.text
        assert client.get("/jobs").status_code == 200
        assert client.get("/metrics").status_code == 200
    assert TOKEN not in caplog.text


def test_auth__protect_reads_guards_gets_but_not_health_or_the_dashboard(config: Config) -> None:
    with client_for(config, token=TOKEN, protect_reads=True) as client:
        for path in (
            "/jobs",
            f"/jobs/{uuid.uuid4()}",
            f"/repositories/{uuid.uuid4()}",
            "/metrics",
            "/admin/dead-letters",
        ):
            assert client.get(path).status_code == 401, path
        assert client.get("/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200


def test_auth__the_token_can_come_from_the_environment(config: Config) -> None:
    app = create_app(config, environ={"PIPELINE_API_TOKEN": TOKEN})
    with TestClient(app) as client:
        assert client.post("/index", json={"repository": "octo/demo"}).status_code == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post("/index", json={"repository": "octo/demo"}, headers=headers).status_code == 202


# ----- dashboard and schema -----


def test_dashboard__the_page_and_its_script_are_served(client: Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="enqueue-form"' in page.text
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200
    assert "/admin/dead-letters" in script.text
    assert client.get("/schema/swagger").status_code == 200
