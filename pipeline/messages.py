"""Messages between the coordinator and the stage processes, sent as ``msgspec.msgpack`` bytes.

Bytes, not Structs, cross the channels between processes: dill-pickling Structs is ~17x slower than msgpack. Every
message about a job carries ``job``, the key of one attempt (``<queue job id>-<attempt>``), so several jobs can be
in flight at once and a retry of a job never meets what the stages remember of an aborted earlier attempt.
"""

from __future__ import annotations

from typing import Any

import msgspec

from stages.commit import CommitContext
from stages.models import FileExtraction, LinkFile, Transport


def attempt_key(queue_job_id: str, attempt: int) -> str:
    """The ``job`` field of every message about one attempt of a queue job."""
    return f"{queue_job_id}-{attempt}"


def log_fields(key: str) -> dict[str, Any]:
    """The log correlation fields of an attempt key: the queue job id and the attempt."""
    queue_job_id, _, attempt = key.rpartition("-")
    return {"queue_job_id": queue_job_id, "attempt": int(attempt)} if attempt.isdigit() else {"queue_job_id": key}


class FetchRequest(msgspec.Struct, frozen=True, kw_only=True, tag="fetch"):
    """Coordinator → fetcher: clone and list one repository at one commit."""

    job: str
    url: str
    transport: Transport
    full_name: str
    ref: str | None
    commit_sha: str | None


class WriteBegin(msgspec.Struct, frozen=True, kw_only=True, tag="begin"):
    """Coordinator → writer: what the writer needs to store and complete this job."""

    job: str
    queue_job_id: str
    attempt: int  # the queue job's attempt: the completion names it, so a late earlier attempt cannot complete
    index_job_id: str
    repository_id: str
    worker_id: str
    force: bool = False  # index even if the commit is the repository's current index already


class ListedFile(msgspec.Struct, frozen=True, array_like=True):
    """One file of a commit's listing: what its stored result would be keyed by, besides the extractor."""

    path: str
    oid: str
    language: str


class FetchStarted(msgspec.Struct, frozen=True, kw_only=True, tag="fetched"):
    """Fetcher → writer: the commit is resolved and listed (sorted by path; a file's position is the ``file_idx``
    of its ``ParseItem``). The fetcher then waits for the writer's ``ParsePlan``."""

    job: str
    commit_sha: str
    listing: tuple[ListedFile, ...]


class ParsePlan(msgspec.Struct, frozen=True, kw_only=True, tag="plan"):
    """Writer → fetcher: the listing positions to read and send to the parsers; the other files' results are
    stored already (and locked by the job's transaction), so they are neither read nor parsed."""

    job: str
    parse: tuple[int, ...]


class ParseItem(msgspec.Struct, frozen=True, kw_only=True, tag="item"):
    """Fetcher → parsers: one file's bytes, read from the object database; ``file_idx`` is its listing position."""

    job: str
    file_idx: int
    path: str
    oid: str
    language: str
    data: bytes


class ParseResult(msgspec.Struct, frozen=True, kw_only=True, tag="result"):
    """Parser → writer: one file's extraction."""

    job: str
    file_idx: int
    oid: str
    extraction: FileExtraction
    text: str | None = None  # the file's content, for code search; None when it is not UTF-8 or has a NUL byte
    seconds: float = 0.0  # spent parsing and extracting this file
    # Spent by this parser blocked on the full write channel sending its previous result of this job (a result
    # cannot carry the time of its own sending; what the last one of a job waited is not counted).
    blocked_seconds: float = 0.0


class LinkInput(msgspec.Struct, frozen=True, kw_only=True):
    """A ``ParseResult`` read for the cross-file step only (``decode_link_input``): the writer keeps this, not
    the whole extraction, until the job's last file arrives."""

    extraction: LinkFile


class FetchDone(msgspec.Struct, frozen=True, kw_only=True, tag="fetch_done"):
    """Fetcher → writer: exactly ``files`` items were sent to the parsers (those of the plan whose content is
    source: binary and minified ones are skipped); the commit context for the cross-file step."""

    job: str
    files: int
    files_seen: int
    skipped: dict[str, int]
    bytes: int
    context: CommitContext
    seconds: float
    blocked_seconds: float = 0.0  # of ``seconds``: blocked sending on a full channel (the parsers' or the writer's)


class Abort(msgspec.Struct, frozen=True, kw_only=True, tag="abort"):
    """Coordinator → fetcher/writer: drop this job (cancelled, released or failed elsewhere)."""

    job: str


class Stop(msgspec.Struct, frozen=True, kw_only=True, tag="stop"):
    """Coordinator → a stage: finish what is queued before this message, then exit."""


class Progress(msgspec.Struct, frozen=True, kw_only=True, tag="progress"):
    """Stage → coordinator: counters of one stage for one job (absolute values, not increments)."""

    job: str
    stage: str
    items_in: int
    items_out: int
    failed: int
    finished: bool = False


class JobDone(msgspec.Struct, frozen=True, kw_only=True, tag="done"):
    """Writer → coordinator: the snapshot, the index job and the queue job were committed together; or, with
    ``skipped``, the commit was the current index already and both jobs were closed without indexing it."""

    job: str
    stats: dict[str, Any]
    skipped: bool = False


class JobFailed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    """Stage → coordinator: the job cannot finish; ``retryable`` says whether another attempt could help."""

    job: str
    stage: str
    error: str
    retryable: bool


FetcherInbox = FetchRequest | ParsePlan | Abort | Stop
ParserInbox = ParseItem | Stop
WriterInbox = WriteBegin | FetchStarted | ParseResult | FetchDone | Abort | Stop
CoordinatorInbox = Progress | JobDone | JobFailed

encode = msgspec.msgpack.Encoder().encode
decode_fetcher = msgspec.msgpack.Decoder(FetcherInbox).decode
decode_parser = msgspec.msgpack.Decoder(ParserInbox).decode
decode_writer = msgspec.msgpack.Decoder(WriterInbox).decode
decode_coordinator = msgspec.msgpack.Decoder(CoordinatorInbox).decode
decode_link_input = msgspec.msgpack.Decoder(LinkInput).decode
