"""Structured logs: JSON fields, correlation ids from the context, readable terminal format."""

import io
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import orjson
import pytest

from pipeline.config import LogConfig
from pipeline.log import configure_logging, current_context, log_context
from tests.conftest import ROOT


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(LogConfig(format="json", level="debug"), stream)
    yield stream
    logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "pipeline"]


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_json_log__has_documented_fields(captured: io.StringIO) -> None:
    logging.getLogger("pipeline.test").info("parsed %d files", 3, extra={"bytes": 10})
    (line,) = lines(captured)
    assert line["msg"] == "parsed 3 files"
    assert line["level"] == "info"
    assert line["logger"] == "pipeline.test"
    assert line["bytes"] == 10
    assert str(line["ts"]).endswith("+00:00")


def test_log_context__adds_correlation_ids_to_every_line_inside_the_block(captured: io.StringIO) -> None:
    log = logging.getLogger("pipeline.test")
    with log_context(job_id="j-1", repository_id="r-1", attempt=2):
        log.info("outer")
        with log_context(stage="parse"):
            log.info("inner")
        log.info("outer again")
    log.info("outside")
    outer, inner, outer_again, outside = lines(captured)
    assert (outer["job_id"], outer["repository_id"], outer["attempt"]) == ("j-1", "r-1", 2)
    assert "stage" not in outer
    assert (inner["job_id"], inner["stage"]) == ("j-1", "parse")
    assert "stage" not in outer_again
    assert "job_id" not in outside
    assert current_context() == {}


def test_log_context__does_not_leak_between_threads(captured: io.StringIO) -> None:
    seen: list[dict[str, object]] = []
    with log_context(job_id="main-thread"):
        thread = threading.Thread(target=lambda: seen.append(current_context()))
        thread.start()
        thread.join()
    assert seen == [{}]


def test_json_log__exception_has_traceback(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad file")
    except ValueError:
        logging.getLogger("pipeline.test").exception("failed")
    (line,) = lines(captured)
    assert "ValueError: bad file" in str(line["exc"])


def test_human_log__is_one_readable_line_with_fields() -> None:
    stream = io.StringIO()
    configure_logging(LogConfig(format="human"), stream)
    try:
        with log_context(job_id="j-9"):
            logging.getLogger("pipeline.test").warning("slow file", extra={"path": "a.ts"})
    finally:
        logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "pipeline"]
    text = stream.getvalue()
    assert "warning" in text
    assert "pipeline.test: slow file" in text
    assert "path=a.ts" in text
    assert "job_id=j-9" in text
    assert not text.startswith("{")


def test_json_log__python_warnings_are_json_lines_too() -> None:
    """A warning Python prints itself (here: a coroutine garbage-collected unawaited) goes through the formatter,
    so a JSON log consumer never meets a plain line. In a fresh interpreter: pytest captures warnings itself."""
    script = textwrap.dedent(
        """
        import gc, warnings
        from pipeline.config import LogConfig
        from pipeline.log import configure_logging

        configure_logging(LogConfig(format="json"))
        warnings.warn("explicit", DeprecationWarning, stacklevel=1)

        async def never_awaited() -> None:
            pass

        never_awaited()
        gc.collect()
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = [orjson.loads(line) for line in result.stderr.splitlines()]  # fails on any line that is not JSON
    assert [line["logger"] for line in lines] == ["py.warnings", "py.warnings"]
    assert "DeprecationWarning: explicit" in str(lines[0]["msg"])
    assert "coroutine 'never_awaited' was never awaited" in str(lines[1]["msg"])
