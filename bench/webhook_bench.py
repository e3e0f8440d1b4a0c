"""Push to current index: the time from a signed GitHub push of a 1-file change to the repository's current snapshot
being that commit, with a real worker (``python -m pipeline run``) and a real server (``python -m pipeline serve``).

Usage: python bench/webhook_bench.py [--reps N] [--files N]

Builds, in a temp directory, a private embedded cluster (fsync off), a config pointing at it, and a bare repository
of ``--files`` TypeScript files served over https by ``git http-backend`` (a self-signed certificate the worker's
clone processes trust through ``SSL_CERT_FILE``); starts ``serve`` and ``run``, indexes the first commit, then per
repetition commits a change to one file and delivers it twice over: a signed ``POST /webhooks/github`` push, and,
as the baseline beside it, ``POST /index`` of the next change's commit (the same enqueue without the webhook), each
timed from the request until a poll of the database (every 5 ms) sees that commit as the current snapshot. Prints
median and range over the repetitions for both; they alternate within each repetition, so the machine's drift
touches both alike.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import psycopg
import pygit2
from psycopg.rows import TupleRow

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from tests.git_servers import GitHttpServer, free_port, self_signed_certificate, tls_context  # noqa: E402
from tests.integration.pipeline.repos import commit_files  # noqa: E402

SECRET = "webhook-bench-secret"
WAIT_SECONDS = 120.0  # the longest a push may take to become current before the bench gives up
POLL_SECONDS = 0.005


def write_config(path: Path, work: Path, *, api_port: int, git_host_port: str) -> None:
    path.write_text(
        "[database.embedded]\n"
        f"data_dir = '{work / 'pg'}'\n"
        "database = 'bench_webhook'\n"
        "fsync = false\n"
        "[index]\n"
        f"tmp_dir = '{work / 'jobs'}'\n"
        "parsers = 1\n"
        f"token_hosts = ['{git_host_port}']\n"
        "[api]\n"
        f"port = {api_port}\n"
        "[log]\n"
        "format = 'json'\n"
    )


def pipeline_command(config: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--config", str(config), *argv]


@contextmanager
def started(command: list[str], environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends, then SIGTERM it (it drains and exits) and wait at most 60 s."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=environment, cwd=log.parent, stdout=output, stderr=output)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def current_commit(conn: psycopg.Connection[TupleRow], url: str) -> object:
    row = conn.execute(
        "SELECT s.commit_sha FROM pipeline.repositories r JOIN pipeline.snapshots s ON s.id = r.current_snapshot_id"
        " WHERE r.git_url = %s",
        [url],
    ).fetchone()
    return None if row is None else row[0]


def is_current(conn: psycopg.Connection[TupleRow], url: str, sha: str) -> Callable[[], bool]:
    return lambda: current_commit(conn, url) == sha


def signed_push(client: httpx.Client, clone_url: str, sha: str, rep: int) -> None:
    body = orjson.dumps(
        {
            "ref": "refs/heads/main",
            "after": sha,
            "deleted": False,
            "repository": {"full_name": "acme/app", "clone_url": clone_url, "default_branch": "main"},
        }
    )
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        "/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": f"bench-{rep}-{sha[:12]}",
            "X-Hub-Signature-256": signature,
        },
    )
    if response.status_code != 202 or response.json()["action"] != "enqueued":
        raise SystemExit(f"webhook answered {response.status_code}: {response.text}")


def post_index(client: httpx.Client, clone_url: str, sha: str, rep: int) -> None:
    response = client.post("/index", json={"repository": clone_url, "commit_sha": sha})
    if response.status_code != 202:
        raise SystemExit(f"POST /index answered {response.status_code}: {response.text}")


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s  (range {min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--files", type=int, default=50, help="TypeScript files in the repository (default 50)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="webhook-bench-"))  # not "pipeline-": a fetcher clears those
    work.chmod(0o755)  # the embedded cluster may run as another user, who must reach its data directory
    served = work / "served"
    repository = pygit2.init_repository(str(served / "acme" / "app.git"), bare=True, initial_head="main")
    files: dict[str, bytes | str] = {
        f"src/m{n}.ts": f"import {{ f{(n + 1) % args.files} }} from './m{(n + 1) % args.files}';\n"
        f"export function f{n}(x: number): number {{ return x + {n}; }}\n"
        for n in range(args.files)
    }
    first = commit_files(repository, files, "first")
    key, certificate = self_signed_certificate(work)
    git_server = GitHttpServer(served, None, tls=tls_context(key, certificate))
    clone_url = f"{git_server.url}/acme/app.git"
    api_port = free_port()
    config = work / "bench.toml"
    write_config(config, work, api_port=api_port, git_host_port=git_server.host_port)
    environment = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key}
    environment.pop("SUPABASE_DB_URL", None)
    environment |= {"PYTHONPATH": str(ROOT), "SSL_CERT_FILE": str(certificate), "PIPELINE_WEBHOOK_SECRET": SECRET}
    timings: dict[str, list[float]] = {"signed push (webhook)": [], "POST /index (baseline)": []}
    deliveries = {"signed push (webhook)": signed_push, "POST /index (baseline)": post_index}
    try:
        for command in ("start", "migrate"):
            subprocess.run(
                pipeline_command(config, "db", command),
                env=environment,
                cwd=work,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        database_url = subprocess.run(
            pipeline_command(config, "db", "url"), env=environment, cwd=work, check=True, capture_output=True, text=True
        ).stdout.strip()
        with (
            started(pipeline_command(config, "serve"), environment, work / "serve.log"),
            started(pipeline_command(config, "run"), environment, work / "run.log"),
            httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client,
            psycopg.connect(database_url, autocommit=True) as conn,
        ):

            def healthy() -> bool:
                try:
                    return client.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, "the server to answer /health", timeout=60)
            signed_push(client, clone_url, first, -1)  # the first index, and the worker's warm-up
            wait_until(is_current(conn, clone_url, first), "the first index")
            sha = first
            for rep in range(args.reps):
                for name, deliver in deliveries.items():
                    changed = {**files, f"src/m{rep % args.files}.ts": f"export const changed = {rep}; // {name}\n"}
                    sha = commit_files(repository, changed, f"change {rep} ({name})")
                    started_at = time.perf_counter()
                    deliver(client, clone_url, sha, rep)
                    wait_until(is_current(conn, clone_url, sha), f"{name} of {sha}")
                    timings[name].append(time.perf_counter() - started_at)
        print(f"push of a 1-file change ({args.files}-file repository) to current index, {args.reps} repetitions:")
        for name, values in timings.items():
            print(f"  {name:<24} {summary(values)}")
        print(f"machine load average: {os.getloadavg()[0]:.2f}")
    finally:
        git_server.close()
        subprocess.run(
            pipeline_command(config, "db", "stop"), env=environment, cwd=work, check=False, capture_output=True
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
