"""Listing a commit's tree: which files are worth parsing, and why each of the others is skipped.

``walk_tree`` is the one walk of a tree (iterative, so depth costs no stack); ``list_files`` and
``stages.fetch.context.commit_context`` both read the tree through it, so the same path rule
(``stages.fetch.paths``) and the same vendoring rule (``stages.fetch.vendored``) decide what leaves the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Literal, NamedTuple, get_args

import msgspec
import pygit2
from pygit2.enums import FileMode, ObjectType

from stages import languages
from stages.fetch.attributes import MAX_RULES, Rule, linguist_state, parse_attributes
from stages.fetch.errors import CorruptObject, FetchError, LimitExceeded, MissingObject, UnknownRevision
from stages.fetch.objects import DEFAULT_MAX_OBJECT_BYTES, check_object_size, peel_tags
from stages.fetch.paths import path_skip_reason
from stages.fetch.vendored import (
    DEFAULT_MAX_SCAN_BYTES,
    DEFAULT_VENDORING,
    IMPORTABLE_SUFFIXES,
    INSTALLED_DEPENDENCY_DIRS,
    MAX_ATTRIBUTES_BYTES,
    MAX_RESCUE_ROUNDS,
    PACKAGE_MANIFESTS,
    Rescued,
    VendoredRegions,
    Vendoring,
    relative_targets,
)

SkipReason = Literal[
    "vendored",
    "generated",
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
TreeSkipReason = Literal["vendored", "generated", "invalid_path", "unsafe_path", "corrupt_object"]
"""The reasons ``walk_tree`` decides from the tree alone."""
PathReason = Literal["invalid_path", "unsafe_path", "corrupt_object"]
"""The reasons that keep a path from being built: they apply to everything below."""

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
    parse counts as one entry (``corrupt_object``). ``rescued`` is what imports from first-party code put back in
    the index (pass it to ``commit_context``, so that its paths are the same).
    """

    commit_sha: str
    items: list[FileItem]
    skipped: dict[str, int]
    files_seen: int
    bytes_selected: int
    rescued: Rescued = msgspec.field(default_factory=Rescued)


def list_files(
    repo: pygit2.Repository,
    commit_sha: str,
    *,
    max_file_bytes: int,
    language_for_path: Callable[[str], str | None] = languages.language_name_for_path,
    vendoring: Vendoring = DEFAULT_VENDORING,
    max_entries: int = DEFAULT_MAX_TREE_ENTRIES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES,
) -> FileListing:
    """The files of the tree at ``commit_sha`` worth parsing; no blob is read unless the commit has vendored or
    generated files (below).

    Each non-directory entry is either kept or counted under the first reason that applies, in this order:
    the ``walk_tree`` reasons (``invalid_path``, ``unsafe_path``, ``vendored``, ``generated``, ``corrupt_object``:
    from the path, the tree and its ``.gitattributes``), ``submodule`` (gitlink), ``symlink``,
    ``unsupported_language`` (``language_for_path`` gives ``None``), ``minified`` (name ends in one of
    ``MINIFIED_SUFFIXES``), ``corrupt_object`` (the object header says it is not a blob), ``too_large`` (size from
    the object header above ``max_file_bytes``). ``binary`` and content-``minified`` are decided by
    ``read_files``.

    When the walk skipped something as ``vendored`` or ``generated``, the listed files (at most
    ``max_scan_bytes`` of them) are scanned for relative imports into it, and what they import from is listed
    after all (``stages.fetch.vendored``): the tree is walked again with the rescue, and the files it adds are
    scanned in turn, at most ``MAX_RESCUE_ROUNDS`` times. Raises ``UnknownRevision`` for an unknown commit,
    ``MissingObject`` (retryable) for an object absent from the clone, ``CorruptObject`` for a root tree that
    cannot be parsed, ``LimitExceeded`` past ``max_entries`` or for a commit or tree larger than
    ``max_object_bytes`` (see ``walk_tree``).
    """
    commit = peel_commit(repo, commit_sha, max_object_bytes=max_object_bytes)
    rescued = Rescued()
    scanned: set[str] = set()
    budget = max_scan_bytes
    rounds = 0
    while True:
        regions = VendoredRegions()
        listing = _listing(
            repo,
            commit,
            max_file_bytes=max_file_bytes,
            language_for_path=language_for_path,
            vendoring=vendoring,
            rescued=rescued,
            regions=regions,
            max_entries=max_entries,
            max_object_bytes=max_object_bytes,
        )
        if not regions or rounds == MAX_RESCUE_ROUNDS:
            return listing
        targets: set[str] = set()
        for item in listing.items:
            if item.path in scanned or item.size > budget:
                continue
            scanned.add(item.path)
            budget -= item.size
            targets.update(relative_targets(item.path, _blob_bytes(repo.odb, item)))
        found = regions.rescue_for(targets, lambda target: _imports_something(commit.tree, target))
        if found.dirs <= rescued.dirs and found.files <= rescued.files:
            return listing
        rescued |= found
        rounds += 1


