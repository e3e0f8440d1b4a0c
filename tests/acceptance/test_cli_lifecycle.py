"""The worker's process tree as a user meets it: killed or stopped at any moment, nothing of it stays running;
logs name both job ids. The real CLI (or a script running a coordinator) in real processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from tests.acceptance.conftest import cli_environment
from tests.conftest import ROOT
from tests.integration.pipeline.harness import alive, children_running, wait_until_gone
from tests.integration.pipeline.repos import commit_files, new_repository
from tests.integration.pipeline.slow_stage import SLOW_SECONDS_ENV

pytestmark = pytest.mark.slow

SLOW_FILE_SECONDS = 60  # far beyond the shutdown timeout: a worker waiting for the job would be seen
MARKER = "PIPELINE_TEST_PROCESS_TREE"  # every process of the tree under test inherits it (not a secret)


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    environment = cli_environment(database_url, tmp_path, parsers=2, shutdown_timeout=1.0)
    return {**environment, MARKER: uuid.uuid4().hex}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def process_tree(env: dict[str, str]) -> list[int]:
    """Every running process carrying this test's marker: the command and whatever it started, re-parented
    or not."""
    marker = f"{MARKER}={env[MARKER]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return alive(found)


def stage_processes(env: dict[str, str], command: subprocess.Popen[str]) -> list[int]:
    return [pid for pid in process_tree(env) if pid != command.pid]


def wait_for_stages(env: dict[str, str], command: subprocess.Popen[str], count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while len(found := stage_processes(env, command)) < count:
        assert command.poll() is None, command.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the stage processes did not start"
        time.sleep(0.02)
    return found


def finish(command: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    """Wait for the command (killing it if it overruns); its exit code, stdout and stderr."""
    try:
        stdout, stderr = command.communicate(timeout=timeout)
    finally:
        if command.poll() is None:
            command.kill()
    return command.returncode, stdout, stderr


def spawned_children(parent: int) -> list[int]:
    """The stage processes ``parent`` has spawned so far (multiprocess's spawn command line; not its resource
    tracker)."""
    return alive(children_running(parent, b"spawn_main"))


def ignores_sigterm(pid: int) -> bool:
    """Whether ``pid`` ignores SIGTERM: a stage process does from the end of its start-up on (``child_setup``)."""
    ignored = re.search(r"^SigIgn:\s+([0-9a-f]+)$", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert ignored is not None
    return bool(int(ignored.group(1), 16) & (1 << (signal.SIGTERM - 1)))


def test_run__killed_while_its_stage_processes_start_leaves_none_of_them_running(cli_env: dict[str, str]) -> None:
    worker = start(cli_env, "run")
    stopped: list[int] = []
    try:
        # Freeze each stage process as soon as it exists, so the coordinator surely dies while it is starting.
        deadline = time.monotonic() + 60
        while not (children := spawned_children(worker.pid)):
            assert worker.poll() is None, worker.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no stage process started"
            time.sleep(0.005)  # far shorter than a stage process's start-up, and leaves it a core to start on
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        assert not all(ignores_sigterm(pid) for pid in stopped), "every stage process had finished starting"
        worker.kill()
        worker.wait(30)
    finally:
        for pid in stopped:  # they go on starting, with their coordinator gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        finish(worker)  # its stage processes share its output pipes: they are read to the end once those are gone
    assert wait_until_gone(process_tree(cli_env)) == [], "processes outlived their coordinator"


def test_index__sigterm_releases_the_job_and_leaves_no_process(
    cli_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    repo_path = tmp_path / "many-files"
    files = {f"src/m{n:04}.ts": f"export function f{n}(): number {{ return {n}; }}\n" for n in range(4000)}
    commit_files(new_repository(repo_path), dict(files), "many")
    patient = Path(cli_env["PIPELINE_CONFIG"])
    patient.write_text(patient.read_text().replace("shutdown_timeout = 1.0", "shutdown_timeout = 30.0"))
    indexing = start(cli_env, "index", str(repo_path), "--json")
    wait_for_stages(cli_env, indexing, 5)  # fetcher, two parsers, writer, resource tracker
    indexing.send_signal(signal.SIGTERM)
    code, _, stderr = finish(indexing, timeout=20)  # an interrupted index does not wait for its job
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    assert "interrupted" in stderr
    assert wait_until_gone(process_tree(cli_env)) == [], "processes outlived the index command"
    with psycopg.connect(database_url, autocommit=True) as conn:
        states = conn.execute("SELECT status::text FROM pipeline.index_jobs").fetchall()
    assert states == [("pending",)], states  # released at once: the stage processes had only just started


def test_run__a_second_sigterm_exits_at_once_and_leaves_no_process(cli_env: dict[str, str]) -> None:
    worker = start(cli_env, "run")
    wait_for_stages(cli_env, worker, 5)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    code, _, stderr = finish(worker)
    assert code in (0, 128 + signal.SIGTERM), stderr[-3000:]
    assert wait_until_gone(process_tree(cli_env)) == [], "processes outlived the worker"


SLOW_WORKER = textwrap.dedent(
    """
    import sys

    from pipeline.config import load_config
    from pipeline.coordinator import Coordinator
    from pipeline.log import configure_logging
    from tests.integration.pipeline.slow_stage import slow_extract

    config = load_config(__import__("pathlib").Path(sys.argv[1]))
    configure_logging(config.log)
    sys.exit(Coordinator(config, extract=slow_extract).run())
    """
)


def test_run__sigterm_with_a_job_running_ends_within_the_shutdown_timeout(
    cli_env: dict[str, str], repo_path: Path, database_url: str
) -> None:
    enqueued = subprocess.run(
        [sys.executable, "-m", "pipeline", "enqueue", str(repo_path), "--config", cli_env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    job_id = enqueued.stdout.strip()
    worker = subprocess.Popen(
        [sys.executable, "-c", SLOW_WORKER, cli_env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env={**cli_env, SLOW_SECONDS_ENV: str(SLOW_FILE_SECONDS), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while True:
            row = conn.execute("SELECT progress FROM pipeline.index_jobs WHERE id = %s", [job_id]).fetchone()
            if row is not None and "parse" in row[0]:
                break
            assert worker.poll() is None, worker.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the job never started parsing"
            time.sleep(0.05)
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code, _, stderr = finish(worker)
        stopped = time.monotonic() - signalled
        assert code == 0, stderr[-3000:]
        # What is shown: the shutdown timeout bounds the wait for the running job (a file takes 60 s to parse),
        # not the exact figure (the stages' own stop grace and a loaded machine come on top).
        assert stopped < 1.0 + 10.0, f"shutdown took {stopped:.1f} s with queue.shutdown_timeout = 1 s"
        record = conn.execute("SELECT status::text FROM pipeline.index_jobs WHERE id = %s", [job_id]).fetchone()
        assert record == ("pending",)
    assert wait_until_gone(process_tree(cli_env)) == [], "processes outlived the worker"


def test_index__log_lines_name_the_index_job_and_the_queue_job_apart(cli_env: dict[str, str], repo_path: Path) -> None:
    indexing = start(cli_env, "index", str(repo_path), "--json")
    code, stdout, stderr = finish(indexing, timeout=90)
    assert code == 0, stderr[-3000:]
    record = orjson.loads(stdout)
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines
    assert not [line for line in lines if "job_id" in line], "a bare job_id does not say which job"
    completed = next(line for line in lines if line["msg"] == "index job completed")
    committed = next(line for line in lines if line["msg"] == "job committed")
    assert completed["index_job_id"] == committed["index_job_id"] == record["id"]
    assert completed["queue_job_id"] == committed["queue_job_id"] == record["queue_job_id"]


def test_serve__every_log_line_is_json_with_log_format_json(cli_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start(cli_env, "serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert answer.status_code == 200
        server.send_signal(signal.SIGTERM)
    finally:
        code, _, stderr = finish(server)
    assert code == 0, stderr[-3000:]
    lines = stderr.splitlines()
    plain = [line for line in lines if not line.startswith("{")]
    assert plain == [], "lines not written by the JSON formatter"
    loggers = {orjson.loads(line)["logger"] for line in lines}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers
