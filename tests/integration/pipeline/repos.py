"""Real git repositories for the pipeline tests, built with pygit2 (no network, no checkout needed)."""

from __future__ import annotations

from pathlib import Path

import pygit2

SIGNATURE = pygit2.Signature("Test Author", "author@example.test", 1_700_000_000, 0)


def commit_files(repo: pygit2.Repository, files: dict[str, bytes | str], message: str) -> str:
    """Commit exactly ``files`` (path → content; a ``str`` starting with ``->`` makes a symlink) on HEAD."""
    index = pygit2.Index()
    for path, content in sorted(files.items()):
        if isinstance(content, str) and content.startswith("->"):
            oid = repo.create_blob(content[2:].encode())
            index.add(pygit2.IndexEntry(path, oid, pygit2.enums.FileMode.LINK))
        else:
            data = content.encode() if isinstance(content, str) else content
            index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents))


def new_repository(path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(path), bare=False, initial_head="main")


SOURCES_V1: dict[str, bytes | str] = {
    "package.json": '{"name": "demo-app", "dependencies": {"react": "^18.2.0"}}',
    "tsconfig.json": '{"compilerOptions": {"baseUrl": ".", "paths": {"@lib/*": ["lib/*"]}}}',
    "src/main.ts": (
        "import { helper, Greeter } from './util';\n"
        "import { shout } from '@lib/strings';\n"
        "import * as path from 'node:path';\n\n"
        "/** Entry point. */\n"
        "export async function main(): Promise<void> {\n"
        "  const g = new Greeter('x');\n"
        "  console.log(shout(helper(2)), path.sep, g.greet());\n"
        "}\n"
    ),
    "src/util.ts": (
        "export function helper(n: number): string { return String(n * 2); }\n"
        "export class Greeter {\n  constructor(private name: string) {}\n"
        "  greet(): string { return `hi ${this.name}`; }\n}\n"
        "export type Id = string;\nexport enum Color { Red, Green }\n"
    ),
    "src/view.tsx": (
        "import React from 'react';\nimport { helper } from './util';\n"
        "export const View = () => <div>{helper(1)}</div>;\n"
    ),
    "lib/strings.js": "export function shout(s) { return s.toUpperCase(); }\nmodule.exports.quiet = (s) => s;\n",
    "src/broken.ts": "export function ok(): number { return 1; }\nexport const = ;\nfunction after() {}\n",
    "src/notes.md": "# not code\n",
    "tool.rb": "puts 'not indexed'\n",
    "node_modules/dep/index.js": "export const vendored = 1;\n",
    "dist/bundle.js": "export const built = 1;\n",
    "src/blob.ts": b"\x00\x01binary\x00data",
    "src/link.ts": "->util.ts",
    "src/latin1.ts": b"export const caf\xe9 = 1;\n",
}

SOURCES_V2: dict[str, bytes | str] = {
    **SOURCES_V1,
    "src/util.ts": "export function helper(n: number): string { return String(n); }\nexport class Greeter {}\n",
    "src/extra.ts": "export interface Shape { area(): number }\n",
}
