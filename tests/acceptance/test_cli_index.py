"""The indexing commands, spawned as a user would: enqueue, run, index, status, and SIGTERM on a worker."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from tests.acceptance.conftest import cli_environment
from tests.conftest import ROOT
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_environment(database_url, tmp_path, parsers=1, shutdown_timeout=5.0)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli__enqueue_then_run_until_idle_completes_the_job(cli_env: dict[str, str], repo_path: Path) -> None:
    enqueued = cli(cli_env, "enqueue", str(repo_path), "--json")
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = orjson.loads(enqueued.stdout)["job_id"]
    again = cli(cli_env, "enqueue", str(repo_path), "--json")
    assert orjson.loads(again.stdout) == {"job_id": job_id, "created": False}

    pending = orjson.loads(cli(cli_env, "status", job_id, "--json").stdout)
    assert pending["status"] == "pending"

    worker = cli(cli_env, "run", "--until-idle")
    assert worker.returncode == 0, worker.stderr[-3000:]

    done = orjson.loads(cli(cli_env, "status", job_id, "--json").stdout)
    assert done["status"] == "completed"
    assert done["stats"]["symbols"] > 0
    shown = cli(cli_env, "status", job_id)
    assert shown.returncode == 0, shown.stderr
    assert f"job {job_id}: completed" in shown.stdout
    assert re.search(r"^ *symbols +[1-9]", shown.stdout, re.MULTILINE), shown.stdout
    listing = cli({**cli_env, "COLUMNS": "160"}, "status")  # as wide as names need (owner/name) beside the ids
    assert listing.returncode == 0
    assert "completed" in listing.stdout
    assert "acme/cli-repo" in listing.stdout


def test_cli__index_prints_the_final_record_and_exits_0(cli_env: dict[str, str], repo_path: Path) -> None:
    result = cli(cli_env, "index", str(repo_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert ": completed" in result.stdout
    assert "symbols" in result.stdout


DRAINED = "stage processes' stderr drained to its end marker"  # the reader's last debug line, ended by the marker


def terminal_config(cli_env: dict[str, str], tmp_path: Path) -> Path:
    """The test config with human log lines at debug level, as on an operator's terminal."""
    config = tmp_path / "terminal.toml"
    text = Path(cli_env["PIPELINE_CONFIG"]).read_text()
    config.write_text(text.replace("format = 'json'", "format = 'auto'\nlevel = 'debug'"))
    return config


