"""Command line: ``python -m pipeline <command>``; every command takes ``--config PATH``.

Exit codes: 0 success, 1 the command failed (message on stderr), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from pipeline.config import Config, load_config, mask_url
from pipeline.errors import ConfigError, PipelineError
from pipeline.log import configure_logging
from stages.errors import IndexerError

logger = logging.getLogger("pipeline.cli")

Handler = Callable[[argparse.Namespace, Config], int]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _config_option() -> argparse.ArgumentParser:
    option = argparse.ArgumentParser(add_help=False)
    option.add_argument(
        "--config", type=Path, default=None, help="TOML config file (default: configs/dev.toml if present)"
    )
    return option


def _common_options(config_option: argparse.ArgumentParser) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, parents=[config_option])
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not at module level: spawned stage processes re-import the main module (pipeline.__main__ →
    # this one) and must not load the database and git modules they do not use.
    from pipeline import indexing_cli  # noqa: PLC0415
    from pipeline.queue import cli as queue_cli  # noqa: PLC0415

    config_option = _config_option()
    common = _common_options(config_option)
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__, parents=[common])
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
    status.add_argument("--limit", type=int, default=20)
    status.set_defaults(handler=indexing_cli.status)

    serve = commands.add_parser("serve", help="serve the HTTP API and dashboard", parents=[common])
    serve.add_argument("--host", default=None, help="listen address (default: api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: api.port, 8000)")
    serve.set_defaults(handler=_serve)

    queue_cli.register(commands, parents=[config_option])

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
    return parser


def _serve(args: argparse.Namespace, config: Config) -> int:
    from pipeline.api.app import serve  # noqa: PLC0415  (the web stack is loaded only by this command)

    return serve(args, config)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(config.log)
    handler: Handler = args.handler
    try:
        return handler(args, config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IndexerError as exc:
        logger.debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
