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

import base64
import binascii
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import msgspec
import psycopg
from psycopg import IsolationLevel, pq, sql
from psycopg.rows import TupleRow

from pipeline.db import query
from pipeline.errors import PipelineError

Connection = psycopg.Connection[TupleRow]

MAX_NAME_MATCHES = 20  # repositories listed in the error for an ambiguous name
MAX_PAGE = 200  # the most items one page of any answer holds
MAX_IMPACT_DEPTH = 10
MAX_IMPACT_ITEMS = 1000  # files, and symbols, listed by one impact answer (more: ``truncated``)
ANSWER_TIMEOUT_MS = 5000
MAX_IMPORTERS = 1000
PACKAGE_PATHS = 20  # files listed per package (all are counted)
MAX_QUERY_LENGTH = 200
_PREFIX_END = "\U0010ffff"  # sorts after every character: [q, q + _PREFIX_END) holds the names starting with q

Match = Literal["auto", "exact", "prefix", "fuzzy"]

_trigram_schemas: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()


class IndexQueryError(PipelineError):
    """A question about the index that cannot be answered as asked; ``status`` says why (400, 404, 409, 422) and
    ``field`` names the offending input, when one does."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field

    @property
    def exit_code(self) -> int:
        """The command line's exit status for it (``pipeline.cli.main`` reads it): 2 bad input, 1 otherwise."""
        return 2 if self.status == 400 else 1


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
            # every statement of an answer is bounded: no question keeps a connection of the pool for long
            conn.execute(query("index_statement_timeout_set"), {"milliseconds": str(ANSWER_TIMEOUT_MS)})
            try:
                yield
            except psycopg.errors.QueryCanceled:
                raise IndexQueryError(
                    422,
                    f"the question took over {ANSWER_TIMEOUT_MS / 1000:g} s to answer; ask a narrower one "
                    "(a longer name, a path, a smaller limit or depth)",
                ) from None
    finally:
        conn.isolation_level, conn.read_only = isolation, read_only


def resolve_repository(conn: Connection, repo: str, *, require_index: bool = True) -> RepositoryRef:
    """The repository ``repo`` names: its id (a uuid) or its full name (``owner/name``, any case).

    Raises ``IndexQueryError``: 400 for an empty name, 404 when none matches, 409 when several repositories share
    the name (listing their ids, to ask again by id) or, with ``require_index``, when none of its index jobs has
    completed yet.
    """
    name = repo.strip()
    if not name or not _storable(name):
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


# ----- answers -----


class IndexCounts(msgspec.Struct, frozen=True, kw_only=True):
    files: int
    symbols: int
    references: int
    links: int  # references linked to their definition


class RepositorySummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    full_name: str
    url: str
    default_branch: str | None
    commit_sha: str | None  # of the current index; None until a job has completed
    last_indexed_at: datetime | None
    counts: IndexCounts | None


class RepositoryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RepositorySummary]
    next_cursor: str | None  # pass as ``cursor`` for the next page; None on the last page


class SnapshotAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What every answer about one repository starts with: which repository, at which indexed commit."""

    repository: str  # full name
    commit_sha: str  # of the snapshot the answer was read from


class SymbolPage(SnapshotAnswer, frozen=True, kw_only=True):
    items: list[SymbolInfo]
    next_cursor: str | None


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    """What is at a position: a reference (a use of a name) or the name of a declaration."""

    kind: Literal["reference", "declaration"]
    name: str
    qualifier: str | None  # ``a.b`` of ``a.b.f()``, ``this``; references only
    reference_kind: str | None  # call, new, extends, implements, type, jsx; references only
    path: str
    range: Range
    enclosing: SymbolRef | None  # the innermost symbol around it (a declaration's parent)


class Definition(SnapshotAnswer, frozen=True, kw_only=True):
    at: Occurrence
    definition: SymbolInfo | None  # a declaration is its own definition
    reason: str | None  # why ``definition`` is None


class ReferenceItem(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    range: Range  # the referring name
    kind: str
    name: str
    qualifier: str | None
    enclosing: SymbolRef | None  # None at a file's top level


class References(SnapshotAnswer, frozen=True, kw_only=True):
    symbol: SymbolInfo
    total: int  # every linked reference, across pages
    items: list[ReferenceItem]  # by path, then position
    next_cursor: str | None


class OutlineNode(msgspec.Struct, frozen=True, kw_only=True):
    symbol: SymbolInfo
    children: list[OutlineNode]


class Outline(SnapshotAnswer, frozen=True, kw_only=True):
    path: str
    language: str | None
    had_syntax_errors: bool
    error: str | None  # why the file has no symbols (too large, not UTF-8, ...); None when it was indexed
    symbols: list[OutlineNode]


class ImportedName(msgspec.Struct, frozen=True, kw_only=True):
    imported: str  # the exported name; ``default``, ``*`` for namespace imports
    local: str
    is_type_only: bool
    symbol: SymbolRef | None  # the declaration it names, after re-exports; None when not linked
    symbol_path: str | None


class ImportItem(msgspec.Struct, frozen=True, kw_only=True):
    specifier: str
    kind: str  # import, side_effect, reexport, dynamic, require, import_equals
    is_type_only: bool
    range: Range  # the statement
    resolution: str  # file, external, builtin, unresolved
    path: str | None  # the file it resolved to, indexed or not (a ``.css`` or ``.json`` file has no outline)
    package: str | None  # the package (or builtin) it resolved to
    names: list[ImportedName]


class FileImports(SnapshotAnswer, frozen=True, kw_only=True):
    path: str
    imports: list[ImportItem]


class Importer(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    specifier: str
    kind: str
    is_type_only: bool
    range: Range


class FileImporters(SnapshotAnswer, frozen=True, kw_only=True):
    path: str
    importers: list[Importer]  # by path, then position
    truncated: bool


class Package(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    builtin: bool  # a Node builtin (fs, node:path)
    versions: list[str]  # as declared by the package.json files that cover its users
    files: int
    paths: list[str]  # the first PACKAGE_PATHS files using it, by path


class PackagePage(SnapshotAnswer, frozen=True, kw_only=True):
    items: list[Package]
    next_cursor: str | None


class ImpactedFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    depth: int  # 0: given; 1: imports a given file; 2: imports one of those; ...


class ImpactedSymbol(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    path: str
    depth: int  # 0: given; 1: refers to a given symbol; ...


class Impact(SnapshotAnswer, frozen=True, kw_only=True):
    depth: int
    files: list[ImpactedFile]  # nearest first
    symbols: list[ImpactedSymbol]
    truncated: bool  # more than MAX_IMPACT_ITEMS files or symbols depend on the input


# ----- questions -----


def list_repositories(conn: Connection, *, limit: int = 50, cursor: str | None = None) -> RepositoryPage:
    """Repositories by full name, with what their current index holds."""
    _check_limit(limit)
    after_name, after_id = _decode_name_cursor(cursor) if cursor else (None, None)
    with snapshot_read(conn):
        rows = conn.execute(
            query("index_repository_list"), {"after_name": after_name, "after_id": after_id, "limit": limit + 1}
        ).fetchall()
        items = []
        for rid, full_name, url, branch, last_indexed, snapshot_id, sha, *counted in rows[:limit]:
            counts = None
            if snapshot_id is not None:
                counts = IndexCounts(files=counted[0], symbols=counted[1], references=counted[2], links=counted[3])
            items.append(
                RepositorySummary(
                    id=rid,
                    full_name=full_name,
                    url=url,
                    default_branch=branch,
                    commit_sha=sha,
                    last_indexed_at=last_indexed,
                    counts=counts,
                )
            )
    more = len(rows) > limit
    next_cursor = _encode_cursor("name-id", f"{items[-1].full_name}\n{items[-1].id}") if more and items else None
    return RepositoryPage(items=items, next_cursor=next_cursor)


def search_symbols(
    conn: Connection,
    repo: str,
    q: str,
    *,
    match: Match = "auto",
    kind: str | None = None,
    exported: bool | None = None,
    path: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> SymbolPage:
    """Symbols whose name matches ``q`` (any case), ``path`` keeping one file or directory.

    ``exact``: the name is ``q``; ``prefix``: it starts with ``q`` (exact ones first); ``fuzzy``: it is similar to
    ``q`` (pg_trgm similarity at least 0.3), the closest first; ``auto``: exact, then prefix, then the other
    similar names. Then exported symbols first, shallower paths, shorter names.
    """
    text = q.strip()
    if not text or len(text) > MAX_QUERY_LENGTH or not _storable(text):
        raise IndexQueryError(400, f"q: give 1 to {MAX_QUERY_LENGTH} characters of a symbol name", field="q")
    if match not in ("auto", "exact", "prefix", "fuzzy"):
        raise IndexQueryError(400, f"match: expected auto, exact, prefix or fuzzy, got {match!r}", field="match")
    if kind is not None and not _storable(kind):
        raise IndexQueryError(400, "kind: not valid UTF-8, or holds a NUL character", field="kind")
    _check_limit(limit)
    in_similar, offset = _decode_search_cursor(cursor)
    path_prefix = None if path is None else check_path(path.rstrip("/"), "path")
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        statement = sql.SQL(query("index_symbol_search")).format(trgm=sql.Identifier(trigram_schema(conn)))
        filters = {
            "snapshot": ref.snapshot_id,
            "q": text,
            "prefix_end": _PREFIX_END,
            "kind": kind,
            "exported": exported,
            "path_prefix": path_prefix,
        }

        def ask(arms: Sequence[Match], at: int, count: int) -> list[TupleRow]:
            flags = {arm: arm in arms for arm in ("exact", "prefix", "fuzzy")}
            # in auto, the similar names leave out the names starting with q: the tiers before listed them
            flags["similar_only"] = match == "auto"
            return conn.execute(statement, {**filters, **flags, "offset": at, "limit": count}).fetchall()

        if match != "auto":
            arms: dict[str, Sequence[Match]] = {"exact": ["exact"], "prefix": ["exact", "prefix"], "fuzzy": ["fuzzy"]}
            rows = ask(arms[match], offset, limit + 1)
            next_cursor = _search_cursor(False, offset + limit) if len(rows) > limit else None
        else:
            # the similar names (the costly arm) are looked for only when exact and prefix matches do not fill
            # the page; the cursor says in which of the two lists the next page starts
            listed = [] if in_similar else ask(["exact", "prefix"], offset, limit + 1)
            if len(listed) > limit:
                rows, next_cursor = listed, _search_cursor(False, offset + limit)
            else:
                similar_offset = offset if in_similar else 0
                wanted = limit - len(listed)  # similar names this page still shows
                similar = ask(["fuzzy"], similar_offset, wanted + 1)
                rows = listed + similar
                next_cursor = _search_cursor(True, similar_offset + wanted) if len(similar) > wanted else None
    return SymbolPage(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        items=[_symbol(row) for row in rows[:limit]],
        next_cursor=next_cursor,
    )


def definition(conn: Connection, repo: str, path: str, line: int, column: int) -> Definition:
    """What is at ``line``:``column`` of ``path`` (a reference, or a declaration's name) and where it is defined.

    A reference's definition is the symbol the index linked it to (``Client.create`` and ``this.run`` included,
    when linked); an unlinked one has ``definition`` None and a ``reason``. A declaration is its own definition.
    Raises 404 when nothing named is at the position, 422 when the line cannot be in the file.
    """
    _check_position(line, column)
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        file = _file(conn, ref, path)
        _check_line_in_file(file, line)
        position = {"file_result_id": file.result_id, "line": line, "column": column}
        at_reference = conn.execute(
            query("index_reference_at"), {**position, "snapshot": ref.snapshot_id, "file_idx": file.idx}
        ).fetchone()
        if at_reference is not None:
            (name, qualifier, kind, *bounds, enclosing_idx, enclosing_name, enclosing_kind) = at_reference[:10]
            target_file, target_symbol = at_reference[10:]
            occurrence = Occurrence(
                kind="reference",
                name=name,
                qualifier=qualifier,
                reference_kind=kind,
                path=file.path,
                range=span(*bounds),
                enclosing=_symbol_ref(file.idx, enclosing_idx, enclosing_name, enclosing_kind),
            )
            if target_file is None:
                target = None
                shown = f"{qualifier}.{name}" if qualifier else name
                reason = (
                    f"unlinked: {shown!r} names nothing the index found defined in this repository "
                    "(a package, a global, or a member of a value whose type the index does not know)"
                )
            else:
                target, reason = _symbol_by_id(conn, ref, target_file, target_symbol), None
        else:
            declared = conn.execute(query("index_declaration_at"), position).fetchone()
            if declared is None:
                _check_position_in_text(conn, file, line, column)
                raise IndexQueryError(404, f"no symbol at line {line}, column {column} of {file.path}", field="column")
            target, reason = _symbol_by_id(conn, ref, file.idx, declared[0]), None
            occurrence = Occurrence(
                kind="declaration",
                name=target.name,
                qualifier=None,
                reference_kind=None,
                path=file.path,
                range=target.name_range,
                enclosing=target.parent,
            )
    return Definition(repository=ref.full_name, commit_sha=_sha(ref), at=occurrence, definition=target, reason=reason)


def references(
    conn: Connection,
    repo: str,
    *,
    path: str | None = None,
    line: int | None = None,
    column: int | None = None,
    symbol: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> References:
    """Every reference the index linked to a symbol, named by its id (``symbol``) or by a position
    (``path``/``line``/``column``, as ``definition``), by path and position, each with its enclosing symbol."""
    _check_limit(limit)
    offset = _decode_offset(cursor)
    by_position = (path, line, column) != (None, None, None)
    if (symbol is None) == (not by_position):
        raise IndexQueryError(400, "symbol: give a symbol id, or path, line and column, not both", field="symbol")
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        if symbol is not None:
            target = _symbol_by_id(conn, ref, *parse_symbol_id(symbol))
        else:
            if path is None or line is None or column is None:
                missing = next(
                    name for name, value in (("path", path), ("line", line), ("column", column)) if value is None
                )
                raise IndexQueryError(400, f"{missing}: give path, line and column together", field=missing)
            found = definition(conn, repo, path, line, column)
            if found.definition is None:
                raise IndexQueryError(
                    422, f"{found.reason} (at line {line}, column {column} of {path})", field="column"
                )
            target = found.definition
        file_idx, symbol_idx = parse_symbol_id(target.id)
        rows = conn.execute(
            query("index_symbol_references"),
            {
                "snapshot": ref.snapshot_id,
                "file_idx": file_idx,
                "symbol_idx": symbol_idx,
                "offset": offset,
                "limit": limit + 1,
            },
        ).fetchall()
    items = [
        ReferenceItem(
            path=row[0],
            range=span(*row[6:10]),
            kind=row[5],
            name=row[3],
            qualifier=row[4],
            enclosing=_symbol_ref(row[1], *row[10:13]),
        )
        for row in rows[:limit]
    ]
    return References(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        symbol=target,
        total=rows[0][13] if rows else offset,
        items=items,
        next_cursor=_next_offset(offset, limit, len(rows)),
    )


def outline(conn: Connection, repo: str, path: str) -> Outline:
    """The symbols of one file as a tree (children under their parent, in source order)."""
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        file = _file(conn, ref, path)
        rows = conn.execute(
            query("index_file_symbols"), {"file_result_id": file.result_id, "file_idx": file.idx, "path": file.path}
        ).fetchall()
    nodes: dict[int, OutlineNode] = {}
    roots: list[OutlineNode] = []
    for row in rows:  # pre-order: a parent comes before its children
        node = OutlineNode(symbol=_symbol(row), children=[])
        nodes[row[1]] = node
        parent = nodes.get(row[16]) if row[16] is not None else None
        (parent.children if parent is not None else roots).append(node)
    return Outline(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        path=file.path,
        language=file.language,
        had_syntax_errors=file.had_syntax_errors,
        error=file.error,
        symbols=roots,
    )


def file_imports(conn: Connection, repo: str, path: str) -> FileImports:
    """What one file imports, in source order: where each import resolved, and the declaration each imported name
    is linked to."""
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        file = _file(conn, ref, path)
        keys = {"snapshot": ref.snapshot_id, "file_idx": file.idx, "file_result_id": file.result_id}
        rows = conn.execute(query("index_file_imports"), keys).fetchall()
        bindings = conn.execute(query("index_file_import_bindings"), keys).fetchall()
    names: dict[int, list[ImportedName]] = {}
    for import_idx, imported, local, type_only, target_path, target_file, symbol_idx, name, kind in bindings:
        names.setdefault(import_idx, []).append(
            ImportedName(
                imported=imported,
                local=local,
                is_type_only=type_only,
                symbol=_symbol_ref(target_file, symbol_idx, name, kind),
                symbol_path=target_path,
            )
        )
    imports = [
        ImportItem(
            specifier=specifier,
            kind=kind,
            is_type_only=type_only,
            range=span(*bounds),
            resolution=resolution or "unresolved",
            path=target_path,
            package=package,
            names=names.get(idx, []),
        )
        for idx, specifier, kind, type_only, *bounds, resolution, target_path, package in rows
    ]
    return FileImports(repository=ref.full_name, commit_sha=_sha(ref), path=file.path, imports=imports)


def file_importers(conn: Connection, repo: str, path: str) -> FileImporters:
    """The imports (in any file) that resolve to one file, by path and position."""
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        file = _file(conn, ref, path)
        rows = conn.execute(
            query("index_file_importers"),
            {"snapshot": ref.snapshot_id, "file_idx": file.idx, "limit": MAX_IMPORTERS + 1},
        ).fetchall()
    importers = [
        Importer(path=importer, specifier=specifier, kind=kind, is_type_only=type_only, range=span(*bounds))
        for importer, specifier, kind, type_only, *bounds in rows[:MAX_IMPORTERS]
    ]
    return FileImporters(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        path=file.path,
        importers=importers,
        truncated=len(rows) > MAX_IMPORTERS,
    )


def packages(
    conn: Connection, repo: str, *, q: str | None = None, limit: int = 50, cursor: str | None = None
) -> PackagePage:
    """The external packages and Node builtins the files import, by name (``q``: names containing it, any case),
    with their declared versions and the files using them."""
    _check_limit(limit)
    after = _decode_cursor(cursor, "package") if cursor else None
    pattern = None
    if q is not None:
        if len(q) > MAX_QUERY_LENGTH or not _storable(q):
            raise IndexQueryError(400, f"q: give at most {MAX_QUERY_LENGTH} characters of a package name", field="q")
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        rows = conn.execute(
            query("index_packages"),
            {
                "snapshot": ref.snapshot_id,
                "after": after,
                "pattern": pattern,
                "paths": PACKAGE_PATHS,
                "limit": limit + 1,
            },
        ).fetchall()
    items = [
        Package(name=name, builtin=builtin, versions=sorted(versions or []), files=files, paths=paths)
        for name, builtin, versions, files, paths in rows[:limit]
    ]
    more = len(rows) > limit
    return PackagePage(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        items=items,
        next_cursor=_encode_cursor("package", items[-1].name) if more and items else None,
    )


def impact(
    conn: Connection, repo: str, *, paths: Sequence[str] = (), symbols: Sequence[str] = (), depth: int = 3
) -> Impact:
    """What depends on the given files and symbols, transitively up to ``depth`` steps: files through their
    imports (file_dependencies), symbols through the references inside them (symbol_dependencies). Each
    dependent appears once, at its shortest distance; at most MAX_IMPACT_ITEMS of each (``truncated``)."""
    if not paths and not symbols:
        raise IndexQueryError(400, "path: give at least one path or symbol", field="path")
    if not 1 <= depth <= MAX_IMPACT_DEPTH:
        raise IndexQueryError(400, f"depth: expected 1 to {MAX_IMPACT_DEPTH}, got {depth}", field="depth")
    if len(paths) + len(symbols) > MAX_PAGE:
        raise IndexQueryError(400, f"path: give at most {MAX_PAGE} paths and symbols together", field="path")
    with snapshot_read(conn):
        ref = resolve_repository(conn, repo)
        files = [_file(conn, ref, path).idx for path in paths]
        given = [parse_symbol_id(symbol) for symbol in symbols]
        for file_idx, symbol_idx in given:
            _symbol_by_id(conn, ref, file_idx, symbol_idx)  # 404 for an unknown symbol
        keys = {"snapshot": ref.snapshot_id, "depth": depth, "limit": MAX_IMPACT_ITEMS + 1}
        try:
            file_rows = (
                conn.execute(query("index_file_dependents"), {**keys, "files": files}).fetchall() if files else []
            )
            symbol_rows = (
                conn.execute(
                    query("index_symbol_dependents"),
                    {**keys, "files": [f for f, _ in given], "symbols": [s for _, s in given]},
                ).fetchall()
                if given
                else []
            )
        except psycopg.errors.QueryCanceled:
            raise IndexQueryError(
                422,
                f"depth: following dependencies {depth} steps deep took over {ANSWER_TIMEOUT_MS / 1000:g} s; "
                "ask with a smaller depth or fewer files and symbols",
                field="depth",
            ) from None
    return Impact(
        repository=ref.full_name,
        commit_sha=_sha(ref),
        depth=depth,
        files=[ImpactedFile(path=path, depth=distance) for path, distance in file_rows[:MAX_IMPACT_ITEMS]],
        symbols=[
            ImpactedSymbol(id=symbol_id(file_idx, idx), name=name, kind=kind, path=path, depth=distance)
            for file_idx, idx, name, kind, path, distance in symbol_rows[:MAX_IMPACT_ITEMS]
        ],
        truncated=len(file_rows) > MAX_IMPACT_ITEMS or len(symbol_rows) > MAX_IMPACT_ITEMS,
    )


# ----- shared steps -----


class _File(msgspec.Struct, frozen=True, kw_only=True):
    idx: int
    result_id: int
    path: str
    language: str | None
    size_bytes: int
    had_syntax_errors: bool
    error: str | None


def check_path(path: str, field: str = "path") -> str:
    """``path`` if it can name a file of a repository as the index stores paths (relative to the root,
    ``/``-separated, no empty, ``.`` or ``..`` component, no backslash or NUL); 400 naming ``field`` otherwise."""
    problem = None
    if not path:
        problem = "is empty"
    elif not _storable(path):
        problem = "is not valid UTF-8 or holds a NUL character"
    elif len(path.encode()) > 1024:
        problem = "is longer than 1024 bytes"
    elif path.startswith("/"):
        problem = "is absolute; give it relative to the repository root"
    elif "\\" in path:
        problem = "holds a backslash; separate directories with '/'"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "has an empty, '.' or '..' component; give it relative to the repository root, inside it"
    if problem is not None:
        raise IndexQueryError(400, f"{field}: {path[:200]!r} {problem}", field=field)
    return path


def _storable(text: str) -> bool:
    """Whether Postgres can take ``text``: valid UTF-8 (a command line's undecodable bytes arrive as lone
    surrogates) without NUL characters."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def parse_symbol_id(text: str) -> tuple[int, int]:
    """The (file_idx, symbol_idx) of a symbol id ``"<file_idx>:<symbol_idx>"``; 400 if malformed."""
    file_part, separator, symbol_part = text.partition(":")
    if separator and file_part.isascii() and symbol_part.isascii() and file_part.isdigit() and symbol_part.isdigit():
        file_idx, symbol_idx = int(file_part), int(symbol_part)
        if file_idx < 2**31 and symbol_idx < 2**31:
            return file_idx, symbol_idx
    raise IndexQueryError(
        400, f"symbol: {text[:100]!r} is not a symbol id ('<file>:<symbol>', e.g. '3:12')", field="symbol"
    )


