"""Command line: ``python -m pipeline [--config PATH] [--json] <command> [--config PATH] [--json] ...``.

``--config`` and ``--json`` are accepted before the command and after it; two different ``--config`` files are a
usage error. Every error is one line on stderr (a JSON object with ``--json``), never a traceback. Exit codes:
0 success, 1 the command failed, 2 usage or configuration error, 70 an internal error (a bug; ``run`` also exits 70
when its stage processes keep dying, and so does ``index`` when its worker stops for that reason), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson

from pipeline.config import Config, load_config, mask_url
from pipeline.errors import ConfigError, DatabaseError, PipelineError
from pipeline.log import configure_logging
from stages.errors import IndexerError

logger = logging.getLogger("pipeline.cli")

Handler = Callable[[argparse.Namespace, Config], int]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """The command line itself is wrong (unknown option, bad value, conflicting options): exit 2."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are raised, so ``main`` reports them as one line (JSON with ``--json``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def positive_int(text: str) -> int:
    """An argparse type for counts such as ``--limit``: a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _config_option() -> argparse.ArgumentParser:
    option = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's parser must not reset a --config given before it (argparse copies its defaults over)
    option.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="TOML config file (default: configs/dev.toml if present)",
    )
    return option


def _common_options(config_option: argparse.ArgumentParser) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, parents=[config_option])
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    return common


def _global_options(parser: argparse.ArgumentParser) -> None:
    """Options before the command; they land under their own names, so a command's defaults cannot hide them."""
    parser.add_argument(
        "--config", dest="global_config", type=Path, default=None, help="TOML config file, as after the command"
    )
    parser.add_argument("--json", dest="global_json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, looked up only when asked for (importlib.metadata is slow
    to import, and every command would pay for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **options: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **options)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from importlib.metadata import version  # noqa: PLC0415

        print(f"{parser.prog} {version('repo-indexer-pipeline')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not at module level: spawned stage processes re-import the main module (pipeline.__main__ →
    # this one) and must not load the database and git modules they do not use.
    from pipeline import indexing_cli, query_cli  # noqa: PLC0415
    from pipeline.queue import cli as queue_cli  # noqa: PLC0415

    config_option = _config_option()
    common = _common_options(config_option)
    parser: argparse.ArgumentParser = _Parser(prog="python -m pipeline", description=__doc__)
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the worker: claim index-repo jobs and index them", parents=[common])
    run.add_argument("--until-idle", action="store_true", help="exit when no job is waiting or running")
    run.set_defaults(handler=indexing_cli.run)

    for name, handler, help_text in (
        ("enqueue", indexing_cli.enqueue, "enqueue an index job; prints its id"),
        (
            "index",
            indexing_cli.index,
            "enqueue and index here, with live progress; exit 0 only if completed (or skipped: already current)",
        ),
    ):
        command = commands.add_parser(name, help=help_text, parents=[common])
        command.add_argument("target", help="repository URL, local path to a git repository, or owner/name")
        revision = command.add_mutually_exclusive_group()
        revision.add_argument("--ref", help="branch, tag or other ref (default: the default branch)")
        revision.add_argument("--commit", help="commit sha (7 to 40 hex digits)")
        command.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
        command.add_argument(
            "--force", action="store_true", help="index even if the commit is the repository's current index"
        )
        command.set_defaults(handler=handler)

    status = commands.add_parser("status", help="one index job with its progress, or recent jobs", parents=[common])
    status.add_argument("job_id", nargs="?", type=uuid.UUID, help="an index job id (default: list recent jobs)")
    status.add_argument("--limit", type=positive_int, default=20, help="how many recent jobs (default 20)")
    status.set_defaults(handler=indexing_cli.status)

    serve = commands.add_parser("serve", help="serve the HTTP API and dashboard", parents=[common])
    serve.add_argument("--host", default=None, help="listen address (default: api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: api.port, 8000)")
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="server processes sharing the port (default: api.workers, else one per CPU core, at most 4)",
    )
    serve.set_defaults(handler=_serve)

    mcp = commands.add_parser(
        "mcp",
        help="serve the MCP tools (index, job status, index queries) on stdin/stdout, for an AI assistant",
        parents=[common],
    )
    mcp.set_defaults(handler=_mcp)

    queue_cli.register(commands, parents=[config_option])
    query_cli.register(commands, parents=[common])

    db = commands.add_parser("db", help="manage the database (embedded cluster, migrations)", parents=[common])
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("start", _db_start, "start the embedded cluster (initialising it on first use) and migrate"),
        ("stop", _db_stop, "stop the embedded cluster"),
        ("status", _db_status, "show where the database is and whether it is up and migrated"),
        ("url", _db_url, "print a libpq URL for psql (starts the embedded cluster if needed)"),
        ("migrate", _db_migrate, "apply pending schema migrations"),
    ):
        db_commands.add_parser(name, help=help_text, parents=[common]).set_defaults(handler=handler)
    check = db_commands.add_parser(
        "check",
        help="verify the referential integrity of the stored index: exit 0 consistent, 1 violations found, "
        "2 the database could not be checked (unreachable, not migrated, unknown repository)",
        parents=[common],
    )
    check.add_argument("--repository", help="only this repository's index (id, full name or git URL)")
    check.set_defaults(handler=_db_check)
    return parser


