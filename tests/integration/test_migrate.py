"""Migrations on a real database: fresh, idempotent, concurrent, atomic, and equal to the declared schema."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pipeline.db import connect, query
from pipeline.errors import MigrationError
from pipeline.migrate import Migration, available_migrations, check_migrated, migrate, schema_version
from tests.conftest import ROOT, DatabaseFactory

SCHEMA = "pipeline"


def applied_versions(url: str, schema: str = SCHEMA) -> list[int]:
    with connect(url, schema, autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_migrate__fresh_database_gets_every_migration_once(empty_database_url: str) -> None:
    applied = migrate(empty_database_url, SCHEMA)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert applied_versions(empty_database_url) == [m.version for m in available_migrations()]


def test_migrate__running_again_is_a_no_op(empty_database_url: str) -> None:
    migrate(empty_database_url, SCHEMA)
    assert migrate(empty_database_url, SCHEMA) == []


def test_migrate__concurrent_runs_apply_each_migration_exactly_once(empty_database_url: str) -> None:
    migrations = [
        *available_migrations(),
        # A slow extra step widens the window in which an unlocked runner would race.
        Migration(900, "slow_probe", "SELECT pg_sleep(0.3); CREATE TABLE probe (id int);"),
    ]
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_database_url, SCHEMA, migrations))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(len(result) for result in results) == [0, 0, 0, len(migrations)]
    assert applied_versions(empty_database_url) == [m.version for m in migrations]


def test_migrate__a_failing_migration_applies_nothing(empty_database_url: str) -> None:
    migrations = [
        Migration(1, "good", "CREATE TABLE good (id int);"),
        Migration(2, "bad", "CREATE TABLE bad (id int); SELECT no_such_function();"),
    ]
    with pytest.raises(MigrationError, match="migration 0002_bad failed"):
        migrate(empty_database_url, "scratch", migrations)
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('scratch.good')").fetchone() == (None,)


def test_migrate__an_edited_applied_migration_is_refused(empty_database_url: str) -> None:
    migrate(empty_database_url, "scratch", [Migration(1, "one", "CREATE TABLE one (id int);")])
    with pytest.raises(MigrationError, match="0001_one was applied with different contents"):
        migrate(empty_database_url, "scratch", [Migration(1, "one", "CREATE TABLE one (id bigint);")])


def test_migrate__schemas_are_independent(empty_database_url: str) -> None:
    migrate(empty_database_url, "tenant_a", [Migration(1, "t", "CREATE TABLE t (id int);")])
    migrate(empty_database_url, "tenant_b", [Migration(1, "t", "CREATE TABLE t (id int);")])
    assert applied_versions(empty_database_url, "tenant_a") == [1]
    assert applied_versions(empty_database_url, "tenant_b") == [1]


def test_check_migrated__names_the_command_to_run(empty_database_url: str) -> None:
    with connect(empty_database_url, SCHEMA, autocommit=True) as conn:
        assert schema_version(conn, SCHEMA) is None
        with pytest.raises(MigrationError, match="python -m pipeline db migrate"):
            check_migrated(conn, SCHEMA)
    migrate(empty_database_url, SCHEMA)
    with connect(empty_database_url, SCHEMA, autocommit=True) as conn:
        assert check_migrated(conn, SCHEMA) == max((m.version for m in available_migrations()), default=0)


CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = %(schema)s AND table_name <> 'schema_migrations'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = %(schema)s AND tablename <> 'schema_migrations' ORDER BY 1, 2""",
    "constraints": """
        SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
        JOIN pg_namespace ns ON ns.oid = rel.relnamespace
        WHERE ns.nspname = %(schema)s AND rel.relname <> 'schema_migrations' ORDER BY 1, 2""",
    "types": """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_namespace ns ON ns.oid = t.typnamespace LEFT JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE ns.nspname = %(schema)s AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
        GROUP BY 1 ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(pg_get_functiondef(p.oid))
        FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
        WHERE ns.nspname = %(schema)s ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = %(schema)s AND NOT t.tgisinternal ORDER BY 1, 2""",
    "table_options": """
        SELECT c.relname, c.relkind, coalesce(c.reloptions, '{}') FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = %(schema)s AND c.relname NOT LIKE 'schema_migrations%%' ORDER BY 1""",
}


def catalog(url: str) -> dict[str, list[tuple[object, ...]]]:
    with connect(url, SCHEMA, autocommit=True) as conn:
        return {name: conn.execute(text, {"schema": SCHEMA}).fetchall() for name, text in CATALOG_QUERIES.items()}


def test_migrations__produce_exactly_the_declared_schema(
    database_url: str, empty_database_url: str, test_databases: DatabaseFactory
) -> None:
    declared = ROOT / "pipeline" / "sql" / "schema.sql"
    assert declared.is_file(), "pipeline/sql/schema.sql (the declared schema) is missing"
    with connect(empty_database_url, SCHEMA, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(Path(declared).read_bytes())
    migrated, from_declaration = catalog(database_url), catalog(empty_database_url)
    for part in CATALOG_QUERIES:
        assert migrated[part] == from_declaration[part], f"{part} differ between migrations and schema.sql"
    assert any(migrated.values()), "the compared catalog is empty: the comparison proves nothing"


def test_migration_0013__keys_repositories_even_when_a_database_holds_duplicates(empty_database_url: str) -> None:
    """Rows made before the key (a push beside `POST /index`) share a key: the oldest gets it, the migration does not
    fail, and an enqueue of any spelling then finds that oldest row."""
    before, after = [m for m in available_migrations() if m.version < 13], available_migrations()
    migrate(empty_database_url, SCHEMA, before)
    spellings = ["https://github.com/acme/app", "https://github.com/Acme/App.git", "https://github.com/acme/other"]
    with connect(empty_database_url, SCHEMA, autocommit=True) as conn:
        for offset, url in enumerate(spellings):
            conn.execute(
                "INSERT INTO repositories (full_name, git_url, created_at) "
                "VALUES ('n', %s, now() + %s * interval '1 second')",
                [url, offset],
            )
    migrate(empty_database_url, SCHEMA, after)
    with connect(empty_database_url, SCHEMA, autocommit=True) as conn:
        keys = conn.execute("SELECT git_url, url_key FROM repositories ORDER BY created_at").fetchall()
        assert keys == [
            (spellings[0], "github.com/acme/app"),
            (spellings[1], None),
            (spellings[2], "github.com/acme/other"),
        ]
        found = conn.execute(query("repository_upsert"), {"full_name": "Acme/App", "git_url": spellings[1]}).fetchone()
        oldest = conn.execute("SELECT id FROM repositories WHERE git_url = %s", [spellings[0]]).fetchone()
        assert found == oldest