def trigram_schema(conn: Connection) -> str:
    """The schema holding pg_trgm's operators and functions (see migration 0010), looked up once per
    connection (an extension does not move while a connection is open)."""
    known = _trigram_schemas.get(conn)
    if known is None:
        row = conn.execute(query("index_trigram_schema")).fetchone()
        if row is None:
            raise PipelineError("the pg_trgm extension is missing: run `python -m pipeline db migrate`")
        known = _trigram_schemas[conn] = str(row[0])
    return known


def _file(conn: Connection, ref: RepositoryRef, path: str) -> _File:
    check_path(path)
    row = conn.execute(query("index_file_get"), {"snapshot": ref.snapshot_id, "path": path}).fetchone()
    if row is None:
        raise IndexQueryError(
            404, f"path: {path!r} is not a file of the index of {ref.full_name} at {_sha(ref)[:12]}", field="path"
        )
    idx, result_id, language, size_bytes, had_syntax_errors, error = row
    return _File(
        idx=idx,
        result_id=result_id,
        path=path,
        language=language,
        size_bytes=size_bytes,
        had_syntax_errors=had_syntax_errors,
        error=error,
    )


def _check_position(line: int, column: int) -> None:
    if line < 1:
        raise IndexQueryError(400, f"line: lines count from 1, got {line}", field="line")
    if column < 0:
        raise IndexQueryError(400, f"column: columns count from 0 (UTF-8 bytes), got {column}", field="column")


