"""The query files' patterns, compiled for the matcher in ``stages._native`` (stages/native/match.c).

The query files are written in a small subset of tree-sitter's query language, which the native matcher runs in
one walk of the tree (a walk costs under half of what tree-sitter's query cursor costs over the same trees):

- a node ``(type ...)`` or any named node ``(_)`` (never an ERROR node, as in tree-sitter); an anonymous node
  ``"text"`` (escapes read as tree-sitter reads them);
- inside a node, at most one child pattern, optionally at a field: ``(call_expression function: (identifier))``;
- an alternation ``[pattern ...]`` of at least one pattern anywhere a pattern may stand;
- captures ``@name`` after any of them; comments ``; ...``.

Guarantees: anything outside the subset (predicates ``#``, quantifiers, anchors, negated fields, wildcards
without parentheses, supertypes, empty alternations, several child patterns in one node, patterns nesting deeper
than ``MAX_PATTERN_DEPTH``) raises ``PatternError`` naming the file position, so a query file never means
something the matcher does not do. Node types and fields are resolved against the
grammar here (an unknown one raises too); tree-sitter still compiles every query file as well
(``stages.languages.load_language``).
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import tree_sitter

_TOKEN = re.compile(
    r"""(?P<space>\s+|;[^\n]*)
      | (?P<open>\() | (?P<close>\)) | (?P<open_alternation>\[) | (?P<close_alternation>\])
      | (?P<string>"(?:[^"\\\n]|\\[^\n])*")
      | (?P<capture>@[\w.]+)
      | (?P<field>[A-Za-z_]\w*:)
      | (?P<name>[A-Za-z_]\w*)""",
    re.VERBOSE,
)


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0"}
_ESCAPE = re.compile(r"\\(.)")

# Steps one pattern may nest (stages/native/match.c's MAX_DEPTH).
MAX_PATTERN_DEPTH = 8


def _string_text(literal: str) -> str:
    """A string literal's text as tree-sitter reads it: ``\\n``, ``\\r``, ``\\t`` and ``\\0`` are control
    characters, and a backslash before any other character stands for that character."""
    return _ESCAPE.sub(lambda match: _ESCAPES.get(match.group(1), match.group(1)), literal[1:-1])


class PatternError(ValueError):
    """A query file uses syntax the native matcher does not implement, or a name the grammar lacks."""


class Step(NamedTuple):
    """One node of a pattern: its accepted node symbols (empty: any named node but ERROR), the field it must be at
    in its parent (0: any), the capture ids it reports and the pattern its child must match (``None``: none)."""

    symbols: tuple[int, ...]
    field: int
    captures: tuple[int, ...]
    child: Step | None


class CompiledPatterns(NamedTuple):
    """A query file's patterns (alternations expanded) and its capture names, indexed by capture id."""

    patterns: tuple[Step, ...]
    capture_names: tuple[str, ...]


class _Token(NamedTuple):
    kind: str
    text: str
    position: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            line = source.count("\n", 0, position) + 1
            raise PatternError(f"line {line}: {source[position : position + 20]!r} is not supported by the matcher")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens


