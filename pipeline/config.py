"""Typed configuration: TOML files decoded into msgspec Structs, plus environment overrides.

Guarantees: unknown keys, wrong types and out-of-range values are rejected with a ``ConfigError`` naming the file,
the key and what was expected; a database password never appears in an error message (see ``mask_url``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from pipeline.api.hosts import allowed_host_name
from pipeline.errors import ConfigError
from stages.hosts import token_host_key

DEFAULT_CONFIG_PATH = Path("configs/dev.toml")
MAX_CONFIG_BYTES = 1024 * 1024  # a config file is a few hundred bytes; anything this large is not one

# Lowest to highest precedence: a later variable wins over an earlier one, and any of them over the file.
DATABASE_URL_ENV_VARS = ("SUPABASE_DB_URL", "DATABASE_URL", "PIPELINE_DATABASE_URL")
DIRECT_URL_ENV_VAR = "PIPELINE_DATABASE_DIRECT_URL"  # overrides database.direct_url

Seconds = Annotated[float, msgspec.Meta(ge=0, description="a duration in seconds")]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, description="a positive duration in seconds")]
SchemaName = Annotated[str, msgspec.Meta(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every config section: unknown keys are errors, not silently ignored."""


class EmbeddedConfig(_Section):
    """The private Postgres cluster used when no database URL is configured."""

    data_dir: str = ".pipeline/pg"  # relative paths are resolved against the working directory
    bin_dir: str = ""  # empty: PIPELINE_PG_BIN, then `pg_config --bindir`, then /usr/lib/postgresql/*/bin
    run_as: str = ""  # empty: when running as root, the `postgres` system user, else `nobody`
    database: str = "pipeline"
    fsync: bool = True  # tests turn it off for speed; never turn it off for data you keep
    start_timeout: PositiveSeconds = 60.0


class DatabaseConfig(_Section):
    url: str = ""  # empty: use the embedded cluster; environment variables override this
    # A direct (unpooled) URL for what a transaction-mode pooler cannot carry: LISTEN and migrations. Empty: ``url``.
    direct_url: str = ""
    # True when ``url`` goes through a transaction-mode pooler (pgbouncer): no session state, no prepared statements.
    transaction_pooler: bool = False
    schema: SchemaName = "pipeline"  # the project's tables live here, so they can share a database
    connect_timeout: Annotated[int, msgspec.Meta(ge=1, le=300)] = 10
    embedded: EmbeddedConfig = msgspec.field(default_factory=EmbeddedConfig)


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "human"] = "auto"  # auto: human on a terminal, JSON lines otherwise


class QueueConfig(_Section):
    """Job queue defaults; the retry and expiry ones can be overridden per job at send time (see docs/queue.md)."""

    retry_limit: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 3  # retries, not attempts: 3 means 4 attempts
    retry_delay: Seconds = 60.0
    retry_backoff: bool = True
    retry_delay_max: Seconds = 3600.0
    # backoff delays are drawn from [delay * (1 - retry_jitter), delay] so retries of a burst spread out
    retry_jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    expire_in: PositiveSeconds = 86400.0
    heartbeat_interval: PositiveSeconds = 5.0
    # a running job whose heartbeat is older than this many heartbeat intervals is rescued (its worker died)
    rescue_after_heartbeats: Annotated[float, msgspec.Meta(ge=1.5, le=100)] = 2.0
    poll_interval: PositiveSeconds = 2.0
    listen: bool = True  # LISTEN/NOTIFY wake-up; behind a transaction pooler it needs database.direct_url
    delete_after: Seconds = 3600.0  # completed and cancelled jobs
    failed_delete_after: Seconds = 7 * 86400.0  # failed job rows; their dead letters stay until redriven or purged
    retention_interval: PositiveSeconds = 60.0  # how often a worker runs the retention step
    shutdown_timeout: Seconds = 30.0
    max_payload_bytes: Annotated[int, msgspec.Meta(ge=2, le=64 * 1024 * 1024)] = 256 * 1024


