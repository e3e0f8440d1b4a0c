"""The seam between the native query matcher and a language whose rows are built in Python.

A language registered with ``LanguageSpec.rows`` is extracted in two steps: the native matcher (stages/native/
match.c, the same one-walk matcher the ECMAScript extractor uses) runs the language's query file over the tree and
hands back every capture as nodes, ``{capture name: [node, ...]}`` in document order (a node captured twice under
one name appears once); then the language's row builder turns those captures into ``Symbol``, ``Import``,
``Export`` and ``Reference`` rows. The walk over the whole tree stays in C; Python touches only captured nodes and
what lies under them.

A query may capture ``@syntax_error`` for what its grammar accepts and the language rejects (Python 2's ``print``
statement): the file is then recorded with ``had_syntax_errors``, like a file the grammar itself reads with errors.

``SyntaxNode`` is the part of a tree node a row builder may use. Text is read from the source bytes by byte range
(``source[node.start_byte:node.end_byte]``), never from the node. ``parent`` and the siblings are not offered:
tree-sitter finds them by walking down from the root, which costs the tree's depth on every call; builders capture
what they need, or walk down from a captured node, instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stages import _native
from stages.models import Export, Import, Reference, Span, Symbol


class SyntaxNode(Protocol):
    """A node of a parsed tree, valid while its tree lives (in the process that parsed it)."""

    @property
    def type(self) -> str: ...
    @property
    def is_named(self) -> bool: ...
    @property
    def is_missing(self) -> bool: ...
    @property
    def has_error(self) -> bool: ...
    @property
    def start_byte(self) -> int: ...
    @property
    def end_byte(self) -> int: ...
    @property
    def start_point(self) -> tuple[int, int]:
        """(row, byte column), both 0-based."""

    @property
    def end_point(self) -> tuple[int, int]: ...
    @property
    def extent(self) -> tuple[int, int, int, int, int, int]:
        """(start_byte, end_byte, start row, start column, end row, end column) in one read, all 0-based."""

    @property
    def children(self) -> Sequence[SyntaxNode]: ...
    @property
    def named_children(self) -> Sequence[SyntaxNode]: ...
    @property
    def child_count(self) -> int: ...
    @property
    def named_child_count(self) -> int: ...
    def child(self, index: int, /) -> SyntaxNode | None:
        """The child at ``index``; ``None`` when there is none (a negative index included)."""

    def named_child(self, index: int, /) -> SyntaxNode | None:
        """The named child at ``index``; ``None`` when there is none."""

    def child_by_field_name(self, name: str, /) -> SyntaxNode | None: ...
    def children_by_field_name(self, name: str, /) -> Sequence[SyntaxNode]: ...
    def field_name_for_child(self, index: int, /) -> str | None: ...


STEPS_PER_CLOCK_READ = 1024


class Steps:
    """The per-file deadline inside a row builder: every unit of work takes a step, and every
    ``STEPS_PER_CLOCK_READ`` steps the clock is read; past the deadline ``_native.DeadlineExceeded`` is raised,
    which the extract stage reports as the file's ``timeout`` error (as it does for the native extractor)."""

    __slots__ = ("deadline", "next_clock_read", "taken")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.taken = 0
        self.next_clock_read = STEPS_PER_CLOCK_READ

    def take(self, count: int = 1) -> None:
        # (one addition and one comparison per step: row builders take hundreds of thousands of steps per file)
        self.taken += count
        if self.taken >= self.next_clock_read:
            self.next_clock_read = (self.taken // STEPS_PER_CLOCK_READ + 1) * STEPS_PER_CLOCK_READ
            if time.monotonic() > self.deadline:
                raise _native.DeadlineExceeded(f"the deadline passed after {self.taken} steps of extraction")


@dataclass(frozen=True)
class TextLimits:
    """Bounds on stored text in characters (``stages.extract.ExtractionLimits``); a text cut at its bound ends
    in ``…``."""

    max_signature_chars: int
    max_doc_chars: int
    max_qualifier_chars: int


@dataclass(frozen=True)
class Captures:
    """What a row builder reads: one file's source, its tree's root, its captures and its limits."""

    path: str
    source: bytes
    root: SyntaxNode
    nodes: Mapping[str, Sequence[SyntaxNode]]
    limits: TextLimits
    steps: Steps

    def of(self, name: str) -> Sequence[SyntaxNode]:
        """The nodes captured as ``@name``, in document order (empty when none were)."""
        return self.nodes.get(name, ())

    def text(self, node: SyntaxNode) -> str:
        """The node's text (sources are valid UTF-8; a cut inside a character would be replaced)."""
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")


ELLIPSIS = "…"


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in ``…`` when it was cut (the stored texts' convention)."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def extent_span(extent: tuple[int, int, int, int, int, int]) -> Span:
    """The ``Span`` of a node's ``extent`` (for a caller that reads the byte range too)."""
    start_byte, end_byte, start_row, start_column, end_row, end_column = extent
    return Span(
        start_line=start_row + 1,
        start_column=start_column,
        end_line=end_row + 1,
        end_column=end_column,
        start_byte=start_byte,
        end_byte=end_byte,
    )


def span_of(node: SyntaxNode) -> Span:
    """The ``Span`` of a node (lines 1-based, columns and offsets in bytes, ends exclusive)."""
    return extent_span(node.extent)


Rows = tuple[tuple[Symbol, ...], tuple[Import, ...], tuple[Export, ...], tuple[Reference, ...]]
RowBuilder = Callable[[Captures], Rows]
"""A language's captures → rows, following docs/index-contract.md; raises nothing for bad input but
``_native.DeadlineExceeded``. Rows are sorted by source position; every span lies inside the file."""
