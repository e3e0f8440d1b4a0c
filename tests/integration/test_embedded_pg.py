"""The embedded cluster manager against real Postgres binaries: as root, after crashes, under concurrency."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pipeline.embedded_pg import EmbeddedPostgres, find_bin_dir
from pipeline.errors import EmbeddedPostgresError
from tests.conftest import ROOT, server_reachable_tmpdir
from tests.integration.pipeline.harness import children_running

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = server_reachable_tmpdir("pipeline-pgtest-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cluster(workdir: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(workdir / "pg", fsync=False)
    yield server
    server.stop()


def query_one(url: str, statement: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(statement).fetchone()
    assert row is not None
    return row[0]


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


@pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged-user path only applies when running as root")
def test_start__as_root_runs_the_server_as_the_postgres_user(cluster: EmbeddedPostgres) -> None:
    url = cluster.start()
    status = cluster.status()
    postgres_uid = pwd.getpwnam("postgres").pw_uid
    assert status.running
    assert status.pid is not None
    assert process_uid(status.pid) == postgres_uid
    assert cluster.data_dir.stat().st_uid == postgres_uid
    assert query_one(url, "SELECT current_setting('data_directory')") == str(cluster.data_dir)
    assert query_one(url, "SELECT current_database()") == "pipeline"


def test_start__twice_reuses_the_running_cluster(cluster: EmbeddedPostgres) -> None:
    cluster.start()
    first = cluster.status().pid
    cluster.start()
    assert cluster.status().pid == first


def test_start__after_stop_keeps_the_data(cluster: EmbeddedPostgres) -> None:
    url = cluster.start()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
    cluster.stop()
    assert not cluster.status().running
    cluster.stop()  # stopping a stopped cluster is a no-op
    assert query_one(cluster.start(), "SELECT v FROM kept") == 42


def test_start__replaces_a_stale_pid_file_whose_pid_is_another_live_process(cluster: EmbeddedPostgres) -> None:
    cluster.start()
    cluster.stop()
    # Our own pid is alive and is not a postmaster: pg_ctl alone would think the server is running.
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.data_dir}\n")
    assert not cluster.status().running
    url = cluster.start()
    assert query_one(url, "SELECT 1") == 1


def test_start__recovers_after_the_postmaster_is_killed(workdir: Path) -> None:
    cluster = EmbeddedPostgres(workdir / "durable", fsync=True)  # fsync=false would drop the last commits
    url = cluster.start()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE survived (v int); INSERT INTO survived VALUES (7)")
    pid = cluster.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (cluster.data_dir / "postmaster.pid").exists(), "a crash leaves its pid file behind"
    try:
        url = cluster.start()
        assert cluster.status().pid != pid
        assert query_one(url, "SELECT v FROM survived") == 7
    finally:
        cluster.stop()


def test_start__after_an_initdb_killed_halfway_initialises_afresh(workdir: Path) -> None:
    """A start interrupted while initdb runs (Ctrl+C: ``subprocess.run`` kills initdb) leaves no data directory
    that looks initialised but cannot start; the next start initialises and runs."""
    script = (
        "import sys, pathlib; from pipeline.embedded_pg import EmbeddedPostgres; "
        "EmbeddedPostgres(pathlib.Path(sys.argv[1]), fsync=False).start()"
    )
    data_dir = workdir / "interrupted"
    starter = subprocess.Popen(
        [sys.executable, "-c", script, str(data_dir)], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not children_running(starter.pid, b"initdb"):
            assert starter.poll() is None, f"the start ended before initdb ran: {starter.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, "initdb never ran"
            time.sleep(0.005)
        starter.send_signal(signal.SIGINT)
        _, stderr = starter.communicate(timeout=30)
        assert "KeyboardInterrupt" in stderr
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.communicate()
    cluster = EmbeddedPostgres(data_dir, fsync=False)
    try:
        assert query_one(cluster.start(), "SELECT 1") == 1
    finally:
        cluster.stop()


def test_start__concurrent_cli_starts_end_with_one_healthy_cluster(workdir: Path) -> None:
    config = workdir / "config.toml"
    config.write_text(f"[database.embedded]\ndata_dir = '{workdir / 'pg'}'\nfsync = false\n")
    env = {key: value for key, value in os.environ.items() if not key.endswith("DATABASE_URL")}
    command = [sys.executable, "-m", "pipeline", "db", "start", "--config", str(config)]
    starters = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [starter.communicate(timeout=90) for starter in starters]
    server = EmbeddedPostgres(workdir / "pg")
    try:
        assert [starter.returncode for starter in starters] == [0, 0, 0], outputs
        postmasters = subprocess.run(
            ["pgrep", "-f", f"postgres -D {server.data_dir}"], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(postmasters) == 1
        assert query_one(server.url(), "SELECT count(*) FROM pipeline.schema_migrations") is not None
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has directories the server user cannot reach")
def test_start__falls_back_to_a_reachable_directory_when_the_requested_one_is_root_only(workdir: Path) -> None:
    private = workdir / "private"
    private.mkdir(mode=0o700)
    server = EmbeddedPostgres(private / "project" / ".pipeline" / "pg", fsync=False)
    try:
        assert server.data_dir != server.requested_data_dir
        assert not server.data_dir.is_relative_to(private)
        assert query_one(server.start(), "SELECT 1") == 1
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def test_start__uses_a_short_socket_directory_when_the_data_path_is_long(workdir: Path) -> None:
    deep = workdir.joinpath(*["a-long-directory-name"] * 5)
    server = EmbeddedPostgres(deep / "pg", fsync=False)
    try:
        assert server.socket_dir != server.data_dir
        assert len(os.fsencode(server.socket_dir / ".s.PGSQL.5432")) < 100
        assert query_one(server.start(), "SELECT 1") == 1
    finally:
        server.stop()
        shutil.rmtree(server.socket_dir, ignore_errors=True)


def test_find_bin_dir__a_wrong_override_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match=r"PIPELINE_PG_BIN=.*no initdb and pg_ctl there; install"):
        find_bin_dir(environ={"PIPELINE_PG_BIN": str(tmp_path)})


def test_find_bin_dir__finds_the_installed_server() -> None:
    assert (find_bin_dir(environ={}) / "initdb").is_file()


def test_start__the_server_started_by_a_command_carries_none_of_its_environment_but_the_allowed(
    workdir: Path,
) -> None:
    config = workdir / "config.toml"
    config.write_text(f"[database.embedded]\ndata_dir = '{workdir / 'pg'}'\nfsync = false\n")
    env = {key: value for key, value in os.environ.items() if not key.endswith("DATABASE_URL")}
    env |= {"PIPELINE_GIT_TOKEN": "git-secret", "PIPELINE_API_TOKEN": "api-secret", "UNRELATED_SETTING": "x"}
    env |= {"LC_ALL": "C.UTF-8", "TZ": "UTC"}
    started = subprocess.run(
        [sys.executable, "-m", "pipeline", "db", "start", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    server = EmbeddedPostgres(workdir / "pg")
    try:
        assert started.returncode == 0, started.stderr
        pid = server.status().pid
        assert pid is not None
        environment = dict(
            entry.split("=", 1) for entry in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in entry
        )
    finally:
        server.stop()
    assert "PIPELINE_GIT_TOKEN" not in environment
    assert "PIPELINE_API_TOKEN" not in environment
    assert "UNRELATED_SETTING" not in environment
    assert environment["LC_ALL"] == "C.UTF-8"
    assert environment["TZ"] == "UTC"
