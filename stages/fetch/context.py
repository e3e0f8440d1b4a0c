"""What the cross-file step needs from a commit: its paths and its module-resolution config files."""

from __future__ import annotations

import posixpath

import pygit2
from pygit2.enums import FileMode, ObjectType

from stages.commit import CommitContext
from stages.fetch.errors import MissingObject
from stages.fetch.objects import DEFAULT_MAX_OBJECT_BYTES
from stages.fetch.tree import DEFAULT_MAX_TREE_ENTRIES, peel_commit, walk_tree
from stages.fetch.vendored import DEFAULT_VENDORING, Rescued
from stages.resolve import TSCONFIG_NAMES, ModuleResolver
from stages.resolve_python import is_requirements_path

CONFIG_NAMES = frozenset({*TSCONFIG_NAMES, "package.json", "pyproject.toml", "setup.cfg", "go.mod", "go.work"})
"""Files whose text a module system's resolver reads (``stages.resolvers``), besides pip requirements files."""


def is_config_path(path: str) -> bool:
    """Whether resolution reads this file's text: a ``CONFIG_NAMES`` file or a pip requirements file
    (``stages.resolve_python.is_requirements_path``)."""
    return posixpath.basename(path) in CONFIG_NAMES or is_requirements_path(path)


MAX_CONFIG_BYTES = 1024 * 1024


def commit_context(
    repo: pygit2.Repository,
    commit_sha: str,
    *,
    max_entries: int = DEFAULT_MAX_TREE_ENTRIES,
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    rescued: Rescued | None = None,
) -> CommitContext:
    """What the cross-file step needs from the commit, from one walk of its tree (no checkout): every path that the
    path rule accepts (``stages.fetch.paths``) and the vendoring rule does not skip (``stages.fetch.vendored``;
    pass ``rescued`` from the commit's ``FileListing``, so that what imports put back is there too; bare
    specifiers name external packages whether or not they were committed), and the text of each config blob
    (``is_config_path``: ``tsconfig.json``, ``package.json``, ``pyproject.toml``, ``go.mod``…, and each ``.json``
    file a tsconfig ``extends``) up to ``MAX_CONFIG_BYTES`` (decoded with replacement characters; a larger or
    unreadable one is left out, and resolution notes it as unreadable). Raises what ``walk_tree`` raises,
    ``LimitExceeded`` past ``max_entries`` entries walked or for a commit or tree larger than ``max_object_bytes``."""
    odb = repo.odb
    paths: list[str] = []
    configs: dict[str, str] = {}
    commit = peel_commit(repo, commit_sha, max_object_bytes=max_object_bytes)
    walk = walk_tree(
        repo,
        commit,
        vendoring=DEFAULT_VENDORING,
        descend_skipped=False,
        rescued=rescued,
        max_entries=max_entries,
        max_object_bytes=max_object_bytes,
    )
    json_blobs: dict[str, pygit2.Oid] = {}  # what a tsconfig ``extends`` may name, read only if one does
    for entry in walk:
        if entry.skip is not None or entry.mode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            continue
        paths.append(entry.path)
        if is_config_path(entry.path):
            text = _config_text(odb, entry.oid, entry.path)
            if text is not None:
                configs[entry.path] = text
        elif entry.path.endswith(".json"):
            json_blobs[entry.path] = entry.oid
    paths.sort()
    _read_extended_configs(odb, paths, configs, json_blobs)
    return CommitContext(paths=tuple(paths), configs=configs)


def _read_extended_configs(
    odb: pygit2.Odb, paths: list[str], configs: dict[str, str], json_blobs: dict[str, pygit2.Oid]
) -> None:
    """Add to ``configs`` the text of every config the commit's tsconfig ``extends`` chains name under another
    file name (``tsconfig.base.json``, ``configs/strict.json``…), found by the resolver's own rules
    (``ModuleResolver.extended_configs``), so the link step resolves through them as a resolver reading any file
    would. Each blob is read at most once, with the same size bound."""

    def read_text(path: str) -> str | None:
        oid = json_blobs.pop(path, None)
        if oid is not None and (text := _config_text(odb, oid, path)) is not None:
            configs[path] = text
        return configs.get(path)

    if any(posixpath.basename(path) in TSCONFIG_NAMES and "extends" in text for path, text in configs.items()):
        ModuleResolver.from_files(paths, read_text).extended_configs()


def _config_text(odb: pygit2.Odb, oid: pygit2.Oid, path: str) -> str | None:
    """The config blob's text, or ``None`` when it is too large or not a readable blob (the header is read first,
    so a huge blob is never inflated)."""
    try:
        object_type, size = odb.read_header(oid)
    except (KeyError, pygit2.GitError):
        raise MissingObject(f"blob {oid} of {path!r} is missing from the clone") from None
    if object_type != ObjectType.BLOB or size > MAX_CONFIG_BYTES:
        return None
    try:
        data = odb.read(oid)[1]
    except pygit2.GitError:
        return None
    return data.decode("utf-8", "replace")
