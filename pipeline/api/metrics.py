"""Prometheus metrics computed from the database at scrape time, so every API replica reports the same figures.

Nothing is counted in process memory: a scrape reads index job counts, the queue's health, stage item sums from
the stored per-job progress, and histograms of run time and claim latency built in SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from psycopg.rows import TupleRow

from pipeline.db import query
from pipeline.queue.client import Queue

Connection = psycopg.Connection[TupleRow]

DURATION_BOUNDS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
CLAIM_LATENCY_BOUNDS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class DatabaseCollector(Collector):
    """Reads every metric from Postgres on each ``collect``, on one connection taken from ``connect`` per scrape."""

    def __init__(self, connect: Callable[[], AbstractContextManager[Connection]], queue: Queue) -> None:
        self._connect = connect
        self._queue = queue

    def collect(self) -> Iterator[Metric]:
        with self._connect() as conn:
            yield from _job_metrics(conn)
            yield from _histograms(conn)
            yield from _stage_metrics(conn)
        yield from _queue_metrics(self._queue)


def registry_for(collector: DatabaseCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def _job_metrics(conn: Connection) -> Iterator[Metric]:
    counts: dict[str, int] = dict(conn.execute(query("index_job_count_by_status")).fetchall())
    by_status = GaugeMetricFamily("pipeline_index_jobs", "Index jobs by status.", labels=["status"])
    for status, count in counts.items():
        by_status.add_metric([status], count)
    yield by_status
    yield CounterMetricFamily(
        "pipeline_index_jobs_completed", "Index jobs that completed.", value=counts.get("completed", 0)
    )
    yield CounterMetricFamily("pipeline_index_jobs_failed", "Index jobs that failed.", value=counts.get("failed", 0))


def _histograms(conn: Connection) -> Iterator[Metric]:
    duration = HistogramMetricFamily(
        "pipeline_index_job_duration_seconds", "Run time of finished index jobs (start to end).", labels=["status"]
    )
    rows = conn.execute(query("index_job_duration_buckets"), {"bounds": list(DURATION_BOUNDS)}).fetchall()
    by_status: dict[str, list[tuple[float, int, float]]] = {}
    for status, bound, count, total in rows:
        by_status.setdefault(status, []).append((bound, count, total))
    for status in sorted({"completed", "failed", *by_status}):
        buckets = by_status.get(status) or [(bound, 0, 0.0) for bound in (*DURATION_BOUNDS, float("inf"))]
        duration.add_metric(
            [status], [(_le(bound), count) for bound, count, _ in buckets], sum_value=buckets[-1][2] or 0
        )
    yield duration
    latency = HistogramMetricFamily(
        "pipeline_index_job_claim_latency_seconds", "Wait from enqueue until a worker first started the job."
    )
    rows = conn.execute(query("index_job_claim_latency_buckets"), {"bounds": list(CLAIM_LATENCY_BOUNDS)}).fetchall()
    if not rows:
        rows = [(bound, 0, 0.0) for bound in (*CLAIM_LATENCY_BOUNDS, float("inf"))]
    latency.add_metric([], [(_le(bound), count) for bound, count, _ in rows], sum_value=rows[-1][2] or 0)
    yield latency


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _stage_metrics(conn: Connection) -> Iterator[Metric]:
    families = {
        kind: CounterMetricFamily(
            f"pipeline_stage_items_{kind}", f"Items {kind} per pipeline stage, over stored jobs.", labels=["stage"]
        )
        for kind in ("in", "out", "failed")
    }
    for stage, items_in, items_out, failed in conn.execute(query("index_job_stage_items")):
        families["in"].add_metric([stage], items_in)
        families["out"].add_metric([stage], items_out)
        families["failed"].add_metric([stage], failed)
    yield from families.values()


def _queue_metrics(queue: Queue) -> Iterator[Metric]:
    jobs = GaugeMetricFamily("pipeline_queue_jobs", "Queue jobs by queue and state.", labels=["queue", "state"])
    depth = GaugeMetricFamily("pipeline_queue_depth", "Jobs waiting to run (created or retry).", labels=["queue"])
    oldest = GaugeMetricFamily(
        "pipeline_queue_oldest_waiting_seconds", "Age of the oldest job that could run now.", labels=["queue"]
    )
    workers = GaugeMetricFamily("pipeline_queue_active_workers", "Workers with a fresh heartbeat.", labels=["queue"])
    dead = GaugeMetricFamily("pipeline_queue_dead_letters", "Dead letters per source queue.", labels=["queue"])
    for report in queue.health():
        for state, count in report.counts.items():
            jobs.add_metric([report.queue, state], count)
        depth.add_metric([report.queue], report.counts.get("created", 0) + report.counts.get("retry", 0))
        oldest.add_metric([report.queue], report.oldest_waiting_seconds or 0.0)
        workers.add_metric([report.queue], report.active_workers)
        dead.add_metric([report.queue], report.dead_letters)
    yield from (jobs, depth, oldest, workers, dead)
