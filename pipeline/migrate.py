"""Numbered SQL migrations (``pipeline/sql/migrations/NNNN_name.sql``) applied in order, once.

Guarantees: all pending migrations are applied in one transaction under a transaction-scoped advisory lock keyed by
the schema, so two processes starting together never race (the second waits, then finds nothing to do); each is
recorded in ``schema_migrations`` with a checksum, and an applied migration whose file later changed is an error.
A schema that is current costs one query (``migration_state``) and takes no lock: every command checks it.

Migrations never run through a transaction pooler: commands migrate over ``database.direct_url``; behind a pooler
with no direct URL they only check that the schema is current (``ensure_schema``). A server that ignored the
``search_path`` sent when connecting (pgbouncer with ``ignore_startup_parameters = options``) is refused before
anything is created, so no table ever lands in ``public``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from pipeline.config import Config, mask_url
from pipeline.db import connect, database_url, direct_url, query
from pipeline.errors import MigrationError

logger = logging.getLogger(__name__)

_FILENAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order; a misnamed file is an error."""
    directory = resources.files("pipeline").joinpath("sql/migrations")
    found: list[Migration] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILENAME.match(entry.name)
        if match is None:
            raise MigrationError(f"sql/migrations/{entry.name}: expected a name like 0001_description.sql")
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"sql/migrations: duplicate migration versions in {versions}")
    return found


def advisory_lock_key(schema: str) -> int:
    """A stable signed 64-bit key for this schema's migration lock."""
    digest = hashlib.sha256(f"pipeline.migrate:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migrate(url: str, schema: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations; returns those applied by this call (empty when up to date)."""
    migrations = available_migrations() if migrations is None else migrations
    with connect(url, schema) as conn:
        if _is_current(conn, schema, migrations):
            return []
        with conn.transaction():
            return _apply_pending(conn, url, schema, migrations)


def _is_current(conn: psycopg.Connection[TupleRow], schema: str, migrations: list[Migration]) -> bool:
    """Whether every one of ``migrations`` is applied with its checksum, the connection's ``search_path`` being the
    schema alone (one query; leaves no transaction open). False sends the caller to the locked path, which says
    what is wrong when something is."""
    try:
        rows = conn.execute(query("migration_state")).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):  # never migrated (or not our table)
        rows = []
    conn.rollback()
    expected = sql.Identifier(schema).as_string()
    applied = {version: checksum for search_path, version, checksum in rows if search_path == expected}
    return all(applied.get(migration.version) == migration.checksum for migration in migrations) and bool(rows)


def _apply_pending(
    conn: psycopg.Connection[TupleRow], url: str, schema: str, migrations: list[Migration]
) -> list[Migration]:
    """``migrate``'s locked path, in the caller's transaction: check the search_path, take the lock, create what is
    missing, apply the pending migrations; returns them."""
    row = conn.execute(query("search_path_show")).fetchone()
    search_path = row[0] if row else None
    if search_path != sql.Identifier(schema).as_string():
        raise MigrationError(
            f"{mask_url(url)} ignored the search_path sent when connecting (it is {search_path!r}): a transaction "
            "pooler? Migrations need a direct connection: set database.direct_url to one, and "
            "database.transaction_pooler = true if database.url is the pooler"
        )
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_lock_key(schema)])
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = {version: (name, checksum) for version, name, checksum in conn.execute(query("migration_list"))}
    pending: list[Migration] = []
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is None:
            pending.append(migration)
        elif recorded[1] != migration.checksum:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} was applied with different contents; "
                "never edit an applied migration, add a new one"
            )
    for migration in pending:
        try:
            conn.execute(migration.sql.encode())
        except psycopg.Error as exc:
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        conn.execute(
            query("migration_record"),
            {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
        )
        logger.info("migration applied", extra={"version": migration.version, "migration": migration.name})
    return pending


def migrate_config(config: Config) -> list[Migration]:
    """Apply pending migrations over the direct URL (``db migrate``); a transaction pooler with no direct URL is a
    ``ConfigError`` naming the setting."""
    return migrate(direct_url(config, purpose="migrations"), config.database.schema)


def ensure_schema(config: Config) -> str:
    """Make the schema current before a command uses it, and return the URL the command's statements use.

    Pending migrations are applied over the direct URL. Behind a transaction pooler with no direct URL, the schema
    is only checked: a ``MigrationError`` says it is not current and what to set, and nothing is created.
    """
    url = database_url(config)  # once: with the embedded cluster, each call checks that it runs
    if config.database.transaction_pooler and not config.database.direct_url:
        schema = config.database.schema
        with connect(
            url,
            schema,
            autocommit=True,
            connect_timeout=config.database.connect_timeout,
            transaction_pooler=True,
        ) as conn:
            check_migrated(
                conn,
                schema,
                remedy="migrations never run through the transaction pooler (database.transaction_pooler = true): set "
                "database.direct_url or PIPELINE_DATABASE_DIRECT_URL to a direct connection and run "
                "`python -m pipeline db migrate`",
            )
        return url
    migrate(config.database.direct_url or url, config.database.schema)  # what ``migrate_config`` does
    return url


def schema_version(conn: psycopg.Connection[TupleRow], schema: str) -> int | None:
    """The newest applied migration (0 if none yet), or ``None`` if the schema was never migrated."""
    table = f"{schema}.schema_migrations"
    exists = conn.execute(query("migration_table_exists"), {"table": table}).fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(query("migration_current_version")).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_migrated(
    conn: psycopg.Connection[TupleRow], schema: str, *, remedy: str = "run `python -m pipeline db migrate`"
) -> int:
    """Raise ``MigrationError`` (ending with ``remedy``) unless the schema is at the newest shipped version;
    returns that version."""
    expected = max((migration.version for migration in available_migrations()), default=0)
    current = schema_version(conn, schema)
    if current is None:
        raise MigrationError(f"schema {schema!r} is not migrated; {remedy}")
    if current < expected:
        raise MigrationError(f"schema {schema!r} is at version {current}, this code needs {expected}; {remedy}")
    return current
