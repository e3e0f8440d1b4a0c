"""The retry delay sequence, as a pure function so it can be pinned by tests."""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay_seconds(
    attempt: int,
    *,
    delay: float,
    backoff: bool,
    delay_max: float,
    jitter: float = 0.2,
    uniform: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before the retry that follows failed attempt number ``attempt`` (1-based).

    Without backoff the delay is ``delay`` every time. With backoff it doubles per attempt — ``delay``,
    ``2*delay``, ``4*delay``... — capped at ``delay_max``, and then loses a random fraction of up to ``jitter``
    (``uniform()`` is in [0, 1)), so a burst of failures does not retry in lockstep and the result never exceeds
    the cap: ``min(delay_max, delay * 2**(attempt - 1)) * (1 - jitter * u)``.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    if not backoff:
        return delay
    exponent = min(attempt - 1, 62)  # beyond this the cap always wins; keeps the float finite
    base = min(delay_max, delay * 2.0**exponent)
    return base * (1.0 - jitter * uniform())