def _imports_something(tree: pygit2.Tree, target: str) -> bool:
    """Whether a relative import's target (a repository path) names a file of the tree, as resolution would find
    it (``stages.resolve``): itself, with an extension, or a directory's ``index`` or ``package.json``."""
    for suffix in IMPORTABLE_SUFFIXES:
        try:
            entry = tree[target + suffix]
        except (KeyError, ValueError, pygit2.GitError):
            continue
        if entry.type != ObjectType.TREE:
            return True
    return False


def _blob_bytes(odb: pygit2.Odb, item: FileItem) -> bytes:
    """The blob of a listed item (its header said it is a blob of at most the size limit)."""
    try:
        return odb.read(item.oid)[1]
    except (KeyError, ValueError, pygit2.GitError):
        if item.oid not in odb:
            raise MissingObject(f"blob {item.oid} of {item.path!r} is missing from the clone") from None
        return b""  # there, but git cannot read it: read_files counts it as a corrupt object


def _listing(
    repo: pygit2.Repository,
    commit: pygit2.Commit,
    *,
    max_file_bytes: int,
    language_for_path: Callable[[str], str | None],
    vendoring: Vendoring,
    rescued: Rescued,
    regions: VendoredRegions,
    max_entries: int,
    max_object_bytes: int,
) -> FileListing:
    """One walk of the tree with ``rescued`` put back: the listing, and what was skipped as vendored or generated
    in ``regions``."""
    odb = repo.odb
    items: list[FileItem] = []
    skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
    files_seen = 0
    walk = walk_tree(
        repo,
        commit,
        vendoring=vendoring,
        descend_skipped=True,
        rescued=rescued,
        regions=regions,
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
        rescued=rescued,
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

    path: str  # "" when its path is rejected (invalid, unsafe, corrupt): such a path never leaves the walk
    mode: int
    oid: pygit2.Oid
    skip: TreeSkipReason | None


class _Frame(NamedTuple):
    """A tree waiting in the walk's stack, with what its ancestors decided for everything below it."""

    tree: pygit2.Tree
    parent: str  # its path with a trailing "/" ("" at the root, and below a rejected path)
    path_reason: PathReason | Literal["vendored"] | None  # a rejected path: everything below is skipped with it
    vendored_root: str | None  # the skipped directory it is in (itself included)
    rescued: bool  # in a directory first-party code imports from
    rules: tuple[Rule, ...]  # the linguist rules of the .gitattributes along its path, shallowest first
    attribute_bytes: int  # bytes of the .gitattributes along its path; past MAX_ATTRIBUTES_BYTES, -1 (unused)


def walk_tree(
    repo: pygit2.Repository,
    commit: pygit2.Commit,
    *,
    vendoring: Vendoring,
    descend_skipped: bool,
    rescued: Rescued | None = None,
    regions: VendoredRegions | None = None,
    max_entries: int = DEFAULT_MAX_TREE_ENTRIES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
) -> Iterator[TreeEntry]:
    """Every non-directory entry of the commit's tree, depth first, with a stack instead of recursion.

    Each entry name is checked by ``stages.fetch.paths.path_skip_reason`` first; the first such reason met on the
    way down applies to everything below, so only accepted paths are ever built. A subtree that git cannot parse
    (an empty entry name, a malformed mode) is one ``corrupt_object`` entry. With ``descend_skipped`` the entries
    below a rejected directory are yielded one by one (to count them), else the directory is not entered.

    Files below a directory ``vendoring`` skips, and files the ``.gitattributes`` mark, are yielded with their path
    and ``vendored`` or ``generated`` (``stages.fetch.vendored`` states the rule), unless ``rescued`` puts them
    back; skipped directories are always entered (attributes can un-mark a file in them). ``regions`` receives
    the skipped directories and the files skipped by their attributes outside them. Raises ``MissingObject``
    (retryable) for a tree absent from the clone and ``CorruptObject`` for a root tree that cannot be parsed.

    The walk visits at most ``max_entries`` entries (files and directories, skipped ones included) and raises
    ``LimitExceeded`` beyond: a crafted tree that names the same subtree again and again describes billions of
    paths in a few objects, so neither the time nor the memory of a walk is bounded by the clone's size. A tree
    object whose header claims more than ``max_object_bytes`` raises ``LimitExceeded`` before it is read
    (``stages.fetch.objects``).
    """
    odb = repo.odb
    rescued = rescued or Rescued()
    visited = 0
    check_object_size(repo, commit.tree_id, max_object_bytes)
    try:
        root = commit.tree
    except pygit2.GitError as exc:
        raise _unreadable_tree(odb, commit.tree_id, commit, exc) from None
    stack = [_Frame(root, "", None, None, False, (), 0)]
    parsed_attributes: dict[pygit2.Oid, tuple[Rule, ...]] = {}  # a crafted tree can repeat one file in every directory
    while stack:
        frame = stack.pop()
        tree, parent, inherited = frame.tree, frame.parent, frame.path_reason
        check_object_size(repo, tree.id, max_object_bytes)
        try:
            entries = iter(tree)
        except pygit2.GitError as exc:
            error = _unreadable_tree(odb, tree.id, commit, exc)
            if isinstance(error, MissingObject) or tree.id == root.id:
                raise error from None
            yield TreeEntry("", FileMode.TREE, tree.id, inherited or "corrupt_object")
            continue
        if inherited is None:
            frame = _with_attributes(odb, frame, parsed_attributes)
        package_root: bool | None = None if parent else True
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
            reason: PathReason | Literal["vendored"] | None = inherited or (
                "unsafe_path" if raw_name in names else path_skip_reason(parent, raw_name)
            )
            names.add(raw_name)
            if reason is not None and frame.vendored_root is not None and not frame.rescued:
                reason = "vendored"  # the first reason met on the way down
            if reason is not None:
                if entry.filemode != FileMode.TREE:
                    yield TreeEntry("", entry.filemode, entry.id, reason)
                elif descend_skipped:
                    assert isinstance(entry, pygit2.Tree)
                    stack.append(_Frame(entry, "", reason, None, False, (), -1))
                continue
            name = raw_name.decode()
            path = parent + name
            if entry.filemode == FileMode.TREE:
                assert isinstance(entry, pygit2.Tree)
                vendored_root = frame.vendored_root
                child_rescued = frame.rescued or path in rescued.dirs
                free = vendored_root is None or frame.rescued  # the rule applies again inside a rescued directory
                if free and name in vendoring.at_package_root and package_root is None:
                    package_root = any(manifest in tree for manifest in PACKAGE_MANIFESTS)
                if free and (name in vendoring.anywhere or (name in vendoring.at_package_root and package_root)):
                    vendored_root = path
                    child_rescued = path in rescued.dirs
                    if regions is not None:
                        regions.roots[path] = name in INSTALLED_DEPENDENCY_DIRS
                stack.append(
                    frame._replace(tree=entry, parent=f"{path}/", vendored_root=vendored_root, rescued=child_rescued)
                )
                continue
            skip = _vendored_skip(frame, path)
            if skip is not None and (frame.rescued or path in rescued.files):
                skip = None
            if skip is not None and (frame.vendored_root is None or frame.rescued) and regions is not None:
                regions.marked.append(path)
            yield TreeEntry(path, entry.filemode, entry.id, skip)


def _with_attributes(odb: pygit2.Odb, frame: _Frame, parsed: dict[pygit2.Oid, tuple[Rule, ...]]) -> _Frame:
    """``frame`` with the linguist rules of its own ``.gitattributes`` added, while the files along the path stay
    within ``MAX_ATTRIBUTES_BYTES`` (its header is read first); past it, the subtree is judged by names alone.
    ``parsed`` keeps each blob's rules (relative to the root), so one blob is inflated and parsed once a walk."""
    if frame.attribute_bytes < 0 or ".gitattributes" not in frame.tree:
        return frame
    entry = frame.tree[".gitattributes"]
    if entry.filemode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
        return frame
    try:
        object_type, size = odb.read_header(entry.id)
    except (KeyError, pygit2.GitError):
        raise MissingObject(f"blob {entry.id} of {frame.parent}.gitattributes is missing from the clone") from None
    total = frame.attribute_bytes + size
    if object_type != ObjectType.BLOB or total > MAX_ATTRIBUTES_BYTES:
        return frame._replace(rules=(), attribute_bytes=-1)
    own = parsed.get(entry.id)
    if own is None:
        try:
            text = odb.read(entry.id)[1].decode("utf-8", "replace")
        except pygit2.GitError:
            return frame._replace(rules=(), attribute_bytes=-1)
        own = parsed[entry.id] = tuple(parse_attributes(text, ""))
    kept = own[: MAX_RULES - len(frame.rules)]  # cut before copying: the work per directory is at most MAX_RULES
    rules = (*frame.rules, *(rule._replace(base=frame.parent) for rule in kept))
    return frame._replace(rules=rules, attribute_bytes=total)


def _vendored_skip(frame: _Frame, path: str) -> TreeSkipReason | None:
    """``vendored``, ``generated`` or ``None`` for a file at an accepted ``path``: by the attributes when they say,
    else by the directory it is in."""
    vendored = frame.vendored_root is not None
    if not frame.rules:
        return "vendored" if vendored else None
    marked, generated = linguist_state(frame.rules, path)
    if marked is not None:
        vendored = marked
    if vendored:
        return "vendored"
    return "generated" if generated else None


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
