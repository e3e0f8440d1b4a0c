"""``GET /repositories/{repo}/search``: code search over the current snapshot's file contents
(``pipeline.code_search``), under both spellings of ``{repo}`` (``index_routes.repository_paths``)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter

from pipeline import code_search
from pipeline.api.index_routes import REPOSITORY, RepositoryKey, _errors, repository_paths
from pipeline.api.routes import _context, require_token_for_reads


@get(
    repository_paths("/search"),
    guards=[require_token_for_reads],
    dependencies=REPOSITORY,
    sync_to_thread=True,
    summary="Code search: the lines of the current snapshot's files matching a literal or a regular expression",
    responses=_errors(
        bad_input="an empty, multi-line or overlong q, an invalid regular expression, a path leaving the repository",
        not_found="no such repository",
        conflict="several repositories have this name, or it has no index yet",
        unanswerable="the search took longer than its time limit",
    ),
)
def get_search(
    repository: RepositoryKey,
    state: State,
    *,
    q: Annotated[
        str,
        QueryParameter(
            description="the text to find (with regex=true: a PostgreSQL regular expression); matched per line",
            max_length=code_search.MAX_QUERY_CHARS,
        ),
    ],
    regex: Annotated[bool, QueryParameter(description="q is a regular expression, not a literal")] = False,
    case: Annotated[bool, QueryParameter(description="match case (default: case-insensitive)")] = False,
    path: Annotated[
        str | None,
        QueryParameter(
            description="only files under this path (`src/api`), or matching this glob (`src/**/*.ts`)",
            max_length=code_search.MAX_PATH_CHARS,
        ),
    ] = None,
    limit: Annotated[
        int, QueryParameter(ge=1, le=code_search.MAX_LIMIT, description="at most this many matching lines")
    ] = code_search.DEFAULT_LIMIT,
) -> code_search.CodeSearchResult:
    """Matching lines in path and line order, each with its column (UTF-8 bytes, 0-based), the line and its
    enclosing symbol; ``truncated`` when more lines match than ``limit``."""
    with _context(state).connection() as conn:
        return code_search.search_code(conn, repository, q, regex=regex, case_sensitive=case, path=path, limit=limit)


SEARCH_ROUTE_HANDLERS = [get_search]
