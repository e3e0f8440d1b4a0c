"""The MCP server: the job queue and the stored index as tools for AI assistants, built on the official ``mcp`` SDK.

It is served over stdio by ``python -m pipeline mcp`` and over streamable HTTP at ``/mcp`` of the app ``serve``
runs (``pipeline.api.app``, behind the app's Host check, origin check and bearer token).

Guarantees:
- Every tool declares a JSON schema for its arguments and one for its result, both derived by msgspec from the
  Structs the REST API validates and returns. Arguments are checked against them before any database work; a bad
  one is a tool error (``isError``) naming the argument.
- A tool's result is the REST body of the same request: ``structuredContent`` is the same Struct as JSON values,
  and the one text block is its JSON text.
- A request the REST API answers with a 4xx status is a tool error with the REST error's message; a database that
  cannot be reached is a tool error saying why. Any other exception is logged here and reported without its text.
- Results are bounded: every list has a ``limit`` with the REST API's maximum, every string argument a maximum
  length. No result carries a token or a password (jobs keep URLs without credentials; database errors are masked).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import anyio
import mcp_types as types
import msgspec
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from pipeline import code_search, index_queries
from pipeline.api import schemas, store
from pipeline.api.pool import DatabasePool
from pipeline.config import Config
from pipeline.db import database_url
from pipeline.errors import DatabaseError, IndexRequestError
from pipeline.index_queries import MAX_IMPACT_DEPTH, MAX_PAGE, MAX_QUERY_LENGTH, IndexQueryError, Match
from pipeline.index_requests import MAX_TARGET_LENGTH
from pipeline.queue.client import Queue
from stages.fetch import FetchError

logger = logging.getLogger(__name__)

SERVER_NAME = "repo-indexer"
INSTRUCTIONS = (
    "Tools over an index of git repositories (TypeScript and JavaScript): declarations, references, imports and "
    "file contents of each repository's current commit. list_repositories names the repositories; a new one is "
    "indexed with index_repository, then get_index_job_status until its status is completed. Positions are "
    "1-based lines and 0-based columns counted in UTF-8 bytes; symbol ids are valid for the current index only."
)

Arguments = TypeVar("Arguments", bound=msgspec.Struct)
MAX_PATH_BYTES = 1024  # the longest path the index answers for (index_queries.check_path)
MAX_POSITION = 10_000_000  # the largest line or column the REST API takes
SYMBOL_ID = r"^[0-9]{1,9}:[0-9]{1,9}$"
STDIO_POOL_SIZE = 4  # one client on stdio; a few connections let its concurrent calls overlap
# An ASGI application; the arguments are loosely typed because Litestar and Starlette spell the ASGI types apart.
AsgiHandler = Callable[[Any, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class ToolContext:
    """What the tools use: the connection pool, the queue client, and the index request policy of ``POST /index``
    (``index.base_url`` for ``owner/name`` targets, ``api.allow_local_targets``)."""

    database: DatabasePool
    queue: Queue
    base_url: str
    allow_local_targets: bool

    def connection(self) -> AbstractContextManager[store.Connection]:
        return self.database.connection()


class ToolFailure(Exception):
    """What a tool reports as a tool error (``isError``): the request cannot be answered, and the message says why
    as the REST API's error ``detail`` does."""


@dataclass(frozen=True)
class ToolSpec(Generic[Arguments]):
    """One tool: its name and description for the assistant, the Struct of its arguments, the Struct it returns
    (the REST response body), and the function answering it (run in a worker thread, on a pooled connection)."""

    name: str
    title: str
    description: str
    arguments: type[Arguments]
    result: type[msgspec.Struct]
    run: Callable[[ToolContext, store.Connection, Arguments], msgspec.Struct]
    read_only: bool = True

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=_object_schema(self.arguments),
            output_schema=_object_schema(self.result),
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=False,
                open_world_hint=not self.read_only,  # indexing fetches from git servers
            ),
        )


