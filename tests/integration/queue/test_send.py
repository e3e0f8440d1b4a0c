"""Sending jobs: ids, payload validation, the caller's transaction, bulk send, singletons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.db import connect
from pipeline.queue import JobOptionError, JobState, PayloadError, Queue


def test_send__returns_the_id_of_a_created_job_with_the_configured_retry_policy(queue: Queue) -> None:
    job_id = queue.send("index-repo", {"repo": "a"})
    job = queue.get(job_id)
    assert job is not None
    assert (job.queue, job.state, job.payload, job.attempts) == ("index-repo", JobState.CREATED, {"repo": "a"}, 0)
    assert job.retry_limit == queue.config.retry_limit


@pytest.mark.parametrize("payload", [[1, 2], "text", None, 3])
def test_send__rejects_a_payload_that_is_not_a_json_object(queue: Queue, payload: object) -> None:
    with pytest.raises(PayloadError, match=r"queue 'index-repo': payload must be a JSON object"):
        queue.send("index-repo", payload)  # type: ignore[arg-type]


def test_send__rejects_a_payload_over_the_size_limit_naming_the_config_key(queue: Queue) -> None:
    big = {"blob": "x" * queue.config.max_payload_bytes}
    with pytest.raises(PayloadError, match=r"over the limit of \d+ \(queue.max_payload_bytes\)"):
        queue.send("index-repo", big)


def test_send_many__names_the_bad_item_and_writes_nothing(queue: Queue, conn: psycopg.Connection[TupleRow]) -> None:
    with pytest.raises(PayloadError, match=r"payload #1 is not JSON-encodable"):
        queue.send_many("index-repo", [{"ok": 1}, {"bad": {1, 2}}])
    assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_send__rejects_out_of_range_options(queue: Queue) -> None:
    with pytest.raises(JobOptionError, match="retry_limit"):
        queue.send("index-repo", {}, retry_limit=-1)
    with pytest.raises(JobOptionError, match="queue name"):
        queue.send("", {})
    with pytest.raises(JobOptionError, match="timezone-aware"):
        queue.send("index-repo", {}, start_after=datetime(2030, 1, 1))


def test_send_with_conn__job_exists_only_if_the_callers_transaction_commits(queue: Queue, config: Config) -> None:
    with connect(config.database.url, config.database.schema) as own:
        own.execute("CREATE TEMP TABLE repos (name text)")
        own.execute("INSERT INTO repos VALUES ('a')")
        rolled_back = queue.send("index-repo", {"repo": "a"}, conn=own)
        assert queue.get(rolled_back) is None, "visible before the caller committed"
        own.rollback()
        assert queue.get(rolled_back) is None
        committed = queue.send("index-repo", {"repo": "b"}, conn=own)
        own.commit()
    job = queue.get(committed)
    assert job is not None
    assert job.state is JobState.CREATED


def test_send_many__inserts_all_jobs_and_returns_ids_in_payload_order(queue: Queue) -> None:
    ids = queue.send_many("index-repo", [{"i": i} for i in range(2500)], priority=3)
    assert len(set(ids)) == 2500
    for index in (0, 1234, 2499):
        job = queue.get(ids[index])
        assert job is not None
        assert (job.payload, job.priority) == ({"i": index}, 3)


def test_singleton__a_duplicate_send_returns_the_unfinished_jobs_id(queue: Queue) -> None:
    first = queue.send("index-repo", {"repo": "a"}, singleton_key="a@1")
    assert queue.send("index-repo", {"repo": "a", "again": True}, singleton_key="a@1") == first
    assert queue.send("other-queue", {}, singleton_key="a@1") != first, "keys are per queue"
    bulk = queue.send_many("index-repo", [{"n": 1}, {"n": 2}, {"n": 3}], singleton_keys=["a@1", "b@1", "b@1"])
    assert bulk[0] == first
    assert bulk[1] == bulk[2] != first


def test_singleton__a_finished_job_frees_its_key(queue: Queue) -> None:
    first = queue.send("index-repo", {}, singleton_key="a@1")
    queue.cancel(first)
    second = queue.send("index-repo", {}, singleton_key="a@1")
    assert second != first


def test_start_after__accepts_seconds_timedelta_and_aware_datetime(queue: Queue) -> None:
    soon = queue.send("q", {}, start_after=30)
    later = queue.send("q", {}, start_after=timedelta(hours=1))
    at = datetime(2100, 1, 1, tzinfo=UTC)
    fixed = queue.send("q", {}, start_after=at)
    infos = [queue.get(job_id) for job_id in (soon, later, fixed)]
    assert all(info is not None for info in infos)
    soon_info, later_info, fixed_info = infos
    assert soon_info is not None
    assert later_info is not None
    assert fixed_info is not None
    assert timedelta(seconds=25) < soon_info.start_after - soon_info.created_at < timedelta(seconds=35)
    assert later_info.start_after - later_info.created_at > timedelta(minutes=59)
    assert fixed_info.start_after == at


def test_get__unknown_job_is_none(queue: Queue) -> None:
    assert queue.get(uuid.uuid4()) is None
