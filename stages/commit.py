"""What the cross-file step needs from a whole commit, and the per-job link step itself.

Per-file extraction sees one file; resolution and linking need the commit: every path (an import may name a file
that is not indexed, such as a ``.json`` or ``.css`` file) and the text of every ``tsconfig.json``,
``jsconfig.json`` and ``package.json``. ``commit_context`` collects both from the object database (no checkout);
``link_commit`` resolves and links one job's extractions with them. Paths under vendored directories such as
``node_modules`` are left out: bare specifiers name external packages whether or not they were committed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

import msgspec
import pygit2
from pygit2.enums import FileMode

from stages.fetch import VENDORED_DIRS
from stages.link import link
from stages.models import FileExtraction, LinkedIndex
from stages.resolve import ModuleResolver

CONFIG_NAMES = frozenset({"tsconfig.json", "jsconfig.json", "package.json"})
MAX_CONFIG_BYTES = 1024 * 1024


class CommitContext(msgspec.Struct, frozen=True, kw_only=True):
    """Every (non-vendored) path of a commit, and the text of its config files (path → text)."""

    paths: tuple[str, ...]
    configs: dict[str, str]


class LinkedCommit(msgspec.Struct, frozen=True, kw_only=True):
    """The link step's output plus the declared version of each (file, external package) dependency."""

    linked: LinkedIndex
    package_versions: dict[str, str]  # "<file_idx>:<package>" → version range from the nearest package.json
    diagnostics: tuple[str, ...]


def commit_context(repo: pygit2.Repository, commit_sha: str) -> CommitContext:
    """Walk the commit's tree once: collect paths and read config files (up to ``MAX_CONFIG_BYTES`` each)."""
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


def link_commit(files: Sequence[FileExtraction], context: CommitContext) -> LinkedCommit:
    """Resolve and link ``files`` (in the order that defines file indexes) within ``context``."""
    resolver = ModuleResolver.from_files(context.paths, context.configs.get)
    linked = link(files, resolver)
    versions: dict[str, str] = {}
    for dependency in linked.package_dependencies:
        if dependency.is_builtin:
            continue
        version = resolver.package_version(files[dependency.file].path, dependency.package)
        if version is not None:
            versions[f"{dependency.file}:{dependency.package}"] = version
    return LinkedCommit(linked=linked, package_versions=versions, diagnostics=resolver.diagnostics)
