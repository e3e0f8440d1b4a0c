"""Hostile trees through the real pipeline: crafted entry names, depth, width, corrupt objects and config files.

Each kind of input is one repository, written byte for byte (``raw_tree``), next to a good file ``ok.ts``. All of
them are enqueued at once and indexed by one real coordinator (fetcher, parsers, writer processes) on a real
Postgres; then each case checks its job: it completes (or, for a root tree git cannot parse, fails once with a
clear error), the skip is counted under its reason, every good file is stored and no stored path holds the bad
name, no stage process died and no job directory is left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pygit2
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import load_config
from pipeline.coordinator import Coordinator
from pipeline.db import connect
from pipeline.index_jobs import IndexJob, IndexJobStatus
from pipeline.queue.client import Queue
from stages.fetch import parse_target
from stages.fetch.context import MAX_CONFIG_BYTES
from tests.conftest import ROOT, SCHEMA, DatabaseFactory
from tests.integration.stages.test_fetch_tree import (
    BLOB_MODE,
    SOURCE,
    TREE_MODE,
    RawEntry,
    commit_tree,
    deep_tree,
    loose_object_claiming_size,
    raw_tree,
)

pytestmark = pytest.mark.slow

OK: list[tuple[bytes, RawEntry]] = [(b"ok.ts", SOURCE)]
BARE_IMPORT = b"import { kept } from 'ok';\nexport const user = kept;\n"  # bare: resolution reads tsconfig


@dataclass(frozen=True)
class Case:
    """One hostile repository: how to build its tree, and what its job must end with."""

    build: Callable[[pygit2.Repository], pygit2.Oid]
    skipped: dict[str, int] = field(default_factory=dict)  # non-zero skip counts, exactly
    stored: frozenset[str] = frozenset({"ok.ts"})
    failed_with: str | None = None  # a job that must fail (not retried), with this in its error


def _wide(repo: pygit2.Repository) -> pygit2.Oid:
    blob = repo.create_blob(b"not source\n").raw
    names = sorted([f"f{i:06d}.txt".encode() for i in range(100_000)] + [b"ok.ts"])
    ok = repo.create_blob(SOURCE).raw
    body = b"".join(BLOB_MODE + b" " + name + b"\0" + (ok if name == b"ok.ts" else blob) for name in names)
    return repo.odb.write(pygit2.enums.ObjectType.TREE, body)


def _long_path(repo: pygit2.Repository) -> pygit2.Oid:
    tree = raw_tree(repo, [(b"deep.ts", SOURCE)])
    for _ in range(16):  # 16 directories of 250 characters: a path of ~4,000 characters
        tree = raw_tree(repo, [(b"n" * 250, (TREE_MODE, tree))])
    return raw_tree(repo, [*OK, (b"long", (TREE_MODE, tree))])


def _extends_chain(repo: pygit2.Repository) -> pygit2.Oid:
    """1,100 tsconfig files, each extending the next: deeper than Python's recursion limit."""
    links = 1100
    configs: list[tuple[bytes, RawEntry]] = [
        (f"c{i:04d}".encode(), [(b"tsconfig.json", f'{{"extends": "../c{i + 1:04d}/tsconfig.json"}}'.encode())])
        for i in range(links)
    ]
    root_config = b'{"extends": "./c0000/tsconfig.json", "compilerOptions": {"baseUrl": "."}}'
    return raw_tree(repo, [*OK, (b"use.ts", BARE_IMPORT), (b"tsconfig.json", root_config), *configs])


def _huge_blob(repo: pygit2.Repository) -> pygit2.Oid:
    huge = loose_object_claiming_size(repo, b"blob", 10**12, b"x")  # a terabyte, by its header
    return raw_tree(repo, [*OK, (b"huge.ts", (BLOB_MODE, huge)), (b"package.json", (BLOB_MODE, huge))])