def _check_line_in_file(file: _File, line: int) -> None:
    """422 for a line no file of this size can have (n bytes hold at most n + 1 lines), before any lookup."""
    if line > file.size_bytes + 1:
        raise IndexQueryError(
            422, f"line: {line} is past the end of {file.path} ({file.size_bytes} bytes)", field="line"
        )


def _check_position_in_text(conn: Connection, file: _File, line: int, column: int) -> None:
    """422 for a position past the end of the file's stored text, or past the end of its line; nothing when the
    text is not stored (not UTF-8, a NUL byte: the size bound of ``_check_line_in_file`` is all there is). Asked
    only once nothing was found at the position, so an answered question never reads the text."""
    row = conn.execute(query("index_file_line"), {"file_result_id": file.result_id, "line": line}).fetchone()
    if row is None:
        return
    lines, line_bytes = row
    if line > lines:
        raise IndexQueryError(422, f"line: {line} is past the end of {file.path} ({lines} lines)", field="line")
    if column > line_bytes:
        raise IndexQueryError(
            422, f"column: {column} is past the end of line {line} of {file.path} ({line_bytes} bytes)", field="column"
        )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise IndexQueryError(400, f"limit: expected 1 to {MAX_PAGE}, got {limit}", field="limit")


def _symbol_by_id(conn: Connection, ref: RepositoryRef, file_idx: int, symbol_idx: int) -> SymbolInfo:
    row = conn.execute(
        query("index_symbol_get"), {"snapshot": ref.snapshot_id, "file_idx": file_idx, "symbol_idx": symbol_idx}
    ).fetchone()
    if row is None:
        raise IndexQueryError(
            404, f"symbol: no symbol {symbol_id(file_idx, symbol_idx)} in the index of {ref.full_name}", field="symbol"
        )
    return _symbol(row)


