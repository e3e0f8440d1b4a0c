"""Write stage on a real database: snapshots are complete, atomic, content-addressed and replace the old one."""

from __future__ import annotations

import hashlib
import threading
import uuid

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.db import connect
from stages.extract import extract_source
from stages.link import link
from stages.resolve import ModuleResolver
from stages.write import FileRow, SnapshotWriter

SOURCES = {
    "src/a.ts": b"import { helper } from './b';\nexport function main(): number { return helper(2); }\n",
    "src/b.ts": b"/** Doubles. */\nexport function helper(x: number): number { return x * 2; }\nexport class K {}\n",
    "src/c.tsx": b"import React from 'react';\nexport const View = () => <div />;\n",
}
COMMIT_1 = "1" * 40
COMMIT_2 = "2" * 40


def blob_oid(source: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(source) + source).hexdigest()


def write_snapshot(
    conn: psycopg.Connection[TupleRow],
    repository_id: uuid.UUID,
    commit: str,
    sources: dict[str, bytes],
    *,
    batch_rows: int = 20_000,
    index_job_id: uuid.UUID | None = None,
) -> SnapshotWriter:
    paths = sorted(sources)
    extractions = [extract_source(path, sources[path]) for path in paths]
    resolver = ModuleResolver.from_files(paths, lambda path: sources[path].decode() if path in sources else None)
    linked = link(extractions, resolver)
    writer = SnapshotWriter(
        conn, repository_id=repository_id, commit_sha=commit, batch_rows=batch_rows, index_job_id=index_job_id
    )
    with conn.transaction():
        writer.begin()
        for file_idx, (path, extraction) in enumerate(zip(paths, extractions, strict=True)):
            writer.add_file(
                FileRow(file_idx=file_idx, path=path, blob_oid=blob_oid(sources[path]), extraction=extraction)
            )
        writer.finish(linked)
    return writer


@pytest.fixture
def repository_id(conn: psycopg.Connection[TupleRow]) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO repositories (full_name, git_url) VALUES ('acme/app', 'https://example.test/acme/app')"
        " RETURNING id"
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def current_symbols(conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID) -> list[tuple[str, str, str]]:
    return conn.execute(
        """
        SELECT f.path, s.name, s.kind FROM repositories r
        JOIN snapshot_files f ON f.snapshot_id = r.current_snapshot_id
        JOIN symbols s ON s.file_result_id = f.file_result_id
        WHERE r.id = %s ORDER BY 1, 2
        """,
        [repository_id],
    ).fetchall()


