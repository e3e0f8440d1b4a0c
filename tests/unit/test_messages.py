"""Messages between the coordinator and the stage processes: msgpack round trips and attempt keys."""

from __future__ import annotations

import uuid

from pipeline import messages


def test_attempt_key__two_attempts_of_one_job_get_different_keys_and_log_as_that_job() -> None:
    job_id = str(uuid.uuid4())
    first, second = messages.attempt_key(job_id, 1), messages.attempt_key(job_id, 2)
    assert first != second
    assert messages.log_fields(second) == {"queue_job_id": job_id, "attempt": 2}
    assert messages.log_fields("not-an-attempt-key") == {"queue_job_id": "not-an-attempt-key"}


def test_writer_messages__round_trip_through_msgpack() -> None:
    begin = messages.WriteBegin(
        job=messages.attempt_key("q", 3),
        queue_job_id="q",
        attempt=3,
        index_job_id="i",
        repository_id="r",
        worker_id="w",
        force=True,
    )
    done = messages.JobDone(job=begin.job, stats={"files": 1}, skipped=True)
    assert messages.decode_writer(messages.encode(begin)) == begin
    assert messages.decode_coordinator(messages.encode(done)) == done