def _symbol(row: Sequence[Any]) -> SymbolInfo:
    """A SymbolInfo from the 19 columns every symbol statement selects (see index_symbol_get)."""
    (file_idx, idx, name, kind, path, *bounds, signature, doc, exported, parent_idx, parent_name, parent_kind) = row
    return SymbolInfo(
        id=symbol_id(file_idx, idx),
        name=name,
        kind=kind,
        path=path,
        range=span(*bounds[:4]),
        name_range=span(*bounds[4:]),
        signature=signature,
        doc=doc,
        exported=exported,
        parent=_symbol_ref(file_idx, parent_idx, parent_name, parent_kind),
    )


def _symbol_ref(file_idx: int | None, idx: int | None, name: str | None, kind: str | None) -> SymbolRef | None:
    if file_idx is None or idx is None or name is None or kind is None:
        return None
    return SymbolRef(id=symbol_id(file_idx, idx), name=name, kind=kind)


def _sha(ref: RepositoryRef) -> str:
    assert ref.commit_sha is not None, "resolve_repository(require_index=True) returns indexed repositories"
    return ref.commit_sha


def _encode_cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}\n{value}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str) -> str:
    """The value of a cursor this module handed out for ``kind``; 400 for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        text = ""
    found, separator, value = text.partition("\n")
    if found != kind or not separator or not value:
        raise IndexQueryError(400, "cursor: not a cursor of this list (pass next_cursor unchanged)", field="cursor")
    return value


def _decode_name_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    """The full name and id a page of ``list_repositories`` ended with."""
    name, _, repository_id = _decode_cursor(cursor, "name-id").rpartition("\n")
    try:
        return name, uuid.UUID(repository_id)
    except ValueError:
        raise IndexQueryError(
            400, "cursor: not a cursor of this list (pass next_cursor unchanged)", field="cursor"
        ) from None


def _decode_offset(cursor: str | None) -> int:
    return 0 if cursor is None else _offset(_decode_cursor(cursor, "offset"))


def _offset(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 1_000_000:
        raise IndexQueryError(400, "cursor: not a cursor of this list (pass next_cursor unchanged)", field="cursor")
    return int(text)


def _search_cursor(in_similar: bool, offset: int) -> str:
    return _encode_cursor("symbols", f"{'similar' if in_similar else 'listed'}:{offset}")


def _decode_search_cursor(cursor: str | None) -> tuple[bool, int]:
    """Where a page of ``search_symbols`` starts: in the similar names (or the exact and prefix ones), at an
    offset."""
    if cursor is None:
        return False, 0
    part, _, offset = _decode_cursor(cursor, "symbols").partition(":")
    if part not in ("listed", "similar"):
        raise IndexQueryError(400, "cursor: not a cursor of this list (pass next_cursor unchanged)", field="cursor")
    return part == "similar", _offset(offset)


def _next_offset(offset: int, limit: int, fetched: int) -> str | None:
    """The cursor of the next page when one more row than ``limit`` was fetched."""
    return _encode_cursor("offset", str(offset + limit)) if fetched > limit else None
