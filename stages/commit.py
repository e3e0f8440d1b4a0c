"""The per-job cross-file step: resolve and link one commit's extractions.

Per-file extraction sees one file; resolution and linking need the commit: every path (an import may name a file
that is not indexed, such as a ``.json`` or ``.css`` file) and the text of every ``tsconfig.json``,
``jsconfig.json`` and ``package.json``. ``stages.fetch.context.commit_context`` collects both from the object database;
``link_commit`` resolves and links one job's extractions with them (``link_commit_batches`` a batch of files at a
time, so that a whole repository's rows need not be in memory at once). This module imports no git or database code,
so the process that links need not load them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import msgspec

from stages.link import FileView, link, link_batches
from stages.models import LinkedIndex
from stages.resolvers import CommitResolver


class CommitContext(msgspec.Struct, frozen=True, kw_only=True):
    """Every (non-vendored) path of a commit, and the text of its config files (path → text)."""

    paths: tuple[str, ...]
    configs: dict[str, str]


class LinkedCommit(msgspec.Struct, frozen=True, kw_only=True):
    """The link step's output plus the declared version of each (file, external package) dependency."""

    linked: LinkedIndex
    package_versions: dict[str, str]  # "<file_idx>:<package>" → version its nearest manifest declares
    diagnostics: tuple[str, ...]


def link_commit(
    files: Sequence[FileView] | Mapping[int, FileView],
    context: CommitContext,
    *,
    paths: Mapping[str, int] | None = None,
    only: Iterable[int] | None = None,
    resolver: CommitResolver | None = None,
) -> LinkedCommit:
    """Resolve and link ``files`` within ``context``: all of them, or ``only`` those (``stages.link.link``; file ids
    are positions in a sequence, keys of a mapping). ``resolver`` is one already built for ``context``."""
    resolver = resolver or CommitResolver.from_files(context.paths, context.configs.get)
    linked = link(files, resolver, paths=paths, only=only)
    path_of = (
        {file_id: path for path, file_id in paths.items()}
        if paths is not None
        else {
            file_id: view.path for file_id, view in (enumerate(files) if isinstance(files, Sequence) else files.items())
        }
    )
    return LinkedCommit(
        linked=linked, package_versions=_package_versions(linked, resolver, path_of), diagnostics=resolver.diagnostics
    )


def link_commit_batches(
    files: Mapping[int, FileView],
    *,
    paths: Mapping[str, int],
    batches: Iterable[Sequence[int]],
    resolver: CommitResolver,
    max_tables: int | None = None,
) -> Iterator[LinkedCommit]:
    """``link_commit`` one batch of file ids at a time (``stages.link.link_batches``): each ``LinkedCommit`` holds
    that batch's rows and package versions, and the resolver's diagnostics so far (all of them in the last)."""
    path_of = {file_id: path for path, file_id in paths.items()}
    for linked in link_batches(files, resolver, paths=paths, batches=batches, max_tables=max_tables):
        yield LinkedCommit(
            linked=linked,
            package_versions=_package_versions(linked, resolver, path_of),
            diagnostics=resolver.diagnostics,
        )


def _package_versions(linked: LinkedIndex, resolver: CommitResolver, path_of: Mapping[int, str]) -> dict[str, str]:
    """``"<file_idx>:<package>"`` → the version the nearest manifest declares (package.json; pyproject.toml,
    setup.cfg, requirements files), for each external dependency of ``linked`` that has one."""
    versions: dict[str, str] = {}
    for dependency in linked.package_dependencies:
        if dependency.is_builtin:
            continue
        version = resolver.package_version(path_of[dependency.file], dependency.package)
        if version is not None:
            versions[f"{dependency.file}:{dependency.package}"] = version
    return versions
