"""Stage functions plugged into the parser processes by tests (importable, so spawned processes can load them)."""

from __future__ import annotations

import os
import time
from typing import Any

from stages.extract import extract_source
from stages.models import FileExtraction

SLOW_SECONDS_ENV = "PIPELINE_TEST_SLOW_SECONDS"  # read in the parser process, which inherits the environment


def slow_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """The real extraction, slowed down so a test can act while a job is in the middle of parsing."""
    time.sleep(float(os.environ.get(SLOW_SECONDS_ENV, "1.0")))
    return extract_source(path, source, **options)
