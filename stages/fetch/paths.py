"""The rule every path leaving the fetch stage obeys: relative, made of safe components, UTF-8, bounded in length.

A commit's tree is whatever its author wrote: git's object format allows entry names such as ``..``, ``a/b.ts``,
``.git``, names with control characters or bytes that are not UTF-8, and a tree can be nested arbitrarily deep. A
path built from such names would escape a checkout it is joined to, or cannot be stored as text (Postgres rejects
what Python decodes with ``surrogateescape``; decoding with replacement makes distinct names collide). Every walk of
a tree (``stages.fetch.tree.walk_tree``) asks ``path_skip_reason`` about each entry, so the listed items and the
commit context obey the same rule; an entry it rejects, and everything below it, is skipped with the reason.
"""

from __future__ import annotations

import re
from typing import Final, Literal

PathSkipReason = Literal["invalid_path", "unsafe_path"]

MAX_PATH_BYTES: Final = 1024
"""Longest stored path, in UTF-8 bytes. Real paths stay far below it; Postgres btree entries (the index on
``snapshot_files.path``) hold at most ~2.7 KB, and each level of a tree adds at least two bytes, so this also
bounds how deep a path can be."""

_GIT_DIR_NAMES: Final = frozenset({".git", "git~1"})
"""Names a checkout reads as its own ``.git`` directory, compared case-folded (NTFS and HFS+ ignore case; ``git~1``
is NTFS's short name). The spellings NTFS reads the same, ``.git.`` and ``.git::$INDEX_ALLOCATION``, are already
unsafe for their trailing dot or their colon."""

_UNSAFE_IN_NAME: Final = re.compile(r"[:/\\\x00-\x1f\x7f-\x9f]")
"""A colon (a drive, as Windows joins ``root`` and ``D:x`` to ``D:x``, or an NTFS stream such as
``.git::$INDEX_ALLOCATION``), path separators (``/``, and ``\\`` as Windows reads it) and control characters (Unicode
category Cc)."""


def path_skip_reason(parent: str, raw_name: bytes) -> PathSkipReason | None:
    """Why ``parent`` + the entry name cannot be a stored path, or ``None`` if it can.

    ``parent`` is an accepted directory path ending in ``/``, or ``""`` at the root. ``invalid_path``: the name is
    not UTF-8, or the whole path is longer than ``MAX_PATH_BYTES``. ``unsafe_path``: the name is empty, ends in a
    dot or a space (Windows drops them, so ``...`` and ``.. `` read as ``.`` and ``..``, as git's own NTFS checks
    say), holds a colon (a drive ``C:`` or an NTFS stream), a path separator (``/``, or ``\\`` as Windows reads it)
    or a control character (NUL, newline, DEL, C1), or names a git directory (see ``_GIT_DIR_NAMES``).
    """
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_path"
    if name == "" or name.endswith((".", " ")) or _UNSAFE_IN_NAME.search(name):
        return "unsafe_path"
    if name.casefold() in _GIT_DIR_NAMES:
        return "unsafe_path"
    if len(parent.encode()) + len(raw_name) > MAX_PATH_BYTES:
        return "invalid_path"
    return None
