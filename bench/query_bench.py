"""Latency of the query API on an index of the pipeline bench corpus, served by uvicorn, with 8 concurrent clients.

Indexes the corpus's base commit (``bench/pipeline_corpus.py``; build it first with
``python bench/pipeline_corpus.py``) with ``python -m pipeline index`` into a private embedded cluster, runs
``VACUUM ANALYZE`` (what autovacuum does after a bulk load), serves the app with ``python -m pipeline serve`` once
per ``--workers`` count, side by side (default: one worker, and this machine's default count, ``api.workers = 0``),
and times each endpoint on each server in turn from 8 client processes (one keep-alive connection each) over
requests drawn from the index itself: definitions at positions of linked references, references of referenced
symbols, outlines of files with symbols, symbol searches for names and name prefixes. ``GET /repositories/{id}``,
a one-row lookup, runs in the same reps as the reference point for how loaded the machine is. Prints p50 and p99
per endpoint and worker count (median and range over the reps) as a README block.

Run: ``python bench/query_bench.py [--reps 3] [--requests 1200] [--workers 1,2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.append(str(PROJECT_DIR))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import httpx  # noqa: E402 - bench scripts run from a checkout
import psycopg  # noqa: E402
from pipeline_corpus import DEFAULT_CACHE, manifest_digest  # noqa: E402

from pipeline.api.server import worker_count  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402

CLIENTS = 8
SAMPLES = 400  # distinct requests drawn per endpoint
SERVER_START_TIMEOUT = 60.0
INDEX_TIMEOUT = 1800.0
TARGETS = {  # endpoint → (p50, p99) in ms, from issue #13
    "definition": (5.0, 30.0),
    "references": (5.0, 30.0),
    "outline": (5.0, 30.0),
    "symbols": (10.0, None),
}

SAMPLE_QUERIES = {
    # a linked reference of each of SAMPLES files: its path and the position of its name
    "definition": """
        SELECT f.path, r.start_line, r.start_column FROM repositories repo
        JOIN reference_links l ON l.snapshot_id = repo.current_snapshot_id
        JOIN snapshot_files f ON (f.snapshot_id, f.file_idx) = (l.snapshot_id, l.file_idx)
        JOIN refs r ON (r.file_result_id, r.idx) = (f.file_result_id, l.reference_idx)
        ORDER BY md5(f.path || r.idx) LIMIT %(n)s""",
    # symbols that are referenced, as ids
    "references": """
        SELECT DISTINCT l.target_file_idx || ':' || l.target_symbol_idx AS id,
            md5(l.target_file_idx || ':' || l.target_symbol_idx)
        FROM repositories repo JOIN reference_links l ON l.snapshot_id = repo.current_snapshot_id
        ORDER BY 2 LIMIT %(n)s""",
    # files with symbols
    "outline": """
        SELECT f.path FROM repositories repo JOIN snapshot_files f ON f.snapshot_id = repo.current_snapshot_id
        WHERE EXISTS (SELECT FROM symbols s WHERE s.file_result_id = f.file_result_id)
        ORDER BY md5(f.path) LIMIT %(n)s""",
    # symbol names (searched whole) and their first four characters (searched as a prefix)
    "symbols": """
        SELECT DISTINCT s.name, md5(s.name) FROM repositories repo
        JOIN snapshot_files f ON f.snapshot_id = repo.current_snapshot_id
        JOIN symbols s ON s.file_result_id = f.file_result_id
        WHERE s.name ~ '^[A-Za-z_][A-Za-z0-9_]{3,}$'
        ORDER BY 2 LIMIT %(n)s""",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(command: Sequence[str], environment: dict[str, str], timeout: float) -> None:
    result = subprocess.run(
        command, cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"exit {result.returncode}: {' '.join(command)}\n{result.stderr[-4000:]}")


@contextmanager
def serving(environment: dict[str, str], config: Path, port: int, workers: int) -> Iterator[str]:
    """``python -m pipeline serve --workers N`` on a free loopback port until the block ends (SIGTERM, then wait)."""
    command = [
        *(sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--workers", str(workers)),
        *("--config", str(config)),
    ]
    server = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"the server did not start: {server.stderr.read().decode()[-4000:] if server.stderr else ''}"
                )
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def sample_paths(url: str, repository: str) -> dict[str, list[str]]:
    """The request paths of each endpoint, drawn from the index (md5 order: the same every run)."""
    prefix = f"/repositories/{repository}"
    with psycopg.connect(url, options="-c search_path=pipeline") as conn:
        rows = {name: conn.execute(text, {"n": SAMPLES}).fetchall() for name, text in SAMPLE_QUERIES.items()}
    names = [row[0] for row in rows["symbols"]]
    return {
        "definition": [
            f"{prefix}/definition?path={quote(path)}&line={line}&column={column}"
            for path, line, column in rows["definition"]
        ],
        "references": [f"{prefix}/references?symbol={symbol}&limit=100" for symbol, _ in rows["references"]],
        "outline": [f"{prefix}/files/{quote(path)}/outline" for (path,) in rows["outline"]],
        "symbols": [
            f"{prefix}/symbols?q={quote(name if number % 2 else name[:4])}&limit=20"
            for number, name in enumerate(names)
        ],
        "repository (reference)": [prefix] * SAMPLES,
    }


def client_share(base: str, paths: Sequence[str], requests: int, clients: int, number: int) -> list[float]:
    """Client ``number``'s share of the requests, in order on one keep-alive connection: their latencies in ms.
    Any status but 200 stops the bench."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as session:
        for index in range(number, requests, clients):
            path = paths[index % len(paths)]
            started = time.perf_counter()
            response = session.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return latencies


