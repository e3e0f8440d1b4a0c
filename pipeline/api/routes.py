"""The API's route handlers, its request context and its guards; ``pipeline.api.app`` assembles them.

Handlers stay thin: they validate through the schemas, call ``pipeline.api.store`` and translate its outcomes to
HTTP (``None`` → 404, ``JobStateConflict`` → 409, a target or ref that cannot be indexed → 422 naming the field).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.api import schemas, store
from pipeline.api.hosts import host_header_name
from pipeline.api.metrics import DatabaseCollector, registry_for
from pipeline.api.pool import DatabasePool
from pipeline.errors import DatabaseError, IndexRequestError
from pipeline.index_jobs import IndexJobStatus, JobStateConflict
from pipeline.index_requests import MAX_TARGET_LENGTH
from pipeline.queue.client import Queue
from stages.fetch import FetchError

STATIC_DIR = Path(str(resources.files("pipeline.api").joinpath("static")))
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]
STREAM_INTERVAL = 1.0  # seconds between events of GET /jobs/{id}/events
UNAVAILABLE: dict[int, ResponseSpec] = {
    503: ResponseSpec(data_container=dict[str, Any], description="no database connection within the pool's timeout")
}
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A route handler's ``opt`` key: its requests are authenticated by a signature over their body (the push webhooks),
# not by the bearer token, and come from another service's servers, so the same-origin/JSON guard lets them pass.
SIGNED_BODY = "signed_body"
WRITE_REFUSALS: dict[int, ResponseSpec] = {
    403: ResponseSpec(data_container=dict[str, Any], description="a cross-origin request"),
    415: ResponseSpec(data_container=dict[str, Any], description="a body that is not Content-Type: application/json"),
}

logger = logging.getLogger(__name__)

Outcome = TypeVar("Outcome")


@dataclass(frozen=True)
class ApiContext:
    """What every request needs: the app's connection pool, the shared queue client and the resolved token."""

    database: DatabasePool
    schema: str
    base_url: str
    queue: Queue
    token: str
    protect_reads: bool
    allowed_hosts: frozenset[str]  # names of ``pipeline.api.hosts``: lowercase, no port
    allow_local_targets: bool

    def connection(self) -> AbstractContextManager[store.Connection]:
        """A pooled autocommit connection for one request; ``DatabaseUnavailable`` (503) if none comes in time."""
        return self.database.connection()

    def job(self, job_id: uuid.UUID) -> schemas.Job | None:
        with self.connection() as conn:
            return store.job(conn, job_id)


def _context(state: State) -> ApiContext:
    return cast(ApiContext, state.context)


def _token_matches(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> bool:
    scheme, _, supplied = connection.headers.get("authorization", "").partition(" ")
    # compare_digest on bytes runs in time independent of where the strings differ
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())


# The guards are coroutines: Litestar runs a guard that is a plain function in a worker thread, one thread round
# trip per guard and request for a few header comparisons.


