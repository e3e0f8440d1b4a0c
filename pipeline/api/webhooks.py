"""Push webhooks (GitHub, GitLab): keep each repository's index current by enqueueing every push to its default branch.

Guarantees, in the order a request meets them:
- No secret configured (the environment variable ``api.webhook_secret_env``, ``PIPELINE_WEBHOOK_SECRET``): 404
  saying webhooks are not configured, before the body is read (a guard). The secret is moved out of the
  environment (``pipeline.secrets``), so no process started from the server inherits it; it is never logged or
  echoed.
- GitLab's ``X-Gitlab-Token`` must be the secret, checked before the body is read (a guard): missing or wrong, 401.
- A body over ``api.webhook_max_body_bytes`` (5 MiB by default) is refused (413) before it is read when its
  ``Content-Length`` says so, else as soon as it grows past the limit.
- GitHub's ``X-Hub-Signature-256`` must be the HMAC-SHA256 of the raw body under the secret, checked before the
  body is parsed: missing or wrong, 401, and nothing is parsed or enqueued. Secrets are compared in constant
  time. These routes need no bearer token and are exempt from the same-origin/JSON guard (``routes.SIGNED_BODY``):
  the signature is what another site cannot make.
- ``ping`` (GitHub) answers 200. Events other than pushes, tag pushes, branch deletions and pushes to another
  branch than the repository's default one answer 202 and change nothing (the index follows the default branch:
  a repository has one current index).
- A push to the default branch enqueues the repository (its payload's https clone URL, whose host must be one the
  fetcher is configured for: ``index.token_hosts``, else the host of ``index.base_url``; 422 otherwise) at the
  pushed commit and ref, and records the delivery in the same transaction: a redelivery enqueues nothing and is
  answered 200 with the first answer (``redelivery: true``). A GitHub delivery is known by its id and by its
  body's SHA-256 (the id is not signed: a signed body replayed under a fresh id is answered as a redelivery, and
  cannot roll the index back to its commit). A malformed payload is 400 naming the field.
  Enqueueing coalesces (``index_jobs.enqueue``): a burst of pushes indexes the newest commit.
- Deliveries may arrive out of order (GitHub does not promise an order): an older push arriving last is enqueued
  and indexed, and the index shows that older commit until the next push.
- Deliveries are kept ``DELIVERY_RETENTION_SECONDS``; each recorded delivery deletes up to ``PRUNE_BATCH`` expired
  ones, so the table grows only with deliveries and is pruned by them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import RawBody
from litestar.types import Guard
from psycopg.types.json import Jsonb

from pipeline import index_jobs, secrets
from pipeline.api.routes import SIGNED_BODY, UNAVAILABLE, ApiContext
from pipeline.config import Config
from pipeline.db import query
from pipeline.errors import IndexRequestError
from pipeline.index_requests import parse_request_target
from stages.fetch import FetchError, RepoTarget
from stages.fetch.credentials import token_allowed, token_hosts_for

DELIVERY_RETENTION_SECONDS = 7 * 86400.0  # GitHub offers redelivery of the last 3 days
PRUNE_BATCH = 1000
MAX_HEADER_LENGTH = 200
ZERO_SHA = "0" * 40
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"
TAGS_IGNORED = "tag pushes are not indexed: the index follows the default branch"
_VALIDATION_PATH = re.compile(r"(?s)(.*) - at `\$\.?(.*)`")

PayloadT = TypeVar("PayloadT")
Provider = Literal["github", "gitlab"]
Action = Literal["pong", "enqueued", "ignored"]
Sha = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{40}$", description="a full commit sha")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class WebhookOutcome(msgspec.Struct, kw_only=True):
    """What the server did with one delivery (the response body; a redelivery gets the first one again)."""

    provider: Provider
    delivery: str
    event: str
    action: Action
    reason: str | None = None  # why an event was ignored
    job_id: uuid.UUID | None = None  # the index job (action "enqueued")
    created: bool | None = None  # false: an unfinished job already covered that commit and ref
    repository: str | None = None
    ref: str | None = None
    commit_sha: str | None = None
    redelivery: bool = False  # this delivery id was seen before: nothing was done again


class _GithubRepository(msgspec.Struct, kw_only=True):
    clone_url: Text
    default_branch: Text


class _GithubPush(msgspec.Struct, kw_only=True):
    ref: Text
    after: Sha
    deleted: bool = False
    repository: _GithubRepository


class _GitlabProject(msgspec.Struct, kw_only=True):
    git_http_url: Text
    default_branch: Text


class _GitlabPush(msgspec.Struct, kw_only=True):
    ref: Text
    after: Sha
    project: _GitlabProject


class _Push(msgspec.Struct, frozen=True, kw_only=True):
    """A push, whichever provider sent it, with the payload's field names for error messages."""

    ref: str
    after: str
    deleted: bool
    clone_url: str
    clone_url_field: str
    default_branch: str


