"""Test harness: one real Postgres per test session (per test process under pytest-xdist), one fresh migrated
database per test that asks for one.

The cluster is the project's own embedded Postgres in a temp directory (or the server named by
PIPELINE_TEST_DATABASE_URL). A template database is migrated once; each test that requests ``database_url`` gets
``CREATE DATABASE … TEMPLATE`` of it, dropped afterwards. Tests that request no database start nothing.

A real pgbouncer in transaction mode (``pgbouncer``) is started once per session for the tests that ask for it,
in front of the same cluster; they are skipped when pgbouncer is not installed, except in CI (``CI`` set).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from pipeline import secrets
from pipeline.config import Config, load_config
from pipeline.db import connect
from pipeline.embedded_pg import EmbeddedPostgres
from pipeline.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "pipeline"
# One per test process (pytest-xdist names its workers): processes sharing PIPELINE_TEST_DATABASE_URL's server must
# not drop each other's template.
TEMPLATE_DB = f"pipeline_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def server_reachable_tmpdir(prefix: str) -> Path:
    """A fresh temp directory the unprivileged server user can traverse (mkdtemp makes them 0700).

    The session's own directories avoid the ``pipeline-`` prefix: a fetcher whose ``index.tmp_dir`` is the system
    temp directory removes every ``pipeline-*`` entry there that no live job holds, which includes a cluster's."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


class DatabaseFactory:
    """Creates and drops per-test databases on one server, cloned from a migrated template."""

    def __init__(self, admin_url: str, server: EmbeddedPostgres | None) -> None:
        self.admin_url = admin_url
        self.server = server

    def url(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))

    def _admin(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def create_template(self) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE_DB)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
        migrate(self.url(TEMPLATE_DB), SCHEMA)

    def create(self, *, template: str | None = TEMPLATE_DB) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(statement)
        return name

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(autouse=True)
def _secrets_as_found() -> Iterator[None]:
    """A coordinator moves the tokens out of ``os.environ`` for the rest of the process (``pipeline.secrets``):
    each test gets back the environment and the taken secrets it started with, so no test depends on the order."""
    names = ("PIPELINE_GIT_TOKEN", "PIPELINE_API_TOKEN", "PIPELINE_WEBHOOK_SECRET")
    environment = {name: os.environ.get(name) for name in names}
    taken = dict(secrets._taken)
    yield
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    secrets._taken.clear()
    secrets._taken.update(taken)


@pytest.fixture(scope="session")
def test_databases() -> Iterator[DatabaseFactory]:
    external = os.environ.get("PIPELINE_TEST_DATABASE_URL")
    if external:
        databases = DatabaseFactory(external, server=None)
        databases.create_template()
        yield databases
        databases.drop(TEMPLATE_DB)
        return
    root = server_reachable_tmpdir("indexer-test-pg-")
    server = EmbeddedPostgres(root / "pg", fsync=False, database="postgres")
    try:
        server.start()
        databases = DatabaseFactory(server.url("postgres"), server=server)
        databases.create_template()
        yield databases
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_server(test_databases: DatabaseFactory) -> EmbeddedPostgres:
    """The session's embedded cluster, for tests that stop and start it (they must leave it running)."""
    if test_databases.server is None:
        pytest.skip("PIPELINE_TEST_DATABASE_URL points at an external server; cannot restart it")
    return test_databases.server


@pytest.fixture
def database_url(test_databases: DatabaseFactory) -> Iterator[str]:
    """A fresh database migrated to the newest schema, dropped after the test."""
    name = test_databases.create()
    try:
        yield test_databases.url(name)
    finally:
        test_databases.drop(name)


@pytest.fixture
def empty_database_url(test_databases: DatabaseFactory) -> Iterator[str]:
    """A fresh database with no schema at all, for migration tests."""
    name = test_databases.create(template=None)
    try:
        yield test_databases.url(name)
    finally:
        test_databases.drop(name)


@pytest.fixture
def config(database_url: str) -> Config:
    """The test configuration (short queue intervals) pointing at this test's database."""
    base = load_config(ROOT / "configs" / "test.toml", environ={})
    database = msgspec.structs.replace(base.database, url=database_url, schema=SCHEMA)
    return msgspec.structs.replace(base, database=database)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """An autocommit connection to this test's database with search_path set to the project's schema."""
    with connect(database_url, SCHEMA, autocommit=True) as connection:
        yield connection