class IndexConfig(_Section):
    """The indexing pipeline: how many jobs and processes, per-file limits, where clones go, credentials."""

    jobs: Annotated[int, msgspec.Meta(ge=1, le=64)] = 3  # index jobs in flight per worker host
    parsers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0  # parser processes; 0: one per CPU
    queue_items: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 256  # bound of each inter-stage queue
    max_file_bytes: Annotated[int, msgspec.Meta(ge=1)] = 2 * 1024 * 1024
    parse_timeout: PositiveSeconds = 5.0
    batch_rows: Annotated[int, msgspec.Meta(ge=1)] = 20_000  # writer flushes a COPY batch at this many rows
    # The writer's cross-file step holds at most this many files' link data at once (more are read again when
    # needed) and, for a full snapshot, links and copies the rows of half as many files at a time.
    link_files: Annotated[int, msgspec.Meta(ge=2)] = 250
    progress_interval: PositiveSeconds = 1.0  # per-stage progress is stored at most this often per job
    tmp_dir: str = ""  # per-job clone directories go here; empty: the system temp directory
    base_url: str = "https://github.com"  # for owner/name targets
    # The name of the environment variable holding the https access token (the token itself is never in a file).
    token_env: str = "PIPELINE_GIT_TOKEN"  # noqa: S105
    git_connect_timeout: PositiveSeconds = 30.0  # a git server that does not accept the connection in time fails
    git_io_timeout: PositiveSeconds = 120.0  # a git server silent this long mid-transfer fails (retryably)
    # Hosts the access token may be sent to (always over https only): host, host:port or [ipv6]:port; empty: the host
    # of base_url. The token is only sent to the host of the job's own URL, never after a redirect to another one.
    token_hosts: list[str] = msgspec.field(default_factory=list)
    fetch_timeout: PositiveSeconds = 600.0  # a whole clone/fetch of one job, however the server trickles
    max_refs: Annotated[int, msgspec.Meta(ge=1)] = 100_000  # a server advertising more refs is refused
    # Per-job limits: a job over any of them fails (not retried) with an error naming the limit.
    job_timeout: PositiveSeconds = 3600.0  # wall time of one attempt, fetch to commit
    max_job_files: Annotated[int, msgspec.Meta(ge=1)] = 500_000  # files selected for parsing
    max_job_bytes: Annotated[int, msgspec.Meta(ge=1)] = 4 * 1024 * 1024 * 1024  # bytes selected for parsing
    # Entries (files and directories) one walk of a commit's tree may visit: a crafted tree that names one subtree
    # again and again describes billions of paths in a few objects.
    max_tree_entries: Annotated[int, msgspec.Meta(ge=1)] = 5_000_000
    # Finished index jobs (completed, skipped, failed, cancelled) and their events are deleted after this long.
    job_delete_after: Seconds = 30 * 86400.0
    # Bytes a network clone's process may allocate (its data segment): a server's flood of refs fails there.
    fetch_memory: Annotated[int, msgspec.Meta(ge=64 * 1024 * 1024)] = 2 * 1024 * 1024 * 1024
    # Bytes of the largest commit, tag or tree object read whole: libgit2 inflates one before its entries can be
    # counted, and a crafted one of a few MB compressed can expand to GBs (a real 100k-entry tree is a few MB).
    max_tree_object_bytes: Annotated[int, msgspec.Meta(ge=1)] = 64 * 1024 * 1024


class ApiConfig(_Section):
    """The HTTP API and dashboard (``python -m pipeline serve``)."""

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    # Bearer token for POST endpoints; empty: read it from the environment variable named by token_env, and with
    # neither set, no authentication. Prefer the environment variable so the token stays out of files.
    token: str = ""
    token_env: str = "PIPELINE_API_TOKEN"  # noqa: S105
    protect_reads: bool = False  # true: GET endpoints (except /health and the dashboard page) need the token too
    # Names the server answers to besides api.host, localhost, 127.0.0.1 and [::1], compared with each request's
    # Host header without its port: a DNS-rebinding page comes with its own name and is refused (400). List the
    # names clients and probes use when serving on another address (0.0.0.0, behind a proxy keeping the Host).
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    # true: POST /index accepts repositories on the server's own file system (paths and file:// URLs)
    allow_local_targets: bool = False
    # The environment variable holding the push webhooks' shared secret (never in a file); unset: the webhook
    # endpoints answer 404, saying that webhooks are not configured.
    webhook_secret_env: str = "PIPELINE_WEBHOOK_SECRET"  # noqa: S105
    # The largest webhook body read (413 above it). GitHub push payloads are kilobytes to a few MB (GitHub caps
    # deliveries at 25 MB); the whole body is read to check its signature, so this bounds what a signed-looking
    # request makes the server read.
    webhook_max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 5 * 1024 * 1024
    # Server processes sharing the listening socket, each with its own pool of up to 8 database connections;
    # 0: one per CPU core this process may run on, at most 4 (32 connections, well inside Postgres's default 100).
    workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0


