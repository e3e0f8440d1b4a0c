"""Reading blobs from the object database, skipping content that is not source (binary, minified)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

import pygit2
from pygit2.enums import ObjectType

from stages.fetch.errors import MissingObject
from stages.fetch.tree import FileItem, SkipReason

BINARY_PROBE_BYTES: Final = 8192
MINIFIED_MIN_BYTES: Final = 1024
MINIFIED_AVERAGE_LINE_BYTES: Final = 300
"""A file of at least ``MINIFIED_MIN_BYTES`` whose lines average more than this many bytes is treated as minified."""


def read_files(
    repo: pygit2.Repository,
    items: Iterable[FileItem],
    *,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[FileItem, bytes]]:
    """Yield each item with its blob bytes from the object database, in the order given, skipping unusable content.

    A blob with a NUL byte in its first ``BINARY_PROBE_BYTES`` is skipped as ``binary``; one of at least
    ``MINIFIED_MIN_BYTES`` whose lines average more than ``MINIFIED_AVERAGE_LINE_BYTES`` as ``minified``; an object
    that is there but cannot be read as a blob as ``corrupt_object``. Skips are added to ``skipped`` when given
    (pass ``FileListing.skipped``), so the counts are final once the iterator is exhausted. A blob absent from the
    clone raises ``MissingObject``. Stopping early is safe: nothing is held.
    """
    odb = repo.odb
    for item in items:
        try:
            object_type, data = odb.read(item.oid)
        except (KeyError, ValueError, pygit2.GitError):
            if item.oid not in odb:
                raise MissingObject(f"blob {item.oid} of {item.path!r} is missing from the clone") from None
            object_type, data = ObjectType.INVALID, b""  # there, but git cannot read it
        reason = content_skip_reason(data) if object_type == ObjectType.BLOB else "corrupt_object"
        if reason is not None:
            if skipped is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
            continue
        yield item, data


def content_skip_reason(data: bytes) -> SkipReason | None:
    """``binary`` or ``minified`` when the bytes are not worth parsing as source, else ``None``."""
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        return "binary"
    if len(data) >= MINIFIED_MIN_BYTES and len(data) / (data.count(b"\n") + 1) > MINIFIED_AVERAGE_LINE_BYTES:
        return "minified"
    return None
