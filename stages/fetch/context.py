"""What the cross-file step needs from a commit: its paths and its module-resolution config files."""

from __future__ import annotations

import posixpath

import pygit2
from pygit2.enums import FileMode

from stages.commit import CommitContext
from stages.fetch.tree import VENDORED_DIRS

CONFIG_NAMES = frozenset({"tsconfig.json", "jsconfig.json", "package.json"})
MAX_CONFIG_BYTES = 1024 * 1024


def commit_context(repo: pygit2.Repository, commit_sha: str) -> CommitContext:
    """What the cross-file step needs from the commit, from one walk of its tree (no checkout): every path outside
    vendored directories (bare specifiers name external packages whether or not they were committed), and the text
    of each ``tsconfig.json``/``jsconfig.json``/``package.json`` up to ``MAX_CONFIG_BYTES``."""
    tree = repo[commit_sha].peel(pygit2.Commit).tree
    paths: list[str] = []
    configs: dict[str, str] = {}
    stack: list[tuple[pygit2.Tree, str]] = [(tree, "")]
    while stack:
        current, prefix = stack.pop()
        for entry in current:
            name = entry.name or ""
            path = f"{prefix}{name}"
            if entry.filemode == FileMode.TREE:
                if name not in VENDORED_DIRS:
                    assert isinstance(entry, pygit2.Tree)
                    stack.append((entry, f"{path}/"))
                continue
            if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                continue
            paths.append(path)
            if posixpath.basename(path) in CONFIG_NAMES:
                blob = repo[entry.id]
                assert isinstance(blob, pygit2.Blob)
                if blob.size <= MAX_CONFIG_BYTES:
                    configs[path] = blob.data.decode("utf-8", "replace")
    paths.sort()
    return CommitContext(paths=tuple(paths), configs=configs)
