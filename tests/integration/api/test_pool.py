"""The API's connection pool against the real app and a real Postgres: reuse, the size bound, recovery from dropped
and restarted backends, 503 when no connection comes in time, and no backend left after shutdown."""

from __future__ import annotations

import select
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg import pq
from psycopg.rows import TupleRow

from pipeline.api.app import create_app
from pipeline.api.pool import APPLICATION_NAME, DatabasePool
from pipeline.api.routes import ApiContext
from pipeline.config import Config
from pipeline.embedded_pg import EmbeddedPostgres
from tests.integration.queue.conftest import wait_until

Client = TestClient[Litestar]
Conn = psycopg.Connection[TupleRow]


def api_backends(conn: Conn) -> set[int]:
    """Process ids of this database's backends opened by the API's pool."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        [APPLICATION_NAME],
    ).fetchall()
    return {pid for (pid,) in rows}


def pool_of(client: Client) -> DatabasePool:
    context: ApiContext = client.app.state.context
    return context.database


@contextmanager
def running(config: Config, *, min_size: int = 1, max_size: int = 8, timeout: float = 5.0) -> Iterator[Client]:
    app = create_app(config, environ={}, pool_min_size=min_size, pool_max_size=max_size, pool_timeout=timeout)
    with TestClient(app) as client:
        yield client


def test_pool__sequential_requests_reuse_the_same_backends(config: Config, conn: Conn) -> None:
    with running(config, min_size=2, max_size=2) as client:
        assert client.get("/jobs").status_code == 200
        # the pool opens its connections in the background (and may grow before they are ready, up to
        # max_size): sample once it has all it can have
        wait_until(lambda: len(api_backends(conn)) == 2)
        first = api_backends(conn)
        for _ in range(20):
            assert client.get("/jobs").status_code == 200
            assert client.get("/health").status_code == 200
        assert first
        assert api_backends(conn) == first


def test_pool__concurrent_requests_open_at_most_max_size_backends(config: Config, conn: Conn) -> None:
    seen: set[int] = set()
    most = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal most
        with psycopg.connect(config.database.url, autocommit=True) as watcher:
            while not done.is_set():
                backends = api_backends(watcher)
                seen.update(backends)
                most = max(most, len(backends))
                time.sleep(0.01)

    with running(config, min_size=1, max_size=3) as client:
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with ThreadPoolExecutor(max_workers=12) as workers:
                statuses = list(workers.map(lambda _: client.get("/metrics").status_code, range(60)))
        finally:
            done.set()
            sampler.join()
        assert statuses == [200] * 60
        assert 1 <= most <= 3
        assert 1 <= len(api_backends(conn)) <= 3
    assert len(seen) <= 3  # no backend was replaced: every request reused the pool's connections


def test_pool__pooled_connections_have_the_session_settings_of_pipeline_connections(config: Config) -> None:
    with running(config) as client, pool_of(client).connection() as pooled:
        assert pooled.autocommit is True
        settings = pooled.execute("SELECT current_setting('search_path'), current_setting('application_name')")
        assert settings.fetchone() == (f'"{config.database.schema}"', APPLICATION_NAME)
        assert pooled.execute("SELECT count(*) FROM index_jobs").fetchone() == (0,)


def test_pool__requests_succeed_after_the_pools_backends_are_terminated(config: Config, conn: Conn) -> None:
    with running(config, min_size=4, max_size=4) as client:
        assert client.get("/jobs").status_code == 200
        wait_until(lambda: len(api_backends(conn)) == 4)
        before = api_backends(conn)
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(before)])
        wait_until(lambda: not api_backends(conn) & before)
        for _ in range(5):
            assert client.get("/jobs").status_code == 200
            assert client.get("/health").json()["healthy"] is True
        assert api_backends(conn)
        assert not api_backends(conn) & before


def test_pool__a_request_that_gets_no_connection_in_time_is_503_and_the_next_one_succeeds(config: Config) -> None:
    with running(config, min_size=1, max_size=1, timeout=0.5) as client:
        with pool_of(client).connection():
            started = time.monotonic()
            response = client.get("/jobs")
            waited = time.monotonic() - started
            health = client.get("/health")
        assert response.status_code == 503
        assert response.json() == {
            "status_code": 503,
            "detail": "all 1 database connections of the API are busy; none was free within 0.5 s",
            "extra": {"field": None},
        }
        assert waited < 5  # the pool's timeout, not a hang
        assert health.status_code == 503
        assert "busy" in health.json()["error"]
        assert client.get("/jobs").status_code == 200


def test_pool__a_stream_holds_no_connection_between_polls(config: Config) -> None:
    with running(config, min_size=1, max_size=1, timeout=0.5) as client:
        job_id = client.post("/index", json={"repository": "octo/demo"}).json()["job_id"]
        streamed: list[str] = []
        stream = threading.Thread(target=lambda: streamed.append(client.get(f"/jobs/{job_id}/events").text))
        stream.start()
        try:
            # while the stream polls every second, the pool's only connection serves other requests
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                assert client.get(f"/jobs/{job_id}").status_code == 200
                time.sleep(0.05)
        finally:
            assert client.post(f"/admin/jobs/{job_id}/cancel").status_code == 202
            stream.join(timeout=10)
        assert not stream.is_alive()
        [text] = streamed
        assert text.count("event: job") >= 3
        assert '"status":"cancelled"' in text


def test_pool__shutdown_leaves_no_backend_of_the_api(config: Config, conn: Conn) -> None:
    with running(config, min_size=3, max_size=4) as client:
        assert client.get("/jobs").status_code == 200
        wait_until(lambda: len(api_backends(conn)) >= 3)
    wait_until(lambda: not api_backends(conn), timeout=5)


def test_pool__an_app_can_start_again_after_a_shutdown(config: Config) -> None:
    app = create_app(config, environ={})
    for _ in range(2):
        with TestClient(app) as client:
            assert client.get("/jobs").status_code == 200


def test_pool__a_postgres_restart_is_503_while_down_then_requests_succeed(
    config: Config, pg_server: EmbeddedPostgres
) -> None:
    with running(config, min_size=1, max_size=4, timeout=1.0) as client:
        assert client.get("/jobs").status_code == 200
        pg_server.stop()
        try:
            down = [client.get("/jobs") for _ in range(3)]
            health = client.get("/health")
        finally:
            pg_server.start()
        assert [response.status_code for response in down] == [503] * 3
        assert all("cannot connect" in response.json()["detail"] for response in down)
        assert (health.status_code, health.json()["database"]) == (503, False)
        wait_until(lambda: client.get("/jobs").status_code == 200, timeout=30, interval=0.2)
        assert client.get("/health").json()["healthy"] is True


def test_pool__an_unreachable_database_is_503_at_once_naming_why(config: Config) -> None:
    database = msgspec.structs.replace(config.database, url=config.database.url.replace("/test_", "/missing_"))
    unreachable = msgspec.structs.replace(config, database=database)
    with running(unreachable, timeout=30.0) as client:
        started = time.monotonic()
        responses = [client.get(path) for path in ("/jobs", f"/jobs/{uuid.uuid4()}", "/metrics", "/jobs")]
        waited = time.monotonic() - started
    for response in responses:
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert detail.startswith("cannot connect to postgresql://")
        assert "does not exist" in detail
    assert waited < 15  # failing connection attempts are reported without waiting out the 30 s pool timeout


@pytest.mark.parametrize(
    ("sizes", "words"),
    [({"min_size": 3, "max_size": 2}, "min_size <= max_size"), ({"max_size": 0}, "max_size >= 1")],
)
def test_pool__impossible_sizes_are_refused_naming_them(sizes: dict[str, int], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        DatabasePool("postgresql://localhost/none", "pipeline", **sizes)


def sent_by_checkout(pool: DatabasePool, tmp_path: Path, meanwhile: Callable[[Conn], None] = print) -> list[str]:
    """The protocol messages that checking out the pool's one idle connection sends to the server (libpq's trace),
    after ``meanwhile(connection)`` ran while the connection was idle in the pool."""
    trace = tmp_path / "trace.txt"
    with trace.open("w") as sink:
        with pool.connection() as conn:
            conn.pgconn.trace(sink.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        meanwhile(conn)
        with pool.connection() as conn:
            conn.pgconn.untrace()
    return [line for line in trace.read_text().splitlines() if line.startswith("F\t")]


def readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def test_pool__a_healthy_idle_connection_is_handed_out_without_a_round_trip(config: Config, tmp_path: Path) -> None:
    pool = DatabasePool(config.database.url, config.database.schema, min_size=1, max_size=1)
    pool.open()
    try:
        assert sent_by_checkout(pool, tmp_path) == []
    finally:
        pool.close()


def test_pool__a_connection_with_input_waiting_is_checked_and_still_handed_out(
    config: Config, conn: Conn, tmp_path: Path
) -> None:
    pool = DatabasePool(config.database.url, config.database.schema, min_size=1, max_size=1)
    pool.open()
    try:
        with pool.connection() as pooled:
            pooled.execute("LISTEN pool_test")
            backend = pooled.info.backend_pid

        def notify(idle: Conn) -> None:  # input on an idle, healthy connection
            conn.execute("NOTIFY pool_test")
            wait_until(lambda: readable(idle.fileno()))

        sent = sent_by_checkout(pool, tmp_path, notify)
        assert [line.split("\t")[2] for line in sent] == ["Query"], "the check ran"
        with pool.connection() as pooled:
            assert pooled.info.backend_pid == backend
            assert pooled.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