def load(workers: ProcessPoolExecutor, base: str, paths: Sequence[str], requests: int, clients: int) -> list[float]:
    """``requests`` GETs spread over ``clients`` concurrent client processes (processes, so that no client waits
    for another's turn at the interpreter lock: the latencies are the server's); all their latencies in ms."""
    shares = [workers.submit(client_share, base, paths, requests, clients, number) for number in range(clients)]
    return [latency for share in shares for latency in share.result()]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: Sequence[float]) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="reps of every endpoint, interleaved (default 3)")
    parser.add_argument("--requests", type=int, default=1200, help="requests per endpoint and rep (default 1200)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(number) for number in text.split(",")],
        default=sorted({1, worker_count(0)}),
        help=f"serve's worker counts, compared side by side (default 1,{worker_count(0)}: this machine's default)",
    )
    args = parser.parse_args()

    manifest = DEFAULT_CACHE / "pipeline-corpus.json"
    if not manifest.exists() or json.loads(manifest.read_text())["digest"] != manifest_digest():
        raise SystemExit(f"{manifest}: missing or stale; build the corpus with `python bench/pipeline_corpus.py`")
    corpus = json.loads(manifest.read_text())
    workdir = Path(tempfile.mkdtemp(prefix="query-bench-"))
    workdir.chmod(0o755)  # the cluster's own user must reach its data directory
    server = EmbeddedPostgres(workdir / "pg", fsync=False, database="postgres")
    server.start()
    try:
        url = server.url("postgres")
        config = workdir / "bench.toml"
        config.write_text(
            f"[database]\nschema = 'pipeline'\n[index]\ntmp_dir = '{workdir / 'jobs'}'\n[log]\nlevel = 'warning'\n"
        )
        environment = {
            **{key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_")},
            "PIPELINE_DATABASE_URL": url,
        }
        started = time.perf_counter()
        repo = DEFAULT_CACHE / "pipeline-corpus"
        run(
            [
                sys.executable,
                "-m",
                "pipeline",
                "index",
                str(repo),
                "--commit",
                corpus["base_commit"],
                "--config",
                str(config),
            ],
            environment,
            INDEX_TIMEOUT,
        )
        print(f"indexed {corpus['files']} files in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        with psycopg.connect(url, autocommit=True, options="-c search_path=pipeline") as conn:
            conn.execute("VACUUM ANALYZE")
            counted = conn.execute(
                "SELECT r.id, (SELECT count(*) FROM snapshot_files f JOIN symbols s USING (file_result_id) "
                "WHERE f.snapshot_id = r.current_snapshot_id), (SELECT count(*) FROM snapshot_files f "
                "JOIN refs x USING (file_result_id) WHERE f.snapshot_id = r.current_snapshot_id) FROM repositories r"
            ).fetchone()
        assert counted is not None
        repository, symbols, references = counted
        paths = sample_paths(url, str(repository))
        results: dict[tuple[str, int], list[tuple[float, float]]] = {
            (name, count): [] for name in paths for count in args.workers
        }
        with ExitStack() as servers, ProcessPoolExecutor(args.clients) as clients:
            bases = {
                count: servers.enter_context(serving(environment, config, free_port(), count)) for count in args.workers
            }
            for base in bases.values():
                for requests in paths.values():
                    load(clients, base, requests, 100, args.clients)  # warm-up: connections, caches
            for rep in range(args.reps):
                for name, requests in paths.items():
                    for count, base in bases.items():
                        latencies = load(clients, base, requests, args.requests, args.clients)
                        results[name, count].append((percentile(latencies, 0.5), percentile(latencies, 0.99)))
                print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    workers = ",".join(str(count) for count in args.workers)
    lines = [
        f"Query API latency (`python bench/query_bench.py --reps {args.reps} --requests {args.requests} "
        f"--clients {args.clients} --workers {workers}`): the "
        f"{corpus['files']}-file corpus ({symbols:,} symbols, {references:,} references), uvicorn, {args.clients} "
        f"concurrent clients, {args.requests} requests per endpoint per rep, `serve --workers N` side by side on "
        f"{len(os.sched_getaffinity(0))} cores; median (range) over {args.reps} reps, ms.",
        "",
        "| Endpoint | "
        + " | ".join(f"p50 N={count} | p99 N={count}" for count in args.workers)
        + " | Target p50 / p99 |",
        "|---|" + "---|---|" * len(args.workers) + "---|",
    ]
    for name in paths:
        target = TARGETS.get(name)
        shown = "—" if target is None else f"≤ {target[0]:g}" + ("" if target[1] is None else f" / ≤ {target[1]:g}")
        figures = [
            f"{spread([p50 for p50, _ in results[name, count]])} | {spread([p99 for _, p99 in results[name, count]])}"
            for count in args.workers
        ]
        lines.append(f"| {name} | {' | '.join(figures)} | {shown} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