def _serve(args: argparse.Namespace, config: Config) -> int:
    from pipeline.api.server import serve  # noqa: PLC0415  (the web stack is loaded only by this command)

    try:
        return serve(args, config)
    except SystemExit as exc:  # uvicorn exits on some start-up failures (after logging them)
        raise PipelineError(f"the server could not start (exit status {exc.code}); see the log above") from None


def _mcp(args: argparse.Namespace, config: Config) -> int:
    from pipeline.mcp_server import serve_stdio  # noqa: PLC0415  (the SDK is loaded only by this command)

    return serve_stdio(config)


def _print(args: argparse.Namespace, data: dict[str, object], text: str) -> None:
    print(orjson.dumps(data, default=str).decode() if args.json else text)


def _db_start(args: argparse.Namespace, config: Config) -> int:
    from pipeline.db import database_url  # noqa: PLC0415
    from pipeline.migrate import migrate  # noqa: PLC0415

    if not config.uses_embedded_database:
        raise PipelineError("a database URL is configured; `db start` manages only the embedded cluster")
    url = database_url(config)
    applied = migrate(url, config.database.schema)
    _print(
        args,
        {"url": url, "migrations_applied": [m.version for m in applied]},
        f"embedded postgres running: {url}\nmigrations applied: {len(applied)}",
    )
    return EXIT_OK


def _db_stop(args: argparse.Namespace, config: Config) -> int:
    from pipeline.embedded_pg import EmbeddedPostgres  # noqa: PLC0415

    if not config.uses_embedded_database:
        raise PipelineError("a database URL is configured; `db stop` manages only the embedded cluster")
    EmbeddedPostgres.from_config(config.database.embedded).stop()
    _print(args, {"running": False}, "embedded postgres stopped")
    return EXIT_OK


def _db_status(args: argparse.Namespace, config: Config) -> int:
    from pipeline.db import connect  # noqa: PLC0415
    from pipeline.embedded_pg import EmbeddedPostgres  # noqa: PLC0415  (not imported when a URL is configured)
    from pipeline.migrate import available_migrations, schema_version  # noqa: PLC0415

    data: dict[str, object] = {"schema": config.database.schema, "embedded": config.uses_embedded_database}
    if config.uses_embedded_database:
        status = EmbeddedPostgres.from_config(config.database.embedded).status()
        data.update(
            running=status.running,
            pid=status.pid,
            data_dir=str(status.data_dir),
            socket_dir=str(status.socket_dir),
            server_user=status.user,
        )
        url = status.url if status.running else None
    else:
        url = config.database.url
    data["url"] = mask_url(url) if url else None
    data["expected_version"] = max((m.version for m in available_migrations()), default=0)
    if url is not None:
        with connect(
            url, config.database.schema, autocommit=True, transaction_pooler=config.database.transaction_pooler
        ) as conn:
            data["schema_version"] = schema_version(conn, config.database.schema)
    healthy = url is not None and data.get("schema_version") == data["expected_version"]
    _print(args, data, "\n".join(f"{key}: {value}" for key, value in data.items()))
    return EXIT_OK if healthy else EXIT_FAILED


