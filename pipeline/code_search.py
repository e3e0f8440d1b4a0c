"""Code search: the lines of a repository's current snapshot whose text matches a literal or a regular expression.

Every indexed file's text is stored once per blob (``file_contents``, migration 0011) with a trigram index, which
narrows the texts a search reads (pg_trgm serves regular expressions from it: a literal is searched as an escaped
regular expression). Guarantees:

- One answer reads one state of the index (``index_queries.snapshot_read``): the repository's current snapshot.
- Matching is per line, as grep does: a pattern is a PostgreSQL regular expression (ARE) in newline-sensitive mode
  (``.`` and ``[^…]`` never match a line break; ``^`` and ``$`` match at the start and end of every line), so a
  file matches exactly when one of its lines does. ``case_sensitive=False`` folds case for the pattern only.
- Each match names its line (1-based), the column of the first match on it (0-based, in UTF-8 bytes, as the index
  contract counts), the line (at most ``MAX_LINE_CHARS`` characters) and the innermost symbol whose lines contain
  it (``None`` at the top level).
- Bounded: at most ``limit`` (≤ ``MAX_LIMIT``) matches, in path then line order, with ``truncated`` set when there
  are more; each statement runs under ``statement_timeout`` (``timeout``), and a search that exceeds it is an
  ``IndexQueryError`` 422 naming ``q``, not a long wait.
- Files that are not UTF-8 or hold a NUL byte have no stored text (the parsers' decode policy), so they are never
  found; nor are files the index skips (size limit, vendored, binary, …).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import psycopg
from psycopg import pq

from pipeline.db import query
from pipeline.index_queries import Connection, IndexQueryError, SymbolRef, resolve_repository, snapshot_read, symbol_id

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY_CHARS = 1000
MAX_PATH_CHARS = 1024
MAX_LINE_CHARS = 500
TIMEOUT_SECONDS = 5.0

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""ASCII punctuation: a backslash before it makes it literal in an ARE (before a letter or digit it would be an
escape such as ``\\d``)."""
_GLOB = re.compile(r"\*\*/|\*\*|\*|\?|[^*?]+")
_GLOB_PARTS = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


class CodeMatch(msgspec.Struct, frozen=True, kw_only=True):
    """One matching line."""

    path: str
    line: int  # 1-based
    column: int  # 0-based, in UTF-8 bytes: where the first match on the line starts
    text: str  # the line, at most MAX_LINE_CHARS characters, without its line break
    symbol: SymbolRef | None  # the innermost symbol whose lines contain it


class CodeSearchResult(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CodeMatch]
    truncated: bool  # more lines match than ``items`` holds


def search_code(
    conn: Connection,
    repo: str,
    q: str,
    *,
    regex: bool = False,
    case_sensitive: bool = False,
    path: str | None = None,
    limit: int = DEFAULT_LIMIT,
    timeout: float = TIMEOUT_SECONDS,
) -> CodeSearchResult:
    """The lines of ``repo``'s current snapshot matching ``q`` (a literal, or with ``regex`` a PostgreSQL regular
    expression), in files whose path matches ``path`` (``path_pattern``), at most ``limit`` of them.

    Raises ``IndexQueryError``: 400 for an empty, multi-line or overlong ``q``, an invalid regular expression, a
    bad ``path`` or a ``limit`` outside 1..``MAX_LIMIT``; 404/409 for the repository (``resolve_repository``);
    422 when the search takes longer than ``timeout`` seconds.
    """
    pattern = query_pattern(q, regex=regex, case_sensitive=case_sensitive)
    path_regex = path_pattern(path)
    if not 1 <= limit <= MAX_LIMIT:
        raise IndexQueryError(400, f"limit: must be between 1 and {MAX_LIMIT}, got {limit}", field="limit")
    with snapshot_read(conn):
        snapshot_id = resolve_repository(conn, repo).snapshot_id
        try:
            with search_settings(conn, timeout):
                conn.execute(query("code_search_regex_check"), {"pattern": pattern})  # raises on a bad one at once
                # The first limit + 1 matching files in path order hold the first limit + 1 matching lines (each
                # matching file has a matching line: the pattern is newline-sensitive).
                files = conn.execute(
                    query("code_search_files"),
                    {"snapshot_id": snapshot_id, "pattern": pattern, "path_pattern": path_regex, "limit": limit + 1},
                ).fetchall()
                rows = conn.execute(
                    query("code_search_lines"),
                    {
                        "pattern": pattern,
                        "file_idxs": [file[0] for file in files],
                        "paths": [file[1] for file in files],
                        "result_ids": [file[2] for file in files],
                        "blob_oids": [file[3] for file in files],
                        "max_chars": MAX_LINE_CHARS,
                        "limit": limit + 1,
                    },
                ).fetchall()
        except psycopg.errors.InvalidRegularExpression as exc:
            problem = exc.diag.message_primary or str(exc)
            if "cancel" not in problem:  # the regex engine reports the timeout's cancel as its own error
                raise IndexQueryError(400, f"q: not a valid regular expression: {problem}", field="q") from None
            raise _timed_out(timeout) from None
        except psycopg.errors.QueryCanceled:
            raise _timed_out(timeout) from None
    items = [
        CodeMatch(
            path=file_path,
            line=line,
            column=column,
            text=text,
            symbol=None if symbol_idx is None else SymbolRef(id=symbol_id(file_idx, symbol_idx), name=name, kind=kind),
        )
        for file_idx, file_path, line, column, text, symbol_idx, name, kind in rows[:limit]
    ]
    return CodeSearchResult(items=items, truncated=len(rows) > limit)