def _object_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec's JSON schema of ``struct`` with the struct's own definition at the root, as MCP wants an object
    schema there; the definitions it refers to stay under ``$defs``."""
    schema = msgspec.json.schema(struct)
    definitions: dict[str, Any] = dict(schema["$defs"])
    root: dict[str, Any] = definitions.pop(struct.__name__)
    root.pop("title", None)
    root.pop("description", None)  # the tool's description says it for the assistant
    return {**root, "$defs": definitions} if definitions else root


class ToolArguments(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Arguments of a tool (an unknown one is refused). Those of an index tool are named as the query function's
    parameters (``msgspec.field(name=...)`` gives the REST parameter's name where they differ), so ``answer``
    passes them on as they are."""


# ----- jobs -----


class JobStatusArguments(ToolArguments, kw_only=True):
    job_id: Annotated[uuid.UUID, msgspec.Meta(description="the job_id index_repository returned")]


def index_repository(context: ToolContext, conn: store.Connection, request: schemas.IndexRequest) -> schemas.Enqueued:
    """As ``POST /index``: the same checks of the target and ref, the same job (or the unfinished one that already
    covers the revision, with ``created: false``)."""
    try:
        return store.enqueue(
            conn, context.queue, request, base_url=context.base_url, allow_local=context.allow_local_targets
        )
    except FetchError as exc:
        raise ToolFailure(f"repository: {exc}") from None
    except IndexRequestError as exc:  # the sha's shape is checked by the schema, so this is about the ref
        raise ToolFailure(f"ref: {exc}") from None


def get_index_job_status(_: ToolContext, conn: store.Connection, arguments: JobStatusArguments) -> schemas.Job:
    """As ``GET /jobs/{id}``."""
    found = store.job(conn, arguments.job_id)
    if found is None:
        raise ToolFailure(f"no index job {arguments.job_id}")
    return found


# ----- the index (arguments are the REST endpoint's query parameters, plus ``repository``) -----

Repository = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TARGET_LENGTH,
        description="the repository's id (a uuid) or its owner/name, as list_repositories shows them",
        examples=["octo/demo"],
    ),
]
FilePath = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_PATH_BYTES,
        description="a file's path relative to the repository root, as results show it",
        examples=["src/util.ts"],
    ),
]
Line = Annotated[int, msgspec.Meta(ge=1, le=MAX_POSITION, description="1-based line")]
Column = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_POSITION, description="0-based column, counted in UTF-8 bytes of the line")
]
SymbolId = Annotated[
    str,
    msgspec.Meta(
        pattern=SYMBOL_ID,
        description="a symbol's id as results show it ('<file>:<symbol>', e.g. '3:12'), valid for the current index",
    ),
]
SymbolKind = Annotated[str, msgspec.Meta(max_length=40, description="function, class, method, interface, ...")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="page size")]
Cursor = Annotated[str, msgspec.Meta(max_length=200, description="next_cursor of the previous page, unchanged")]


class RepositoryArguments(ToolArguments, kw_only=True):
    repo: Repository = msgspec.field(name="repository")


class ListRepositoriesArguments(ToolArguments, kw_only=True):
    limit: Limit = 50
    cursor: Cursor | None = None


class SearchSymbolsArguments(RepositoryArguments, kw_only=True):
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUERY_LENGTH, description="a symbol name or part")]
    match: Annotated[Match, msgspec.Meta(description="auto: exact, then prefix, then fuzzy")] = "auto"
    kind: SymbolKind | None = None
    exported: Annotated[bool, msgspec.Meta(description="only exported (true) or only not (false)")] | None = None
    path: (
        Annotated[str, msgspec.Meta(max_length=MAX_PATH_BYTES, description="only in this file or directory")] | None
    ) = None
    limit: Limit = 20
    cursor: Cursor | None = None


class FileArguments(RepositoryArguments, kw_only=True):
    path: FilePath


class PositionArguments(FileArguments, kw_only=True):
    line: Line
    column: Column


class FindUsagesArguments(RepositoryArguments, kw_only=True):
    symbol: SymbolId | None = None
    path: FilePath | None = None
    line: Line | None = None
    column: Column | None = None
    limit: Limit = 100
    cursor: Cursor | None = None


