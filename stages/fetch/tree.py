"""Listing a commit's tree: which files are worth parsing, and why each of the others is skipped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import msgspec
import pygit2
from pygit2.enums import FileMode

from stages import languages
from stages.fetch.errors import MissingObject, UnknownRevision

SkipReason = Literal[
    "vendored",
    "minified",
    "too_large",
    "binary",
    "symlink",
    "submodule",
    "unsupported_language",
]
SKIP_REASONS: Final[tuple[SkipReason, ...]] = (
    "vendored",
    "minified",
    "too_large",
    "binary",
    "symlink",
    "submodule",
    "unsupported_language",
)

VENDORED_DIRS: Final = frozenset(
    {
        # installed dependencies
        "node_modules",
        "bower_components",
        "jspm_packages",
        "vendor",
        ".yarn",
        ".pnpm-store",
        # build output
        "dist",
        "build",
        "out",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".output",
        ".vercel",
        ".turbo",
        ".parcel-cache",
        ".cache",
        # test coverage reports
        "coverage",
        ".nyc_output",
        # version control metadata committed by mistake
        ".git",
        ".hg",
        ".svn",
    }
)
"""Directory names skipped wherever they appear in a path (exact, case-sensitive match of one path component)."""

MINIFIED_SUFFIXES: Final = (".min.js", ".min.mjs", ".min.cjs", "-min.js")


class FileItem(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One file to parse: its path in the commit, its blob id (40 hex), its language and its size in bytes."""

    path: str
    oid: str
    language: str
    size: int


class FileListing(msgspec.Struct, kw_only=True):
    """The files of one commit worth reading, and how many of the others were skipped for which reason.

    ``items`` are sorted by path. ``skipped`` has every ``SKIP_REASONS`` key; pass it to ``read_files`` so the
    ``binary`` and content-``minified`` decisions taken there land in the same counts. ``files_seen`` counts every
    non-directory entry of the tree (blobs, symlinks, submodules), vendored ones included.
    """

    commit_sha: str
    items: list[FileItem]
    skipped: dict[str, int]
    files_seen: int
    bytes_selected: int


def list_files(
    repo: pygit2.Repository,
    commit_sha: str,
    *,
    max_file_bytes: int,
    language_for_path: Callable[[str], str | None] = languages.language_name_for_path,
    vendored_dirs: frozenset[str] = VENDORED_DIRS,
) -> FileListing:
    """The files of the tree at ``commit_sha`` worth parsing, without reading any blob.

    Each non-directory entry is either kept or counted under the first reason that applies, in this order:
    ``vendored`` (below a directory named in ``vendored_dirs``, whatever the entry is), ``submodule`` (gitlink),
    ``symlink``, ``unsupported_language`` (``language_for_path`` gives ``None``), ``minified`` (name ends in one of
    ``MINIFIED_SUFFIXES``), ``too_large`` (size from the object header above ``max_file_bytes``).
    ``binary`` and content-``minified`` are decided by ``read_files``. Path names that are not UTF-8 are decoded
    with replacement characters (the blob id still identifies the content).
    """
    try:
        commit = repo[commit_sha].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"commit {commit_sha!r} does not exist in the repository") from None
    walker = _TreeWalker(repo.odb, max_file_bytes, language_for_path, vendored_dirs)
    try:
        walker.walk(commit.tree, "")
    except (KeyError, pygit2.GitError) as exc:
        raise MissingObject(f"the tree of commit {commit.id} cannot be read from the clone: {exc}") from None
    walker.items.sort(key=lambda item: item.path)
    return FileListing(
        commit_sha=str(commit.id),
        items=walker.items,
        skipped=walker.skipped,
        files_seen=walker.files_seen,
        bytes_selected=sum(item.size for item in walker.items),
    )


class _TreeWalker:
    """Recursive tree walk that fills the kept items and skip counts of one listing."""

    def __init__(
        self,
        odb: pygit2.Odb,
        max_file_bytes: int,
        language_for_path: Callable[[str], str | None],
        vendored_dirs: frozenset[str],
    ) -> None:
        self.odb = odb
        self.max_file_bytes = max_file_bytes
        self.language_for_path = language_for_path
        self.vendored_dirs = vendored_dirs
        self.items: list[FileItem] = []
        self.skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
        self.files_seen = 0

    def walk(self, tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            raw_name = entry.raw_name
            assert raw_name is not None
            name = raw_name.decode("utf-8", "replace")
            mode = entry.filemode
            if mode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                if name in self.vendored_dirs:
                    vendored = self._count_files(entry)
                    self.skipped["vendored"] += vendored
                    self.files_seen += vendored
                else:
                    self.walk(entry, f"{prefix}{name}/")
                continue
            self.files_seen += 1
            reason = self._visit_file(mode, prefix + name, entry.id)
            if reason is not None:
                self.skipped[reason] += 1

    def _visit_file(self, mode: int, path: str, oid: pygit2.Oid) -> SkipReason | None:
        """Keep the file (``None``) or say why it is skipped."""
        if mode == FileMode.COMMIT:
            return "submodule"
        if mode == FileMode.LINK:
            return "symlink"
        language = self.language_for_path(path)
        if language is None:
            return "unsupported_language"
        if path.endswith(MINIFIED_SUFFIXES):
            return "minified"
        size = self.odb.read_header(oid)[1]
        if size > self.max_file_bytes:
            return "too_large"
        self.items.append(FileItem(path=path, oid=str(oid), language=language, size=size))
        return None

    def _count_files(self, tree: pygit2.Tree) -> int:
        count = 0
        for entry in tree:
            if entry.filemode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                count += self._count_files(entry)
            else:
                count += 1
        return count