def test_write__stores_every_symbol_and_makes_the_snapshot_current(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    writer = write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    assert current_symbols(conn, repository_id) == [
        ("src/a.ts", "main", "function"),
        ("src/b.ts", "K", "class"),
        ("src/b.ts", "helper", "function"),
        ("src/c.tsx", "View", "function"),
    ]
    assert writer.stats.files == 3
    assert writer.stats.files_reused == 0
    doc = conn.execute("SELECT doc FROM symbols WHERE name = 'helper'").fetchone()
    assert doc is not None
    assert "Doubles." in doc[0]


def test_write__links_the_call_to_its_definition_in_another_file(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    linked = conn.execute(
        """
        SELECT src.path, r.name, dst.path, s.name
        FROM repositories repo
        JOIN reference_links l ON l.snapshot_id = repo.current_snapshot_id
        JOIN snapshot_files src ON (src.snapshot_id, src.file_idx) = (l.snapshot_id, l.file_idx)
        JOIN refs r ON (r.file_result_id, r.idx) = (src.file_result_id, l.reference_idx)
        JOIN snapshot_files dst ON (dst.snapshot_id, dst.file_idx) = (l.snapshot_id, l.target_file_idx)
        JOIN symbols s ON (s.file_result_id, s.idx) = (dst.file_result_id, l.target_symbol_idx)
        WHERE repo.id = %s
        """,
        [repository_id],
    ).fetchall()
    assert ("src/a.ts", "helper", "src/b.ts", "helper") in linked
    packages = conn.execute("SELECT package FROM package_dependencies").fetchall()
    assert packages == [("react",)]


def test_write__a_new_commit_reuses_unchanged_files_and_replaces_the_old_snapshot(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    first = write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    changed = {**SOURCES, "src/b.ts": b"export function helper(x: number): number { return x; }\n"}
    second = write_snapshot(conn, repository_id, COMMIT_2, changed)
    assert second.stats.files_reused == 2
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM snapshots WHERE id = %s", [first.snapshot_id]).fetchone() == (0,)
    assert ("src/b.ts", "K", "class") not in current_symbols(conn, repository_id)
    # the old src/b.ts result was used by the replaced snapshot only: it is deleted with it, rows and all
    assert second.stats.file_results_dropped == 1
    assert conn.execute("SELECT count(*) FROM file_results").fetchone() == (3,)
    assert conn.execute("SELECT count(*) FROM symbols WHERE name = 'K'").fetchone() == (0,)


def test_write__a_failure_before_commit_leaves_nothing_behind(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    path = "src/a.ts"
    extraction = extract_source(path, SOURCES[path])

    def crash_mid_job() -> None:
        with conn.transaction():
            writer = SnapshotWriter(conn, repository_id=repository_id, commit_sha=COMMIT_1, batch_rows=1)
            writer.begin()
            writer.add_file(FileRow(file_idx=0, path=path, blob_oid=blob_oid(SOURCES[path]), extraction=extraction))
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        crash_mid_job()
    for table in ("snapshots", "snapshot_files", "file_results", "symbols"):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_write__small_batches_store_the_same_rows_as_one_batch(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    writer = write_snapshot(conn, repository_id, COMMIT_1, SOURCES, batch_rows=1)
    assert writer.stats.copy_batches == 3
    assert len(current_symbols(conn, repository_id)) == 4


def test_write__two_jobs_storing_the_same_content_at_once_both_commit_without_duplicates(
    database_url: str, conn: psycopg.Connection[TupleRow]
) -> None:
    ids = [
        uuid.UUID(str(row[0]))
        for row in conn.execute(
            "INSERT INTO repositories (full_name, git_url) VALUES ('a/one', 'u1'), ('a/two', 'u2') RETURNING id"
        ).fetchall()
    ]
    errors: list[BaseException] = []

    def job(repository_id: uuid.UUID) -> None:
        try:
            with connect(database_url, "pipeline") as own:
                write_snapshot(own, repository_id, COMMIT_1, SOURCES)
                own.commit()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(repository_id,)) for repository_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert conn.execute("SELECT count(*) FROM file_results").fetchone() == (3,)
    assert current_symbols(conn, ids[0]) == current_symbols(conn, ids[1])


def test_write__a_result_another_repository_uses_outlives_the_snapshot_that_stored_it(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    other = conn.execute("INSERT INTO repositories (full_name, git_url) VALUES ('b/lib', 'u3') RETURNING id").fetchone()
    assert other is not None
    write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    write_snapshot(conn, uuid.UUID(str(other[0])), COMMIT_1, {"lib/b.ts": SOURCES["src/b.ts"]})
    replaced = write_snapshot(conn, repository_id, COMMIT_2, {"src/a.ts": SOURCES["src/a.ts"]})
    assert replaced.stats.file_results_dropped == 1  # src/c.tsx; src/b.ts's content is lib/b.ts's too
    assert current_symbols(conn, uuid.UUID(str(other[0]))) == [
        ("lib/b.ts", "K", "class"),
        ("lib/b.ts", "helper", "function"),
    ]


def test_write__replacing_a_snapshot_while_another_job_reuses_its_result_keeps_that_result(
    database_url: str, conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    """Job A (another repository) reuses a stored result and holds it in its open transaction while job B
    replaces the only snapshot that used it: B skips it instead of deleting it under A, and A commits whole."""
    write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    other = conn.execute("INSERT INTO repositories (full_name, git_url) VALUES ('b/lib', 'u3') RETURNING id").fetchone()
    assert other is not None
    with connect(database_url, "pipeline") as job_a:
        job_a.execute("SELECT 1")  # open the job's transaction: write_snapshot's block is then a savepoint
        writer = write_snapshot(job_a, uuid.UUID(str(other[0])), COMMIT_1, {"lib/b.ts": SOURCES["src/b.ts"]})
        assert writer.stats.files_reused == 1
        replaced = write_snapshot(conn, repository_id, COMMIT_2, {"src/a.ts": SOURCES["src/a.ts"]})
        assert replaced.stats.file_results_dropped == 1  # src/c.tsx only: src/b.ts's result is job A's now
        job_a.commit()
    assert current_symbols(conn, uuid.UUID(str(other[0]))) == [
        ("lib/b.ts", "K", "class"),
        ("lib/b.ts", "helper", "function"),
    ]


def test_write__a_job_reusing_a_result_being_deleted_waits_and_stores_it_again(
    database_url: str, conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    """Job B has deleted an orphaned result and not committed yet when job A wants the same content: A waits
    for B, then stores the content afresh, and both snapshots are whole."""
    write_snapshot(conn, repository_id, COMMIT_1, SOURCES)
    other = conn.execute("INSERT INTO repositories (full_name, git_url) VALUES ('b/lib', 'u3') RETURNING id").fetchone()
    assert other is not None
    conn.commit()
    errors: list[BaseException] = []
    with connect(database_url, "pipeline") as job_b:
        job_b.execute("SELECT 1")  # open the job's transaction: write_snapshot's block is then a savepoint
        replaced = write_snapshot(job_b, repository_id, COMMIT_2, {"src/a.ts": SOURCES["src/a.ts"]})
        assert replaced.stats.file_results_dropped == 2  # src/b.ts and src/c.tsx, deleted but not committed

        def job_a() -> None:
            try:
                with connect(database_url, "pipeline") as own:
                    stored = write_snapshot(own, uuid.UUID(str(other[0])), COMMIT_1, {"lib/b.ts": SOURCES["src/b.ts"]})
                    assert stored.stats.files_reused == 0
                    own.commit()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        thread = threading.Thread(target=job_a)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), f"job A should wait for job B to end: {errors}"
        job_b.commit()
        thread.join(30)
    assert errors == []
    assert current_symbols(conn, uuid.UUID(str(other[0]))) == [
        ("lib/b.ts", "K", "class"),
        ("lib/b.ts", "helper", "function"),
    ]
    assert current_symbols(conn, repository_id) == [("src/a.ts", "main", "function")]


def test_write__a_job_requested_earlier_that_finishes_later_does_not_replace_the_newer_index(
    conn: psycopg.Connection[TupleRow], repository_id: uuid.UUID
) -> None:
    def index_job(commit: str, requested: str) -> uuid.UUID:
        row = conn.execute(
            "INSERT INTO index_jobs (repository_id, commit_sha, status, created_at)"
            " VALUES (%s, %s, 'processing', now() - %s::interval) RETURNING id",
            [repository_id, commit, requested],
        ).fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))

    older, newer = index_job(COMMIT_1, "1 minute"), index_job(COMMIT_2, "0 seconds")
    changed = {**SOURCES, "src/b.ts": b"export function helper(x: number): number { return x; }\n"}
    latest = write_snapshot(conn, repository_id, COMMIT_2, changed, index_job_id=newer)
    late = write_snapshot(conn, repository_id, COMMIT_1, SOURCES, index_job_id=older)

    assert late.stats.superseded
    assert not latest.stats.superseded
    current = conn.execute("SELECT current_snapshot_id FROM repositories WHERE id = %s", [repository_id]).fetchone()
    assert current == (latest.snapshot_id,)
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (1,)
    assert ("src/b.ts", "K", "class") not in current_symbols(conn, repository_id)
    # the late snapshot's own result for the old src/b.ts went with it; the shared ones stayed
    assert late.stats.file_results_dropped == 1
    assert conn.execute("SELECT count(*) FROM file_results").fetchone() == (3,)

    again = write_snapshot(conn, repository_id, COMMIT_1, SOURCES)  # outside the queue: always current
    assert not again.stats.superseded
    current = conn.execute("SELECT current_snapshot_id FROM repositories WHERE id = %s", [repository_id]).fetchone()
    assert current == (again.snapshot_id,)
