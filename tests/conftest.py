"""Test harness: one real Postgres per test session, one fresh migrated database per test that asks for one.

The cluster is the project's own embedded Postgres in a temp directory (or the server named by
PIPELINE_TEST_DATABASE_URL). A template database is migrated once; each test that requests ``database_url`` gets
``CREATE DATABASE … TEMPLATE`` of it, dropped afterwards. Tests that request no database start nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from pipeline.config import Config, load_config
from pipeline.db import connect
from pipeline.embedded_pg import EmbeddedPostgres
from pipeline.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "pipeline"
TEMPLATE_DB = "pipeline_template"


def server_reachable_tmpdir(prefix: str) -> Path:
    """A fresh temp directory the unprivileged server user can traverse (mkdtemp makes them 0700)."""
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


@pytest.fixture(scope="session")
def test_databases() -> Iterator[DatabaseFactory]:
    external = os.environ.get("PIPELINE_TEST_DATABASE_URL")
    if external:
        databases = DatabaseFactory(external, server=None)
        databases.create_template()
        yield databases
        databases.drop(TEMPLATE_DB)
        return
    root = server_reachable_tmpdir("pipeline-test-pg-")
    server = EmbeddedPostgres(root / "pg", fsync=False, database="postgres")
    server.start()
    try:
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
