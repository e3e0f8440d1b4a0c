"""Behind a real pgbouncer in transaction mode: connecting, the queue, LISTEN, migrations, the API and the pipeline.

pgbouncer hands each transaction to whichever of its two server connections per database is free, so anything that
relies on the session (a startup ``search_path``, a prepared statement, LISTEN) breaks within a few transactions.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import psycopg
import pytest
from litestar.testing import TestClient
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.api.app import create_app
from pipeline.config import Config
from pipeline.coordinator import Coordinator
from pipeline.db import connect
from pipeline.errors import DatabaseError, MigrationError
from pipeline.index_jobs import IndexJobStatus
from pipeline.migrate import ensure_schema
from pipeline.queue.client import Queue
from pipeline.queue.listener import APPLICATION_NAME as LISTENER_NAME
from pipeline.queue.listener import Listener
from pipeline.queue.worker import Job, Worker
from tests.conftest import ROOT, SCHEMA, DatabaseFactory, Pgbouncer, server_reachable_tmpdir
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

WAIT = 30.0  # seconds: the bound of every wait below, never reached when things work
QUEUE = "pooled"


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


def tables_in(direct_url: str, schema: str) -> list[str]:
    """The tables of ``schema``, read over a plain direct connection (no search_path involved)."""
    with psycopg.connect(direct_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema]
        ).fetchall()
    return [row[0] for row in rows]


def pooled(config: Config, *, autocommit: bool = True) -> psycopg.Connection[TupleRow]:
    return connect(config.database.url, SCHEMA, autocommit=autocommit, transaction_pooler=True)


def with_queue(config: Config, **queue: Any) -> Config:
    return msgspec.structs.replace(config, queue=msgspec.structs.replace(config.queue, **queue))


def write_config(config: Config, path: Path) -> Path:
    """A config file with ``config``'s database settings, for the CLI."""
    database = config.database
    path.write_text(
        "[database]\n"
        f"url = {database.url!r}\n"
        f"direct_url = {database.direct_url!r}\n"
        f"transaction_pooler = {str(database.transaction_pooler).lower()}\n"
        f"schema = {database.schema!r}\n"
    )
    return path


def cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pipeline ARGS --config CONFIG`` as a user would, without database variables around."""
    environ = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k and k != "SUPABASE_DB_URL"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=ROOT,
        env=environ,
        check=False,
    )


def test_pooler__a_direct_connection_is_refused_and_a_pooled_one_works(pooled_config: Config) -> None:
    with pytest.raises(DatabaseError, match="unsupported startup parameter: options"):
        connect(pooled_config.database.url, SCHEMA)
    with pooled(pooled_config) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_pooler__every_transaction_finds_the_schema_and_nothing_is_prepared(pooled_config: Config) -> None:
    """Many more transactions than psycopg's prepare threshold, from more clients than pgbouncer has server
    connections, started every way a transaction starts: each runs with the schema's search_path, and no statement
    is left prepared on any server connection."""
    clients = [pooled(pooled_config, autocommit=autocommit) for autocommit in (True, False, True, False)]
    search_path = ('"pipeline"',)
    try:
        for _ in range(25):
            for conn in clients:
                if conn.autocommit:
                    assert conn.execute("SELECT current_setting('search_path')").fetchone() == search_path
                    with conn.transaction():
                        conn.execute("SELECT count(*) FROM jobs")
                        assert conn.execute("SELECT current_setting('search_path')").fetchone() == search_path
                else:
                    assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
                    assert conn.execute("SELECT current_setting('search_path')").fetchone() == search_path
                    conn.commit()
        prepared = {conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() for conn in clients}
        assert prepared == {(0,)}
        for conn in clients:
            conn.commit()  # a client leaving in a transaction would have pgbouncer drop its server connection
        assert server_search_paths(pooled_config.database.url) == {DEFAULT_SEARCH_PATH}, "session state leaked"
    finally:
        for conn in clients:
            conn.close()


DEFAULT_SEARCH_PATH = ('"$user", public',)


def server_search_paths(url: str) -> set[tuple[Any, ...] | None]:
    """``search_path`` as a plain client (one that sets nothing) finds it on each of pgbouncer's server connections:
    as many open transactions at once as there are server connections, so each holds a different one."""
    plain = [psycopg.connect(url, prepare_threshold=None) for _ in range(Pgbouncer.POOL_SIZE)]
    try:
        found = {conn.execute("SHOW search_path").fetchone() for conn in plain}
        backends = {conn.execute("SELECT pg_backend_pid()").fetchone() for conn in plain}
        assert len(backends) == Pgbouncer.POOL_SIZE, "the plain clients did not get every server connection"
        return found
    finally:
        for conn in plain:
            conn.close()


def test_pooler__copy_through_the_pooler_lands_in_the_schema(pooled_config: Config) -> None:
    with pooled(pooled_config, autocommit=False) as conn:
        with conn.cursor().copy("COPY workers (id, queue, host, pid) FROM STDIN") as copy:
            copy.write_row(("w1", "q", "h", 1))
        conn.commit()
    with pooled(pooled_config) as conn:
        assert conn.execute("SELECT id FROM workers").fetchall() == [("w1",)]
    assert tables_in(pooled_config.database.direct_url, "public") == []


def test_pooler__claim_and_complete_loops_from_more_clients_than_server_connections(pooled_config: Config) -> None:
    """Four claim loops on their own pooled connections share pgbouncer's two server connections for hundreds of
    claim/complete transactions: every job runs exactly once and is completed."""
    jobs, loops = 300, 4
    ran: list[uuid.UUID] = []
    ran_lock = threading.Lock()

    def handler(job: Job) -> object:
        with ran_lock:
            ran.append(job.id)
        return {"ok": True}

    with Queue.from_config(pooled_config) as queue:
        sent = set(queue.send_many(QUEUE, [{"n": n} for n in range(jobs)]))
    failures: list[BaseException] = []

    def claim_loop() -> None:
        worker = Worker.from_config(pooled_config, QUEUE, handler, batch_size=4, maintenance=False)
        try:
            with pooled(pooled_config) as conn:
                while worker.run_once(conn):
                    pass
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=claim_loop) for _ in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not failures, failures
    assert sorted(ran) == sorted(sent)
    with Queue.from_config(pooled_config) as queue:
        [health] = [report for report in queue.health() if report.queue == QUEUE]
    assert health.counts["completed"] == jobs


def test_pooler__a_listener_on_the_direct_url_hears_a_job_sent_through_the_pooler(pooled_config: Config) -> None:
    heard: list[bool] = []
    listener = Listener(pooled_config.database.direct_url, SCHEMA, QUEUE, lambda: heard.append(True))
    with listener.connect() as conn:  # returns once LISTEN is active
        with Queue.from_config(pooled_config) as queue:
            queue.send(QUEUE, {})
        deadline = time.monotonic() + WAIT
        while not heard and time.monotonic() < deadline:
            listener.run_once(conn, 0.5)
    assert heard == [True]


def test_pooler__a_worker_listens_on_the_direct_url_and_a_send_wakes_it(pooled_config: Config) -> None:
    """With an hour between polls, only the notification can get a job sent to an idle worker run."""
    config = with_queue(pooled_config, poll_interval=3600.0)
    ran = threading.Event()
    worker = Worker.from_config(config, QUEUE, lambda job: ran.set(), maintenance=False)
    assert worker.listen_url == pooled_config.database.direct_url
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        assert worker.listening.wait(WAIT)
        with psycopg.connect(pooled_config.database.direct_url, autocommit=True) as direct:
            listening = direct.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s AND query LIKE 'LISTEN%%'",
                [LISTENER_NAME],
            ).fetchone()
        assert listening == (1,)
        with Queue.from_config(config) as queue:
            queue.send(QUEUE, {})
        assert ran.wait(WAIT)
    finally:
        worker.stop()
        thread.join(WAIT)
    assert not thread.is_alive()


@pytest.fixture
def empty_pooled_config(config: Config, pgbouncer: Pgbouncer, empty_database_url: str) -> Config:
    """Like ``pooled_config``, on a database with no schema at all."""
    database = msgspec.structs.replace(
        config.database,
        url=pgbouncer.url(empty_database_url),
        direct_url=empty_database_url,
        transaction_pooler=True,
    )
    return msgspec.structs.replace(config, database=database)


def test_pooler__commands_migrate_over_the_direct_url_and_public_stays_empty(empty_pooled_config: Config) -> None:
    direct = empty_pooled_config.database.direct_url
    assert ensure_schema(empty_pooled_config) == empty_pooled_config.database.url
    assert "jobs" in tables_in(direct, SCHEMA)
    assert tables_in(direct, "public") == []


def test_pooler__a_pooler_ignoring_the_startup_search_path_is_refused_and_nothing_lands_in_public(
    config: Config, workaround_pgbouncer: Pgbouncer, empty_database_url: str
) -> None:
    """What ``status`` did with the workaround and no pooler configured: migrate through it, into ``public``."""
    database = msgspec.structs.replace(config.database, url=workaround_pgbouncer.url(empty_database_url))
    with pytest.raises(MigrationError, match="ignored the search_path sent when connecting"):
        ensure_schema(msgspec.structs.replace(config, database=database))
    assert tables_in(empty_database_url, "public") == []
    assert tables_in(empty_database_url, SCHEMA) == []


@pytest.mark.slow
def test_pooler__a_repository_is_indexed_and_served_end_to_end(pooled_config: Config, tmp_path: Path) -> None:
    """``enqueue`` (its job inserted in the caller's transaction), the coordinator with its writer, the API,
    ``status``, ``health`` and ``db status``: all through pgbouncer."""
    repo_path = tmp_path / "demo-repo"
    commit_files(new_repository(repo_path), SOURCES_V1, "first")
    index = msgspec.structs.replace(
        pooled_config.index, parsers=1, jobs=2, tmp_dir=str(tmp_path / "work"), progress_interval=0.2
    )
    config = msgspec.structs.replace(pooled_config, index=index)
    config_path = write_config(config, tmp_path / "pooled.toml")
    enqueued = cli(config_path, "enqueue", str(repo_path), "--json")
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = uuid.UUID(orjson.loads(enqueued.stdout)["job_id"])
    assert Coordinator(config, until_index_job=job_id).run(install_signal_handlers=False) == 0

    with pooled(config) as conn:
        done = index_jobs.get(conn, job_id)
    assert done is not None
    assert done.status == IndexJobStatus.COMPLETED, done.error_message
    assert done.stats["symbols"] > 0

    with TestClient(create_app(config, environ={})) as client:
        job = client.get(f"/jobs/{job_id}")
        assert job.status_code == 200
        assert job.json()["status"] == "completed"
        repository = client.get(f"/repositories/{done.repository_id}")
        assert repository.status_code == 200
        assert repository.json()["current"]["commit_sha"] == done.commit_sha
        health = client.get("/health")
        assert health.status_code == 200, health.text

    status = cli(config_path, "status", str(job_id), "--json")
    assert status.returncode == 0, status.stderr
    assert orjson.loads(status.stdout)["status"] == "completed"
    for command in (("health", "--json"), ("db", "status", "--json")):
        result = cli(config_path, *command)
        assert result.returncode == 0, (command, result.stderr)
    assert tables_in(config.database.direct_url, "public") == []


@pytest.mark.parametrize("transaction_pooler", [False, True], ids=["direct", "pooled"])
def test_connect__a_missing_schema_fails_loudly_instead_of_using_public(
    config: Config, pgbouncer: Pgbouncer, empty_database_url: str, transaction_pooler: bool
) -> None:
    """``public`` is never on the search_path: with the schema missing, a read does not find a same-named table
    there and a CREATE has nowhere to go."""
    with psycopg.connect(empty_database_url, autocommit=True) as admin:
        admin.execute("CREATE TABLE public.jobs (id int)")
    url = pgbouncer.url(empty_database_url) if transaction_pooler else empty_database_url
    with connect(url, SCHEMA, autocommit=True, transaction_pooler=transaction_pooler) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT count(*) FROM jobs")
        with pytest.raises(psycopg.errors.InvalidSchemaName, match="no schema has been selected to create in"):
            conn.execute("CREATE TABLE workers (id int)")
    assert tables_in(empty_database_url, "public") == ["jobs"]


def test_pgbouncer__a_port_taken_before_it_binds_is_replaced_by_another(test_databases: DatabaseFactory) -> None:
    bouncer = Pgbouncer(test_databases.admin_url, server_reachable_tmpdir("indexer-test-pgbouncer-"))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", bouncer.port))
        squatter.listen()
        taken = bouncer.port
        try:
            bouncer.start()
            assert bouncer.port != taken
            with psycopg.connect(bouncer.url(test_databases.admin_url), autocommit=True) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        finally:
            bouncer.stop()