class _Compiler:
    def __init__(self, grammar: tree_sitter.Language, source: str) -> None:
        self.grammar = grammar
        self.source = source
        self.tokens = _tokens(source)
        self.index = 0
        self.capture_ids: dict[str, int] = {}

    def fail(self, message: str, token: _Token | None = None) -> PatternError:
        position = len(self.source) if token is None else token.position
        return PatternError(f"line {self.source.count(chr(10), 0, position) + 1}: {message}")

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind:
            raise self.fail(f"expected {kind}, found {token.text if token else 'the end'}", token)
        self.index += 1
        return token

    def compile(self) -> CompiledPatterns:
        patterns: list[Step] = []
        while self.peek() is not None:
            patterns.extend(self.pattern(field=0))
        names = tuple(sorted(self.capture_ids, key=self.capture_ids.__getitem__))
        return CompiledPatterns(tuple(patterns), names)

    def captures(self) -> tuple[int, ...]:
        ids: list[int] = []
        while (token := self.peek()) is not None and token.kind == "capture":
            self.index += 1
            ids.append(self.capture_ids.setdefault(token.text[1:], len(self.capture_ids)))
        return tuple(ids)

    def symbol(self, name: str, *, named: bool, token: _Token) -> int:
        symbol = self.grammar.id_for_node_kind(name, named)
        if not symbol:
            raise self.fail(f"{'node type' if named else 'anonymous node'} {name!r} is not in the grammar", token)
        if named and not self.grammar.node_kind_is_visible(symbol):
            # The only hidden kinds a query may name are supertypes, which tree-sitter matches through the hidden
            # nodes above a node (the matcher sees node types only).
            raise self.fail(f"supertype {name!r} is not supported by the matcher", token)
        return symbol

    def pattern(self, field: int, depth: int = 1) -> list[Step]:
        """The alternatives one pattern stands for (an alternation is expanded into each of its members)."""
        token = self.peek()
        if token is None:
            raise self.fail("expected a pattern, found the end")
        if depth > MAX_PATTERN_DEPTH:
            raise self.fail(f"a pattern nesting more than {MAX_PATTERN_DEPTH} nodes is not supported", token)
        if token.kind == "open_alternation":
            self.index += 1
            alternatives: list[Step] = []
            while (inner := self.peek()) is not None and inner.kind != "close_alternation":
                alternatives.extend(self.pattern(field, depth))
            if not alternatives:
                raise self.fail("an empty alternation matches nothing", token)
            self.take("close_alternation")
            extra = self.captures()
            return [step._replace(captures=step.captures + extra) for step in alternatives]
        if token.kind == "string":
            self.index += 1
            symbol = self.symbol(_string_text(token.text), named=False, token=token)
            return [Step((symbol,), field, self.captures(), None)]
        self.take("open")
        name = self.take("name")
        symbols = () if name.text == "_" else (self.symbol(name.text, named=True, token=name),)
        children: list[Step] = []
        child_count = 0
        while (inner := self.peek()) is not None and inner.kind != "close":
            child_field = 0
            if inner.kind == "field":
                self.index += 1
                field_name = inner.text[:-1]
                found = self.grammar.field_id_for_name(field_name)
                if not found:
                    raise self.fail(f"field {field_name!r} is not in the grammar", inner)
                child_field = found
            child_count += 1
            if child_count > 1:
                raise self.fail("a node with more than one child pattern is not supported by the matcher", inner)
            children = self.pattern(child_field, depth + 1)
        self.take("close")
        own = self.captures()
        if not children:
            return [Step(symbols, field, own, None)]
        return [Step(symbols, field, own, child) for child in children]


def compile_patterns(grammar: tree_sitter.Language, source: str) -> CompiledPatterns:
    """Compile a query file's text for the native matcher; raises ``PatternError`` with the line on bad input."""
    compiled = _Compiler(grammar, source).compile()
    merged = _merge_simple_alternatives(compiled.patterns)
    return CompiledPatterns(merged, compiled.capture_names)


def _merge_simple_alternatives(patterns: tuple[Step, ...]) -> tuple[Step, ...]:
    """Top-level alternatives that differ only in node type (``[(a) (b)] @x``) become one step of several types,
    so each node tries them once; order is kept."""
    merged: list[Step] = []
    for _, group in itertools.groupby(patterns, key=lambda step: (step.field, step.captures, step.child is None)):
        steps = list(group)
        if steps[0].child is None and all(step.symbols for step in steps):
            merged.append(
                Step(tuple(s for step in steps for s in step.symbols), steps[0].field, steps[0].captures, None)
            )
        else:
            merged.extend(steps)
    return tuple(merged)
