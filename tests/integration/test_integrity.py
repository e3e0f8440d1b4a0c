"""The bulk tables without foreign keys (migration 0007): deletions still cascade, set-wise and by index, and
``check_integrity`` finds every kind of broken reference, on snapshots written by the real writer."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.index_jobs import IndexJobStatus
from pipeline.integrity import IntegrityReport, check_integrity, find_repositories
from tests.integration.pipeline import harness
from tests.integration.pipeline.repos import SOURCES_V1, SOURCES_V2, commit_files, new_repository
from tests.integration.test_write import COMMIT_1, COMMIT_2, write_snapshot

# Every kind of row the checks look at: a class with a method (symbols.parent_idx), a call inside a function
# (refs.enclosing_idx), a re-export (exports.import_idx), named imports linked across files (binding_links,
# reference_links, symbol_dependencies), a package import (package_dependencies).
SOURCES = {
    "src/a.ts": b"import { helper, K } from './b';\nimport React from 'react';\n"
    b"export function main(): number { return helper(new K().size()); }\nexport { helper as again } from './b';\n",
    "src/b.ts": b"export function helper(x: number): number { return x * 2; }\n"
    b"export class K { size(): number { return 1; } }\n",
    "src/c.ts": b"import { main } from './a';\nexport const run = () => main();\n",
}

BULK_TABLES = (
    "symbols",
    "imports",
    "import_bindings",
    "exports",
    "refs",
    "snapshot_files",
    "resolved_imports",
    "binding_links",
    "reference_links",
    "file_dependencies",
    "symbol_dependencies",
    "package_dependencies",
)
CONTENT_TABLES = BULK_TABLES[:5]
SNAPSHOT_TABLES = BULK_TABLES[5:]


def new_repository_row(conn: psycopg.Connection[TupleRow], name: str) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO repositories (full_name, git_url) VALUES (%s, %s) RETURNING id",
        [name, f"https://example.test/{name}"],
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def failures(report: IntegrityReport) -> dict[tuple[str, str], int]:
    return {(c.relation, c.column): c.violations for c in report.checks if c.violations}


def count(conn: psycopg.Connection[TupleRow], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def repository_id(conn: psycopg.Connection[TupleRow]) -> uuid.UUID:
    repository = new_repository_row(conn, "acme/app")
    write_snapshot(conn, repository, COMMIT_1, SOURCES)
    return repository


def test_bulk_tables__have_no_foreign_keys_and_the_small_tables_keep_theirs(conn: psycopg.Connection[TupleRow]) -> None:
    keys = conn.execute(
        """
        SELECT rel.relname, ref.relname FROM pg_constraint con
        JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_class ref ON ref.oid = con.confrelid
        JOIN pg_namespace ns ON ns.oid = rel.relnamespace
        WHERE con.contype = 'f' AND ns.nspname = 'pipeline'
        """
    ).fetchall()
    assert [key for key in keys if key[0] in BULK_TABLES] == []
    assert {("snapshots", "repositories"), ("snapshots", "index_jobs"), ("repositories", "snapshots")} <= set(keys)


def test_check__a_snapshot_of_the_writer_is_consistent_and_every_checked_table_has_rows(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    report = check_integrity(conn)
    assert failures(report) == {}
    assert report.clean
    assert {table: count(conn, table) > 0 for table in BULK_TABLES} == dict.fromkeys(BULK_TABLES, True)
    for column, table in (("parent_idx", "symbols"), ("enclosing_idx", "refs"), ("import_idx", "exports")):
        assert conn.execute(f"SELECT count({column}) FROM {table}").fetchone() != (0,)


def test_check__file_positions_with_gaps_and_not_from_zero_are_consistent(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    """File indexes are ids, not positions: a snapshot whose files are 7, 17, 27 (a file deleted, others kept
    theirs) is whole, and a link to the gap at 12 is not."""
    remap = "{column} = {column} * 10 + 7"
    conn.execute(f"UPDATE snapshot_files SET {remap.format(column='file_idx')}")
    for table, columns in (
        ("resolved_imports", ("file_idx", "target_file_idx")),
        ("binding_links", ("file_idx", "target_file_idx")),
        ("reference_links", ("file_idx", "target_file_idx")),
        ("file_dependencies", ("source_file_idx", "target_file_idx")),
        ("symbol_dependencies", ("source_file_idx", "target_file_idx")),
        ("package_dependencies", ("file_idx",)),
    ):
        conn.execute(f"UPDATE {table} SET {', '.join(remap.format(column=column) for column in columns)}")
    assert failures(check_integrity(conn)) == {}
    conn.execute("UPDATE reference_links SET target_file_idx = 12 WHERE ctid = (SELECT min(ctid) FROM reference_links)")
    assert failures(check_integrity(conn)) == {
        ("reference_links", "target_file_idx"): 1,
    }


# (relation, column, the value that breaks one row's reference, which rows may be broken)
BREAKS = [
    ("symbols", "file_result_id", "-1", "true"),
    ("symbols", "parent_idx", "9999", "parent_idx IS NOT NULL"),
    ("imports", "file_result_id", "-1", "true"),
    ("import_bindings", "file_result_id", "-1", "true"),
    ("import_bindings", "import_idx", "9999", "true"),
    ("exports", "file_result_id", "-1", "true"),
    ("exports", "import_idx", "9999", "import_idx IS NOT NULL"),
    ("refs", "file_result_id", "-1", "true"),
    ("refs", "enclosing_idx", "9999", "enclosing_idx IS NOT NULL"),
    ("snapshot_files", "snapshot_id", "gen_random_uuid()", "true"),
    ("snapshot_files", "file_result_id", "-1", "true"),
    ("resolved_imports", "snapshot_id", "gen_random_uuid()", "true"),
    ("resolved_imports", "file_idx", "9999", "true"),
    ("resolved_imports", "import_idx", "9999", "true"),
    ("resolved_imports", "target_file_idx", "9999", "target_file_idx IS NOT NULL"),
    ("binding_links", "snapshot_id", "gen_random_uuid()", "true"),
    ("binding_links", "file_idx", "9999", "true"),
    ("binding_links", "import_idx", "9999", "true"),
    ("binding_links", "binding_idx", "9999", "true"),
    ("binding_links", "target_file_idx", "9999", "true"),
    ("binding_links", "target_symbol_idx", "9999", "true"),
    ("reference_links", "snapshot_id", "gen_random_uuid()", "true"),
    ("reference_links", "file_idx", "9999", "true"),
    ("reference_links", "reference_idx", "9999", "true"),
    ("reference_links", "target_file_idx", "9999", "true"),
    ("reference_links", "target_symbol_idx", "9999", "true"),
    ("file_dependencies", "snapshot_id", "gen_random_uuid()", "true"),
    ("file_dependencies", "source_file_idx", "9999", "true"),
    ("file_dependencies", "target_file_idx", "9999", "true"),
    ("symbol_dependencies", "snapshot_id", "gen_random_uuid()", "true"),
    ("symbol_dependencies", "source_file_idx", "9999", "true"),
    ("symbol_dependencies", "source_symbol_idx", "9999", "true"),
    ("symbol_dependencies", "target_file_idx", "9999", "true"),
    ("symbol_dependencies", "target_symbol_idx", "9999", "true"),
    ("package_dependencies", "snapshot_id", "gen_random_uuid()", "true"),
    ("package_dependencies", "file_idx", "9999", "true"),
]


@pytest.mark.parametrize("case", BREAKS, ids=[f"{relation}.{column}" for relation, column, _, _ in BREAKS])
def test_check__reports_a_broken_reference_with_its_relation_column_and_key(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID, case: tuple[str, str, str, str]
) -> None:
    relation, column, value, breakable = case
    broken = conn.execute(
        f"UPDATE {relation} SET {column} = {value}"
        f" WHERE ctid = (SELECT ctid FROM {relation} WHERE {breakable} LIMIT 1) RETURNING {column}"
    ).fetchone()
    assert broken is not None, f"no {relation} row to break"
    report = check_integrity(conn)
    assert not report.clean
    found = {(c.relation, c.column): c for c in report.checks}[(relation, column)]
    assert found.violations == 1
    assert [str(example[column]) for example in found.examples] == [str(broken[0])]


def test_check__a_current_snapshot_of_another_repository_is_reported(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    other = new_repository_row(conn, "acme/other")
    write_snapshot(conn, other, COMMIT_2, {"lib/b.ts": SOURCES["src/b.ts"]})
    conn.execute(
        "UPDATE repositories SET current_snapshot_id = (SELECT current_snapshot_id FROM repositories WHERE id = %s)"
        " WHERE id = %s",
        [other, repository_id],
    )
    report = check_integrity(conn)
    assert failures(report) == {("repositories", "current_snapshot_id"): 1}
    assert failures(check_integrity(conn, [other])) == {}


def test_check__a_repository_scope_checks_only_that_repository(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    other = new_repository_row(conn, "acme/other")
    write_snapshot(conn, other, COMMIT_2, {"lib/d.ts": b"import { x } from './e';\nexport const d = x;\n"})
    conn.execute(
        "UPDATE reference_links SET target_symbol_idx = 9999 WHERE ctid = (SELECT min(ctid) FROM reference_links"
        " WHERE snapshot_id = (SELECT current_snapshot_id FROM repositories WHERE id = %s))",
        [repository_id],
    )
    assert failures(check_integrity(conn, find_repositories(conn, "acme/app"))) == {
        ("reference_links", "target_symbol_idx"): 1
    }
    assert failures(check_integrity(conn, find_repositories(conn, str(other)))) == {}
    # rows of no snapshot belong to no repository: only the full check looks for them
    conn.execute("UPDATE resolved_imports SET snapshot_id = gen_random_uuid()")
    scoped = check_integrity(conn, [repository_id])
    assert ("resolved_imports", "snapshot_id") not in {(c.relation, c.column) for c in scoped.checks}
    assert ("resolved_imports", "snapshot_id") in failures(check_integrity(conn))


def test_delete__a_replaced_snapshot_and_its_orphaned_results_leave_no_rows_behind(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    before = {table: count(conn, table) for table in BULK_TABLES}
    changed = {**SOURCES, "src/c.ts": b"export const run = () => 1;\n"}
    replaced = write_snapshot(conn, repository_id, COMMIT_2, changed)
    assert replaced.stats.file_results_dropped == 1
    assert failures(check_integrity(conn)) == {}
    assert count(conn, "snapshots") == 1
    for table in SNAPSHOT_TABLES:  # only the current snapshot's rows are left
        stale = conn.execute(
            f"SELECT count(*) FROM {table} WHERE snapshot_id <> %s",
            [replaced.snapshot_id],
        ).fetchone()
        assert stale == (0,), table
    for table in CONTENT_TABLES:  # only the rows of results the current snapshot uses are left
        unused = conn.execute(
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS"
            " (SELECT FROM snapshot_files f WHERE f.file_result_id = t.file_result_id)"
        ).fetchone()
        assert unused == (0,), table
    assert count(conn, "refs") < before["refs"]  # c.ts's old result and its references are gone


def test_delete__a_repository_takes_its_snapshots_rows_and_deleting_results_takes_theirs(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    other = new_repository_row(conn, "acme/other")
    write_snapshot(conn, other, COMMIT_1, {"lib/b.ts": SOURCES["src/b.ts"]})
    kept = {table: count(conn, table) for table in SNAPSHOT_TABLES}
    conn.execute("DELETE FROM repositories WHERE id = %s", [repository_id])
    assert failures(check_integrity(conn)) == {}
    other_snapshot = conn.execute("SELECT current_snapshot_id FROM repositories WHERE id = %s", [other]).fetchone()
    assert other_snapshot is not None
    for table in SNAPSHOT_TABLES:
        left = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE snapshot_id = %s) FROM {table}", other_snapshot)
        total, of_other = left.fetchone() or (None, None)
        assert total == of_other, table
    assert count(conn, "snapshot_files") == 1 < kept["snapshot_files"]
    # results are shared by content, not owned by a repository: the unused ones go when deleted
    conn.execute(
        "DELETE FROM file_results r WHERE NOT EXISTS (SELECT FROM snapshot_files f WHERE f.file_result_id = r.id)"
    )
    assert failures(check_integrity(conn)) == {}
    assert count(conn, "file_results") == 1
    assert count(conn, "imports") == 0  # lib/b.ts imports nothing; a.ts's and c.ts's imports went with them


def test_delete__a_result_a_snapshot_uses_is_refused(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="is still used by snapshot"):
        conn.execute("DELETE FROM file_results WHERE id = (SELECT min(file_result_id) FROM snapshot_files)")
    assert failures(check_integrity(conn)) == {}


def test_truncate__of_the_repositories_empties_the_snapshot_tables_and_of_used_results_is_refused(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="delete the snapshots first"):
        conn.execute("TRUNCATE file_results")
    conn.execute("TRUNCATE repositories CASCADE")  # reaches snapshots through their kept foreign key
    assert {table: count(conn, table) for table in SNAPSHOT_TABLES} == dict.fromkeys(SNAPSHOT_TABLES, 0)
    conn.execute("TRUNCATE file_results")
    assert {table: count(conn, table) for table in CONTENT_TABLES} == dict.fromkeys(CONTENT_TABLES, 0)
    assert failures(check_integrity(conn)) == {}


def test_delete__the_cascades_look_rows_up_by_index(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    """Each statement of the delete triggers can use the primary key (leading snapshot_id / file_result_id) of the
    table it deletes from: with sequential scans disabled, no plan the triggers run scans a bulk table."""
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() != (True,):
        pytest.skip("loading auto_explain needs a superuser")
    plans: list[str] = []
    conn.add_notice_handler(lambda diagnostic: plans.append(diagnostic.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting, value in (
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("client_min_messages", "log"),
        ("enable_seqscan", "off"),
    ):
        conn.execute("SELECT set_config(%s, %s, false)", [setting, value])
    write_snapshot(conn, repository_id, COMMIT_2, {**SOURCES, "src/c.ts": b"export const run = () => 1;\n"})
    conn.execute("DELETE FROM repositories WHERE id = %s", [repository_id])
    conn.execute("DELETE FROM file_results")
    deletes = [
        (table, re.findall(r"Seq Scan on (\w+)", plan))
        for plan in plans
        for table in re.findall(r"Delete on (\w+)", plan)
    ]
    assert set(BULK_TABLES) <= {table for table, _ in deletes}
    assert [(table, scans) for table, scans in deletes if set(scans) & set(BULK_TABLES)] == []


@pytest.mark.slow
def test_check__the_pipeline_index_stays_consistent_across_a_reindex_and_a_repository_deletion(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    pipeline_config = harness.pipeline_config(config, tmp_path)
    path = tmp_path / "demo-repo"
    repo = new_repository(path)
    commit_files(repo, SOURCES_V1, "first")
    first = harness.enqueue(pipeline_config, str(path))
    harness.run_until_idle(pipeline_config)
    assert harness.job(conn, first).status == IndexJobStatus.COMPLETED
    assert failures(check_integrity(conn)) == {}
    assert count(conn, "reference_links") > 0

    commit_files(repo, SOURCES_V2, "second")
    second = harness.enqueue(pipeline_config, str(path))
    harness.run_until_idle(pipeline_config)
    assert harness.job(conn, second).status == IndexJobStatus.COMPLETED
    assert failures(check_integrity(conn)) == {}
    assert count(conn, "snapshots") == 1
    unused = conn.execute(
        "SELECT count(*) FROM file_results r"
        " WHERE NOT EXISTS (SELECT FROM snapshot_files f WHERE f.file_result_id = r.id)"
    ).fetchone()
    assert unused == (0,)  # the first commit's util.ts result was orphaned and deleted, rows and all

    conn.execute("DELETE FROM repositories")
    assert failures(check_integrity(conn)) == {}
    assert {table: count(conn, table) for table in SNAPSHOT_TABLES} == dict.fromkeys(SNAPSHOT_TABLES, 0)
