"""Listing a commit's tree: which files are worth parsing, and why each of the others is skipped.

``walk_tree`` is the one walk of a tree (iterative, so depth costs no stack); ``list_files`` and
``stages.fetch.context.commit_context`` both read the tree through it, so the same path rule
(``stages.fetch.paths``) decides what leaves the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Literal, NamedTuple, get_args

import msgspec
import pygit2
from pygit2.enums import FileMode, ObjectType

from stages import languages
from stages.fetch.errors import CorruptObject, FetchError, LimitExceeded, MissingObject, UnknownRevision
from stages.fetch.objects import DEFAULT_MAX_OBJECT_BYTES, check_object_size, peel_tags
from stages.fetch.paths import path_skip_reason

SkipReason = Literal[
    "vendored",
    "invalid_path",
    "unsafe_path",
    "corrupt_object",
    "minified",
    "too_large",
    "binary",
    "symlink",
    "submodule",
    "unsupported_language",
]
DEFAULT_MAX_TREE_ENTRIES: Final = 5_000_000
"""Entries one walk of a commit's tree may visit (the default of ``index.max_tree_entries``)."""

SKIP_REASONS: Final[tuple[SkipReason, ...]] = get_args(SkipReason)
"""Every skip reason, in the order stats list them."""
TreeSkipReason = Literal["vendored", "invalid_path", "unsafe_path", "corrupt_object"]
"""The reasons ``walk_tree`` decides from the tree alone."""

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
        # version control metadata committed by mistake (a `.git` entry is never a path: `unsafe_path`)
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
    non-directory entry of the tree (blobs, symlinks, submodules), skipped ones included; a directory git cannot
    parse counts as one entry (``corrupt_object``).
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
    max_entries: int = DEFAULT_MAX_TREE_ENTRIES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> FileListing:
    """The files of the tree at ``commit_sha`` worth parsing, without reading any blob.

    Each non-directory entry is either kept or counted under the first reason that applies, in this order:
    the ``walk_tree`` reasons (``invalid_path``, ``unsafe_path``, ``vendored``, ``corrupt_object``: from the path
    and the tree alone), ``submodule`` (gitlink), ``symlink``, ``unsupported_language`` (``language_for_path``
    gives ``None``), ``minified`` (name ends in one of ``MINIFIED_SUFFIXES``), ``corrupt_object`` (the object
    header says it is not a blob), ``too_large`` (size from the object header above ``max_file_bytes``).
    ``binary`` and content-``minified`` are decided by ``read_files``. Raises ``UnknownRevision`` for an unknown
    commit, ``MissingObject`` (retryable) for an object absent from the clone, ``CorruptObject`` for a root tree
    that cannot be parsed, ``LimitExceeded`` past ``max_entries`` or for a commit or tree larger than
    ``max_object_bytes`` (see ``walk_tree``).
    """
    commit = peel_commit(repo, commit_sha, max_object_bytes=max_object_bytes)
    odb = repo.odb
    items: list[FileItem] = []
    skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
    files_seen = 0
    walk = walk_tree(
        repo,
        commit,
        vendored_dirs=vendored_dirs,
        descend_skipped=True,
        max_entries=max_entries,
        max_object_bytes=max_object_bytes,
    )
    for entry in walk:
        files_seen += 1
        reason = entry.skip or _file_skip_reason(odb, entry, max_file_bytes, language_for_path, items)
        if reason is not None:
            skipped[reason] += 1
    items.sort(key=lambda item: item.path)
    return FileListing(
        commit_sha=str(commit.id),
        items=items,
        skipped=skipped,
        files_seen=files_seen,
        bytes_selected=sum(item.size for item in items),
    )


def _file_skip_reason(
    odb: pygit2.Odb,
    entry: TreeEntry,
    max_file_bytes: int,
    language_for_path: Callable[[str], str | None],
    items: list[FileItem],
) -> SkipReason | None:
    """Keep the file (append it to ``items``, ``None``) or say why it is skipped."""
    if entry.mode == FileMode.COMMIT:
        return "submodule"
    if entry.mode == FileMode.LINK:
        return "symlink"
    language = language_for_path(entry.path)
    if language is None:
        return "unsupported_language"
    if entry.path.endswith(MINIFIED_SUFFIXES):
        return "minified"
    try:
        object_type, size = odb.read_header(entry.oid)
    except (KeyError, pygit2.GitError):
        raise MissingObject(f"blob {entry.oid} of {entry.path!r} is missing from the clone") from None
    if object_type != ObjectType.BLOB:
        return "corrupt_object"
    if size > max_file_bytes:
        return "too_large"
    items.append(FileItem(path=entry.path, oid=str(entry.oid), language=language, size=size))
    return None