class SearchCodeArguments(RepositoryArguments, kw_only=True):
    q: Annotated[
        str,
        msgspec.Meta(
            max_length=code_search.MAX_QUERY_CHARS,
            description="the text to find on one line (with regex: a PostgreSQL regular expression)",
        ),
    ]
    regex: Annotated[bool, msgspec.Meta(description="q is a regular expression, not a literal")] = False
    case_sensitive: Annotated[bool, msgspec.Meta(description="match case (default: case-insensitive)")] = msgspec.field(
        default=False, name="case"
    )
    path: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=code_search.MAX_PATH_CHARS,
                description="only files under this directory (src/api) or matching this glob (src/**/*.ts)",
            ),
        ]
        | None
    ) = None
    limit: Annotated[
        int, msgspec.Meta(ge=1, le=code_search.MAX_LIMIT, description="at most this many matching lines")
    ] = code_search.DEFAULT_LIMIT


class SearchDependenciesArguments(RepositoryArguments, kw_only=True):
    q: (
        Annotated[str, msgspec.Meta(max_length=MAX_QUERY_LENGTH, description="only packages whose name contains this")]
        | None
    ) = None
    limit: Limit = 50
    cursor: Cursor | None = None


class ChangeImpactArguments(RepositoryArguments, kw_only=True):
    paths: Annotated[list[FilePath], msgspec.Meta(max_length=MAX_PAGE, description="files that change")] = (
        msgspec.field(default_factory=list, name="path")
    )
    symbols: Annotated[list[SymbolId], msgspec.Meta(max_length=MAX_PAGE, description="ids of symbols that change")] = (
        msgspec.field(default_factory=list, name="symbol")
    )
    depth: Annotated[int, msgspec.Meta(ge=1, le=MAX_IMPACT_DEPTH, description="how many steps of dependents")] = 3


