"""The harness itself: per-test databases are real, migrated, and isolated from each other."""

import psycopg
from psycopg.rows import TupleRow

from pipeline.migrate import available_migrations, schema_version


def test_database_url__is_migrated_to_the_newest_version(conn: psycopg.Connection[TupleRow]) -> None:
    expected = max((m.version for m in available_migrations()), default=0)
    assert schema_version(conn, "pipeline") == expected


def test_database_url__each_test_gets_its_own_database(conn: psycopg.Connection[TupleRow]) -> None:
    conn.execute("CREATE TABLE public.isolation_probe (id int)")
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    assert row[0].startswith("test_")


def test_database_url__a_table_made_by_another_test_is_not_here(conn: psycopg.Connection[TupleRow]) -> None:
    row = conn.execute("SELECT to_regclass('public.isolation_probe')").fetchone()
    assert row == (None,)
