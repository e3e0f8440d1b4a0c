"""Operator commands for ``python -m pipeline``: ``dlq list|show|redrive|purge``, ``retry`` and ``health``.

``register(subparsers)`` adds them to the main parser; each handler takes the parsed arguments and a ``Config``
and returns the exit status. ``health`` exits 1 when the database is unreachable or not migrated. ``dlq redrive``
re-runs an index job's dead letter with ``index_jobs.retry`` (as ``retry`` and ``POST /admin/jobs/{id}/retry``
do) and exits 1 when a letter had to be kept (its index job is gone or not failed), naming it and why.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
import orjson
import psycopg
from psycopg.rows import TupleRow
from rich.console import Console
from rich.table import Table

from pipeline import index_jobs
from pipeline.cli import positive_int
from pipeline.config import Config
from pipeline.db import connect
from pipeline.errors import DatabaseError, PipelineError
from pipeline.queue.client import Queue

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add the ``dlq``, ``retry`` and ``health`` commands to an argparse subparsers object."""
    options = [*parents, _json_option()]
    dlq = subparsers.add_parser("dlq", help="inspect, redrive or purge dead-lettered jobs", parents=list(parents))
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list dead letters, newest first", parents=options)
    listing.add_argument("--queue", help="a dead-letter queue, e.g. index-repo__dlq (default: all)")
    listing.add_argument("--limit", type=positive_int, default=50)
    listing.set_defaults(handler=dlq_list)

    show = actions.add_parser("show", help="show one dead letter with its payload and error", parents=options)
    show.add_argument("id", type=_uuid)
    show.set_defaults(handler=dlq_show)

    for name, handler, help_text in (
        ("redrive", dlq_redrive, "send dead letters back to their queue as new jobs"),
        ("purge", dlq_purge, "delete dead letters for good"),
    ):
        action = actions.add_parser(name, help=help_text, parents=options)
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("--queue", help="every dead letter of this dead-letter queue")
        target.add_argument("--id", dest="ids", action="append", type=_uuid, help="one dead letter (repeatable)")
        action.set_defaults(handler=handler)

    retry_parser = subparsers.add_parser(
        "retry",
        help="re-run a failed or cancelled index job as a fresh job (as POST /admin/jobs/{id}/retry)",
        parents=options,
    )
    retry_parser.add_argument("job_id", type=_uuid, help="the failed or cancelled index job")
    retry_parser.set_defaults(handler=retry)

    health_parser = subparsers.add_parser(
        "health", help="per-queue job counts, waiting age, live workers, recent failures", parents=options
    )
    health_parser.set_defaults(handler=health)


def _json_option() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON")
    return parser


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a job or dead-letter id (a UUID): {text!r}") from None


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _print_json(data: object) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


def _open(config: Config) -> Queue:
    """A client for the configured database; an embedded cluster that is not running is an error, not started."""
    if config.uses_embedded_database:
        from pipeline.embedded_pg import EmbeddedPostgres  # noqa: PLC0415  (only without a configured URL)

        status = EmbeddedPostgres.from_config(config.database.embedded).status()
        if not status.running:
            raise DatabaseError("the embedded database is not running; start it with `python -m pipeline db start`")
        return Queue(status.url, config.database.schema, config.queue)
    return Queue.from_config(config)


def dlq_list(args: argparse.Namespace, config: Config) -> int:
    with _open(config) as queue:
        letters = _database(lambda: queue.dead_letters(args.queue, limit=args.limit))
    if _wants_json(args):
        _print_json([msgspec.to_builtins(letter) for letter in letters])
        return EXIT_OK
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("id", "queue", "source job", "attempts", "failed at", "last error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            str(letter.id),
            letter.queue,
            str(letter.source_job_id),
            str(letter.attempts),
            letter.failed_at.isoformat(timespec="seconds"),
            (letter.last_error or "")[:80],
        )
    Console().print(table)
    return EXIT_OK


def dlq_show(args: argparse.Namespace, config: Config) -> int:
    with _open(config) as queue:
        letter = _database(lambda: queue.dead_letter(args.id))
    if letter is None:
        raise PipelineError(f"no dead letter with id {args.id}")
    data = msgspec.to_builtins(letter)
    if _wants_json(args):
        _print_json(data)
        return EXIT_OK
    table = Table(show_header=False, title=f"dead letter {letter.id}")
    for key, value in data.items():
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() if key == "payload" else str(value)
        table.add_row(key, text)
    Console().print(table)
    return EXIT_OK


