"""What the dashboard reads beyond the job API: an index job's event log and attempts, the charts' time series, the
job counts per status, and the API reference page.

The dashboard itself is static (``static/``): hand-written JavaScript that calls these routes and the JSON API, with
no build step and nothing loaded from another origin, so it works offline under the app's Content-Security-Policy.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath, QueryParameter

from pipeline.api import schemas, store
from pipeline.api.routes import STATIC_DIR, UNAVAILABLE, _context, require_token_for_reads

MAX_SERIES_MINUTES = 24 * 60  # the charts' longest window: a day of one-minute points bounds the query


@get(
    "/jobs/{job_id:uuid}/timeline",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="An index job's event log, oldest first, and the attempts of the queue job carrying it",
    responses={**UNAVAILABLE, 404: ResponseSpec(data_container=dict[str, Any], description="no such job")},
)
def get_job_timeline(job_id: FromPath[uuid.UUID], state: State) -> schemas.JobTimeline:
    context = _context(state)
    with context.connection() as conn:
        found = store.job_timeline(conn, context.queue, job_id)
    if found is None:
        raise NotFoundException(f"no index job {job_id}")
    return found


@get(
    "/jobs/series",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="Per minute: index jobs completed and failed, files parsed per second, queue depth",
    responses=UNAVAILABLE,
)
def get_job_series(
    state: State,
    minutes: Annotated[
        int, QueryParameter(ge=1, le=MAX_SERIES_MINUTES, description="the window: this many minutes up to now")
    ] = 60,
) -> schemas.JobSeries:
    with _context(state).connection() as conn:
        return store.job_series(conn, minutes=minutes)


@get(
    "/jobs/counts",
    guards=[require_token_for_reads],
    sync_to_thread=True,
    summary="Index jobs per status, every status included",
    responses=UNAVAILABLE,
)
def get_job_counts(state: State) -> dict[str, int]:
    with _context(state).connection() as conn:
        return store.job_counts(conn)


class ApiReferencePage(OpenAPIRenderPlugin):
    """``/schema`` and ``/schema/swagger``: a page of ours (``static/api.html``) that lists the operations of
    ``/openapi.json`` with its own script, so it needs no CDN and runs under the dashboard's policy."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return (STATIC_DIR / "api.html").read_bytes()


DASHBOARD_HANDLERS = [get_job_timeline, get_job_series, get_job_counts]
