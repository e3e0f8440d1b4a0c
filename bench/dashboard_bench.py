"""Latency of what the dashboard polls, on a real embedded Postgres holding a long job history: the charts'
``GET /jobs/series`` (1 h and 24 h windows) and ``GET /jobs/counts``, beside ``GET /jobs`` (a page of the job list,
plain and filtered).

The table holds ``--old`` jobs finished a month ago (which no window may read) and ``--recent`` jobs finished
over the last day, plus a few waiting. Each endpoint is measured in ``--rounds`` interleaved rounds of
``--requests`` requests from one client (in-process ASGI client, so the figures are the app's and the database's);
the median and range of the rounds' mean latency are printed.

Run: ``python bench/dashboard_bench.py [--old N] [--recent N] [--rounds N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.append(str(BENCH_DIR.parent))

import psycopg  # noqa: E402 - bench scripts run from a checkout
from api_database import migrated_database  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from pipeline.api.app import create_app  # noqa: E402


def fill(url: str, *, old: int, recent: int) -> None:
    """``old`` jobs finished 30 days ago, ``recent`` finished over the last day (one in ten failed), 20 waiting."""
    with psycopg.connect(url, autocommit=True, options="-c search_path=pipeline") as conn:
        repository = conn.execute(
            "INSERT INTO repositories (full_name, git_url) VALUES ('octo/bench', 'https://github.com/octo/bench')"
            " RETURNING id"
        ).fetchone()
        assert repository is not None
        conn.execute(
            "INSERT INTO index_jobs (repository_id, status, created_at, started_at, completed_at, stats)"
            " SELECT %(r)s, 'completed', t - interval '40 s', t - interval '30 s', t, '{\"files_parsed\": 300}'"
            " FROM (SELECT now() - interval '30 days' - n * interval '1 s' AS t FROM generate_series(1, %(n)s) n) s",
            {"r": repository[0], "n": old},
        )
        conn.execute(
            "INSERT INTO index_jobs (repository_id, status, created_at, started_at, completed_at, stats)"
            " SELECT %(r)s, CASE WHEN n %% 10 = 0 THEN 'failed' ELSE 'completed' END::index_job_status,"
            "        t - interval '40 s', t - interval '30 s', t, '{\"files_parsed\": 300}'"
            " FROM (SELECT n, now() - n * (interval '1 day' / %(n)s) AS t FROM generate_series(1, %(n)s) n) s",
            {"r": repository[0], "n": recent},
        )
        conn.execute(
            "INSERT INTO index_jobs (repository_id, status, ref)"
            " SELECT %s, 'pending', 'branch-' || n FROM generate_series(1, 20) n",
            [repository[0]],
        )
        conn.execute("ANALYZE index_jobs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=int, default=200_000, help="jobs finished a month ago")
    parser.add_argument("--recent", type=int, default=5_000, help="jobs finished over the last day")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint and round")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    with migrated_database("dashboard-bench-") as config:
        fill(config.database.url, old=args.old, recent=args.recent)
        hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        paths = {
            "GET /jobs/series?minutes=60": "/jobs/series?minutes=60",
            "GET /jobs/series?minutes=1440": "/jobs/series?minutes=1440",
            "GET /jobs/counts": "/jobs/counts",
            "GET /jobs?limit=25": "/jobs?limit=25",
            "GET /jobs?status=failed&created_from=1 h ago&limit=25": (
                f"/jobs?status=failed&limit=25&created_from={hour_ago.replace('+', '%2B')}"
            ),
        }
        rounds: dict[str, list[float]] = {name: [] for name in paths}
        with TestClient(create_app(config, environ={})) as client:
            for path in paths.values():  # warm-up
                assert client.get(path).status_code == 200, client.get(path).text
            for _ in range(args.rounds):
                for name, path in paths.items():
                    started = time.perf_counter()
                    for _ in range(args.requests):
                        client.get(path)
                    rounds[name].append((time.perf_counter() - started) / args.requests * 1000)
        print(f"{args.old} jobs a month old, {args.recent} over the last day; {args.rounds} rounds")
        for name, values in rounds.items():
            print(f"{name:58} median {statistics.median(values):7.1f} ms  range {min(values):.1f} to {max(values):.1f}")


if __name__ == "__main__":
    main()