def run_in_tmux(
    cli_env: dict[str, str], tmp_path: Path, args: list[str], *, sigterm_once: str | None = None
) -> list[str]:
    """Run the CLI under tmux, a real terminal emulator, and return its final screen (scrollback included); with
    ``sigterm_once``, send the command SIGTERM once that text is on the screen."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install -y tmux)")
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    pid_file = tmp_path / "index.pid"
    command = shlex.join([sys.executable, "-m", "pipeline", *args])
    done = shlex.join([*tmux, "wait-for", "-S", "done"])
    # in the background so that the test can signal exactly the command; its stderr is still the terminal
    script = f"cd {shlex.quote(str(ROOT))} || exit; {command} & echo $! > {pid_file}; wait $!; echo exit=$?; {done}"
    session = [*tmux, "new-session", "-d", "-x", "150", "-y", "50", f"{script}; sleep 120"]
    outside_tmux = {key: value for key, value in cli_env.items() if key != "TMUX"}  # else tmux refuses to nest

    def screen() -> list[str]:
        capture = [*tmux, "capture-pane", "-p", "-S", "-"]
        return subprocess.run(capture, capture_output=True, text=True, check=True).stdout.splitlines()

    subprocess.run(session, env=outside_tmux, check=True)
    try:
        if sigterm_once is not None:
            deadline = time.monotonic() + 60
            while not any(sigterm_once in line for line in screen()):
                assert time.monotonic() < deadline, "\n".join(screen())
                time.sleep(0.1)
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        subprocess.run([*tmux, "wait-for", "done"], timeout=90, check=True)
        return screen()
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def test_cli__index_on_a_terminal_draws_each_bar_once_logs_above_them_and_ends_with_a_summary_table(
    cli_env: dict[str, str], repo_path: Path, tmp_path: Path
) -> None:
    config = terminal_config(cli_env, tmp_path)
    screen = run_in_tmux(cli_env, tmp_path, ["index", str(repo_path), "--config", str(config)])
    assert "exit=0" in screen, "\n".join(screen)
    bar_lines = [index for index, line in enumerate(screen) if "━" in line]
    for stage in ("fetch", "parse", "write"):
        bars = [screen[index] for index in bar_lines if screen[index].strip().startswith(stage)]
        assert len(bars) == 1, "\n".join(screen)
        shape = rf"\s*{stage} ━+ (\d+)/\1 +(-|[\d,]+) files/s elapsed \d:\d\d:\d\d ETA .*"
        assert re.fullmatch(shape, bars[0]), bars[0]
    assert len(bar_lines) == 3, "\n".join(screen)
    logs = [index for index, line in enumerate(screen) if "pipeline.coordinator" in line]
    assert logs, "the coordinator's log lines are shown"
    assert max(logs) < min(bar_lines), "log lines are printed above the bars, never among them"
    # the stage processes are stopped before the bars, and the reader ends at the marker, not by its time bound
    assert any(DRAINED in line for line in screen), "\n".join(screen)
    assert not any("were not all printed" in line for line in screen), "\n".join(screen)
    summary = "\n".join(screen[max(bar_lines) + 1 :])
    assert ": completed" in summary
    for row in ("files", "symbols", "references", "links", "skipped", "seconds"):
        assert re.search(rf"^ *{row} ", summary, re.MULTILINE), summary
    assert "stats=" not in summary


def test_cli__index_on_a_terminal_interrupted_stops_its_stages_before_the_bars_and_writes_to_no_closed_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    repo_path = tmp_path / "many-files"
    files = {f"src/m{n:04}.ts": f"export function f{n}(): number {{ return {n}; }}\n" for n in range(4000)}
    commit_files(new_repository(repo_path), dict(files), "many")
    config = terminal_config(cli_env, tmp_path)
    args = ["index", str(repo_path), "--config", str(config)]
    screen = run_in_tmux(cli_env, tmp_path, args, sigterm_once="stage processes started")
    text = "\n".join(screen)
    assert f"exit={128 + signal.SIGTERM}" in screen, text
    assert "interrupted: the job is released to the queue" in text
    assert "I/O operation on closed file" not in text
    assert "Logging error" not in text
    assert "Broken pipe" not in text
    assert DRAINED in text


def test_cli__index_whose_worker_gives_up_exits_with_its_code_instead_of_waiting_forever(
    cli_env: dict[str, str], repo_path: Path, tmp_path: Path
) -> None:
    """Every stage process dies as it starts, so the coordinator gives up (exit code 70) with the job unfinished."""
    shim = tmp_path / "dying-stages"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import os, sys\nif '--multiprocessing-fork' in sys.argv:\n    os._exit(3)\n"
    )
    env = {**cli_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(shim), cli_env.get("PYTHONPATH")]))}
    result = cli(env, "index", str(repo_path), "--json", timeout=90)
    assert result.returncode == 70, result.stderr[-3000:]
    error = orjson.loads(result.stderr.splitlines()[-1])
    assert error["exit_code"] == 70
    assert error["error"].startswith("the worker stopped before index job "), error
    assert "(exit code 70)" in error["error"]
    assert result.stdout == ""


def test_cli__index_of_an_unknown_commit_exits_1_with_the_reason(cli_env: dict[str, str], repo_path: Path) -> None:
    result = cli(cli_env, "index", str(repo_path), "--commit", "abcdef1234", "--json")
    assert result.returncode == 1
    record = orjson.loads(result.stdout)
    assert record["status"] == "failed"
    assert "abcdef1234" in record["error_message"]


def test_cli__index_of_a_path_that_is_no_repository_says_so(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = cli(cli_env, "index", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli__run_stops_cleanly_on_sigterm(cli_env: dict[str, str]) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--config", cli_env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        children: list[str] = []
        while time.monotonic() < deadline and len(children) < 3:
            time.sleep(0.2)
            children = subprocess.run(
                ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
        assert len(children) >= 3, "the stage processes did not start"
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, stderr[-3000:]
    deadline = time.monotonic() + 5
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    leftovers = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in alive if Path(f"/proc/{pid}").exists()}
    assert leftovers == {}, "stage processes outlived the worker"


def test_cli__a_worker_killed_mid_job_leaves_nothing_behind_once_a_new_worker_runs(
    cli_env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "big-repo"
    files = {
        f"src/mod{n:04}.ts": f"export function f{n}(x: number): number {{ return x + {n}; }}\n" for n in range(2500)
    }
    commit_files(new_repository(path), dict(files), "many files")
    job_id = orjson.loads(cli(cli_env, "enqueue", str(path), "--json").stdout)["job_id"]
    work = tmp_path / "work"
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", "--config", cli_env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(work.glob("pipeline-*/repo.git")):
            time.sleep(0.01)
        assert list(work.glob("pipeline-*")), "the job never started"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    killed = orjson.loads(cli(cli_env, "status", job_id, "--json").stdout)
    assert killed["status"] == "processing"
    assert list(work.glob("pipeline-*")), "the killed job's directory should still be there"

    again = cli(cli_env, "run", "--until-idle")
    assert again.returncode == 0, again.stderr[-3000:]
    done = orjson.loads(cli(cli_env, "status", job_id, "--json").stdout)
    assert done["status"] == "completed", done
    assert done["retry_count"] == 1
    assert done["stats"]["symbols"] == 2500
    assert list(work.glob("pipeline-*")) == []
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pipeline.snapshots").fetchone() == (1,)
