"""Parse stage: one source file's bytes → a tree-sitter tree, within per-file limits.

Guarantees: ``parse_source`` either returns a tree of the whole file or raises a ``SourceFileError`` subclass
naming the file and what was wrong; it never fails for a file with syntax errors (the tree then holds ERROR
nodes and ``ParsedFile.had_syntax_errors`` is set).

Decode policy: source must be valid UTF-8 (a leading byte-order mark is allowed and is part of the file's
bytes). Invalid UTF-8 is rejected with the byte offset of the first bad sequence rather than decoded with
replacement characters, so every stored byte offset and column is exact for the blob as committed. A NUL byte
is rejected too: such files are binary or generated data, not source.

Recovery: a language may name a same-length rewrite for known grammar gaps (``LanguageSpec.recovery``, which may
read the first tree to find them). A file that parsed with errors is parsed once more from the rewrite, and the
tree with fewer bytes in ERROR nodes is kept; offsets are those of the original bytes either way, and
``ParsedFile.source`` is always the original. The second parse is incremental: the first tree, told where the
rewrite changed bytes, lends it every subtree the changes do not touch (tree-sitter guarantees the same tree as a
fresh parse, at a third of the cost here).

Trees are process-local (tree-sitter objects cannot be pickled); callers extract plain Structs from them in
the same process.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass

from stages import _native
from stages.errors import SourceFileError
from stages.languages import Language, is_declaration_file, language_name_for_path, load_language
from stages.models import FileErrorKind
from stages.syntax import SyntaxNode

_LINE_BREAK = re.compile(rb"\n")


class ParseError(SourceFileError):
    """The base of every per-file parse error: ``kind`` says which limit or policy, ``path`` which file."""

    kind: FileErrorKind

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path


class FileTooLargeError(ParseError):
    """The file is bigger than ``ParseLimits.max_bytes``."""

    kind: FileErrorKind = "too_large"


class InvalidUtf8Error(ParseError):
    """The file is not valid UTF-8."""

    kind: FileErrorKind = "invalid_utf8"


class NulByteError(ParseError):
    """The file contains a NUL byte."""

    kind: FileErrorKind = "nul_byte"


class ParseTimeoutError(ParseError):
    """Parsing and extraction together took longer than ``ParseLimits.parse_timeout_seconds``."""

    kind: FileErrorKind = "timeout"


class UnsupportedLanguageError(ParseError):
    """No registered language handles the file's extension."""

    kind: FileErrorKind = "unsupported_language"


@dataclass(frozen=True)
class ParseLimits:
    """Per-file limits. Generated bundles and minified files beyond these are skipped with an error."""

    max_bytes: int = 2 * 1024 * 1024
    parse_timeout_seconds: float = 5.0  # parse and extract together, from the start of the parse


@dataclass(frozen=True)
class ParsedFile:
    """A parsed file; only valid in the process that parsed it. ``deadline`` (``time.monotonic()``) is when its
    time limit, counted from the start of the parse, runs out: extraction stops there too."""

    path: str
    source: bytes
    language: Language
    tree: _native.Tree
    is_declaration_file: bool
    deadline: float
    timeout_seconds: float

    @property
    def had_syntax_errors(self) -> bool:
        return self.tree.root_node.has_error


def check_source(path: str, source: bytes, limits: ParseLimits) -> None:
    """Raise the ``ParseError`` for a file that breaks a limit or the decode policy; return otherwise."""
    if len(source) > limits.max_bytes:
        raise FileTooLargeError(path, f"{len(source)} bytes exceeds the limit of {limits.max_bytes} bytes")
    nul = source.find(b"\x00")
    if nul >= 0:
        raise NulByteError(path, f"NUL byte at offset {nul}; binary or generated data is not indexed")
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidUtf8Error(path, f"invalid UTF-8 at byte offset {exc.start} ({exc.reason})") from exc


def _parse_within(
    language: Language,
    source: bytes,
    deadline: float,
    path: str,
    limits: ParseLimits,
    *,
    old_tree: _native.Tree | None = None,
) -> _native.Tree:
    """Parse with ``stages._native`` (the vendored tree-sitter runtime, its progress callback checking ``deadline``
    in C)."""
    tree = _native.parse(language.capsule, source, old_tree, deadline)
    if tree is None:
        raise ParseTimeoutError(path, f"parsing took longer than {limits.parse_timeout_seconds:g} s and was stopped")
    return tree


def _edited_copy(tree: _native.Tree, source: bytes, changed: list[tuple[int, int]]) -> _native.Tree:
    """A copy of ``tree`` told that the byte ranges ``changed`` were replaced by as many bytes on the same lines
    (the original tree stays as it was, in case it is the one kept)."""
    copy = tree.copy()
    line_starts = [0]
    line_starts.extend(match.end() for match in _LINE_BREAK.finditer(source))
    for start, end in changed:
        row = bisect.bisect_right(line_starts, start) - 1
        start_point = (row, start - line_starts[row])
        end_point = (row, end - line_starts[row])
        copy.edit(
            start_byte=start,
            old_end_byte=end,
            new_end_byte=end,
            start_point=start_point,
            old_end_point=end_point,
            new_end_point=end_point,
        )
    return copy


def error_bytes(node: SyntaxNode) -> int:
    """How many bytes lie in ERROR nodes (a missing node counts one); only erroneous subtrees are visited."""
    total = 0
    pending = [node]
    while pending:
        current = pending.pop()
        if current.type == "ERROR":
            total += max(1, current.end_byte - current.start_byte)
        elif current.is_missing:
            total += 1
        elif current.has_error:
            pending.extend(current.children)
    return total


def parse_source(
    path: str, source: bytes, *, limits: ParseLimits = ParseLimits(), language: str | None = None
) -> ParsedFile:
    """Parse one file with the language of its extension (or ``language`` when given).

    Raises ``UnsupportedLanguageError``, ``FileTooLargeError``, ``NulByteError``, ``InvalidUtf8Error`` or
    ``ParseTimeoutError``.
    """
    name = language or language_name_for_path(path)
    if name is None:
        raise UnsupportedLanguageError(path, "no registered language for this file extension")
    try:
        loaded = load_language(name)
    except KeyError as exc:
        raise UnsupportedLanguageError(path, f"language {name!r} is not registered") from exc
    check_source(path, source, limits)
    deadline = time.monotonic() + limits.parse_timeout_seconds
    tree = _parse_within(loaded, source, deadline, path, limits)
    recovery = loaded.spec.recovery
    if tree.root_node.has_error and recovery is not None:
        rewrite = recovery(source, tree.root_node)
        if rewrite.changed:
            edited = _edited_copy(tree, source, rewrite.changed)
            retried = _parse_within(loaded, rewrite.source, deadline, path, limits, old_tree=edited)
            if error_bytes(retried.root_node) < error_bytes(tree.root_node):
                tree = retried
    return ParsedFile(
        path=path,
        source=source,
        language=loaded,
        tree=tree,
        is_declaration_file=is_declaration_file(path),
        deadline=deadline,
        timeout_seconds=limits.parse_timeout_seconds,
    )