async def require_allowed_host(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every request, reads included (installed app-wide, first): its one ``Host`` header must name this
    server (``api.allowed_hosts``), else 400. A DNS-rebinding page reaches the server as its own origin, so the
    origin checks below let it through; its ``Host`` is still its own name."""
    values = connection.headers.getall("host", [])
    name = host_header_name(values[0]) if len(values) == 1 else None
    if name is not None and name in _context(connection.app.state).allowed_hosts:
        return
    if not values:
        problem = "is missing"
    elif len(values) > 1:
        problem = f"is given {len(values)} times"
    elif name is None:
        problem = f"{values[0][:200]!r} is not a host name with an optional port"
    else:
        problem = f"{values[0][:200]!r} is not a name this server answers to (api.allowed_hosts)"
    raise HTTPException(status_code=400, detail=f"Host: the header {problem}", extra={"field": "Host"})


async def require_same_origin_json(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every mutating request (installed app-wide, ahead of the token's), so a web page on another site
    cannot make an operator's browser enqueue or cancel anything, token or not.

    - ``Sec-Fetch-Site: cross-site``, or an ``Origin`` whose host and port are not this server's ``Host``: 403.
      (The scheme is not compared, so a TLS-terminating proxy that keeps the ``Host`` header works.)
    - A request that carries a body or a ``Content-Type`` must say ``application/json``: 415. That refuses the
      "simple" requests (``text/plain``, form-encoded) a page may send across origins without asking; a request
      with no body at all (``POST /admin/jobs/{id}/cancel``) needs no ``Content-Type``.

    Routes marked ``SIGNED_BODY`` are exempt: a page on another site cannot sign a body with the webhook secret.
    """
    if not isinstance(connection, Request) or connection.method not in MUTATING_METHODS or handler.opt.get(SIGNED_BODY):
        return
    refuse_cross_origin(connection)
    headers = connection.headers
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if (media_type or has_body) and media_type != "application/json":
        shown = repr(media_type[:100]) if media_type else "none"
        raise HTTPException(
            status_code=415,
            detail=f"Content-Type: the body must be application/json, got {shown}",
            extra={"field": "Content-Type"},
        )


def refuse_cross_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """403 for a request a page on another site sent: ``Sec-Fetch-Site: cross-site``, or an ``Origin`` whose host
    and port are not this server's ``Host``."""
    headers = connection.headers
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise PermissionDeniedException("cross-site requests may not change anything (Sec-Fetch-Site: cross-site)")
    origin = headers.get("origin")
    if origin is not None and _origin_host(origin) != headers.get("host", "").lower():
        raise PermissionDeniedException(
            f"cross-origin requests may not change anything: Origin {origin[:200]!r} is not this server"
        )


def _origin_host(origin: str) -> str | None:
    """``host[:port]`` of an ``Origin`` header (``None`` for ``null`` or anything that is not a URL origin)."""
    scheme, separator, host = origin.strip().lower().partition("://")
    return host.rstrip("/") if separator and scheme in ("http", "https") and host else None


async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the mutating endpoints: a bearer token equal to the configured one, when one is configured."""
    _check_token(connection)


async def require_token_for_reads(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _context(connection.app.state).protect_reads:
        _check_token(connection)


def _check_token(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    token = _context(connection.app.state).token
    if token and not _token_matches(connection, token):
        raise NotAuthorizedException(
            "a valid bearer token is required: Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )


def _invalid(field: str, message: str, status_code: int = 422) -> HTTPException:
    return HTTPException(status_code=status_code, detail=f"{field}: {message}", extra={"field": field})


# ----- jobs -----


@post(
    "/index",
    guards=[require_token],
    sync_to_thread=True,
    status_code=202,
    security=SECURITY,
    summary="Enqueue a repository for indexing",
    responses={
        **UNAVAILABLE,
        **WRITE_REFUSALS,
        200: ResponseSpec(data_container=schemas.Enqueued, description="an unfinished job already covers it"),
        401: ResponseSpec(data_container=dict[str, Any], description="missing or wrong bearer token"),
        422: ResponseSpec(data_container=dict[str, Any], description="the target, ref or sha cannot be indexed"),
    },
)
def post_index(data: JSONBody[schemas.IndexRequest], state: State) -> Response[schemas.Enqueued]:
    """202 with the new job, or 200 with the unfinished job for the same repository and revision."""
    context = _context(state)
    with context.connection() as conn:
        try:
            enqueued = store.enqueue(
                conn, context.queue, data, base_url=context.base_url, allow_local=context.allow_local_targets
            )
        except FetchError as exc:
            raise _invalid("repository", str(exc)) from None
        except IndexRequestError as exc:  # the sha's shape is checked by the schema, so this is about the ref
            raise _invalid("ref", str(exc)) from None
    return Response(enqueued, status_code=202 if enqueued.created else 200)


@get(
    "/jobs/{job_id:uuid}",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="One index job with its per-stage progress",
    responses={**UNAVAILABLE, 404: ResponseSpec(data_container=dict[str, Any], description="no such job")},
)
def get_job(job_id: FromPath[uuid.UUID], state: State) -> schemas.Job:
    with _context(state).connection() as conn:
        found = store.job(conn, job_id)
    if found is None:
        raise NotFoundException(f"no index job {job_id}")
    return found


@get(
    "/jobs/{job_id:uuid}/events",
    guards=[require_token_for_reads],
    summary="Server-sent events: the job (as GET /jobs/{id}) every second until it is finished",
    responses={**UNAVAILABLE, 404: ResponseSpec(data_container=dict[str, Any], description="no such job")},
)
async def stream_job(job_id: FromPath[uuid.UUID], state: State) -> ServerSentEvent:
    """A ``job`` event with the job's JSON at once and every ``STREAM_INTERVAL`` seconds; the stream ends after the
    event showing a finished status. Polling ``GET /jobs/{id}`` gives the same data."""
    context = _context(state)
    first = await asyncio.to_thread(context.job, job_id)
    if first is None:
        raise NotFoundException(f"no index job {job_id}")

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        current: schemas.Job | None = first
        while current is not None:
            yield ServerSentEventMessage(data=msgspec.json.encode(current).decode(), event="job")
            if current.status not in store.UNFINISHED:
                return
            current = await _next_poll(context, job_id)

    return ServerSentEvent(events())


async def _next_poll(context: ApiContext, job_id: uuid.UUID) -> schemas.Job | None:
    """The job after ``STREAM_INTERVAL`` seconds, read on a connection taken for this poll only, so a stream holds
    none while it sleeps; with the database unavailable, the stream waits and polls again."""
    while True:
        await asyncio.sleep(STREAM_INTERVAL)
        try:
            return await asyncio.to_thread(context.job, job_id)
        except DatabaseError as exc:
            logger.warning(
                "job stream: database unavailable, polling again",
                extra={"index_job_id": str(job_id), "error": str(exc)},
            )


@get(
    "/jobs",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="Recent index jobs, newest first",
    responses=UNAVAILABLE,
)
def get_jobs(
    state: State,
    *,
    status: FromQuery[IndexJobStatus | None] = None,
    repository: Annotated[
        str | None,
        QueryParameter(
            description="full name, git URL or repository id", max_length=MAX_TARGET_LENGTH, pattern=schemas.NO_NUL
        ),
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page", max_length=200)
    ] = None,
    created_from: Annotated[
        datetime | None, QueryParameter(description="only jobs created at or after this time (with a time zone)")
    ] = None,
    created_until: Annotated[
        datetime | None, QueryParameter(description="only jobs created before this time (with a time zone)")
    ] = None,
) -> schemas.JobPage:
    for field, value in (("created_from", created_from), ("created_until", created_until)):
        if value is not None and value.tzinfo is None:
            raise _invalid(field, "give a time zone (2026-01-31T12:00:00Z or +01:00)", 400)
    with _context(state).connection() as conn:
        try:
            return store.list_jobs(
                conn,
                status=status,
                repository=repository,
                limit=limit,
                cursor=cursor,
                created_from=created_from,
                created_until=created_until,
            )
        except store.InvalidCursor as exc:
            raise _invalid("cursor", "not a cursor returned by GET /jobs (pass next_cursor unchanged)", 400) from exc


# ----- operations -----


@get(
    "/health",
    sync_to_thread=True,
    summary="Database, schema and queue health",
    responses={503: ResponseSpec(data_container=schemas.Health, description="unhealthy")},
)
def get_health(state: State) -> Response[schemas.Health]:
    context = _context(state)
    try:
        with context.connection() as conn:
            report = store.health(conn, context.queue, context.schema, None)
    except DatabaseError as exc:
        report = store.health(None, context.queue, context.schema, str(exc))
    return Response(report, status_code=200 if report.healthy else 503)


@get(
    "/metrics",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    media_type=CONTENT_TYPE_LATEST,
    summary="Prometheus metrics",
    responses=UNAVAILABLE,
)
def get_metrics(state: State) -> Response[bytes]:
    context = _context(state)
    registry = registry_for(DatabaseCollector(context.connection, context.queue))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@get(
    "/admin/dead-letters",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="Dead letters of the index queue, newest first",
    responses=UNAVAILABLE,
)
def get_dead_letters(
    state: State, limit: Annotated[int, QueryParameter(ge=1, le=1000, description="at most this many")] = 100
) -> list[schemas.DeadLetter]:
    return store.dead_letters(_context(state).queue, limit=limit)


@post(
    "/admin/jobs/{job_id:uuid}/retry",
    guards=[require_token],
    sync_to_thread=True,
    status_code=202,
    security=SECURITY,
    summary="Retry a failed or cancelled job as a fresh job; removes its dead letters",
    responses={
        **UNAVAILABLE,
        401: ResponseSpec(data_container=dict[str, Any], description="missing or wrong bearer token"),
        404: ResponseSpec(data_container=dict[str, Any], description="no such job"),
        409: ResponseSpec(data_container=dict[str, Any], description="the job is not failed or cancelled"),
        **WRITE_REFUSALS,
    },
)
def post_retry(job_id: FromPath[uuid.UUID], state: State) -> schemas.Retried:
    return _admin_action(state, job_id, store.retry)


@post(
    "/admin/jobs/{job_id:uuid}/cancel",
    guards=[require_token],
    sync_to_thread=True,
    status_code=202,
    security=SECURITY,
    summary="Cancel a pending or processing job",
    responses={
        **UNAVAILABLE,
        401: ResponseSpec(data_container=dict[str, Any], description="missing or wrong bearer token"),
        404: ResponseSpec(data_container=dict[str, Any], description="no such job"),
        409: ResponseSpec(data_container=dict[str, Any], description="the job is already finished"),
        **WRITE_REFUSALS,
    },
)
def post_cancel(job_id: FromPath[uuid.UUID], state: State) -> schemas.Cancelled:
    return _admin_action(state, job_id, store.cancel)


def _admin_action(
    state: State, job_id: uuid.UUID, action: Callable[[store.Connection, Queue, uuid.UUID], Outcome | None]
) -> Outcome:
    """Run an operator's action on one index job: 404 when there is no such job, 409 when its state forbids it."""
    context = _context(state)
    with context.connection() as conn:
        try:
            outcome = action(conn, context.queue, job_id)
        except JobStateConflict as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
    if outcome is None:
        raise NotFoundException(f"no index job {job_id}")
    return outcome


# ----- dashboard and schema -----


@get("/", include_in_schema=False, media_type=MediaType.HTML)
async def dashboard() -> Response[bytes]:
    return Response((STATIC_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)


@get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


ROUTE_HANDLERS = [
    post_index,
    get_job,
    stream_job,
    get_jobs,
    get_health,
    get_metrics,
    get_dead_letters,
    post_retry,
    post_cancel,
    dashboard,
    openapi_json,
]