def answer(
    question: Callable[..., msgspec.Struct],
) -> Callable[[ToolContext, store.Connection, ToolArguments], msgspec.Struct]:
    """A tool's ``run`` asking ``question(conn, **arguments)`` of the query layer."""

    def run(_: ToolContext, conn: store.Connection, arguments: ToolArguments) -> msgspec.Struct:
        return question(conn, **msgspec.structs.asdict(arguments))

    return run


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        name="index_repository",
        title="Index a repository",
        description=(
            "Enqueue a git repository for indexing (as POST /index): a URL, or owner/name on the configured git "
            "host, at its default branch, a ref, or a commit. Returns the job id and status; an unfinished job for "
            "the same revision is returned instead of a new one (created: false). Indexing runs in the background: "
            "follow it with get_index_job_status."
        ),
        arguments=schemas.IndexRequest,
        result=schemas.Enqueued,
        run=index_repository,
        read_only=False,
    ),
    ToolSpec(
        name="get_index_job_status",
        title="Index job status",
        description=(
            "One index job (as GET /jobs/{id}): its status (pending, processing, completed, failed, cancelled, "
            "skipped), the repository and commit, per-stage progress with an ETA while it runs, stats, and the "
            "error of a failed job."
        ),
        arguments=JobStatusArguments,
        result=schemas.Job,
        run=get_index_job_status,
    ),
    ToolSpec(
        name="list_repositories",
        title="List indexed repositories",
        description=(
            "The repositories the server knows, by owner/name (as GET /repositories): id, URL, default branch, the "
            "commit of the current index, when it was indexed and what it holds (files, symbols, references, "
            "linked references); counts are null until a first index completes. Gives the `repository` value "
            "(owner/name or id) the other tools take. Paginated: pass next_cursor as cursor."
        ),
        arguments=ListRepositoriesArguments,
        result=index_queries.RepositoryPage,
        run=answer(index_queries.list_repositories),
    ),
    ToolSpec(
        name="search_symbols",
        title="Search symbols by name",
        description=(
            "Find declarations (functions, classes, methods, interfaces, types, enums, variables) by name in a "
            "repository's current index (as GET /repositories/{repo}/symbols): exact name first (any case), then "
            "names starting with q, then similar names (trigram similarity); exported symbols and shallower paths "
            "first. Filter by kind, exported or path. Each result has the symbol's id (for find_usages and "
            "analyze_change_impact), path, range, signature, doc comment and parent. For arbitrary text in files "
            "use search_code."
        ),
        arguments=SearchSymbolsArguments,
        result=index_queries.SymbolPage,
        run=answer(index_queries.search_symbols),
    ),
    ToolSpec(
        name="get_definition",
        title="Go to definition",
        description=(
            "What is at a position in a file and where it is defined (as GET /repositories/{repo}/definition): the "
            "reference or declaration found there, and the defining symbol with its file, range and signature, "
            "across files and for members (obj.method, this.field) when the index linked them. A reference the "
            "index could not link has definition null and a reason. Lines are 1-based, columns 0-based in UTF-8 "
            "bytes."
        ),
        arguments=PositionArguments,
        result=index_queries.Definition,
        run=answer(index_queries.definition),
    ),
    ToolSpec(
        name="find_usages",
        title="Find usages of a symbol",
        description=(
            "Every linked reference to a symbol across the repository (as GET /repositories/{repo}/references): "
            "calls, instantiations, extends/implements, type uses, JSX, each with its path, range and the "
            "function or class it occurs in. Name the symbol by its id (from search_symbols, get_definition or "
            "file_outline) or by path, line and column of its declaration or of any reference to it, not both. "
            "total counts every usage; paginated with cursor."
        ),
        arguments=FindUsagesArguments,
        result=index_queries.References,
        run=answer(index_queries.references),
    ),
    ToolSpec(
        name="file_outline",
        title="Outline of a file",
        description=(
            "The declarations of one file as a tree, classes with their members, in source order (as GET "
            "/repositories/{repo}/files/{path}/outline), each with id, kind, range, signature, doc and whether it "
            "is exported; also the file's language, whether it parsed with syntax errors, and why a file has no "
            "symbols (too large, not UTF-8)."
        ),
        arguments=FileArguments,
        result=index_queries.Outline,
        run=answer(index_queries.outline),
    ),
    ToolSpec(
        name="get_file_imports",
        title="Imports of a file",
        description=(
            "What one file imports (as GET /repositories/{repo}/files/{path}/imports): each import statement with "
            "its specifier, kind (import, re-export, dynamic, require), range, what it resolved to (a file of the "
            "repository, an external package, a Node builtin, or unresolved) and the names it binds with the "
            "declarations they refer to."
        ),
        arguments=FileArguments,
        result=index_queries.FileImports,
        run=answer(index_queries.file_imports),
    ),
    ToolSpec(
        name="get_file_importers",
        title="Importers of a file",
        description=(
            "The files that import one file (as GET /repositories/{repo}/files/{path}/importers), each with the "
            "specifier, kind and range of its import; truncated when more than 1000 do. For everything that "
            "depends on a file transitively, use analyze_change_impact."
        ),
        arguments=FileArguments,
        result=index_queries.FileImporters,
        run=answer(index_queries.file_importers),
    ),
    ToolSpec(
        name="search_code",
        title="Search code",
        description=(
            "Search the text of a repository's files in its current index (as GET /repositories/{repo}/search): "
            "a literal by default or a PostgreSQL regular expression (regex), case-insensitive unless case is "
            "true, optionally only under a directory or matching a glob (path). Returns matching lines in path and "
            "line order with path, line, column, the line's text and the symbol enclosing it; truncated is true "
            "when more lines match than limit."
        ),
        arguments=SearchCodeArguments,
        result=code_search.CodeSearchResult,
        run=answer(code_search.search_code),
    ),
    ToolSpec(
        name="search_dependencies",
        title="Search external dependencies",
        description=(
            "The external packages (npm) and Node builtins a repository's files import (as GET "
            "/repositories/{repo}/packages), by name, each with the versions its package.json files declare, how "
            "many files use it and the first of those files. q narrows to packages whose name contains it: "
            "'which version of react is used, and where?'."
        ),
        arguments=SearchDependenciesArguments,
        result=index_queries.PackagePage,
        run=answer(index_queries.packages),
    ),
    ToolSpec(
        name="analyze_change_impact",
        title="Analyze change impact",
        description=(
            "What may be affected by changing some files or symbols (as GET /repositories/{repo}/impact): the "
            "files importing the given files, transitively, and the symbols whose code refers to the given "
            "symbols, transitively, each with its distance (0: given), nearest first, up to depth steps. Give "
            "paths, symbol ids (from search_symbols or file_outline), or both. truncated when more than 1000 "
            "files or symbols depend on them."
        ),
        arguments=ChangeImpactArguments,
        result=index_queries.Impact,
        run=answer(index_queries.impact),
    ),
)


