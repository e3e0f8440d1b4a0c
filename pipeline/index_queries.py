"""Questions about a repository's stored index: symbols, definitions, references, outlines, imports, impact.

Every function takes a psycopg connection whose ``search_path`` is the project's schema, resolves the repository
(``resolve_repository``), and reads its **current snapshot** inside one read-only REPEATABLE READ transaction
(``snapshot_read``), so one answer sees one state of the index even while an incremental job updates that snapshot
in place. Results are ``msgspec.Struct``s: the REST API returns them as JSON unchanged, the CLI prints them, the
MCP tools return their builtins.

Positions follow ``docs/index-contract.md``: lines 1-based, columns 0-based counted in UTF-8 bytes, ends exclusive.
A symbol's id is ``"<file_idx>:<symbol_idx>"``, stable within the snapshot (an incremental job keeps a file's
``file_idx`` for as long as its path stays).

Errors are ``IndexQueryError`` with an HTTP-like ``status``: 400 bad input, 404 unknown repository, path or
symbol, 409 an ambiguous repository name or a repository not indexed yet, 422 a well-formed question the index
cannot answer (a line past the end of the file).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import msgspec
import psycopg
from psycopg import IsolationLevel, pq
from psycopg.rows import TupleRow

from pipeline.db import query
from pipeline.errors import PipelineError

Connection = psycopg.Connection[TupleRow]

MAX_NAME_MATCHES = 20  # repositories listed in the error for an ambiguous name


class IndexQueryError(PipelineError):
    """A question about the index that cannot be answered as asked; ``status`` says why (400, 404, 409, 422) and
    ``field`` names the offending input, when one does."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class Position(msgspec.Struct, frozen=True):
    line: int  # 1-based
    column: int  # 0-based, in UTF-8 bytes of the line


class Range(msgspec.Struct, frozen=True):
    start: Position
    end: Position  # exclusive


class SymbolRef(msgspec.Struct, frozen=True, kw_only=True):
    """A symbol named from another row: a parent, the symbol enclosing a reference."""

    id: str
    name: str
    kind: str


class SymbolInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # "<file_idx>:<symbol_idx>"
    name: str
    kind: str
    path: str
    range: Range  # the whole declaration
    name_range: Range  # exactly the name
    signature: str
    doc: str | None
    exported: bool
    parent: SymbolRef | None


class RepositoryRef(msgspec.Struct, frozen=True, kw_only=True):
    """A repository as a question names it, with the snapshot readers currently see (None: not indexed yet)."""

    id: uuid.UUID
    full_name: str
    git_url: str
    snapshot_id: uuid.UUID | None
    commit_sha: str | None
    indexed_at: datetime | None


def symbol_id(file_idx: int, symbol_idx: int) -> str:
    return f"{file_idx}:{symbol_idx}"


def span(start_line: int, start_column: int, end_line: int, end_column: int) -> Range:
    return Range(Position(start_line, start_column), Position(end_line, end_column))


@contextmanager
def snapshot_read(conn: Connection) -> Iterator[None]:
    """One read-only REPEATABLE READ transaction on ``conn``, so every statement of one answer sees the same
    snapshot; inside a transaction the caller already opened, that one is used as it is."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        yield
        return
    isolation, read_only = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level, conn.read_only = isolation, read_only


def resolve_repository(conn: Connection, repo: str, *, require_index: bool = True) -> RepositoryRef:
    """The repository ``repo`` names: its id (a uuid) or its full name (``owner/name``, any case).

    Raises ``IndexQueryError``: 400 for an empty name, 404 when none matches, 409 when several repositories share
    the name (listing their ids, to ask again by id) or, with ``require_index``, when none of its index jobs has
    completed yet.
    """
    name = repo.strip()
    if not name or "\x00" in name:
        raise IndexQueryError(400, "repository: give a repository id or its owner/name", field="repository")
    try:
        repository_id: uuid.UUID | None = uuid.UUID(name)
    except ValueError:
        repository_id = None
    rows = conn.execute(
        query("index_repository_resolve"),
        {"id": repository_id, "name": name.lower(), "limit": MAX_NAME_MATCHES + 1},
    ).fetchall()
    if not rows:
        raise IndexQueryError(
            404, f"repository: no repository {name!r} (give its id or owner/name)", field="repository"
        )
    if len(rows) > 1:
        ids = ", ".join(str(row[0]) for row in rows[:MAX_NAME_MATCHES])
        more = " and more" if len(rows) > MAX_NAME_MATCHES else ""
        raise IndexQueryError(
            409, f"repository: {name!r} names several repositories; ask by id: {ids}{more}", field="repository"
        )
    rid, full_name, git_url, snapshot_id, commit_sha, indexed_at = rows[0]
    found = RepositoryRef(
        id=rid,
        full_name=full_name,
        git_url=git_url,
        snapshot_id=snapshot_id,
        commit_sha=commit_sha,
        indexed_at=indexed_at,
    )
    if require_index and found.snapshot_id is None:
        raise IndexQueryError(
            409,
            f"repository: {full_name} ({rid}) has no index yet; its first index job has not completed",
            field="repository",
        )
    return found
