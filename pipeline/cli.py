"""Command line: ``python -m pipeline <command>``; every command takes ``--config PATH``.

Exit codes: 0 success, 1 the command failed (message on stderr), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from pipeline.config import Config, load_config, mask_url
from pipeline.errors import ConfigError, PipelineError
from pipeline.log import configure_logging

logger = logging.getLogger("pipeline.cli")

Handler = Callable[[argparse.Namespace, Config], int]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, default=None, help="TOML config file (default: configs/dev.toml if present)"
    )
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        with connect(url, config.database.schema, autocommit=True) as conn:
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
    from pipeline.db import database_url  # noqa: PLC0415
    from pipeline.migrate import migrate  # noqa: PLC0415

    applied = migrate(database_url(config), config.database.schema)
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
    except PipelineError as exc:
        logger.debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
