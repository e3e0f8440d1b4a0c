"""Every command checks the schema before using it: a current schema costs one query and waits for no lock."""

from __future__ import annotations

import threading

import psycopg
import pytest

from pipeline.errors import MigrationError
from pipeline.migrate import Migration, advisory_lock_key, available_migrations, migrate
from tests.conftest import SCHEMA

BOUND = 30.0  # seconds the check may take on a busy machine; not a figure under test


def test_migrate__a_current_schema_is_checked_without_waiting_for_the_migration_lock(database_url: str) -> None:
    outcome: list[object] = []
    checker = threading.Thread(target=lambda: outcome.append(migrate(database_url, SCHEMA)))
    with psycopg.connect(database_url, autocommit=True) as holder:
        # as a process migrating this schema right now holds it
        holder.execute("SELECT pg_advisory_lock(%s)", [advisory_lock_key(SCHEMA)])
        checker.start()
        checker.join(BOUND)
        waited = checker.is_alive()
        holder.execute("SELECT pg_advisory_unlock_all()")
    checker.join(BOUND)
    assert not waited, "the check of a current schema waited for the migration lock"
    assert outcome == [[]]


def test_migrate__a_migration_not_yet_applied_is_found_by_the_check_and_applied(database_url: str) -> None:
    shipped = available_migrations()
    newer = Migration(shipped[-1].version + 1, "probe", "CREATE TABLE startup_probe (id integer)")
    assert migrate(database_url, SCHEMA, [*shipped, newer]) == [newer]
    assert migrate(database_url, SCHEMA, [*shipped, newer]) == []
    with psycopg.connect(database_url, options=f"-c search_path={SCHEMA}") as conn:
        assert conn.execute("SELECT count(*) FROM startup_probe").fetchone() == (0,)


def test_migrate__an_applied_migration_whose_file_changed_is_still_refused(database_url: str) -> None:
    shipped = available_migrations()
    edited = Migration(shipped[-1].version, shipped[-1].name, shipped[-1].sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match=f"{edited.version:04d}_{edited.name} was applied with different"):
        migrate(database_url, SCHEMA, [*shipped[:-1], edited])