# ----- the server -----


def build_server(context: ToolContext, tools: tuple[ToolSpec[Any], ...] = TOOLS) -> Server[Any]:
    """The MCP server answering ``tools`` with ``context``; the caller runs it over a transport."""
    by_name = {tool.name: tool for tool in tools}
    listing = types.ListToolsResult(tools=[tool.definition() for tool in tools])

    async def list_tools(_: Any, __: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return listing

    async def call_tool(_: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}; the tools are {', '.join(by_name)}")
        return await call(tool, context, params.arguments or {})

    return Server(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def call(tool: ToolSpec[Any], context: ToolContext, arguments: dict[str, Any]) -> types.CallToolResult:
    """Validate ``arguments``, run the tool in a worker thread (its queries block), and wrap its result or failure."""
    try:
        parsed = msgspec.convert(arguments, tool.arguments)
    except msgspec.ValidationError as exc:
        return _failure(f"invalid arguments: {exc}")
    try:
        result = await anyio.to_thread.run_sync(_run, tool, context, parsed)
    except (ToolFailure, IndexQueryError, DatabaseError) as exc:
        return _failure(str(exc))
    except Exception:
        logger.exception("MCP tool failed", extra={"tool": tool.name})
        return _failure(f"internal error in {tool.name} (logged on the server)")
    return types.CallToolResult(
        content=[types.TextContent(text=msgspec.json.encode(result).decode())],
        structured_content=msgspec.to_builtins(result),
    )


def _run(tool: ToolSpec[Arguments], context: ToolContext, arguments: Arguments) -> msgspec.Struct:
    with context.connection() as conn:
        return tool.run(context, conn, arguments)


def _failure(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _version() -> str:
    from importlib.metadata import version  # noqa: PLC0415  (slow to import; the server asks once)

    return version("repo-indexer-pipeline")


# ----- transports -----


def tool_context(config: Config) -> ToolContext:
    """A context of its own for ``config``'s database (the stdio server's); the HTTP app shares its pool and queue."""
    database = DatabasePool(
        database_url(config),
        config.database.schema,
        min_size=0,
        max_size=STDIO_POOL_SIZE,
        connect_timeout=config.database.connect_timeout,
        transaction_pooler=config.database.transaction_pooler,
    )
    return ToolContext(
        database=database,
        queue=Queue.from_config(config),
        base_url=config.index.base_url,
        allow_local_targets=config.api.allow_local_targets,
    )


def serve_stdio(config: Config) -> int:
    """``python -m pipeline mcp``: serve the tools on stdin/stdout until the client closes stdin; exit 0."""
    from pipeline.migrate import ensure_schema  # noqa: PLC0415

    ensure_schema(config)
    context = tool_context(config)
    server = build_server(context)
    with _opened(context):
        logger.info("serving MCP on stdio", extra={"tools": [tool.name for tool in TOOLS]})
        anyio.run(_run_stdio, server)
    return 0


async def _run_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


@asynccontextmanager
async def http_session_manager(server: Server[Any], *, max_body_bytes: int) -> AsyncIterator[AsgiHandler]:
    """Run a streamable HTTP session manager for ``server`` while the block runs and yield its ASGI handler.

    Stateless, with JSON responses: every POST is one self-contained exchange, so no session state is kept between
    requests (nothing to bound or expire) and any worker process can answer any request."""
    manager = StreamableHTTPSessionManager(
        app=server, stateless=True, json_response=True, max_request_body_size=max_body_bytes
    )
    async with manager.run():
        yield manager.handle_request


@contextmanager
def _opened(context: ToolContext) -> Iterator[None]:
    """The context's pool open for the block; the pool and the queue client closed after it."""
    context.database.open()
    try:
        yield
    finally:
        context.database.close()
        context.queue.close()