class Config(_Section):
    database: DatabaseConfig = msgspec.field(default_factory=DatabaseConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    queue: QueueConfig = msgspec.field(default_factory=QueueConfig)
    index: IndexConfig = msgspec.field(default_factory=IndexConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)

    @property
    def uses_embedded_database(self) -> bool:
        return not self.database.url


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (default ``configs/dev.toml``; built-in defaults if that default file is absent) and apply
    environment overrides. Raises ``ConfigError`` naming the file and key on any invalid input."""
    environ = os.environ if environ is None else environ
    explicit = path is not None
    path = DEFAULT_CONFIG_PATH if path is None else path
    try:
        regular = path.is_file()
    except OSError as exc:  # e.g. a directory on the way that this user may not enter
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    if regular:
        config = _decode_file(path)
    elif explicit:
        raise ConfigError(f"{path}: {_not_a_file(path)}")
    else:
        config = Config()
    return _apply_environment(config, environ)


def _not_a_file(path: Path) -> str:
    if path.is_dir():
        return "is a directory, not a config file"
    if path.exists():  # a FIFO or a device: reading it could block forever or never end
        return "is not a regular file"
    return "config file not found"


def decode_config(text: str, source: str) -> Config:
    """Decode TOML text into a ``Config``; ``source`` names the text in error messages."""
    try:
        config = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe_validation_error(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    _check_database_url(config.database.url, f"{source}: database.url")
    _check_database_url(config.database.direct_url, f"{source}: database.direct_url")
    _check_token_hosts(config.index.token_hosts, f"{source}: index.token_hosts")
    _check_allowed_hosts(config.api.allowed_hosts, f"{source}: api.allowed_hosts")
    return config


def _decode_file(path: Path) -> Config:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    return decode_config(text, str(path))


def _describe_validation_error(message: str) -> str:
    """Turn msgspec's ``... - at `$.queue.retry_limit``` into ``queue.retry_limit: ...``."""
    message = message.replace("Object contains unknown field", "unknown key")
    match = re.fullmatch(r"(?s)(.*) - at `\$\.?(.*)`", message)
    if not match:
        return message
    problem, key = match.groups()
    return f"{key}: {problem}" if key else problem


def _apply_environment(config: Config, environ: Mapping[str, str]) -> Config:
    database = config.database
    for name in reversed(DATABASE_URL_ENV_VARS):
        url = environ.get(name, "").strip()
        if url:
            _check_database_url(url, f"environment variable {name}")
            database = msgspec.structs.replace(database, url=url)
            break
    direct_url = environ.get(DIRECT_URL_ENV_VAR, "").strip()
    if direct_url:
        _check_database_url(direct_url, f"environment variable {DIRECT_URL_ENV_VAR}")
        database = msgspec.structs.replace(database, direct_url=direct_url)
    return msgspec.structs.replace(config, database=database)


def _check_database_url(url: str, where: str) -> None:
    if not url:
        return
    try:
        scheme = urlsplit(url).scheme
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket: postgresql://[::1
        raise ConfigError(f"{where}: malformed URL: {exc}") from None
    if scheme not in ("postgres", "postgresql"):
        raise ConfigError(
            f"{where}: expected a postgresql:// URL, got {mask_url(url)!r}"
            if scheme
            else f"{where}: expected a postgresql:// URL"
        )


def _check_token_hosts(entries: list[str], where: str) -> None:
    """Each entry must be one the token rule can match (``stages.hosts.token_host_key``), else it would be ignored."""
    for entry in entries:
        if token_host_key(entry) is None:
            raise ConfigError(
                f"{where}: {entry!r} is not a host name or address with an optional port (host, host:port or "
                "[ipv6]:port, without a scheme, user or path)"
            )


def _check_allowed_hosts(entries: list[str], where: str) -> None:
    """Each entry must be a name the Host check can match (``pipeline.api.hosts.allowed_host_name``)."""
    for entry in entries:
        if allowed_host_name(entry) is None:
            raise ConfigError(
                f"{where}: {entry!r} is not a host name or IP address (without a scheme, port or path: any port "
                "is accepted)"
            )


def mask_url(url: str) -> str:
    """Return ``url`` with any password (in the userinfo or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}"
    query = parts.query
    if query:
        pairs = [
            (key, "***" if key.lower() == "password" else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="/:*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
