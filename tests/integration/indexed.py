"""A small indexed repository for the query tests: a real git repository, indexed in this process by the same
stage functions the pipeline runs (``pipeline.local.index_commit``) and stored by the write stage, so each test
gets a real index in a fraction of a second."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from pipeline.local import index_commit
from stages.write import FileRow, SnapshotWriter
from tests.integration.pipeline.repos import commit_files, new_repository

FULL_NAME = "acme/app"

CLIENT_TS = """\
/** Talks to the server. */
export class Client {
  static create(): Client {
    return new Client();
  }
  run(): number {
    return this.step();
  }
  step(): number {
    return 1;
  }
}
"""
MAIN_TS = """\
import { Client } from './client';
import { helper } from './util';
import React from 'react';
import * as fs from 'fs';

export function main(): number {
  const client = Client.create();
  console.log(React, fs);
  return client.run() + helper(2);
}
"""
UTIL_TS = """\
export function helper(n: number): number {
  return n * 2;
}
export function helperTwice(): number {
  return helper(helper(1));
}
function hidden(): void {}
"""
THING_TS = "import { main } from '../../main';\nexport const thing = main();\n"
SOURCES = {
    "package.json": '{"name": "app", "dependencies": {"react": "^18.2.0"}}',
    "src/client.ts": CLIENT_TS,
    "src/main.ts": MAIN_TS,
    "src/util.ts": UTIL_TS,
    "src/deep/nested/thing.ts": THING_TS,
}


def position(source: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """(line, column) of the start of the ``occurrence``-th ``needle`` in ``source``: 1-based line, 0-based byte
    column."""
    at = -1
    for _ in range(occurrence + 1):
        at = source.index(needle, at + 1)
    line_start = source.rfind("\n", 0, at) + 1
    return source.count("\n", 0, at) + 1, len(source[line_start:at].encode())


def add_repository(conn: psycopg.Connection[TupleRow], full_name: str = FULL_NAME, url: str | None = None) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO repositories (full_name, git_url) VALUES (%s, %s) RETURNING id",
        [full_name, url or f"https://example.test/{full_name}.git"],
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def index_repository(
    conn: psycopg.Connection[TupleRow],
    directory: Path,
    sources: dict[str, str] | None = None,
    *,
    full_name: str = FULL_NAME,
) -> uuid.UUID:
    """Commit ``sources`` (default SOURCES) to a new git repository under ``directory``, index that commit and
    store it as the current index of a new repository named ``full_name``; returns the repository's id."""
    repo = new_repository(directory / full_name.replace("/", "-"))
    commit = commit_files(repo, dict(sources or SOURCES), "index me")
    local = index_commit(repo, commit)
    repository_id = add_repository(conn, full_name)
    writer = SnapshotWriter(conn, repository_id=repository_id, commit_sha=commit)
    with conn.transaction():
        writer.begin()
        for file_idx, file in enumerate(local.files):
            writer.add_file(
                FileRow(file_idx=file_idx, path=file.path, blob_oid=file.blob_oid, extraction=file.extraction)
            )
        writer.finish(local.linked.linked, local.linked.package_versions)
    return repository_id
