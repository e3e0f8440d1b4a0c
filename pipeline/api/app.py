"""The HTTP API and dashboard: a Litestar app over the job tracking tables, served by uvicorn.

Guarantees:
- Request bodies and query parameters are validated against the msgspec schemas; a bad one is answered 400 with the
  offending field named in ``detail`` and ``extra``; a well-formed request naming something that cannot be indexed
  is answered 422, naming the field too. Unknown ids are 404; a state that forbids the request is 409.
- Requests share one bounded connection pool (see ``pipeline.api.pool``); one that gets no working connection in
  time is answered 503 saying whether the pool was exhausted or why the database cannot be reached.
- When a token is configured, POST endpoints (and GET endpoints with ``api.protect_reads``) need
  ``Authorization: Bearer <token>``; the comparison is constant-time and the token is never logged or echoed.
- ``/health`` and the dashboard page stay open so probes and the login-less page load work; the page then sends
  the token the operator types in, kept in the browser's local storage.
- Mutating requests from another origin are refused (403) and their bodies must be JSON (415), with or without a
  token (see ``routes.require_same_origin_json``); the push webhooks are signed instead (``pipeline.api.webhooks``).
- ``/mcp`` serves the MCP tools (``pipeline.mcp_server``) over streamable HTTP behind the same Host check, with
  the bearer token whenever one is configured (its tools enqueue as well as read) and cross-origin requests refused
  (403) whatever their method.
- Every response carries ``SECURITY_HEADERS``: a Content-Security-Policy allowing only this origin's own scripts,
  styles and fetches (the dashboard and the API reference page under ``/schema`` have no inline script or style and
  load nothing from elsewhere, so they work offline), no framing, no MIME sniffing, no referrer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar, asgi
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.exceptions import ServiceUnavailableException
from litestar.handlers import ASGIRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from pipeline import mcp_server, secrets
from pipeline.api.dashboard_routes import DASHBOARD_HANDLERS, ApiReferencePage
from pipeline.api.errors import EXCEPTION_HANDLERS
from pipeline.api.hosts import allowed_names
from pipeline.api.index_routes import INDEX_ROUTE_HANDLERS
from pipeline.api.pool import DatabasePool
from pipeline.api.routes import (
    ROUTE_HANDLERS,
    STATIC_DIR,
    ApiContext,
    refuse_cross_origin,
    require_allowed_host,
    require_same_origin_json,
    require_token,
)
from pipeline.api.search_routes import SEARCH_ROUTE_HANDLERS
from pipeline.api.webhooks import webhook_router, webhook_settings
from pipeline.config import Config
from pipeline.db import database_url
from pipeline.queue.client import Queue

if TYPE_CHECKING:
    from litestar.types import Message, Receive, Scope, Send
    from mcp.server import Server

logger = logging.getLogger(__name__)

_NO_FRAMES = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
DASHBOARD_CSP = f"default-src 'self'; img-src 'self' data:; {_NO_FRAMES}"
MAX_BODY_BYTES = 64 * 1024  # POST /index is a few kilobytes; a larger body is refused (413); webhooks: their setting
SECURITY_HEADERS = {
    "content-security-policy": DASHBOARD_CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: put ``SECURITY_HEADERS`` on every response, errors and static files included."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value


def api_token(config: Config, environ: dict[str, str] | None = None) -> str:
    """The configured token, else the one in the environment variable ``api.token_env`` (also after a coordinator
    in this process moved it out of the environment); empty means no auth. ``environ`` replaces the environment."""
    name = config.api.token_env
    return config.api.token or (secrets.get(name) if environ is None else environ.get(name, "")).strip()


def create_app(
    config: Config,
    *,
    environ: dict[str, str] | None = None,
    pool_min_size: int = 1,
    pool_max_size: int = 8,
    pool_timeout: float = 5.0,
) -> Litestar:
    """The app for ``config``'s database (started first if it is the embedded one); it does not migrate.

    Requests share one pool of ``pool_min_size`` to ``pool_max_size`` connections, opened at startup and closed at
    shutdown; a request that gets no connection within ``pool_timeout`` seconds is answered 503.
    """
    url = database_url(config)
    queue = Queue(
        url,
        config.database.schema,
        config.queue,
        connect_timeout=config.database.connect_timeout,
        transaction_pooler=config.database.transaction_pooler,
    )
    database = DatabasePool(
        url,
        config.database.schema,
        min_size=pool_min_size,
        max_size=pool_max_size,
        timeout=pool_timeout,
        connect_timeout=config.database.connect_timeout,
        transaction_pooler=config.database.transaction_pooler,
    )
    context = ApiContext(
        database=database,
        schema=config.database.schema,
        base_url=config.index.base_url,
        queue=queue,
        token=api_token(config, environ),
        protect_reads=config.api.protect_reads,
        allowed_hosts=allowed_names(config.api.allowed_hosts, config.api.host),
        allow_local_targets=config.api.allow_local_targets,
    )
    mcp = McpMount(
        mcp_server.build_server(
            mcp_server.ToolContext(
                database=database,
                queue=queue,
                base_url=config.index.base_url,
                allow_local_targets=config.api.allow_local_targets,
            )
        )
    )
    return Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            webhook_router(config.api.webhook_max_body_bytes),
            *DASHBOARD_HANDLERS,
            *INDEX_ROUTE_HANDLERS,
            *SEARCH_ROUTE_HANDLERS,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
            mcp.route(),
        ],
        lifespan=[mcp.lifespan],
        state=State({"context": context, "webhooks": webhook_settings(config, environ)}),
        guards=[require_allowed_host, require_same_origin_json],
        before_send=[add_security_headers],
        request_max_body_size=MAX_BODY_BYTES,
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[database.open],
        on_shutdown=[database.close, queue.close],
        openapi_config=OpenAPIConfig(
            title="Repository indexer",
            version="1.0.0",
            description="Enqueue repositories for indexing and follow their jobs.",
            path="/schema",
            render_plugins=[ApiReferencePage()],
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        ),
        debug=False,
        logging_config=None,  # our handlers (pipeline.log) format every line, uvicorn's and psycopg's included
    )


class McpMount:
    """``/mcp``: the MCP server over streamable HTTP, inside the app.

    The SDK's session manager runs for the app's lifespan; a manager runs only once, so every start of the app
    (the test client starts one app several times) runs a fresh one. Requests before start-up or after shutdown
    are answered 503.
    """

    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self._handle: mcp_server.AsgiHandler | None = None

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        async with mcp_server.http_session_manager(self.server, max_body_bytes=MAX_BODY_BYTES) as handle:
            self._handle = handle
            try:
                yield
            finally:
                self._handle = None

    def route(self) -> ASGIRouteHandler:
        async def serve_mcp(scope: Scope, receive: Receive, send: Send) -> None:
            if self._handle is None:
                raise ServiceUnavailableException("the MCP endpoint is not running (the app is starting or stopping)")
            await self._handle(scope, receive, send)

        # The token guards reads too: one endpoint both reads and enqueues. Its POSTs are JSON-RPC, which the SDK
        # checks for its content type; the origin check applies to every method (GET opens an event stream).
        return asgi("/mcp", is_mount=True, copy_scope=True, guards=[require_token, _refuse_cross_origin_mcp])(serve_mcp)


async def _refuse_cross_origin_mcp(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    refuse_cross_origin(connection)
