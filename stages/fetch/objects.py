"""Reading commits, tags and trees whole, only after their header says they fit in ``max_object_bytes``.

libgit2 inflates and parses a commit, tag or tree object entirely when it is looked up, before anything can count
its entries. A hostile server can send one such object that compresses to a few MB and expands to GBs: the clone
child stores it fine (it never parses it), then the process walking the tree would run out of memory, with every
job it holds. The object header (type and size, read without inflating the body) decides first.
"""

from __future__ import annotations

from typing import Final

import pygit2

from stages.fetch.errors import LimitExceeded

DEFAULT_MAX_OBJECT_BYTES: Final = 64 * 1024 * 1024
"""The largest commit, tag or tree read whole (the default of ``index.max_tree_object_bytes``); a real tree of
100,000 entries is a few MB."""


def check_object_size(repo: pygit2.Repository, oid: pygit2.Oid | str, max_object_bytes: int) -> None:
    """Raise ``LimitExceeded`` (not retryable) when the header of ``oid`` claims more than ``max_object_bytes``.

    An object whose header cannot be read is left to the caller's own read, which reports it as missing or corrupt.
    """
    try:
        object_type, size = repo.odb.read_header(oid)
    except (KeyError, ValueError, pygit2.GitError):
        return
    if size > max_object_bytes:
        kind = pygit2.enums.ObjectType(object_type).name.lower()
        raise LimitExceeded(
            f"{kind} object {oid} is {size:,} bytes, more than index.max_tree_object_bytes ({max_object_bytes:,})"
        )


def read_object(repo: pygit2.Repository, oid: pygit2.Oid | str, max_object_bytes: int) -> pygit2.Object:
    """The object ``oid``, once ``check_object_size`` allows it; raises what ``repo[oid]`` raises for a bad one."""
    check_object_size(repo, oid, max_object_bytes)
    return repo[oid]


def peel_tags(repo: pygit2.Repository, oid: pygit2.Oid | str, max_object_bytes: int) -> pygit2.Object:
    """The object ``oid`` names, through any chain of annotated tags, every object read by ``read_object``."""
    obj = read_object(repo, oid, max_object_bytes)
    while isinstance(obj, pygit2.Tag):
        obj = read_object(repo, obj.target, max_object_bytes)
    return obj
