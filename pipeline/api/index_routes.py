"""REST routes over the stored index (``pipeline.index_queries``): repositories, symbols, definitions, references,
file outlines, imports, packages and change impact.

``{repo}`` in a path is the repository's id, or its ``owner/name`` as two path segments (``owner%2Fname`` arrives
as the same two segments): every route is registered under both forms (``repository_paths``) and reads the name
through the ``repository`` dependency (``repository_key``). Handlers are thin: each calls one query function on a
pooled connection; an ``IndexQueryError`` it raises is answered with its status and the one error body of
``pipeline.api.errors``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec

from pipeline import index_queries
from pipeline.api import schemas, store
from pipeline.api.routes import UNAVAILABLE, _context, require_token_for_reads


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
        raise index_queries.IndexQueryError(404, f"repository: no repository {repository!r}", field="repository")
    return found


INDEX_ROUTE_HANDLERS = [get_repository]
