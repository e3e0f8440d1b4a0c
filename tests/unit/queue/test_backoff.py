"""The retry delay sequence, pinned."""

from __future__ import annotations

import pytest

from pipeline.queue.backoff import retry_delay_seconds


def delays(count: int, uniform: float, **options: float | bool) -> list[float]:
    settings: dict[str, float | bool] = {"delay": 60, "backoff": True, "delay_max": 3600, "jitter": 0.2} | options
    return [
        retry_delay_seconds(
            attempt,
            delay=float(settings["delay"]),
            backoff=bool(settings["backoff"]),
            delay_max=float(settings["delay_max"]),
            jitter=float(settings["jitter"]),
            uniform=lambda: uniform,
        )
        for attempt in range(1, count + 1)
    ]


def test_backoff__doubles_from_retry_delay_and_stops_at_retry_delay_max_without_jitter() -> None:
    assert delays(8, uniform=0.0) == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_backoff__jitter_takes_off_at_most_the_jitter_fraction() -> None:
    assert delays(3, uniform=0.5) == pytest.approx([54, 108, 216])
    assert delays(3, uniform=0.999999) == pytest.approx([48, 96, 192], rel=1e-5)


def test_backoff__random_jitter_stays_within_its_bounds_and_under_the_cap() -> None:
    for attempt in range(1, 40):
        base = min(3600.0, 60.0 * 2 ** (attempt - 1))
        for _ in range(50):
            value = retry_delay_seconds(attempt, delay=60, backoff=True, delay_max=3600, jitter=0.2)
            assert base * 0.8 <= value <= base <= 3600


def test_backoff__off_means_the_same_delay_every_time() -> None:
    assert delays(4, uniform=0.7, backoff=False) == [60, 60, 60, 60]


def test_backoff__a_huge_attempt_number_is_capped_not_overflowed() -> None:
    assert retry_delay_seconds(10_000, delay=1, backoff=True, delay_max=5, jitter=0, uniform=lambda: 0.0) == 5


def test_backoff__attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="attempt must be 1 or more"):
        retry_delay_seconds(0, delay=1, backoff=True, delay_max=5)
