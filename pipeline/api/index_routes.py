"""REST routes over the stored index (``pipeline.index_queries``): repositories, symbols, definitions, references,
file outlines, imports, packages and change impact.

``{repo}`` in a path is the repository's id, or its ``owner/name`` as two path segments (``owner%2Fname`` arrives
as the same two segments): every route is registered under both forms (``repository_paths``) and reads the name
through the ``repository`` dependency (``repository_key``). Handlers are thin: each calls one query function on a
pooled connection; an ``IndexQueryError`` it raises is answered with its status and the one error body of
``pipeline.api.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from pipeline import index_queries
from pipeline.api import schemas, store
from pipeline.api.routes import UNAVAILABLE, _context, require_token_for_reads
from pipeline.index_queries import MAX_PAGE, MAX_QUERY_LENGTH, Connection, IndexQueryError, Match

Answer = TypeVar("Answer")
FileView = index_queries.Outline | index_queries.FileImports | index_queries.FileImporters


def repository_paths(tail: str = "") -> list[str]:
    """The two spellings of a route under ``/repositories/{repo}``: by id (or any one-segment name) and by
    ``owner/name``."""
    return [f"/repositories/{{repo:str}}{tail}", f"/repositories/{{owner:str}}/{{name:str}}{tail}"]


def repository_key(request: Request[Any, Any, Any]) -> str:
    """The repository a ``repository_paths`` route names: ``repo``, or ``owner/name``."""
    params = request.path_params
    return str(params["repo"]) if "repo" in params else f"{params['owner']}/{params['name']}"


REPOSITORY = {"repository": Provide(repository_key, sync_to_thread=False)}
RepositoryKey = NamedDependency[str]  # a handler's ``repository`` parameter, filled by ``REPOSITORY``


def _answer(state: State, question: Callable[..., Answer], *args: Any, **options: Any) -> Answer:
    """``question(conn, *args, **options)`` on a pooled connection (it opens its own read transaction)."""
    with _context(state).connection() as conn:
        return question(conn, *args, **options)


Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="page size")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page", max_length=200)]
FilePath = Annotated[
    str, QueryParameter(min_length=1, max_length=1024, description="a file's path, relative to the repository root")
]
Line = Annotated[int, QueryParameter(ge=1, le=10_000_000, description="1-based line")]
Column = Annotated[int, QueryParameter(ge=0, le=10_000_000, description="0-based column, in UTF-8 bytes")]
SYMBOL_ID = r"^[0-9]{1,9}:[0-9]{1,9}$"
FILE_VIEWS = ("outline", "imports", "importers")
NOT_INDEXED = "several repositories have this name, or it has no index yet"


def _errors(**described: str) -> dict[int, ResponseSpec]:
    codes = {"bad_input": 400, "not_found": 404, "conflict": 409, "unanswerable": 422}
    return {
        **UNAVAILABLE,
        **{
            codes[name]: ResponseSpec(data_container=dict[str, Any], description=text)
            for name, text in described.items()
        },
    }


@get(
    repository_paths(),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="A repository with its current index, by id or owner/name",
    responses=_errors(not_found="no such repository", conflict="several repositories have this name"),
)
def get_repository(repository: RepositoryKey, state: State) -> schemas.Repository:
    with _context(state).connection() as conn:
        ref = index_queries.resolve_repository(conn, repository, require_index=False)
        found = store.repository(conn, ref.id)
    if found is None:  # deleted between the two statements
        raise IndexQueryError(404, f"repository: no repository {repository!r}", field="repository")
    return found


@get(
    "/repositories",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="Repositories by full name, with what their current index holds",
    responses=_errors(bad_input="a bad limit or cursor"),
)
def get_repositories(state: State, *, limit: Limit = 50, cursor: Cursor = None) -> index_queries.RepositoryPage:
    return _answer(state, index_queries.list_repositories, limit=limit, cursor=cursor)


@get(
    repository_paths("/symbols"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="Symbols by name: exact, then prefix, then fuzzy (pg_trgm); exported and shallower first",
    responses=_errors(bad_input="a bad parameter", not_found="no such repository", conflict=NOT_INDEXED),
)
def get_symbols(
    repository: RepositoryKey,
    state: State,
    *,
    q: Annotated[str, QueryParameter(min_length=1, max_length=MAX_QUERY_LENGTH, description="a symbol name")],
    match: Annotated[Match, QueryParameter(description="auto: exact, then prefix, then fuzzy")] = "auto",
    kind: Annotated[str | None, QueryParameter(max_length=40, description="function, class, method, ...")] = None,
    exported: Annotated[bool | None, QueryParameter(description="only exported (true) or not (false)")] = None,
    path: Annotated[str | None, QueryParameter(max_length=1024, description="a file or directory")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> index_queries.SymbolPage:
    return _answer(
        state,
        index_queries.search_symbols,
        repository,
        q,
        match=match,
        kind=kind,
        exported=exported,
        path=path,
        limit=limit,
        cursor=cursor,
    )


@get(
    repository_paths("/definition"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="What is at a position (a reference or a declaration) and where it is defined",
    responses=_errors(
        bad_input="a bad path or position",
        not_found="no such repository or file, or no symbol at this position",
        conflict=NOT_INDEXED,
        unanswerable="the line is past the end of the file",
    ),
)
def get_definition(
    repository: RepositoryKey, state: State, path: FilePath, line: Line, column: Column
) -> index_queries.Definition:
    return _answer(state, index_queries.definition, repository, path, line, column)


@get(
    repository_paths("/references"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="Every linked reference to a symbol (by id, or at a position), with its enclosing symbol",
    responses=_errors(
        bad_input="a bad symbol id, path or position",
        not_found="no such repository, file or symbol, or no symbol at this position",
        conflict=NOT_INDEXED,
        unanswerable="the position holds a reference the index did not link, or a line past the end",
    ),
)
def get_references(
    repository: RepositoryKey,
    state: State,
    *,
    path: Annotated[
        str | None, QueryParameter(min_length=1, max_length=1024, description="with line and column")
    ] = None,
    line: Annotated[int | None, QueryParameter(ge=1, le=10_000_000, description="1-based line")] = None,
    column: Annotated[int | None, QueryParameter(ge=0, le=10_000_000, description="0-based byte column")] = None,
    symbol: Annotated[str | None, QueryParameter(pattern=SYMBOL_ID, description="a symbol id, e.g. 3:12")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> index_queries.References:
    return _answer(
        state,
        index_queries.references,
        repository,
        path=path,
        line=line,
        column=column,
        symbol=symbol,
        limit=limit,
        cursor=cursor,
    )


@get(
    repository_paths("/files/{file_path:path}"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="A file's outline (symbols as a tree), imports or importers: /files/{path}/outline|imports|importers",
    responses=_errors(bad_input="a bad path", not_found="no such repository or file", conflict=NOT_INDEXED),
)
def get_file(repository: RepositoryKey, state: State, file_path: FromPath[str]) -> FileView:
    path, _, view = file_path.removeprefix("/").rpartition("/")
    if view not in FILE_VIEWS:
        raise NotFoundException(
            f"no view {view!r} of a file: use /files/<path>/outline, /files/<path>/imports or /files/<path>/importers"
        )
    question: dict[str, Callable[[Connection, str, str], FileView]] = {
        "outline": index_queries.outline,
        "imports": index_queries.file_imports,
        "importers": index_queries.file_importers,
    }
    return _answer(state, question[view], repository, path)


@get(
    repository_paths("/packages"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="External packages and Node builtins the files import, with versions and the files using them",
    responses=_errors(bad_input="a bad parameter", not_found="no such repository", conflict=NOT_INDEXED),
)
def get_packages(
    repository: RepositoryKey,
    state: State,
    q: Annotated[str | None, QueryParameter(max_length=MAX_QUERY_LENGTH, description="names containing this")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> index_queries.PackagePage:
    return _answer(state, index_queries.packages, repository, q=q, limit=limit, cursor=cursor)


@get(
    repository_paths("/impact"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="What depends on these files and symbols, transitively (change impact)",
    responses=_errors(
        bad_input="no path or symbol, or a bad one",
        not_found="no such repository, file or symbol",
        conflict=NOT_INDEXED,
    ),
)
def get_impact(
    repository: RepositoryKey,
    state: State,
    path: Annotated[list[str] | None, QueryParameter(description="a file; repeat for several")] = None,
    symbol: Annotated[list[str] | None, QueryParameter(description="a symbol id; repeat for several")] = None,
    depth: Annotated[int, QueryParameter(ge=1, le=index_queries.MAX_IMPACT_DEPTH, description="steps")] = 3,
) -> index_queries.Impact:
    return _answer(state, index_queries.impact, repository, paths=path or (), symbols=symbol or (), depth=depth)


INDEX_ROUTE_HANDLERS = [
    get_repositories,
    get_repository,
    get_symbols,
    get_definition,
    get_references,
    get_file,
    get_packages,
    get_impact,
]