@dataclass(frozen=True)
class _Delivery:
    """Which delivery a request is: its provider, its id and, for a signed body, the body's SHA-256 (both
    deduplicated), and its event."""

    provider: Provider
    id: str
    event: str
    body_sha256: bytes | None = None

    def outcome(self, action: Action, **fields: Any) -> WebhookOutcome:
        return WebhookOutcome(provider=self.provider, delivery=self.id, event=self.event, action=action, **fields)


@dataclass(frozen=True)
class WebhookSettings:
    """What the webhook routes need beyond ``ApiContext``: the secret (empty: not configured) and the hosts whose
    repositories may be enqueued."""

    secret: str
    secret_env: str
    hosts: tuple[str, ...]


def webhook_settings(config: Config, environ: Mapping[str, str] | None = None) -> WebhookSettings:
    """The settings for ``config``: the secret from the environment variable ``api.webhook_secret_env`` (moved out
    of the environment, ``pipeline.secrets.take``; ``environ`` replaces the environment and is left as it is)."""
    name = config.api.webhook_secret_env
    secret = (secrets.take([name]).get(name, "") if environ is None else environ.get(name, "")).strip()
    return WebhookSettings(
        secret=secret,
        secret_env=name,
        hosts=tuple(token_hosts_for(config.index.token_hosts, config.index.base_url)),
    )


_RESPONSES: dict[int, ResponseSpec] = {
    **UNAVAILABLE,
    200: ResponseSpec(data_container=WebhookOutcome, description="ping, or a redelivery (its first answer)"),
    400: ResponseSpec(data_container=dict[str, Any], description="a malformed payload or header, named"),
    401: ResponseSpec(data_container=dict[str, Any], description="missing or wrong signature (token)"),
    404: ResponseSpec(data_container=dict[str, Any], description="webhooks are not configured"),
    413: ResponseSpec(data_container=dict[str, Any], description="a body over api.webhook_max_body_bytes"),
    422: ResponseSpec(data_container=dict[str, Any], description="a repository this server does not fetch from"),
}


def _configured(connection: ASGIConnection[Any, Any, Any, Any]) -> WebhookSettings:
    """The webhook settings, or 404 when no secret is configured."""
    settings: WebhookSettings = connection.app.state.webhooks
    if not settings.secret:
        raise NotFoundException(
            f"webhooks are not configured on this server: set the environment variable {settings.secret_env} "
            "to the webhook's secret"
        )
    return settings


