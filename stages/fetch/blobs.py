"""Reading blobs from the object database, skipping content that is not source (binary, minified)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final

import pygit2
from pygit2.enums import ObjectType

from stages.fetch.errors import MissingObject
from stages.fetch.tree import FileItem, SkipReason

BINARY_PROBE_BYTES: Final = 8192
MINIFIED_MIN_BYTES: Final = 1024
MINIFIED_AVERAGE_LINE_BYTES: Final = 300
"""A file of at least ``MINIFIED_MIN_BYTES`` whose lines average more than this many bytes has long lines; it is
minified only if its code also looks minified (``looks_minified``)."""
MINIFIED_PROBE_BYTES: Final = 64 * 1024
"""How much of a long-lined file ``looks_minified`` reads: the measure stays bounded however large the blob."""
MINIFIED_MAX_WHITESPACE: Final = 0.05
"""Minified code keeps only the whitespace the grammar needs (1-2.5% of the code outside string literals in
jQuery, terser and esbuild output); written or generated-to-be-read code has 10% and more (a barrel of
``export * from "./x";`` on one line: 18%)."""
MINIFIED_MIN_STATEMENT_PUNCTUATION: Final = 0.03
"""Minified code is dense in ``;{}()=`` (10-16% of the code outside string literals); a data table on one long
line (``[1,2,3,…]``, ``["a","b",…]``) has next to none and is kept: it is parsed quickly and declares its name."""

_STRING_LITERAL: Final = re.compile(rb'"(?:[^"\\\n]|\\.)*"?|\'(?:[^\'\\\n]|\\.)*\'?|`(?:[^`\\]|\\.)*`?', re.DOTALL)
"""A JavaScript string or template literal. The closing quote is optional (an unterminated string ends at its
line, a template at the end of the probe), so a match never fails: no backtracking, linear in the probe, whatever
the quotes and backslashes (with a required closing quote, 64 KB of ``"\\`` took a minute)."""
_WHITESPACE: Final = b" \t\r\n"
_STATEMENT_PUNCTUATION: Final = b";{}()="


def read_files(
    repo: pygit2.Repository,
    items: Iterable[FileItem],
    *,
    skipped: dict[str, int] | None = None,
) -> Iterator[tuple[FileItem, bytes]]:
    """Yield each item with its blob bytes from the object database, in the order given, skipping unusable content.

    A blob with a NUL byte in its first ``BINARY_PROBE_BYTES`` is skipped as ``binary``; one of at least
    ``MINIFIED_MIN_BYTES`` whose lines average more than ``MINIFIED_AVERAGE_LINE_BYTES`` and whose code looks
    minified (``looks_minified``) as ``minified``; an object
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
    if (
        len(data) >= MINIFIED_MIN_BYTES
        and len(data) / (data.count(b"\n") + 1) > MINIFIED_AVERAGE_LINE_BYTES
        and looks_minified(data)
    ):
        return "minified"
    return None


def looks_minified(data: bytes) -> bool:
    """Whether the code of ``data`` (its first ``MINIFIED_PROBE_BYTES``, string literals left out) has almost no
    whitespace (``MINIFIED_MAX_WHITESPACE``) and is dense in statement punctuation
    (``MINIFIED_MIN_STATEMENT_PUNCTUATION``).

    Long lines alone do not make a file minified: a generated barrel (``export * from "./a";export * from …``), an
    ``export { a, b, … }`` list, a long string (an inlined wasm or font) or a data table are source whose
    declarations the index needs. Cheap: called only for long-lined files, on a bounded prefix, with C-speed scans.
    """
    code = _STRING_LITERAL.sub(b'""', data[:MINIFIED_PROBE_BYTES])
    whitespace = sum(code.count(byte) for byte in _WHITESPACE)
    punctuation = sum(code.count(byte) for byte in _STATEMENT_PUNCTUATION)
    size = len(code)
    return whitespace < MINIFIED_MAX_WHITESPACE * size and punctuation >= MINIFIED_MIN_STATEMENT_PUNCTUATION * size
