"""Payload and option validation happens before any database access."""

from __future__ import annotations

import pytest

from pipeline.config import QueueConfig
from pipeline.queue import JobOptionError, PayloadError, Queue
from pipeline.queue.client import encode_payload

# A URL nothing listens on: these tests prove validation fails before any connection is attempted.
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"


def test_encode_payload__a_json_object_round_trips_to_compact_json() -> None:
    assert encode_payload({"repo": "a", "n": [1, 2]}, queue="q", max_bytes=100) == b'{"repo":"a","n":[1,2]}'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1], "payload must be a JSON object \\(a dict\\), got list"),
        ("x", "got str"),
        (None, "got NoneType"),
        ({"when": object()}, "not JSON-encodable"),
        ({1: "non-string key"}, "not JSON-encodable"),
        ({"nul": "a\x00b"}, "NUL character"),
        ({"big": "x" * 100}, "over the limit of 50 \\(queue.max_payload_bytes\\)"),
    ],
)
def test_encode_payload__rejects_bad_payloads_naming_the_queue_and_problem(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=f"queue 'index-repo': .*{message}"):
        encode_payload(payload, queue="index-repo", max_bytes=50)


def test_send__rejects_a_bad_payload_without_touching_the_database() -> None:
    queue = Queue(UNREACHABLE, "pipeline", QueueConfig(max_payload_bytes=10))
    with pytest.raises(PayloadError, match="payload #2 is 22 bytes of JSON"):
        queue.send_many("q", [{}, {}, {"x": "y" * 14}])
    with pytest.raises(PayloadError):
        queue.send("q", ["not", "an", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": 2**40}, "priority must be a 32-bit integer"),
        ({"priority": True}, "priority must be a 32-bit integer"),
        ({"retry_limit": 1001}, "retry_limit must be an integer from 0 to 1000"),
        ({"retry_delay": float("nan")}, "retry_delay must be a finite number"),
        ({"retry_delay_max": -1}, "retry_delay_max must be a finite number"),
        ({"expire_in": 0}, "expire_in must be a finite number of seconds >= 0.001"),
        ({"start_after": "soon"}, "start_after must be a finite number"),
    ],
)
def test_send__rejects_out_of_range_options_without_touching_the_database(
    options: dict[str, object], message: str
) -> None:
    queue = Queue(UNREACHABLE, "pipeline")
    with pytest.raises(JobOptionError, match=message):
        queue.send("q", {}, **options)  # type: ignore[arg-type]


def test_send_many__singleton_keys_must_match_the_payloads() -> None:
    with pytest.raises(JobOptionError, match="2 singleton keys given for 3 payloads"):
        Queue(UNREACHABLE, "pipeline").send_many("q", [{}, {}, {}], singleton_keys=["a", "b"])
