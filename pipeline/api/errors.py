"""The one error body of the API, for every error status of every endpoint (Litestar's own 404 and 405 included):

    {"status_code": int, "detail": str, "extra": {"field": str | null, ...}}

``detail`` says what was wrong and where; ``extra`` is always an object whose ``field`` names the offending input
(a query parameter, a body field, a header) or is null. Validation errors also list every problem under
``extra.problems`` (``{"key", "message", "source"}``). Handlers raise ``litestar.exceptions.HTTPException`` with
``extra={"field": ...}`` or ``IndexQueryError``; the handlers here normalise whatever they carry.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from pipeline.errors import DatabaseError
from pipeline.index_queries import IndexQueryError

logger = logging.getLogger(__name__)

_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"^Missing required \w+ parameter '([^']+)'")


def error_response(
    status_code: int,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """The error body for ``status_code``; ``extra`` adds keys beside ``field``."""
    body = {"status_code": status_code, "detail": detail, "extra": {"field": field, **extra}}
    return Response(body, status_code=status_code, headers=headers)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Every ``HTTPException`` (ours and Litestar's: unknown route, wrong method, guards), keeping its headers
    (``Allow``, ``WWW-Authenticate``); an ``extra`` that is not an object is kept under ``extra.problems``."""
    extra: dict[str, Any] = {"problems": exc.extra} if isinstance(exc.extra, list) else dict(exc.extra or {})
    field = extra.pop("field", None)
    return error_response(exc.status_code, exc.detail, field=field, headers=exc.headers, **extra)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """400 naming every invalid field in ``detail`` itself, the first in ``extra.field``, all in
    ``extra.problems``."""
    problems = [problem for problem in exc.extra if isinstance(problem, dict)] if isinstance(exc.extra, list) else []
    for problem in problems:
        named_field = _NAMED_FIELD.search(str(problem.get("message", "")))
        if named_field and problem.get("key") in (None, "", "data"):
            problem["key"] = named_field.group(1)  # msgspec reports a missing or unknown field at the body's root
    named = "; ".join(f"{problem.get('key') or 'body'}: {problem.get('message')}" for problem in problems)
    detail = f"{exc.detail}: {named}" if named else exc.detail
    field = next((str(problem["key"]) for problem in problems if problem.get("key")), None)
    if field is None and (missing := _MISSING_PARAMETER.match(exc.detail)):
        field = missing.group(1)
    return error_response(400, detail, field=field, problems=problems)


def index_query_error(request: Request[Any, Any, Any], exc: IndexQueryError) -> Response[dict[str, Any]]:
    return error_response(exc.status, str(exc), field=exc.field)


def body_too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """400 for a JSON body nested deeper than the decoder recurses (Litestar decodes the body before its schema
    is checked; ``[[[…]]]`` a thousand levels deep is a 2 kB body)."""
    logger.warning("request body nested too deeply", extra={"path": request.url.path})
    detail = "the JSON body is nested too deeply (the request bodies of this API are flat objects)"
    return error_response(400, detail, field="body")


def database_unavailable(request: Request[Any, Any, Any], exc: DatabaseError) -> Response[dict[str, Any]]:
    """503 naming why: every pooled connection busy, or the database unreachable (the driver's reason, password
    masked)."""
    logger.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)})
    return error_response(503, str(exc))


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """500 for a bug: the traceback goes to the log, never to the client."""
    logger.error("internal error", exc_info=exc, extra={"path": request.url.path})
    return error_response(500, "internal server error (the server's log has the details)")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HTTPException: http_error,
    ValidationException: validation_error,
    IndexQueryError: index_query_error,
    DatabaseError: database_unavailable,
    RecursionError: body_too_deep,
    Exception: internal_error,
}
