"""What the dashboard reads beyond the job API, against the real app and a real database: a job's timeline, the
charts' time series, the job list's time filters, and the API reference page."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from pipeline.api.dashboard_routes import MAX_SERIES_MINUTES
from pipeline.db import query
from tests.integration.api.conftest import TOKEN, client_for
from tests.integration.api.test_api import enqueue

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]


def this_minute(conn: Conn) -> datetime:
    row = conn.execute("SELECT date_trunc('minute', now())").fetchone()
    assert row is not None
    minute: datetime = row[0]
    return minute


def insert_job(
    conn: Conn,
    repository_id: uuid.UUID,
    status: str,
    created_at: datetime,
    *,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    stats: dict[str, Any] | None = None,
) -> uuid.UUID:
    """An index job with the given history, as the worker would have left it."""
    row = conn.execute(
        "INSERT INTO index_jobs (repository_id, status, created_at, started_at, completed_at, stats)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        [repository_id, status, created_at, started_at, completed_at, Jsonb(stats or {})],
    ).fetchone()
    assert row is not None
    job_id: uuid.UUID = row[0]
    return job_id


def new_repository(conn: Conn, name: str = "octo/charts") -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO repositories (full_name, git_url) VALUES (%s, %s) RETURNING id",
        [name, f"https://github.com/{name}"],
    ).fetchone()
    assert row is not None
    repository_id: uuid.UUID = row[0]
    return repository_id


# ----- GET /jobs/series -----


def test_series__counts_finished_jobs_spreads_files_over_runs_and_samples_the_queue_depth(
    client: Client, conn: Conn
) -> None:
    minute = this_minute(conn)

    def at(minutes_ago: int, second: int = 0) -> datetime:
        return minute - timedelta(minutes=minutes_ago) + timedelta(seconds=second)

    repository = new_repository(conn)
    # at(5, 10) is 10 s into the minute that started 5 minutes before this one
    # ran 120 s from at(5, 10), 120 files: one a second, 50 s of it in minute 5, 60 s in minute 4, 10 s in minute 3
    insert_job(
        conn,
        repository,
        "completed",
        at(5, 1),
        started_at=at(5, 10),
        completed_at=at(3, 10),
        stats={"files_parsed": 120},
    )
    # waited from at(4, 1) until cancelled at at(2, 30) without starting
    insert_job(conn, repository, "cancelled", at(4, 1), completed_at=at(2, 30))
    # waited 4 s, failed 15 s later
    insert_job(conn, repository, "failed", at(3, 1), started_at=at(3, 5), completed_at=at(3, 20))
    # waiting since at(6, 1)
    insert_job(conn, repository, "pending", at(6, 1))
    # finished before the window: in no count
    insert_job(
        conn, repository, "completed", at(40), started_at=at(40, 1), completed_at=at(30), stats={"files_parsed": 1000}
    )

    response = client.get("/jobs/series", params={"minutes": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["minutes"] == 10
    assert len(body["points"]) == 10
    points = {datetime.fromisoformat(point["at"]): point for point in body["points"]}
    # the current minute last (the next one, if the clock passed a minute since `minute` was read)
    assert datetime.fromisoformat(body["points"][-1]["at"]) in (minute, minute + timedelta(minutes=1))

    def series(key: str, minutes_ago: int) -> Any:
        return points[at(minutes_ago)][key]

    assert [series("completed", ago) for ago in (5, 4, 3, 2)] == [0, 0, 1, 0]
    assert [series("failed", ago) for ago in (5, 4, 3, 2)] == [0, 0, 1, 0]
    assert [series("files_per_second", ago) for ago in (6, 5, 4, 3, 2)] == pytest.approx(
        [0, 50 / 60, 1.0, 10 / 60, 0], abs=0.002
    )
    # at each minute's end: the pending job from minute 6 on, plus the cancelled one in minutes 4 and 3
    assert [series("queue_depth", ago) for ago in (7, 6, 5, 4, 3, 2, 1)] == [0, 1, 1, 2, 2, 1, 1]


@pytest.mark.parametrize("minutes", [0, MAX_SERIES_MINUTES + 1, "hour"])
def test_series__a_window_out_of_bounds_is_400_naming_it(client: Client, minutes: object) -> None:
    response = client.get("/jobs/series", params={"minutes": minutes})
    assert response.status_code == 400
    assert "minutes" in response.json()["detail"]


def test_series__a_whole_day_is_one_point_a_minute(client: Client) -> None:
    points = client.get("/jobs/series", params={"minutes": MAX_SERIES_MINUTES}).json()["points"]
    assert len(points) == MAX_SERIES_MINUTES
    assert all(point["queue_depth"] == 0 and point["completed"] == 0 for point in points)


# ----- GET /jobs/{id}/timeline -----


def test_timeline__lists_the_events_and_the_queue_jobs_attempts_and_404_for_an_unknown_job(client: Client) -> None:
    job_id = enqueue(client, "octo/demo")
    timeline = client.get(f"/jobs/{job_id}/timeline").json()
    assert timeline["job_id"] == job_id
    assert [event["event"] for event in timeline["events"]] == ["enqueued"]
    carrier = timeline["queue_job"]
    assert (carrier["state"], carrier["attempts"], carrier["unfinished"]) == ("created", 0, [])
    assert carrier["max_attempts"] >= 1

    assert client.post(f"/admin/jobs/{job_id}/cancel").status_code == 202
    timeline = client.get(f"/jobs/{job_id}/timeline").json()
    events = [event["event"] for event in timeline["events"]]
    assert events[0] == "enqueued"
    assert "cancelled" in events
    assert timeline["queue_job"]["state"] == "cancelled"

    assert client.get(f"/jobs/{uuid.uuid4()}/timeline").status_code == 404


def test_timeline__without_its_queue_job_has_none(client: Client, conn: Conn) -> None:
    job_id = insert_job(conn, new_repository(conn), "completed", this_minute(conn))
    timeline = client.get(f"/jobs/{job_id}/timeline").json()
    assert (timeline["events"], timeline["queue_job"]) == ([], None)


def test_dashboard_reads__need_the_token_when_reads_are_protected(config: Any) -> None:
    with client_for(config, token=TOKEN, protect_reads=True) as client:
        for path in ("/jobs/series", "/jobs/counts", f"/jobs/{uuid.uuid4()}/timeline"):
            assert client.get(path).status_code == 401, path
        assert client.get("/jobs/series", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# ----- GET /jobs/counts -----


def test_counts__gives_every_status_zero_included(client: Client, conn: Conn) -> None:
    repository = new_repository(conn)
    for status in ("completed", "completed", "failed"):
        insert_job(conn, repository, status, this_minute(conn))
    assert client.get("/jobs/counts").json() == {
        "pending": 0,
        "processing": 0,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
        "skipped": 0,
    }


# ----- GET /jobs?created_from=&created_until= -----


def test_get_jobs__filters_by_creation_time_and_pages_within_it(client: Client, conn: Conn) -> None:
    minute = this_minute(conn)
    repository = new_repository(conn)
    created = {ago: insert_job(conn, repository, "skipped", minute - timedelta(minutes=ago)) for ago in range(6)}
    window = {
        "created_from": (minute - timedelta(minutes=4)).isoformat(),
        "created_until": (minute - timedelta(minutes=1)).isoformat(),
    }
    first = client.get("/jobs", params={**window, "limit": 2}).json()
    assert [job["id"] for job in first["jobs"]] == [str(created[2]), str(created[3])]  # until is exclusive
    rest = client.get("/jobs", params={**window, "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [job["id"] for job in rest["jobs"]] == [str(created[4])]  # from is inclusive
    assert rest["next_cursor"] is None
    since = client.get("/jobs", params={"created_from": window["created_until"]}).json()
    assert [job["id"] for job in since["jobs"]] == [str(created[0]), str(created[1])]


@pytest.mark.parametrize("field", ["created_from", "created_until"])
@pytest.mark.parametrize("value", ["2026-01-31T12:00:00", "yesterday"])
def test_get_jobs__a_time_without_a_zone_or_not_a_time_is_400_naming_it(client: Client, field: str, value: str) -> None:
    response = client.get("/jobs", params={field: value})
    assert response.status_code == 400
    assert field in response.json()["detail"]


# ----- the API reference page -----


def test_schema_page__lists_the_operations_from_the_document_it_reads(client: Client) -> None:
    page = client.get("/schema/swagger")
    assert page.status_code == 200
    assert '<script src="/static/api.js">' in page.text
    assert client.get("/schema").text == page.text
    script = client.get("/static/api.js")
    assert script.status_code == 200
    assert 'fetch("/openapi.json"' in script.text
    assert "/jobs/series" in client.get("/openapi.json").json()["paths"]


def test_series__reads_only_recent_and_unfinished_jobs_by_index_not_every_job(client: Client, conn: Conn) -> None:
    """A long history of finished jobs must not be read for a window of the last minutes."""
    repository = new_repository(conn)
    conn.execute(
        "INSERT INTO index_jobs (repository_id, status, created_at, started_at, completed_at)"
        " SELECT %s, 'completed', now() - interval '30 days', now() - interval '30 days',"
        "        now() - interval '30 days' + n * interval '1 second'"
        " FROM generate_series(1, 20000) AS n",
        [repository],
    )
    insert_job(conn, repository, "pending", this_minute(conn))
    conn.execute("ANALYZE index_jobs")
    plan = conn.execute(b"EXPLAIN (FORMAT JSON) " + query("index_job_series").encode(), {"minutes": 60}).fetchone()
    assert plan is not None
    text = orjson.dumps(plan[0]).decode()
    assert '"Index Name":"index_jobs_finished"' in text, text
    assert '"Relation Name":"index_jobs"' in text, text
    assert not [
        node
        for node in plan_nodes(plan[0])
        if node.get("Relation Name") == "index_jobs" and node["Node Type"] == "Seq Scan"
    ], text


def plan_nodes(plan: Any) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    found: list[dict[str, Any]] = []
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found
