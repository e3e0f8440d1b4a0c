"""The parser processes: parse and extract each file where it was parsed (loads tree-sitter, not git nor the
database, so each parser stays small)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import dill
import msgspec

from pipeline import messages
from pipeline.config import Config
from pipeline.processes import StageQueues, child_setup, inbox_messages, put_blocking
from stages.extract import ExtractionLimits, extract_source
from stages.languages import is_declaration_file
from stages.models import FileError, FileExtraction
from stages.parse import ParseLimits

logger = logging.getLogger(__name__)

ExtractFunction = Callable[..., FileExtraction]
"""``extract(path, source, *, limits, language) -> FileExtraction``: the parser processes' per-file function."""


def parser_main(config: Config, extract_pickle: bytes, queues: StageQueues) -> None:
    """Parse and extract each file in this process (trees never leave it) and send the rows to the writer, with the
    file's text for code search (``searchable_text``).

    ``extract_pickle`` is the ``ExtractFunction`` as ``dill`` bytes (pickled by the coordinator with the globals
    it uses), or ``None`` pickled for the built-in ``extract_source``. A file that cannot be parsed still yields a
    result (with ``error`` set), so the writer's count always closes; so does a file a plugged-in function raised on
    or returned something unusable for. Each result carries the time spent on it (``seconds``) and the time this
    parser was blocked sending its previous result of the job on the full write channel (``blocked_seconds``);
    waiting for input counts in neither.
    """
    parent = child_setup(config.log, "parse")
    extract: ExtractFunction = dill.loads(extract_pickle) or extract_source  # noqa: S301  (our coordinator pickled it, as it does every argument)
    plugged_in = extract is not extract_source
    limits = ExtractionLimits(
        parse=ParseLimits(max_bytes=config.index.max_file_bytes, parse_timeout_seconds=config.index.parse_timeout)
    )
    # Per job, how long this parser's last put of a result of that job was blocked, sent with its next result of
    # the job. Oldest first: a job more than ``index.jobs`` jobs back is finished, and its entry (what its last
    # result waited) is dropped.
    blocked: dict[str, float] = {}
    for raw in inbox_messages(queues.parse_queue, parent):
        message = messages.decode_parser(raw)
        if isinstance(message, messages.Stop):
            return
        started = time.monotonic()
        try:
            extraction = extract(message.path, message.data, limits=limits, language=message.language)
        except Exception as exc:  # a bug on one file must not lose the file or stop the pool
            logger.exception("extraction raised", extra={"path": message.path})
            extraction = _failed(message, f"{type(exc).__name__}: {exc}")
        if plugged_in and (problem := _unreadable(extraction)) is not None:
            logger.error("extract function returned an unusable result", extra={"path": message.path})
            extraction = _failed(message, f"the extract function {problem}")
        result = messages.ParseResult(
            job=message.job,
            file_idx=message.file_idx,
            oid=message.oid,
            extraction=extraction,
            text=searchable_text(message.data),
            seconds=time.monotonic() - started,
            blocked_seconds=blocked.pop(message.job, 0.0),
        )
        blocked[message.job] = put_blocking(queues.write_queue, messages.encode(result))
        if len(blocked) > config.index.jobs:
            del blocked[next(iter(blocked))]


def searchable_text(data: bytes) -> str | None:
    """The file's text as code search stores it, or ``None``: the parsers' decode policy (``stages.parse``) applies,
    so a file that is not UTF-8 or holds a NUL byte is not searchable, rather than stored with replacements."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


def _failed(item: messages.ParseItem, error: str) -> FileExtraction:
    return FileExtraction(
        path=item.path,
        language=item.language,
        is_declaration_file=is_declaration_file(item.path),  # part of the content key the writer looks results up by
        size_bytes=len(item.data),
        had_syntax_errors=False,
        error=FileError(kind="internal_error", message=error),
    )


def _unreadable(extraction: object) -> str | None:
    """Why the writer could not read what a plugged-in function returned (its output is not trusted to be a
    well-formed ``FileExtraction``); ``None`` if it can."""
    if not isinstance(extraction, FileExtraction):
        return f"returned {type(extraction).__name__}, not a FileExtraction"
    probe = messages.ParseResult(job="", file_idx=0, oid="", extraction=extraction)
    try:
        messages.decode_writer(messages.encode(probe))
    except (TypeError, ValueError, msgspec.MsgspecError) as exc:
        return f"returned a FileExtraction the writer cannot read: {exc}"
    return None