class Pgbouncer:
    """A pgbouncer (``pool_mode = transaction``, two server connections per database) in front of the test cluster,
    listening on a free loopback port; every database of the cluster is reachable through it by name."""

    POOL_SIZE = 2
    START_ATTEMPTS = 5  # another process may take the free port chosen before pgbouncer binds it

    def __init__(self, admin_url: str, directory: Path, *, ignore_startup_parameters: str = "") -> None:
        upstream = conninfo_to_dict(admin_url)
        self.user = str(upstream.get("user") or "postgres")
        self.directory = directory
        self.port = _free_loopback_port()
        self._server = " ".join(
            f"{key}={upstream[key]}" for key in ("host", "port", "user", "password") if upstream.get(key) is not None
        )
        self._ignore_startup_parameters = ignore_startup_parameters
        (directory / "users.txt").write_text(f'"{self.user}" ""\n')
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        directory = self.directory
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = {self._server}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.POOL_SIZE}\n"
            "max_client_conn = 400\n"
            f"ignore_startup_parameters = {self._ignore_startup_parameters}\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
            f"pidfile = {directory / 'pgbouncer.pid'}\n"
        )

    def start(self) -> None:
        """Start it (as the ``postgres`` user when root: pgbouncer refuses to run as root) and wait until it accepts
        connections, for at most 10 s per attempt; a port taken meanwhile by another process is replaced by a new
        free one, ``START_ATTEMPTS`` times at most."""
        for attempt in range(1, self.START_ATTEMPTS + 1):
            log = self.directory / "pgbouncer.log"
            log.unlink(missing_ok=True)
            if self._start_once():
                return
            reason = log.read_text() if log.exists() else "no log"
            self.stop(keep_directory=True)
            if "Address already in use" not in reason or attempt == self.START_ATTEMPTS:
                shutil.rmtree(self.directory, ignore_errors=True)
                raise RuntimeError(f"pgbouncer did not start (attempt {attempt}, port {self.port}): {reason}")
            self.port = _free_loopback_port()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _start_once(self) -> bool:
        """One start on ``self.port``; whether it listens there (False: it exited, or 10 s passed). Its log says
        so: a connection alone could reach another process that holds the port."""
        self._write_config()
        command = [_pgbouncer_binary(), str(self.directory / "pgbouncer.ini")]
        if os.geteuid() == 0:
            user = _unprivileged_user()
            shutil.chown(self.directory, user=user)
            for path in self.directory.iterdir():
                shutil.chown(path, user=user)
            command[1:1] = ["-u", user]
        # It logs to its logfile; its own stderr is not read, so it must not be a pipe that could fill up.
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = self.directory / "pgbouncer.log"
        up = b"LOG process up: PgBouncer"  # logged once it listens (a failed bind ends it before)
        deadline = time.monotonic() + 10.0
        while self._process.poll() is None and time.monotonic() < deadline:
            if log.exists() and up in log.read_bytes():
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            time.sleep(0.05)
        return False

    def stop(self, *, keep_directory: bool = False) -> None:
        """Stop it and remove its directory (config, log, pid file), unless ``keep_directory``."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if not keep_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database_url: str) -> str:
        """The URL of the same database (a URL of the test cluster), through this pgbouncer."""
        dbname = conninfo_to_dict(database_url)["dbname"]
        return f"postgresql://{quote(self.user)}@127.0.0.1:{self.port}/{quote(str(dbname))}"


def _pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed; CI must run the pooler tests (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed")
    return found


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run pgbouncer as")


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_pgbouncer(test_databases: DatabaseFactory, *, ignore_startup_parameters: str = "") -> Pgbouncer:
    """A started pgbouncer in front of the session's cluster, in a fresh temp directory; the caller stops it
    (which removes the directory)."""
    _pgbouncer_binary()
    bouncer = Pgbouncer(
        test_databases.admin_url,
        server_reachable_tmpdir("indexer-test-pgbouncer-"),
        ignore_startup_parameters=ignore_startup_parameters,
    )
    bouncer.start()
    return bouncer


@pytest.fixture(scope="session")
def pgbouncer(test_databases: DatabaseFactory) -> Iterator[Pgbouncer]:
    """The session's pgbouncer (transaction mode, refusing startup options as pgbouncer does by default)."""
    bouncer = start_pgbouncer(test_databases)
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def workaround_pgbouncer(test_databases: DatabaseFactory) -> Iterator[Pgbouncer]:
    """pgbouncer told to ignore the search_path startup option, the usual workaround for its refusing it."""
    bouncer = start_pgbouncer(test_databases, ignore_startup_parameters="options")
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def pooled_config(config: Config, pgbouncer: Pgbouncer) -> Config:
    """The test configuration with this test's database behind the pgbouncer, and its direct URL for LISTEN and
    migrations."""
    database = msgspec.structs.replace(
        config.database,
        url=pgbouncer.url(config.database.url),
        direct_url=config.database.url,
        transaction_pooler=True,
    )
    return msgspec.structs.replace(config, database=database)
