"""A monorepo whose path aliases live in configs named other than ``tsconfig.json`` (``tsconfig.base.json``, a
shared package's ``base.json``, reached through ``extends``), indexed end to end: the import resolves through them,
as a resolver reading any file of the commit would; a later commit that changes only the extended config is a
config change (the whole commit relinked, as for a ``tsconfig.json``), and the import follows it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import in_process_dump, index_and_dump
from tests.integration.pipeline.index_dump import IndexDump, differences
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow

FILES: dict[str, bytes | str] = {
    "package.json": '{"name": "monorepo", "private": true, "workspaces": ["packages/*"]}',
    "packages/config/package.json": '{"name": "@org/config"}',
    # no "compilerOptions" here: they come from the chain app → ../../tsconfig.base.json → @org/config/base(.json)
    "packages/app/tsconfig.json": '{"extends": "../../tsconfig.base.json"}',
    "tsconfig.base.json": '{\n  // the shared options\n  "extends": "@org/config/base"\n}',
    "packages/config/base.json": (
        '{"compilerOptions": {"baseUrl": "../..", "paths": {"@lib/*": ["packages/lib/src/*"]}}}'
    ),
    "packages/lib/src/strings.ts": "export function shout(text: string): string { return text.toUpperCase(); }\n",
    "packages/lib/src/numbers.ts": "export function shout(value: number): number { return value * 2; }\n",
    "packages/app/src/main.ts": "import { shout } from '@lib/strings';\n\nexport const loud = shout('hi');\n",
    "packages/app/data.json": '{"not": "a config"}',
}


def imports_of_main(stored: IndexDump) -> set[tuple[str | None, str | None]]:
    return {
        (kind, target)
        for (path, _), (kind, target, _, _) in stored["resolved_imports"].items()
        if path == "packages/app/src/main.ts"
    }


def test_tsconfig_extends__aliases_from_configs_of_any_name_resolve_and_an_edit_of_one_is_a_config_change(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "monorepo"
    repo = new_repository(path)
    first = commit_files(repo, FILES, "aliases in an extended config")
    pipeline_config = harness.pipeline_config(config, tmp_path)

    stored = index_and_dump(pipeline_config, conn, path, first)

    assert imports_of_main(stored) == {("file", "packages/lib/src/strings.ts")}
    assert ("packages/app/src/main.ts", "packages/lib/src/strings.ts", False) in stored["file_dependencies"]
    assert not differences(stored, in_process_dump(path, first))

    base = '{"compilerOptions": {"baseUrl": "../..", "paths": {"@lib/strings": ["packages/lib/src/numbers.ts"]}}}'
    second = commit_files(repo, {**FILES, "packages/config/base.json": base}, "the alias now names another file")
    stored = index_and_dump(pipeline_config, conn, path, second)  # not incremental: a config changed

    assert imports_of_main(stored) == {("file", "packages/lib/src/numbers.ts")}
    assert not differences(stored, in_process_dump(path, second))