CASES: dict[str, Case] = {
    "dot-dot-name": Case(lambda r: raw_tree(r, [*OK, (b"..", SOURCE)]), {"unsafe_path": 1}),
    "dot-directory": Case(lambda r: raw_tree(r, [*OK, (b".", [(b"x.ts", SOURCE)])]), {"unsafe_path": 1}),
    "slash-in-name": Case(lambda r: raw_tree(r, [*OK, (b"a/b.ts", SOURCE)]), {"unsafe_path": 1}),
    "traversal-in-name": Case(lambda r: raw_tree(r, [*OK, (b"sub/../../x.ts", SOURCE)]), {"unsafe_path": 1}),
    "backslash-traversal": Case(lambda r: raw_tree(r, [*OK, (b"..\\..\\x.ts", SOURCE)]), {"unsafe_path": 1}),
    "windows-drive-name": Case(lambda r: raw_tree(r, [*OK, (b"C:evil.ts", SOURCE)]), {"unsafe_path": 1}),
    "dot-git-directory": Case(
        lambda r: raw_tree(r, [*OK, (b".GIT", [(b"config", b"[core]\n"), (b"hooks", [(b"post-checkout", b"#!")])])]),
        {"unsafe_path": 2},
    ),
    "names-windows-reads-as-dot-dot-or-git": Case(
        lambda r: raw_tree(
            r,
            [
                *OK,
                (b"...", [(b"x.ts", SOURCE)]),
                (b".. ", [(b"x.ts", SOURCE)]),
                (b".git::$INDEX_ALLOCATION", [(b"config", b"[core]\n")]),
                (b"x.ts.", SOURCE),
            ],
        ),
        {"unsafe_path": 4},
    ),
    "control-characters": Case(
        lambda r: raw_tree(r, [*OK, (b"x\x1b[2J.ts", SOURCE), (b"x\n.ts", SOURCE), (b"x\x7f.ts", SOURCE)]),
        {"unsafe_path": 3},
    ),
    "empty-name-in-subtree": Case(
        lambda r: raw_tree(r, [*OK, (b"bad", (TREE_MODE, raw_tree(r, [(b"", SOURCE)])))]), {"corrupt_object": 1}
    ),
    "not-utf8-names": Case(
        lambda r: raw_tree(r, [*OK, (b"caf\xe9.ts", SOURCE), (b"d\xff", [(b"package.json", b"{}")])]),
        {"invalid_path": 2},
    ),
    "tree-1200-deep": Case(
        lambda r: raw_tree(r, [*OK, (b"d", (TREE_MODE, deep_tree(r, 1199, [(b"bottom.ts", SOURCE)])))]),
        {"invalid_path": 1},
    ),
    "path-of-4000-characters": Case(_long_path, {"invalid_path": 1}),
    "100k-entries-in-one-directory": Case(_wide, {"unsupported_language": 100_000}),
    "names-differing-by-case": Case(
        lambda r: raw_tree(r, [(b"OK.ts", SOURCE), *OK]), stored=frozenset({"OK.ts", "ok.ts"})
    ),
    "name-repeated-in-a-tree": Case(lambda r: raw_tree(r, [*OK, *OK]), {"unsafe_path": 1}),
    "symlink-out-of-the-checkout": Case(
        lambda r: raw_tree(r, [*OK, (b"evil.ts", (b"120000", r.create_blob(b"../../../etc/passwd")))]),
        {"symlink": 1},
    ),
    "blob-claiming-a-huge-size": Case(_huge_blob, {"too_large": 1, "unsupported_language": 1}),
    "blob-shorter-than-its-header": Case(
        lambda r: raw_tree(r, [*OK, (b"short.ts", (BLOB_MODE, loose_object_claiming_size(r, b"blob", 40, b"x")))]),
        {"corrupt_object": 1},
    ),
    "file-entry-holding-a-tree": Case(
        lambda r: raw_tree(r, [*OK, (b"tree.ts", (BLOB_MODE, raw_tree(r, [(b"x.ts", SOURCE)])))]),
        {"corrupt_object": 1},
    ),
    "directory-entry-holding-a-blob": Case(lambda r: raw_tree(r, [*OK, (b"dir", (TREE_MODE, r.create_blob(SOURCE)))])),
    "huge-tsconfig": Case(
        lambda r: raw_tree(r, [*OK, (b"tsconfig.json", b'{"x": "' + b"y" * MAX_CONFIG_BYTES + b'"}')]),
        {"unsupported_language": 1},
    ),
    "binary-package-json": Case(
        lambda r: raw_tree(r, [*OK, (b"package.json", bytes(range(256)) * 64)]), {"unsupported_language": 1}
    ),
    "invalid-utf8-tsconfig": Case(
        lambda r: raw_tree(r, [*OK, (b"tsconfig.json", b'{"compilerOptions": {"baseUrl": "\xff\xfe"}}')]),
        {"unsupported_language": 1},
    ),
    "deeply-nested-package-json": Case(
        lambda r: raw_tree(r, [*OK, (b"package.json", b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")]),
        {"unsupported_language": 1},
    ),
    "deeply-nested-tsconfig": Case(
        lambda r: raw_tree(
            r,
            [
                *OK,
                (b"use.ts", BARE_IMPORT),
                (b"tsconfig.json", b'{"compilerOptions": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001),
            ],
        ),
        {"unsupported_language": 1},
        stored=frozenset({"ok.ts", "use.ts"}),
    ),
    "nul-escapes-in-package-json": Case(
        lambda r: raw_tree(
            r,
            [
                *OK,
                (b"use.ts", b"import react from 'react';\nimport w from 'w\\u0000x';\nexport const v = [react, w];\n"),
                (b"package.json", b'{"name": "app\\u0000", "dependencies": {"react": "^18\\u0000.2"}}'),
            ],
        ),
        {"unsupported_language": 1},
        stored=frozenset({"ok.ts", "use.ts"}),
    ),
    "tsconfig-extends-cycle": Case(
        lambda r: raw_tree(
            r,
            [
                *OK,
                (b"use.ts", BARE_IMPORT),
                (b"tsconfig.json", b'{"extends": "./a/tsconfig.json"}'),
                (b"a", [(b"tsconfig.json", b'{"extends": "../tsconfig.json"}')]),
            ],
        ),
        {"unsupported_language": 2},
        stored=frozenset({"ok.ts", "use.ts"}),
    ),
    "tsconfig-extends-chain-1100-long": Case(
        _extends_chain, {"unsupported_language": 1101}, stored=frozenset({"ok.ts", "use.ts"})
    ),
    "subtree-object-claiming-gigabytes": Case(
        lambda r: raw_tree(r, [*OK, (b"huge", (TREE_MODE, loose_object_claiming_size(r, b"tree", 8 * 1024**3, b"")))]),
        stored=frozenset(),
        failed_with="8,589,934,592 bytes, more than index.max_tree_object_bytes",
    ),
    "root-tree-git-cannot-parse": Case(
        lambda r: raw_tree(r, [(b"", SOURCE)]), stored=frozenset(), failed_with="cannot be parsed"
    ),
}


@dataclass(frozen=True)
class Outcome:
    jobs: dict[str, IndexJob]
    stored: dict[str, frozenset[str]]
    restarts: int
    left_behind: list[Path]


@pytest.fixture(scope="module")
def outcome(test_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """Every case enqueued, then indexed by one coordinator until idle."""
    root = tmp_path_factory.mktemp("hostile-trees")
    name = test_databases.create()
    url = test_databases.url(name)
    base = load_config(ROOT / "configs" / "test.toml", environ={})
    config = msgspec.structs.replace(
        base,
        database=msgspec.structs.replace(base.database, url=url, schema=SCHEMA),
        index=msgspec.structs.replace(base.index, parsers=1, jobs=3, tmp_dir=str(root / "work")),
        queue=msgspec.structs.replace(base.queue, retry_delay=0.0, retry_backoff=False),
    )
    try:
        job_ids: dict[str, uuid.UUID] = {}
        with Queue(url, SCHEMA, config.queue) as queue, connect(url, SCHEMA) as conn:
            for kind, case in CASES.items():
                path = root / kind
                repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
                commit_tree(repo, case.build(repo))
                job_ids[kind] = index_jobs.enqueue(conn, queue, parse_target(str(path))).job.id
            conn.commit()
        coordinator = Coordinator(config, until_idle=True)
        assert coordinator.run(install_signal_handlers=False) == 0
        with connect(url, SCHEMA, autocommit=True) as conn:
            jobs = {kind: _job(conn, job_id) for kind, job_id in job_ids.items()}
            stored = {kind: _stored_paths(conn, kind) for kind in CASES}
        yield Outcome(jobs, stored, coordinator.restarts, sorted((root / "work").glob("pipeline-*")))
    finally:
        test_databases.drop(name)


def _job(conn: psycopg.Connection[TupleRow], job_id: uuid.UUID) -> IndexJob:
    found = index_jobs.get(conn, job_id)
    assert found is not None
    return found


def _stored_paths(conn: psycopg.Connection[TupleRow], repository: str) -> frozenset[str]:
    rows = conn.execute(
        "SELECT f.path FROM repositories r JOIN snapshot_files f ON f.snapshot_id = r.current_snapshot_id"
        " WHERE right(r.full_name, length(%(name)s) + 1) = '/' || %(name)s",  # a local one: <parent>/<folder>
        {"name": repository},
    ).fetchall()
    return frozenset(row[0] for row in rows)


def _nonzero(counts: dict[str, Any]) -> dict[str, int]:
    return {reason: count for reason, count in counts.items() if count}


@pytest.mark.parametrize("kind", CASES)
def test_hostile_tree__is_skipped_with_its_reason_and_loses_nothing(outcome: Outcome, kind: str) -> None:
    case, job = CASES[kind], outcome.jobs[kind]

    if case.failed_with is not None:
        assert job.status == IndexJobStatus.FAILED
        assert job.retry_count == 0, "a tree git cannot parse stays corrupt: retrying cannot help"
        assert case.failed_with in (job.error_message or "")
    else:
        assert job.status == IndexJobStatus.COMPLETED, job.error_message
        assert _nonzero(job.stats["skipped"]) == case.skipped
        assert job.stats["files"] == len(case.stored)
    assert outcome.stored[kind] == case.stored
    assert outcome.restarts == 0, "a stage process died"
    assert outcome.left_behind == []