class TreeEntry(NamedTuple):
    """A non-directory entry of a commit's tree; ``skip`` is set when the tree alone decides it is skipped."""

    path: str  # "" when skipped: a rejected path never leaves the walk
    mode: int
    oid: pygit2.Oid
    skip: TreeSkipReason | None


def walk_tree(
    repo: pygit2.Repository,
    commit: pygit2.Commit,
    *,
    vendored_dirs: frozenset[str],
    descend_skipped: bool,
    max_entries: int = DEFAULT_MAX_TREE_ENTRIES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> Iterator[TreeEntry]:
    """Every non-directory entry of the commit's tree, depth first, with a stack instead of recursion.

    Each entry name is checked by ``stages.fetch.paths.path_skip_reason`` first, then a directory named in
    ``vendored_dirs`` is ``vendored``; the first reason met on the way down applies to everything below, so only
    accepted paths are ever built. A subtree that git cannot parse (an empty entry name, a malformed mode) is one
    ``corrupt_object`` entry. With ``descend_skipped`` the entries below a skipped directory are yielded one by one
    (to count them), else the directory is not entered. Raises ``MissingObject`` (retryable) for a tree absent from
    the clone and ``CorruptObject`` for a root tree that cannot be parsed.

    The walk visits at most ``max_entries`` entries (files and directories, skipped ones included) and raises
    ``LimitExceeded`` beyond: a crafted tree that names the same subtree again and again describes billions of
    paths in a few objects, so neither the time nor the memory of a walk is bounded by the clone's size. A tree
    object whose header claims more than ``max_object_bytes`` raises ``LimitExceeded`` before it is read
    (``stages.fetch.objects``).
    """
    odb = repo.odb
    visited = 0
    check_object_size(repo, commit.tree_id, max_object_bytes)
    try:
        root = commit.tree
    except pygit2.GitError as exc:
        raise _unreadable_tree(odb, commit.tree_id, commit, exc) from None
    stack: list[tuple[pygit2.Tree, str, TreeSkipReason | None]] = [(root, "", None)]
    while stack:
        tree, parent, inherited = stack.pop()
        check_object_size(repo, tree.id, max_object_bytes)
        try:
            entries = iter(tree)
        except pygit2.GitError as exc:
            error = _unreadable_tree(odb, tree.id, commit, exc)
            if isinstance(error, MissingObject) or tree.id == root.id:
                raise error from None
            yield TreeEntry("", FileMode.TREE, tree.id, inherited or "corrupt_object")
            continue
        names: set[bytes] = set()
        for entry in entries:
            visited += 1
            if visited > max_entries:
                raise LimitExceeded(
                    f"the tree of commit {commit.id} has more than {max_entries:,} entries (index.max_tree_entries)"
                )
            raw_name = entry.raw_name
            assert raw_name is not None
            # git's own trees never repeat a name; a crafted one can, and a checkout holds only one of them
            reason = inherited or ("unsafe_path" if raw_name in names else path_skip_reason(parent, raw_name))
            names.add(raw_name)
            name = "" if reason else raw_name.decode()
            if entry.filemode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                if reason is None and name in vendored_dirs:
                    reason = "vendored"
                if reason is None:
                    stack.append((entry, f"{parent}{name}/", None))
                elif descend_skipped:
                    stack.append((entry, "", reason))
            else:
                yield TreeEntry("" if reason else parent + name, entry.filemode, entry.id, reason)


def _unreadable_tree(odb: pygit2.Odb, tree_id: pygit2.Oid, commit: pygit2.Commit, exc: Exception) -> FetchError:
    """``MissingObject`` (retryable) for a tree absent from the clone, ``CorruptObject`` for one git cannot parse."""
    if tree_id not in odb:
        return MissingObject(f"tree {tree_id} of commit {commit.id} is missing from the clone")
    return CorruptObject(f"tree {tree_id} of commit {commit.id} cannot be parsed: {exc}")


def peel_commit(
    repo: pygit2.Repository, commit_sha: str, *, max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
) -> pygit2.Commit:
    """The commit ``commit_sha`` names (a tag is peeled); ``UnknownRevision`` if there is none, ``LimitExceeded``
    for a commit or tag larger than ``max_object_bytes``."""
    try:
        target = peel_tags(repo, repo.expand_id(commit_sha), max_object_bytes)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"commit {commit_sha!r} does not exist in the repository") from None
    if target.type != ObjectType.COMMIT:
        raise UnknownRevision(f"{commit_sha!r} names a {target.type_str}, not a commit")
    return target.peel(pygit2.Commit)
