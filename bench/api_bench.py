"""Requests per second of the HTTP API on a real embedded Postgres: ``GET /jobs/{id}`` and ``GET /health``, with
one client thread and with eight (in-process ASGI client, so the figures are the app's and the database's).

Run: ``python bench/api_bench.py [--requests N]``. To compare two versions, run it with ``PYTHONPATH`` set to
another checkout (``git archive REV pipeline stages configs | tar -x -C DIR``) and ``--root DIR``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.append(str(BENCH_DIR.parent))

from api_database import migrated_database  # noqa: E402 - bench scripts run from a checkout
from litestar.testing import TestClient  # noqa: E402

from pipeline.api.app import create_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--root", type=Path, default=BENCH_DIR.parent, help="checkout whose configs/test.toml to use")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with migrated_database("api-bench-", args.root) as config, TestClient(create_app(config, environ={})) as client:
        job_id = client.post("/index", json={"repository": "octo/demo"}).json()["job_id"]
        for path in (f"/jobs/{job_id}", "/health"):
            for threads in (1, 8):
                with ThreadPoolExecutor(threads) as workers:
                    paths = [path] * (50 + args.requests)
                    list(workers.map(client.get, paths[:50]))  # warm-up
                    started = time.perf_counter()
                    statuses = [response.status_code for response in workers.map(client.get, paths[50:])]
                    elapsed = time.perf_counter() - started
                if set(statuses) != {200}:
                    raise SystemExit(f"{path}: unexpected statuses {sorted(set(statuses))}")
                name = "/jobs/{id}" if path.startswith("/jobs") else path
                print(f"{name:<11} threads={threads}: {args.requests / elapsed:7.0f} requests/s")


if __name__ == "__main__":
    main()
