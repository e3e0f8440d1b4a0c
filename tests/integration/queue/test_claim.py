"""Claiming: order, start_after, the partial index, and concurrent claimers."""

from __future__ import annotations

import threading
import uuid

import orjson
import psycopg
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.db import connect, query
from pipeline.queue import JobState, Queue

Connection = psycopg.Connection[TupleRow]


def claim(conn: Connection, name: str, limit: int = 1, worker_id: str = "w1") -> list[uuid.UUID]:
    rows = conn.execute(
        query("job_claim"), {"name": name, "limit": limit, "worker_id": worker_id, "stale_after": 60}
    ).fetchall()
    return [row[0] for row in rows]


def test_claim__leaves_a_job_reserved_for_a_live_worker_to_it(queue: Queue, conn: Connection) -> None:
    reserved = queue.send("q", {}, reserved_for="owner")
    assert claim(conn, "q", worker_id="other") == []
    assert claim(conn, "q", worker_id="owner") == [reserved]


def test_claim__takes_a_reserved_job_once_its_worker_stopped_or_died(queue: Queue, conn: Connection) -> None:
    stopped = queue.send("q", {"n": "stopped"}, reserved_for="stopped-worker")
    died = queue.send("q", {"n": "died"}, reserved_for="dead-worker")
    conn.execute("DELETE FROM workers WHERE id = 'stopped-worker'")  # a clean exit forgets the worker
    conn.execute("UPDATE workers SET heartbeat_at = now() - interval '61 seconds' WHERE id = 'dead-worker'")
    assert claim(conn, "q", limit=2, worker_id="other") == [stopped, died]


def test_send__a_reservation_holds_from_the_moment_the_job_is_visible(queue: Queue, conn: Connection) -> None:
    queue.send("q", {}, reserved_for="owner")
    heartbeat = conn.execute("SELECT now() - heartbeat_at < interval '60 seconds' FROM workers WHERE id = 'owner'")
    assert heartbeat.fetchall() == [(True,)]


def test_claim__takes_highest_priority_first_then_the_oldest(queue: Queue, conn: Connection) -> None:
    low_old = queue.send("q", {"n": "low-old"})
    high = queue.send("q", {"n": "high"}, priority=5)
    low_new = queue.send("q", {"n": "low-new"})
    higher_new = queue.send("q", {"n": "higher"}, priority=9)
    assert [claim(conn, "q")[0] for _ in range(4)] == [higher_new, high, low_old, low_new]
    assert claim(conn, "q") == []


def test_claim__batch_comes_back_in_claim_order(queue: Queue, conn: Connection) -> None:
    ids = [queue.send("q", {"i": i}, priority=i % 3) for i in range(9)]
    claimed = claim(conn, "q", limit=9)
    expected = sorted(ids, key=lambda job_id: -(ids.index(job_id) % 3))  # stable: age within a priority
    assert claimed == expected


def test_claim__leaves_jobs_whose_start_after_is_in_the_future(queue: Queue, conn: Connection) -> None:
    delayed = queue.send("q", {}, start_after=3600)
    ready = queue.send("q", {})
    assert claim(conn, "q", limit=10) == [ready]
    conn.execute("UPDATE jobs SET start_after = now() - interval '1 second' WHERE id = %s", [delayed])
    assert claim(conn, "q", limit=10) == [delayed]


def test_claim__starts_an_attempt_owned_by_the_worker(queue: Queue, conn: Connection) -> None:
    job_id = queue.send("q", {}, expire_in=120)
    claim(conn, "q", worker_id="worker-7")
    row = conn.execute(
        "SELECT state, attempts, worker_id, started_at IS NOT NULL, expire_at - started_at FROM jobs WHERE id = %s",
        [job_id],
    ).fetchone()
    assert row is not None
    assert row[:4] == (JobState.ACTIVE.value, 1, "worker-7", True)
    assert row[4].total_seconds() == 120


def claim_plan(conn: Connection, name: str, limit: int) -> str:
    """The claim's query plan, as JSON text."""
    plan = conn.execute(
        b"EXPLAIN (FORMAT JSON) " + query("job_claim").encode(),
        {"name": name, "limit": limit, "worker_id": "w", "stale_after": 60},
    ).fetchone()
    assert plan is not None
    return orjson.dumps(plan[0]).decode()


def test_claim__query_plan_uses_the_partial_claim_index(queue: Queue, conn: Connection) -> None:
    queue.send_many("q", [{"i": i} for i in range(3000)])
    queue.send_many("other", [{"i": i} for i in range(3000)])
    conn.execute("UPDATE jobs SET state = 'completed', finished_at = now() WHERE name = 'other'")
    conn.execute("ANALYZE jobs")
    text = claim_plan(conn, "q", 10)
    assert '"Index Name":"jobs_claim_idx"' in text, text
    assert '"Node Type":"Seq Scan"' not in text, text


def test_claim__a_large_batch_from_a_backlog_is_found_by_index_not_by_scanning_the_table(
    queue: Queue, conn: Connection
) -> None:
    """After a burst of sends the waiting jobs are most of the table, and a join to the claimed batch is planned as
    a hash of the whole table: every claim would cost a pass over it."""
    queue.send_many("q", [{"i": i} for i in range(2000)])
    conn.execute("ANALYZE jobs")
    text = claim_plan(conn, "q", 500)
    assert '"Index Name":"jobs_claim_idx"' in text, text
    assert '"Node Type":"Seq Scan"' not in text, text


def _race(config: Config, worker_id: str, barrier: threading.Barrier, won: list[list[uuid.UUID]]) -> None:
    with connect(config.database.url, config.database.schema, autocommit=True) as conn:
        barrier.wait()
        won.append(claim(conn, "race", limit=5, worker_id=worker_id))


def test_claim__two_connections_racing_for_one_job_exactly_one_wins(queue: Queue, config: Config) -> None:
    for _ in range(20):
        job_id = queue.send("race", {})
        barrier = threading.Barrier(2)
        won: list[list[uuid.UUID]] = []

        threads = [threading.Thread(target=_race, args=(config, f"w{i}", barrier, won)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(len(result) for result in won) == [0, 1]
        assert [job for result in won for job in result] == [job_id]


def test_claim__skips_a_job_locked_by_an_uncommitted_claim(queue: Queue, config: Config) -> None:
    job_id = queue.send("race", {})
    url, schema = config.database.url, config.database.schema
    with connect(url, schema) as first, connect(url, schema) as second:
        assert claim(first, "race", worker_id="first") == [job_id]  # transaction still open
        assert claim(second, "race", worker_id="second") == []
        first.commit()
        second.commit()
    info = queue.get(job_id)
    assert info is not None
    assert (info.state, info.worker_id, info.attempts) == (JobState.ACTIVE, "first", 1)
