"""The writer's cross-file step holds a bounded number of files whatever the repository's size (real git
repository, stage processes and Postgres): with ``index.link_files`` far below the number of files, a full index
holds at most that many files' link data at once and stores exactly the index an unbounded link gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pygit2
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.integrity import check_integrity
from pipeline.local import index_commit
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import MAX_FILE_BYTES, enqueue
from tests.integration.pipeline.index_dump import differences, local_index, stored_index
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

pytestmark = pytest.mark.slow

LINK_FILES = 4


def chained_sources(count: int) -> dict[str, bytes | str]:
    """``count`` modules, each importing the one before it and a shared barrel, so that links reach far back."""
    files: dict[str, bytes | str] = dict(SOURCES_V1)
    files["src/chain/index.ts"] = "export * from './m0';\nexport { helper as shared } from '../util';\n"
    files["src/chain/m0.ts"] = "export class Link0 { next(): number { return 0; } }\n"
    for n in range(1, count):
        files[f"src/chain/m{n}.ts"] = (
            f"import {{ Link{n - 1} }} from './m{n - 1}';\n"
            "import { Link0, shared } from './index';\n"
            f"export class Link{n} extends Link{n - 1} {{\n"
            f"  next(): number {{ shared(); return new Link0().next() + {n}; }}\n"
            "}\n"
        )
    return files


def index_until_idle(config: Config, conn: psycopg.Connection[TupleRow], target: str, **options: Any) -> IndexJob:
    job_id = enqueue(config, target, **options)
    harness.run_until_idle(config)
    job = harness.job(conn, job_id)
    assert job.status is IndexJobStatus.COMPLETED, f"{job.status}: {job.error_message}"
    return job


def test_full_index__holds_at_most_link_files_files_and_stores_the_unbounded_index(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    base = harness.pipeline_config(config, tmp_path)
    bounded = msgspec.structs.replace(base, index=msgspec.structs.replace(base.index, link_files=LINK_FILES))
    path = tmp_path / "chain"
    repo = new_repository(path)
    commit = commit_files(repo, chained_sources(30), "chain")
    expected = local_index(index_commit(pygit2.Repository(str(path)), commit, max_file_bytes=MAX_FILE_BYTES))

    parsed = index_until_idle(bounded, conn, str(path), commit_sha=commit)
    # forced: a full snapshot again, every file's link data read back from the database (none is parsed)
    read_back = index_until_idle(bounded, conn, str(path), commit_sha=commit, force=True)

    for job in (parsed, read_back):
        assert job.stats["files"] > 6 * LINK_FILES
        assert job.stats["incremental"] is False
        assert 0 < job.stats["link_files_held"] <= LINK_FILES
        found = differences(stored_index(conn, job.repository_id), expected)
        assert not found, f"the stored index differs from an unbounded link of the commit: {found}"
    assert parsed.stats["files_read_back"] == 0
    assert read_back.stats["files_not_parsed"] == read_back.stats["files"]
    assert read_back.stats["files_read_back"] >= read_back.stats["files"]
    report = check_integrity(conn)
    assert report.clean, [check for check in report.checks if check.violations]
