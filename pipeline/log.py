"""Structured logging: JSON lines (orjson) on stderr, or a readable line format on a terminal.

Correlation ids travel in a context variable: code inside ``log_context(index_job_id=..., stage=...)`` logs them on
every line without passing them around. Fields of a JSON line:

- ``ts`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``msg``;
- the context: ``index_job_id`` (the ``index_jobs`` row), ``queue_job_id`` (its job in the queue), ``repository_id``,
  ``stage``, ``attempt``, ``worker`` when set — never a bare ``job_id``, which would not say which of the two;
- anything passed with ``extra={...}``; ``exc`` with the traceback when an exception is logged.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from pipeline.config import LogConfig

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("pipeline_log_context", default={})  # noqa: B039  (never mutated: each log_context builds a new dict)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` or the context.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add correlation fields to every log line emitted inside the block (nested blocks add to outer ones)."""
    token = _context.set({**_context.get(), **{key: value for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values orjson cannot encode are written as their ``str``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_extra_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _extra_fields(record).items())
        text = f"{when} {record.levelname.lower():<7} {record.name}: {record.getMessage()}"
        if fields:
            text = f"{text}  {fields}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def configure_logging(config: LogConfig, stream: TextIO | None = None) -> None:
    """Install one stderr handler on the root logger (replacing any earlier one installed here). Python warnings
    (a deprecation, a coroutine never awaited) are logged through it too (logger ``py.warnings``), so with the JSON
    format every line on stderr is a JSON object."""
    stream = sys.stderr if stream is None else stream
    use_json = config.format == "json" or (config.format == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else HumanFormatter())
    handler.addFilter(_ContextFilter())
    handler.set_name("pipeline")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "pipeline":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    logging.captureWarnings(True)