async def require_configured(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the GitHub webhook: 404 without a secret, before the body is read (its signature is over the body,
    so it is checked once the body is read)."""
    _configured(connection)


async def require_gitlab_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the GitLab webhook: 404 without a secret, 401 without the right ``X-Gitlab-Token``, both before the
    body is read (GitLab authenticates by that header alone); on the event loop, as every guard of the app."""
    settings = _configured(connection)
    supplied = connection.headers.get("x-gitlab-token")
    if supplied is None:
        raise _unauthorized("X-Gitlab-Token", "missing")
    if not hmac.compare_digest(supplied.encode(), settings.secret.encode()):
        raise _unauthorized("X-Gitlab-Token", "does not match the configured secret")


def _webhook_route(path: str, *, summary: str, guard: Guard) -> post:
    """The route decorator of a webhook: signed (no bearer token, no same-origin guard), guarded before its body is
    read; its body limit is its router's (``webhook_router``)."""
    return post(
        path,
        sync_to_thread=True,
        status_code=202,
        guards=[guard],
        opt={SIGNED_BODY: True},
        summary=summary,
        responses=_RESPONSES,
    )


@_webhook_route("/webhooks/github", summary="GitHub push webhook (X-Hub-Signature-256)", guard=require_configured)
def post_github(request: Request[Any, Any, Any], body: RawBody, state: State) -> Response[WebhookOutcome]:
    """202 with what was done with the event (``action``): ``enqueued`` for a push to the default branch,
    ``ignored`` (with the reason) for anything else; 200 for ``ping`` and for a redelivery."""
    settings: WebhookSettings = state.webhooks
    _check_github_signature(request, body, settings.secret)
    delivery = _Delivery(
        "github",
        _header(request, "X-GitHub-Delivery"),
        _header(request, "X-GitHub-Event"),
        body_sha256=hashlib.sha256(body).digest(),
    )
    if delivery.event == "ping":
        return Response(delivery.outcome("pong"), status_code=200)
    if delivery.event != "push":
        return _ignored(delivery, f"{delivery.event!r} events are not indexed; only pushes are")
    payload = _decode(_github_json(request, body), _GithubPush)
    push = _Push(
        ref=payload.ref,
        after=payload.after.lower(),
        deleted=payload.deleted,
        clone_url=payload.repository.clone_url,
        clone_url_field="repository.clone_url",
        default_branch=payload.repository.default_branch,
    )
    return _on_push(state, settings, delivery, push)


@_webhook_route("/webhooks/gitlab", summary="GitLab push webhook (X-Gitlab-Token)", guard=require_gitlab_token)
def post_gitlab(request: Request[Any, Any, Any], body: RawBody, state: State) -> Response[WebhookOutcome]:
    """As ``POST /webhooks/github``. The delivery id is GitLab's ``Idempotency-Key`` (the same on every retry of an
    event, GitLab 17.4 on), else the SHA-256 of the body (a retry resends the same body)."""
    key = request.headers.get("idempotency-key")
    delivery = _Delivery(
        "gitlab",
        _bounded("Idempotency-Key", key) if key is not None else f"sha256:{hashlib.sha256(body).hexdigest()}",
        _header(request, "X-Gitlab-Event"),
    )
    if delivery.event == "Tag Push Hook":
        return _ignored(delivery, TAGS_IGNORED)
    if delivery.event != "Push Hook":
        return _ignored(delivery, f"{delivery.event!r} events are not indexed; only pushes are")
    payload = _decode(body, _GitlabPush)
    push = _Push(
        ref=payload.ref,
        after=payload.after.lower(),
        deleted=payload.after == ZERO_SHA,
        clone_url=payload.project.git_http_url,
        clone_url_field="project.git_http_url",
        default_branch=payload.project.default_branch,
    )
    return _on_push(state, state.webhooks, delivery, push)


def _check_github_signature(request: Request[Any, Any, Any], body: bytes, secret: str) -> None:
    supplied = request.headers.get("x-hub-signature-256")
    if supplied is None:
        raise _unauthorized("X-Hub-Signature-256", "missing")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(supplied.strip().lower().encode(), expected.encode()):
        raise _unauthorized("X-Hub-Signature-256", "is not the HMAC-SHA256 of the body under the configured secret")


def _unauthorized(header: str, problem: str) -> HTTPException:
    return HTTPException(status_code=401, detail=f"{header}: the signature header {problem}", extra={"field": header})


def _bad_request(field: str, problem: str) -> HTTPException:
    return HTTPException(status_code=400, detail=f"{field}: {problem}", extra={"field": field})


def _header(request: Request[Any, Any, Any], name: str) -> str:
    value = request.headers.get(name.lower())
    if value is None or not value.strip():
        raise _bad_request(name, "the header is missing")
    return _bounded(name, value.strip())


def _bounded(name: str, value: str) -> str:
    if len(value) > MAX_HEADER_LENGTH:
        raise _bad_request(name, f"the header is {len(value)} characters long; at most {MAX_HEADER_LENGTH}")
    return value


def _github_json(request: Request[Any, Any, Any], body: bytes) -> bytes:
    """The JSON payload of a GitHub delivery: the body (``application/json``), or its ``payload`` form field
    (``application/x-www-form-urlencoded``, GitHub's other content type)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == "application/json":
        return body
    if media_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("ascii"), strict_parsing=True, max_num_fields=10)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad_request("body", f"not a form-encoded body: {exc}") from None
        values = fields.get("payload")
        if values is None or len(values) != 1:
            raise _bad_request("payload", "a form-encoded delivery needs exactly one `payload` field")
        return values[0].encode()
    shown = repr(media_type[:100]) if media_type else "none"
    raise HTTPException(
        status_code=415,
        detail=f"Content-Type: a delivery is application/json or application/x-www-form-urlencoded, got {shown}",
        extra={"field": "Content-Type"},
    )


def _decode(payload: bytes, kind: type[PayloadT]) -> PayloadT:
    """The payload as ``kind``, or 400 naming the first field that is missing or wrong (``repository.clone_url``)."""
    try:
        return msgspec.json.decode(payload, type=kind)
    except msgspec.ValidationError as exc:
        match = _VALIDATION_PATH.fullmatch(str(exc))
        problem, field = (match.group(1), match.group(2)) if match else (str(exc), "")
        missing = re.search(r"missing required field `([^`]+)`", problem)
        if missing:
            field = f"{field}.{missing.group(1)}" if field else missing.group(1)
        raise _bad_request(field or "body", problem) from None
    except msgspec.DecodeError as exc:
        raise _bad_request("body", f"not valid JSON: {exc}") from None


def _ignored(delivery: _Delivery, reason: str) -> Response[WebhookOutcome]:
    return Response(delivery.outcome("ignored", reason=reason), status_code=202)


def _on_push(state: State, settings: WebhookSettings, delivery: _Delivery, push: _Push) -> Response[WebhookOutcome]:
    """Ignore a push that does not move the default branch; else enqueue it, once per delivery id."""
    if push.deleted or push.after == ZERO_SHA:
        return _ignored(delivery, f"{push.ref} was deleted: nothing to index")
    if push.ref.startswith(TAG_PREFIX):
        return _ignored(delivery, TAGS_IGNORED)
    if push.ref != BRANCH_PREFIX + push.default_branch:
        return _ignored(
            delivery,
            f"{push.ref} is not the default branch ({push.default_branch}): only the default branch is indexed",
        )
    context: ApiContext = state.context
    target = _target(push, settings, context.base_url)
    with context.connection() as conn, conn.transaction():
        key = {"provider": delivery.provider, "delivery_id": delivery.id}
        seen = {**key, "body_sha256": delivery.body_sha256}
        if conn.execute(query("webhook_delivery_record"), {**seen, "event": delivery.event}).fetchone() is None:
            row = conn.execute(query("webhook_delivery_outcome"), seen).fetchone()
            assert row is not None, "the delivery conflicted on its id or body, so that row exists"
            first = msgspec.convert(row[0], WebhookOutcome)
            return Response(msgspec.structs.replace(first, redelivery=True), status_code=200)
        try:
            enqueued = index_jobs.enqueue(conn, context.queue, target, ref=push.ref, commit_sha=push.after)
        except IndexRequestError as exc:  # the sha's shape is checked by the schema, so this is about the ref
            raise _bad_request("ref", str(exc)) from None
        outcome = delivery.outcome(
            "enqueued",
            job_id=enqueued.job.id,
            created=enqueued.created,
            repository=enqueued.job.repository,
            ref=push.ref,
            commit_sha=push.after,
        )
        conn.execute(query("webhook_delivery_set_outcome"), {**key, "outcome": Jsonb(msgspec.to_builtins(outcome))})
        conn.execute(
            query("webhook_delivery_delete_expired"), {"keep_seconds": DELIVERY_RETENTION_SECONDS, "limit": PRUNE_BATCH}
        )
    return Response(outcome, status_code=202)


def _target(push: _Push, settings: WebhookSettings, base_url: str) -> RepoTarget:
    """The repository to enqueue: the payload's clone URL, over https to a host the fetcher is configured for (so a
    signed payload cannot make the server fetch from, or send the git token to, anywhere else), validated as
    ``POST /index`` validates a target."""
    if not token_allowed(push.clone_url, settings.hosts, repository_url=push.clone_url):
        hosts = ", ".join(settings.hosts) or "none"
        raise HTTPException(
            status_code=422,
            detail=(
                f"{push.clone_url_field}: {push.clone_url[:200]!r} is not an https URL on a host this server "
                f"indexes ({hosts}: index.token_hosts, else the host of index.base_url)"
            ),
            extra={"field": push.clone_url_field},
        )
    try:
        return parse_request_target(push.clone_url, base_url=base_url, allow_local=False)
    except FetchError as exc:
        raise HTTPException(
            status_code=422, detail=f"{push.clone_url_field}: {exc}", extra={"field": push.clone_url_field}
        ) from None


def webhook_router(max_body_bytes: int) -> Router:
    """The webhook routes, with their own body limit (``api.webhook_max_body_bytes``): the whole body is read to
    check its signature, and a push payload is larger than the API's other bodies."""
    return Router(path="/", route_handlers=[post_github, post_gitlab], request_max_body_size=max_body_bytes)
