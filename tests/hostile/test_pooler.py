"""Hostile database settings around a transaction pooler: each gets a clear error naming what to change (no
traceback), creates nothing anywhere, and a running worker survives what it can survive.

The CLI runs as a user runs it (a subprocess), against a real pgbouncer in transaction mode.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest

from pipeline.config import Config
from pipeline.queue.client import Queue
from pipeline.queue.states import JobState
from pipeline.queue.worker import Worker
from tests.conftest import SCHEMA, Pgbouncer

WAIT = 30.0  # seconds: the bound of every wait below, never reached when things work
EXIT_FAILED, EXIT_USAGE = 1, 2


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test: bound, never listening, so no other process
    can start listening on it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def cli(
    tmp_path: Path, toml: str, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline ARGS`` with a config file of ``toml``, without database variables around."""
    config_path = tmp_path / "hostile.toml"
    config_path.write_text(toml)
    clean = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k and k != "SUPABASE_DB_URL"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--config", str(config_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=tmp_path,  # no configs/dev.toml or embedded cluster of the checkout in reach
        env={**clean, **(environ or {})},
        check=False,
    )


def assert_clear_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def schemas_with_tables(direct_url: str) -> list[str]:
    with psycopg.connect(direct_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT schemaname FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        created = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [SCHEMA]).fetchone()
    return [row[0] for row in rows] + (["<schema>"] if created != (0,) else [])


def pooler_toml(url: str, *, direct_url: str = "", listen: bool = True) -> str:
    return (
        f"[database]\nurl = {url!r}\ndirect_url = {direct_url!r}\ntransaction_pooler = true\n"
        f"[queue]\nlisten = {str(listen).lower()}\n"
    )


def test_pooler_without_a_direct_url__migrate_refuses_and_creates_nothing(
    tmp_path: Path, pgbouncer: Pgbouncer, empty_database_url: str
) -> None:
    result = cli(tmp_path, pooler_toml(pgbouncer.url(empty_database_url)), "db", "migrate")
    assert_clear_error(result, EXIT_USAGE, "migrations cannot go through a transaction pooler", "database.direct_url")
    assert schemas_with_tables(empty_database_url) == []


def test_pooler_without_a_direct_url__an_unmigrated_schema_is_reported_and_nothing_lands_in_public(
    tmp_path: Path, pgbouncer: Pgbouncer, empty_database_url: str
) -> None:
    result = cli(tmp_path, pooler_toml(pgbouncer.url(empty_database_url)), "status")
    assert_clear_error(
        result, EXIT_FAILED, "schema 'pipeline' is not migrated", "never run through the transaction pooler"
    )
    assert schemas_with_tables(empty_database_url) == []


def test_pooler_without_a_direct_url__listening_is_refused_not_silently_polled(
    tmp_path: Path, pgbouncer: Pgbouncer, database_url: str
) -> None:
    result = cli(tmp_path, pooler_toml(pgbouncer.url(database_url)), "run", "--until-idle")
    assert_clear_error(result, EXIT_USAGE, "LISTEN cannot go through a transaction pooler", "database.direct_url")


def test_pooler_flag_without_a_database_url__is_a_config_error_and_starts_nothing(tmp_path: Path) -> None:
    result = cli(tmp_path, "[database]\ntransaction_pooler = true\n", "status")
    assert_clear_error(result, EXIT_USAGE, "database.transaction_pooler = true needs database.url")
    assert not (tmp_path / ".pipeline").exists(), "an embedded cluster was initialised"


def test_direct_url_at_a_closed_port__migrate_names_the_url_it_could_not_reach(
    tmp_path: Path, pgbouncer: Pgbouncer, empty_database_url: str, closed_port: int
) -> None:
    direct = f"postgresql://app:hunter2@127.0.0.1:{closed_port}/db"
    result = cli(tmp_path, pooler_toml(pgbouncer.url(empty_database_url), direct_url=direct), "db", "migrate")
    assert_clear_error(result, EXIT_FAILED, "cannot connect to postgresql://app:***@127.0.0.1:")
    assert "hunter2" not in result.stderr
    assert schemas_with_tables(empty_database_url) == []


def test_direct_url_at_a_closed_port__a_worker_keeps_claiming_through_the_pooler(
    pooled_config: Config, closed_port: int
) -> None:
    """Its listener cannot connect (and keeps retrying); the claim loops poll through the pooler meanwhile."""
    direct = f"postgresql://postgres@127.0.0.1:{closed_port}/db"
    config = msgspec.structs.replace(
        pooled_config, database=msgspec.structs.replace(pooled_config.database, direct_url=direct)
    )
    ran = threading.Event()
    worker = Worker.from_config(config, "hostile", lambda job: ran.set(), maintenance=False)
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    try:
        with Queue.from_config(config) as queue:
            job_id = queue.send("hostile", {})
            assert ran.wait(WAIT)
            deadline = time.monotonic() + WAIT
            while (info := queue.get(job_id)) is None or info.state is not JobState.COMPLETED:
                assert time.monotonic() < deadline, f"job not completed: {info}"
                time.sleep(0.02)
            assert not worker.listening.is_set()
    finally:
        worker.stop()
        thread.join(WAIT)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("toml", "environ", "where"),
    [
        ("[database]\nurl = 'postgresql://[::1'\n", {}, "database.url: malformed URL"),
        (
            "[database]\nurl = 'postgresql://u@h/db'\ndirect_url = 'postgresql://[::1'\ntransaction_pooler = true\n",
            {},
            "database.direct_url: malformed URL",
        ),
        (
            "",
            {"PIPELINE_DATABASE_DIRECT_URL": "postgresql://[::1"},
            "environment variable PIPELINE_DATABASE_DIRECT_URL: malformed URL",
        ),
    ],
    ids=["url-in-file", "direct-url-in-file", "direct-url-in-environment"],
)
def test_malformed_database_url__is_a_config_error_without_a_traceback(
    tmp_path: Path, toml: str, environ: dict[str, str], where: str
) -> None:
    assert_clear_error(cli(tmp_path, toml, "status", environ=environ), EXIT_USAGE, where)


def test_pooler_that_ignores_the_startup_search_path__status_refuses_and_nothing_lands_in_public(
    tmp_path: Path, workaround_pgbouncer: Pgbouncer, empty_database_url: str
) -> None:
    """No pooler configured, so the command would migrate through it: refused before anything is created."""
    result = cli(tmp_path, f"[database]\nurl = {workaround_pgbouncer.url(empty_database_url)!r}\n", "status")
    assert_clear_error(result, EXIT_FAILED, "ignored the search_path sent when connecting", "database.direct_url")
    assert schemas_with_tables(empty_database_url) == []