def _timed_out(timeout: float) -> IndexQueryError:
    return IndexQueryError(
        422, f"q: the search took longer than {timeout:g} s; narrow it (a longer literal, a path filter)", field="q"
    )


def query_pattern(q: str, *, regex: bool, case_sensitive: bool) -> str:
    """The regular expression searched for ``q``: newline-sensitive, case-folding unless ``case_sensitive``; a
    literal ``q`` escaped. Its syntax is checked by the database (``search_code``)."""
    if not q:
        raise IndexQueryError(400, "q: give the text or regular expression to search for", field="q")
    if len(q) > MAX_QUERY_CHARS:
        raise IndexQueryError(400, f"q: at most {MAX_QUERY_CHARS} characters, got {len(q)}", field="q")
    if "\n" in q or "\r" in q or "\0" in q:
        raise IndexQueryError(400, "q: one line of text (no line break or NUL): matches are per line", field="q")
    if regex and q.startswith(("(?", "***")):
        raise IndexQueryError(
            400, "q: embedded options and directors ((?i), ***=) are not accepted; use case= for case", field="q"
        )
    body = q if regex else _literal(q)
    return f"(?{'' if case_sensitive else 'i'}n){body}"


def path_pattern(path: str | None) -> str | None:
    """The regular expression a file's path must match for ``path``: a glob when it holds ``*`` or ``?`` (``*``
    and ``?`` within one path segment, ``**`` across segments, ``**/`` also none; matched against the whole path),
    else a prefix of whole segments (``src/api`` selects ``src/api`` and everything under it, not ``src/apis``).
    Paths are relative to the repository's root; ``None`` or ``""`` selects every file."""
    if path is None:
        return None
    if len(path) > MAX_PATH_CHARS or "\0" in path:
        raise IndexQueryError(400, f"path: at most {MAX_PATH_CHARS} characters, without NUL", field="path")
    relative = path.strip().lstrip("/").removeprefix("./")
    if ".." in relative.split("/"):
        raise IndexQueryError(400, f"path: {path!r} leaves the repository: give a path within it", field="path")
    if not relative.strip("/"):
        return None
    if "*" not in relative and "?" not in relative:
        return f"^{_literal(relative.rstrip('/'))}(/|$)"
    parts = (_GLOB_PARTS.get(piece) or _literal(piece) for piece in _GLOB.findall(relative))
    return f"^{''.join(parts)}$"


def _literal(text: str) -> str:
    return _PUNCTUATION.sub(r"\\\1", text)


@contextmanager
def search_settings(conn: Connection, timeout: float) -> Iterator[None]:
    """The settings a search's statements run with, in the open transaction only (the previous values again after
    them, so a caller's transaction goes on as it was):

    - ``statement_timeout``: ``timeout`` seconds per statement;
    - ``enable_seqscan`` and ``enable_indexscan`` off, leaving bitmap scans: the planner cannot see what checking a
      pattern against a stored text costs (each is detoasted and decompressed, where its cost model counts one
      operator call on a small heap row), so it would read every text of ``file_contents`` (sequentially, or in
      key order) rather than the few its trigram index names: 250 ms instead of 20 ms for a selective literal
      over the 37 MB bench corpus. Key lookups still compete: a small snapshot's texts are read by blob through
      its ``snapshot_files`` when that is cheaper.
    """
    milliseconds = f"{max(1, round(timeout * 1000))}ms"
    row = conn.execute(
        query("code_search_settings"), {"timeout": milliseconds, "seqscan": "off", "indexscan": "off"}
    ).fetchone()
    assert row is not None
    yield
    if conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        conn.execute(query("code_search_settings"), {"timeout": row[0], "seqscan": row[1], "indexscan": row[2]})
