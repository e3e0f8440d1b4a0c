"""Our job queue in the shared queue benchmark (../shared/queue-bench): same measurements, same JSON keys.

    python bench/queue_bench.py URL N CONCURRENCY

For every worker setting: drop and re-migrate a private schema, enqueue N no-op jobs with ``Queue.send_many`` in
chunks of QB_CHUNK (1000) -> enqueue_jobs_per_s; ANALYZE (QB_ANALYZE=1, as the other benches); start the workers
and stop the clock when the N-th completion has committed -> process_jobs_per_s. The handlers count the jobs they ran
in shared memory and the job table is counted only once they have run N, as pg-boss' bench counts in its handler: a
``count(*)`` every few ms would take CPU from the queue it measures. Then pickup latency twice (polling
only, and LISTEN/NOTIFY): one idle worker (concurrency 1, batch QB_LAT_BATCH, poll interval QB_LAT_POLL_S), QB_LAT_N
single ``send`` calls on a fixed QB_LAT_GAP_MS schedule from a separate connection in the same process; latency =
handler start - time just before send. Prints one JSON object on the last stdout line; progress goes to stderr.
Env: QB_CHUNK, QB_ANALYZE, QB_TIMEOUT_S, QB_LAT_N, QB_LAT_GAP_MS, QB_LAT_POLL_S, QB_LAT_BATCH, QB_SKIP_LATENCY,
QB_SKIP_THROUGHPUT, QB_OURS_SETTINGS (JSON list of {name, batch, concurrency, procs, analyze?, diagnostic?}).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import sys
import threading
import time
from importlib import metadata
from typing import Any

import psycopg
from psycopg import sql

from pipeline.config import QueueConfig
from pipeline.migrate import migrate
from pipeline.queue import Job, Queue, Worker

SCHEMA = "queue_bench"
QUEUE = "bench"
env = os.environ
CHUNK = int(env.get("QB_CHUNK", "1000"))
TIMEOUT_S = float(env.get("QB_TIMEOUT_S", "120"))
LAT_N = int(env.get("QB_LAT_N", "200"))
LAT_GAP_MS = float(env.get("QB_LAT_GAP_MS", "20"))
LAT_POLL_S = float(env.get("QB_LAT_POLL_S", "0.5"))
LAT_BATCH = int(env.get("QB_LAT_BATCH", "10"))
# No maintenance in throughput trials: nothing is stale, and pg-boss' supervisor is not on the clock either.
CONFIG = QueueConfig(heartbeat_interval=5.0, poll_interval=0.5, retention_interval=3600.0)


def log(*parts: object) -> None:
    print("[ours]", *parts, file=sys.stderr, flush=True)


def default_settings(concurrency: int) -> list[dict[str, Any]]:
    return [
        {"name": f"b1-c{concurrency}", "batch": 1, "concurrency": concurrency, "procs": 1, "timeout_s": 30},
        {"name": f"b10-c{concurrency}", "batch": 10, "concurrency": concurrency, "procs": 1},
        {"name": f"b100-c{concurrency}", "batch": 100, "concurrency": concurrency, "procs": 1},
        {"name": "b100-c2", "batch": 100, "concurrency": 2, "procs": 1},
        {"name": f"b500-c{concurrency}", "batch": 500, "concurrency": concurrency, "procs": 1},
        {"name": "b500-c2", "batch": 500, "concurrency": 2, "procs": 1},
        {"name": "b500-c1-p2", "batch": 500, "concurrency": 1, "procs": 2},
        {"name": "b500-c2-noanalyze", "batch": 500, "concurrency": 2, "procs": 1, "analyze": False, "diagnostic": True},
    ]


def fresh_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    migrate(url, SCHEMA)


def count_completed(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {}.jobs WHERE name = %s AND state = 'completed'").format(sql.Identifier(SCHEMA)),
        [QUEUE],
    ).fetchone()
    return int(row[0]) if row else 0


def enqueue(url: str, n: int) -> float:
    with Queue(url, SCHEMA, CONFIG) as queue:
        queue.connection()
        started = time.perf_counter()
        for start in range(0, n, CHUNK):
            queue.send_many(QUEUE, [{"i": k} for k in range(start, min(n, start + CHUNK))])
        elapsed = time.perf_counter() - started
    return n / elapsed


def worker_process(url: str, setting: dict[str, Any], ran: Any, go: Any, stop: Any) -> None:
    """Run one worker between ``go`` and ``stop``; ``ran`` (shared memory) counts the jobs its handler ran."""
    batch, concurrency = setting["batch"], setting["concurrency"]
    lock = threading.Lock()  # the claim loops are threads

    def count(_job: Job) -> None:
        with lock:
            ran.value += 1

    worker = Worker(
        url, SCHEMA, QUEUE, count, config=CONFIG, batch_size=batch, concurrency=concurrency, maintenance=False
    )
    go.wait()
    runner = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    runner.start()
    stop.wait()
    worker.stop()
    runner.join()


def throughput_trial(url: str, n: int, setting: dict[str, Any]) -> dict[str, Any]:
    fresh_schema(url)
    enqueue_rate = enqueue(url, n)
    analyze = setting.get("analyze", env.get("QB_ANALYZE", "1") == "1")
    with psycopg.connect(url, autocommit=True) as conn:
        if analyze:
            conn.execute(sql.SQL("ANALYZE {}.jobs").format(sql.Identifier(SCHEMA)))
        timeout = float(setting.get("timeout_s", TIMEOUT_S))
        context = multiprocessing.get_context("fork")
        go, stop = context.Event(), context.Event()
        ran = [context.Value("q", 0, lock=False) for _ in range(setting["procs"])]
        processes = [context.Process(target=worker_process, args=(url, setting, counter, go, stop)) for counter in ran]
        for process in processes:
            process.start()
        time.sleep(0.3)  # let the processes import and get to the start line
        started = time.perf_counter()
        go.set()
        completed = 0
        while time.perf_counter() - started < timeout:
            if sum(counter.value for counter in ran) >= n:
                completed = count_completed(conn)
                if completed >= n:
                    break
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        stop.set()
        for process in processes:
            process.join()
        completed = count_completed(conn)
    result = {
        "name": setting["name"],
        "batch": setting["batch"],
        "concurrency": setting["concurrency"],
        "procs": setting["procs"],
        "analyze": analyze,
        "diagnostic": bool(setting.get("diagnostic")),
        "enqueue_jobs_per_s": round(enqueue_rate, 1),
        "process_jobs_per_s": round(min(completed, n) / elapsed, 1),
        "completed": completed,
        "seconds": round(elapsed, 3),
        "timed_out": completed < n,
    }
    log(json.dumps(result))
    return result


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[index]


def summarize(values: list[float]) -> dict[str, Any]:
    def r1(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {
        "p50_ms": r1(percentile(values, 50)),
        "p95_ms": r1(percentile(values, 95)),
        "max_ms": r1(max(values) if values else None),
        "mean_ms": r1(sum(values) / len(values) if values else None),
        "received": len(values),
    }


def latency_test(url: str, mode: str) -> dict[str, Any]:
    listen = mode == "notify"
    name = f"lat_{mode}"
    fresh_schema(url)
    config = QueueConfig(heartbeat_interval=5.0, poll_interval=LAT_POLL_S, listen=listen, retention_interval=3600.0)
    latencies: list[float] = []
    done = threading.Event()

    def handler(job: Job) -> None:
        latencies.append((time.perf_counter() - job.payload["t"]) * 1000)
        if len(latencies) >= LAT_N:
            done.set()

    worker = Worker(url, SCHEMA, name, handler, config=config, batch_size=LAT_BATCH, concurrency=1)
    runner = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False})
    runner.start()
    send_ms: list[float] = []
    with Queue(url, SCHEMA, config) as producer:
        producer.connection()
        time.sleep(1.5)  # let the worker go idle
        t0 = time.perf_counter()
        for i in range(LAT_N):
            time.sleep(max(0.0, t0 + i * LAT_GAP_MS / 1000 - time.perf_counter()))
            sent = time.perf_counter()
            producer.send(name, {"i": i, "t": sent})
            send_ms.append((time.perf_counter() - sent) * 1000)
        done.wait(30)
    worker.stop()
    runner.join()
    result = {
        "mode": mode,
        "settings": {
            "batch": LAT_BATCH,
            "concurrency": 1,
            "poll_interval": LAT_POLL_S,
            "listen": listen,
            "n": LAT_N,
            "gap_ms": LAT_GAP_MS,
        },
        **summarize(latencies),
        "send_p50_ms": summarize(send_ms)["p50_ms"],
    }
    log(json.dumps(result))
    return result


def main() -> None:
    if len(sys.argv) != 4:
        print("usage: queue_bench.py URL N CONCURRENCY", file=sys.stderr)
        sys.exit(2)
    url, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = json.loads(env["QB_OURS_SETTINGS"]) if env.get("QB_OURS_SETTINGS") else default_settings(concurrency)
    out: dict[str, Any] = {
        "queue": "ours",
        "version": metadata.version("repo-indexer-pipeline"),
        "runtime": f"python {platform.python_version()}, psycopg {psycopg.__version__}",
        "n": n,
        "concurrency": concurrency,
        "chunk": CHUNK,
    }
    if env.get("QB_SKIP_THROUGHPUT") != "1":
        trials = [throughput_trial(url, n, setting) for setting in settings]
        candidates = [t for t in trials if not t["diagnostic"]]
        finished = [t for t in candidates if not t["timed_out"]]
        best = max(finished or candidates or trials, key=lambda t: t["process_jobs_per_s"])
        rates = sorted(t["enqueue_jobs_per_s"] for t in trials)
        out["enqueue_jobs_per_s"] = rates[len(rates) // 2]
        out["process_jobs_per_s"] = best["process_jobs_per_s"]
        out["settings"] = {k: best[k] for k in ("name", "batch", "concurrency", "procs")}
        out["trials"] = trials
    if env.get("QB_SKIP_LATENCY") != "1":
        out["latency"] = {"poll": latency_test(url, "poll"), "notify": latency_test(url, "notify")}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