def dlq_redrive(args: argparse.Namespace, config: Config) -> int:
    """Redrive; an index job's letter re-runs the index job. Exit 1 if any letter was kept (each named, with why)."""
    with _open(config) as queue, _index_connection(queue, config) as conn:
        report = _database(lambda: index_jobs.redrive_dead_letters(conn, queue, args.queue, ids=args.ids))
    if _wants_json(args):
        _print_json(msgspec.to_builtins(report))
    else:
        retry_of = {retried.job.id: retried.retry_of for retried in report.retried}
        new_jobs = {retried.job.queue_job_id: retried.job.id for retried in report.retried}
        for item in report.redriven:
            index_job = new_jobs.get(item.job_id)
            again = f" (index job {index_job}, a retry of {retry_of[index_job]})" if index_job else ""
            print(f"{item.dead_letter_id} -> {item.queue} job {item.job_id}{again}")
        for letter_id, reason in report.kept.items():
            print(f"{letter_id}: kept: {reason}", file=sys.stderr)
        print(f"redriven: {len(report.redriven)}" + (f", kept: {len(report.kept)}" if report.kept else ""))
    return EXIT_FAILED if report.kept else EXIT_OK


def retry(args: argparse.Namespace, config: Config) -> int:
    """``index_jobs.retry``: exit 1 with the reason for an unknown job or one that is not failed or cancelled."""
    with _open(config) as queue, _index_connection(queue, config) as conn:
        retried = _database(lambda: index_jobs.retry(conn, queue, args.job_id))
    if retried is None:
        raise PipelineError(f"no index job {args.job_id}")
    if _wants_json(args):
        _print_json(msgspec.to_builtins(retried))
    else:
        print(f"index job {retried.job.id} ({retried.job.status.value}) retries {retried.retry_of}")
    return EXIT_OK


def dlq_purge(args: argparse.Namespace, config: Config) -> int:
    with _open(config) as queue:
        purged = _database(lambda: queue.purge_dead_letters(args.queue, ids=args.ids))
    if _wants_json(args):
        _print_json({"purged": purged})
    else:
        print(f"purged: {purged}")
    return EXIT_OK


def health(args: argparse.Namespace, config: Config) -> int:
    """Exit 0 with the per-queue report, or 1 when the database is unreachable or not migrated."""
    try:
        with _open(config) as queue:
            report = _database(queue.health)
    except PipelineError as exc:
        if not _wants_json(args):
            raise
        _print_json({"ok": False, "error": str(exc)})
        return EXIT_FAILED
    if _wants_json(args):
        _print_json({"ok": True, "queues": [msgspec.to_builtins(item) for item in report]})
        return EXIT_OK
    table = Table(title="queues")
    for column in (
        "queue",
        "created",
        "retry",
        "active",
        "completed",
        "cancelled",
        "failed",
        "oldest waiting",
        "workers",
        "failed 24h",
        "dead letters",
    ):
        table.add_column(column, justify="left" if column == "queue" else "right", no_wrap=column == "queue")
    for item in report:
        oldest = "-" if item.oldest_waiting_seconds is None else f"{item.oldest_waiting_seconds:.1f} s"
        table.add_row(
            item.queue,
            *(str(item.counts[state]) for state in ("created", "retry", "active", "completed", "cancelled", "failed")),
            oldest,
            str(item.active_workers),
            str(item.failed_last_24h),
            str(item.dead_letters),
        )
    Console().print(table)
    return EXIT_OK


def _index_connection(queue: Queue, config: Config) -> psycopg.Connection[TupleRow]:
    """An autocommit connection beside the queue's own, for the index job statements of one command."""
    return connect(
        queue.url,
        queue.schema,
        autocommit=True,
        connect_timeout=config.database.connect_timeout,
        transaction_pooler=config.database.transaction_pooler,
    )


def _database(call: Callable[[], T]) -> T:
    """Run a database call, turning driver errors into ``DatabaseError`` (which the CLI reports as exit 1)."""
    try:
        return call()
    except psycopg.Error as exc:
        raise DatabaseError(f"database error: {str(exc).strip().splitlines()[0]}") from exc
