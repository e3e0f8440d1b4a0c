"""``python -m pipeline serve``: the app under uvicorn, in this process or in several worker processes.

Guarantees:
- Secrets (the API token, the webhook secret, the git token) are moved out of this process's environment
  (``pipeline.secrets.take``) before anything is started, so neither the embedded cluster nor a worker inherits
  them; the app gets them as arguments.
- The listening socket is bound first, so an address that cannot be listened on (a port taken, an address not of
  this machine) fails with a message saying so before anything starts.
- With one worker the app runs in this process. With more, this process spawns the workers (a fresh interpreter
  each, not a fork): each builds its own app, hence its own bounded connection pool and its own MCP session manager
  (stateless, so any worker answers any request), and runs uvicorn on the shared socket; the kernel hands each new
  connection to one of them. The config and the secrets reach a worker through the pipe it is started with, never
  its environment or command line.
- A worker dies with this process (``PR_SET_PDEATHSIG``, as the stage processes do).
- SIGTERM or SIGINT, at any moment once the port is bound (also while migrating, building the app or starting the
  workers), finishes the requests in flight and exits 0; with workers, this process passes the signal on as
  SIGTERM and waits for them, and a second signal kills them at once. A worker that exits on its own stops the
  others and the command fails naming it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import msgspec
import multiprocess
import multiprocess.connection

from pipeline import secrets
from pipeline.api.app import api_token, create_app
from pipeline.api.hosts import allowed_names
from pipeline.config import Config
from pipeline.db import database_url
from pipeline.errors import PipelineError
from pipeline.log import configure_logging
from pipeline.migrate import ensure_schema
from pipeline.processes import stage_process

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)

MAX_DEFAULT_WORKERS = 4  # each holds up to 8 database connections: 32 stay well inside Postgres's default 100
BACKLOG = 2048  # uvicorn's own default
POLL = 0.2  # seconds between checks of the workers while serving or stopping
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(args: argparse.Namespace, config: Config) -> int:
    """Migrate, then serve the API and dashboard until SIGTERM or SIGINT, which finish the requests in flight and
    exit 0."""
    environ = secrets.take((config.api.token_env, config.api.webhook_secret_env, config.index.token_env))
    host = args.host or config.api.host
    listening = _listen(host, config.api.port if args.port is None else args.port)  # first: fail before starting
    workers = worker_count(config.api.workers if args.workers is None else args.workers)
    api = msgspec.structs.replace(config.api, host=host, port=listening.getsockname()[1], workers=workers)
    try:
        with _handling_signals() as signals:
            return _serve(msgspec.structs.replace(config, api=api), environ, listening, signals)
    except StoppedBeforeServing:
        logger.info("stopped by a signal before serving")
        return 0
    finally:
        listening.close()


def _serve(config: Config, environ: dict[str, str], listening: socket.socket, signals: _Signals) -> int:
    ensure_schema(config)
    # The URL resolved here (starting the embedded cluster if it is the one) is the one every worker uses.
    database = msgspec.structs.replace(config.database, url=database_url(config))
    config = msgspec.structs.replace(config, database=database)
    logger.info(
        "serving the API",
        extra={
            "host": config.api.host,
            "port": config.api.port,
            "workers": config.api.workers,
            "auth": bool(api_token(config, environ)),
            "allowed_hosts": sorted(allowed_names(config.api.allowed_hosts, config.api.host)),
        },
    )
    if config.api.workers > 1:
        return _supervise(config, environ, listening, signals)
    _run_uvicorn(config, environ, listening, signals)
    return 0


def worker_count(configured: int) -> int:
    """``api.workers`` (or ``--workers``); 0 means one per CPU core this process may run on, at most
    ``MAX_DEFAULT_WORKERS``."""
    return configured or min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS)


def worker_main(config: Config, environ: dict[str, str], listening: socket.socket) -> None:
    """The body of one worker process (started through ``stage_process``): the app on the shared socket until
    SIGTERM or SIGINT."""
    try:
        with _handling_signals() as signals:
            configure_logging(config.log)
            _run_uvicorn(config, environ, listening, signals)
    except StoppedBeforeServing:
        pass  # the supervisor is stopping every worker; it logs the stop


def _run_uvicorn(config: Config, environ: dict[str, str], listening: socket.socket, signals: _Signals) -> None:
    """Serve ``create_app(config)`` with uvicorn on ``listening`` until SIGTERM or SIGINT, then return. Raises
    ``PipelineError`` when the server could not start (uvicorn logged why).

    uvicorn's own signal handlers exist only while its event loop runs; a signal that came before (``signals``) is
    passed on as uvicorn's ``should_exit``, so the server starts and stops at once, as gracefully as later. After
    its graceful stop uvicorn re-raises the signal to the handler it found, ``signals``', which has nothing left to
    do."""
    import uvicorn  # noqa: PLC0415  (only this command needs the server)

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, environ=environ),
            host=config.api.host,
            port=config.api.port,
            log_config=None,
            access_log=True,
            http="httptools",  # named, not "auto": a missing parser fails here instead of falling back to h11
            loop="uvloop",
        )
    )
    signals.attach(server)
    server.run(sockets=[listening])
    if not server.started:
        raise PipelineError("the server could not start; see the log above")


def _supervise(config: Config, environ: dict[str, str], listening: socket.socket, signals: _Signals) -> int:
    """Run ``api.workers`` worker processes on ``listening`` until a signal stops them (exit 0) or one ends on its own
    (``PipelineError``)."""
    signals.supervising = True
    context = multiprocess.get_context("spawn")
    processes = []
    ended = None
    try:
        for number in range(1, config.api.workers + 1):
            process = context.Process(
                target=stage_process,
                name=f"pipeline-api-{number}",
                args=(os.getpid(), "pipeline.api.server:worker_main", config, environ, listening),
                daemon=True,
            )
            process.start()
            processes.append(process)
        listening.close()  # each worker holds its own copy
        while not signals.received and all(process.exitcode is None for process in processes):
            multiprocess.connection.wait([process.sentinel for process in processes], timeout=POLL)
        ended = None if signals.received else next(process for process in processes if process.exitcode is not None)
        for process in processes:
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)
        while running := [process for process in processes if process.exitcode is None]:
            if signals.received > 1:
                for process in running:
                    process.kill()
            multiprocess.connection.wait([process.sentinel for process in running], timeout=POLL)
    finally:
        for process in processes:
            if process.exitcode is None:  # this process failed: no worker may outlive it
                process.kill()
                process.join()
    if ended is not None:
        raise PipelineError(
            f"API worker {ended.name} (pid {ended.pid}) exited on its own with status {ended.exitcode}; "
            "stopped the others"
        )
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound as uvicorn binds its own (``SO_REUSEADDR``: a port with
    connections in TIME_WAIT is free); a port taken, or an address that is not this machine's, is a
    ``PipelineError`` saying so."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(BACKLOG)
    except OSError as exc:
        listening.close()
        raise PipelineError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return listening


class StoppedBeforeServing(KeyboardInterrupt):
    """A SIGTERM or SIGINT while the command or an API worker was still setting up (migrating, waiting for the
    migration lock or the cluster, building the app): raised where the setup was, to stop it at once. A
    ``KeyboardInterrupt``: no ``except Exception`` on the way takes it for an error, psycopg cancels the query it
    interrupts (the migration's transaction is rolled back on the server too), and the CLI reports one escaping
    as an interruption."""


class _Signals:
    """SIGTERM and SIGINT as this process receives them, from the start of the command.

    While it sets up (no server attached, not supervising) the first signal raises ``StoppedBeforeServing`` there:
    a wait for the migration lock or a slow migration (one transaction, rolled back) stops at once. Once a uvicorn
    server is attached, a signal becomes its ``should_exit`` instead of an exception, which could interrupt
    ``asyncio.run`` before uvicorn's coroutine started (and leak a warning past the log format). The supervisor
    only counts them (it stops the workers at the first, kills them at a second)."""

    def __init__(self) -> None:
        self.received = 0
        self.server: uvicorn.Server | None = None
        self.supervising = False

    def count(self, number: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.server is not None:
            self.server.should_exit = True
        elif not self.supervising and self.received == 1:  # once: a second signal must not break the unwinding
            raise StoppedBeforeServing

    def attach(self, server: uvicorn.Server) -> None:
        self.server = server
        if self.received:
            server.should_exit = True


@contextmanager
def _handling_signals() -> Iterator[_Signals]:
    """``_Signals`` as the SIGTERM/SIGINT handler for the block; the earlier handlers are back after it."""
    signals = _Signals()
    previous = {number: signal.signal(number, signals.count) for number in SIGNALS}
    try:
        yield signals
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