def _db_url(args: argparse.Namespace, config: Config) -> int:
    from pipeline.db import database_url  # noqa: PLC0415

    url = database_url(config)
    _print(args, {"url": url}, url)
    return EXIT_OK


def _db_migrate(args: argparse.Namespace, config: Config) -> int:
    from pipeline.migrate import migrate_config  # noqa: PLC0415

    applied = migrate_config(config)
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    _print(args, {"applied": names}, "\n".join(names) if names else "schema is up to date")
    return EXIT_OK


def _db_check(args: argparse.Namespace, config: Config) -> int:
    import msgspec  # noqa: PLC0415

    from pipeline import integrity  # noqa: PLC0415
    from pipeline.db import connect_config  # noqa: PLC0415
    from pipeline.migrate import check_migrated  # noqa: PLC0415

    try:
        conn = connect_config(config, autocommit=True)
    except DatabaseError as exc:
        return _report(exc, EXIT_USAGE, as_json=args.json)
    with conn:
        try:
            check_migrated(conn, config.database.schema)
            scope = None if args.repository is None else integrity.find_repositories(conn, args.repository)
        except (DatabaseError, integrity.UnknownRepositoryError) as exc:
            return _report(exc, EXIT_USAGE, as_json=args.json)
        report = integrity.check_integrity(conn, scope)
    _print(args, {"clean": report.clean, **msgspec.to_builtins(report)}, integrity.format_report(report))
    return EXIT_OK if report.clean else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is reported as one line on stderr with its exit code (see the module doc)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in arguments
    try:
        args = build_parser().parse_args(arguments)
        args.json = args.global_json or getattr(args, "json", False)
        config = load_config(_config_path(args))
    except (UsageError, ConfigError) as exc:
        return _report(exc, EXIT_USAGE, as_json=as_json)
    configure_logging(config.log)
    handler: Handler = args.handler
    try:
        return handler(args, config)
    except ConfigError as exc:
        return _report(exc, EXIT_USAGE, as_json=args.json)
    except IndexerError as exc:
        logger.debug("command failed", exc_info=True)
        # an error may carry the command's exit code (``index``: that of a worker that stopped on its own)
        return _report(exc, getattr(exc, "exit_code", EXIT_FAILED), as_json=args.json)
    except KeyboardInterrupt:
        return _report("interrupted", EXIT_INTERRUPTED, as_json=args.json)
    except Exception as exc:  # a bug: still one line, the traceback only at debug level
        logger.debug("internal error", exc_info=True)
        message = f"internal error: {type(exc).__name__}: {exc} (log.level = 'debug' shows the traceback)"
        return _report(message, EXIT_INTERNAL, as_json=args.json)


def _config_path(args: argparse.Namespace) -> Path | None:
    """The one ``--config`` given before and/or after the command; two different files are a usage error."""
    given = [path for path in (args.global_config, getattr(args, "config", None)) if path is not None]
    if len({path.resolve() for path in given}) > 1:
        raise UsageError(f"--config given twice with different files: {given[0]} and {given[1]}")
    return given[0] if given else None


def _report(error: Exception | str, exit_code: int, *, as_json: bool) -> int:
    """Print ``error`` as one line on stderr (a JSON object with ``--json``) and return ``exit_code``."""
    message = " ".join(str(error).split())
    if as_json:
        print(orjson.dumps({"error": message, "exit_code": exit_code}).decode(), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)
    return exit_code
