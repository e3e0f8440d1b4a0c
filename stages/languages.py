"""The language registry: which grammar and which query parse and extract a file.

A language is a tree-sitter grammar (the ``language()`` capsule of its official wheel), our own query file
``stages/queries/<name>.scm``, and either a mapping from the query's ``@definition.<kind>`` capture names to symbol
kinds (the ECMAScript dialects, whose rows the native extractor builds) or a row builder (``stages.syntax``: the
native matcher hands every capture back as nodes and a small Python module, ``stages/lang/<name>.py``, builds the
rows). A query file may start with ``; inherits: a, b`` to include other query files first, so dialects share
patterns without copying them. Imports are resolved by the resolver of the language's module system
(``stages.resolvers``). Adding a language means adding a query file, a ``LanguageSpec`` in ``LANGUAGES`` and, where
its module system is new, a resolver; no C changes.

Grammars and compiled queries are built once per process (``functools.cache``): tree-sitter objects cannot
cross process boundaries, so each worker compiles its own on first use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import tree_sitter_go
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_typescript

from stages.lang import go, python
from stages.models import SymbolKind
from stages.patterns import CompiledPatterns, compile_patterns
from stages.syntax import RowBuilder, SyntaxNode

if TYPE_CHECKING:
    import tree_sitter

QUERY_DIR = Path(__file__).parent / "queries"
_INHERITS = re.compile(r"^;\s*inherits:\s*(?P<names>[\w, -]+)$", re.MULTILINE)

# Capture suffixes whose kind depends on the node (refined by stages.extract) map to their default kind.
ECMASCRIPT_KINDS: Mapping[str, SymbolKind] = {
    "function": "function",
    "default_function": "function",
    "class": "class",
    "method": "method",
    "property": "property",
    "parameter_property": "property",
    "variable": "variable",
    "interface": "interface",
    "type_alias": "type_alias",
    "enum": "enum",
    "enum_member": "enum_member",
    "namespace": "namespace",
    "global": "namespace",
}


# Gaps of tree-sitter-typescript 0.23 that real code hits (e.g. the `effect` library, whole files of it):
# - a call signature that starts with type parameters on its own line (`=> A\n  <B>(x: B): B`) is read as
#   a generic type continuing the previous line;
# - variance and const modifiers on type parameters (`<in out A>`, `<const T>`) are not in the grammar;
# - escape sequences inside template literal types (an escaped backtick, say) break the whole file;
# - `abstract override x: T` (a field) is only known in the order `override abstract`;
# - `export default abstract class {}` (no name) is not in the grammar: `abstract` becomes spaces there;
# - `export type * from "x"` (TypeScript 5.0) is not in the grammar: `type` becomes spaces there (the extractor
#   reads the original bytes, so the re-export is still type-only).
# The recovery rewrites them byte for byte (a `;` in the indentation before the `<`, spaces over the
# modifiers, two spaces over each escape, the two keywords swapped), so every offset, line and column of the
# file stays exact.
_SIGNATURE_LINE = re.compile(
    rb"^[ \t]*([ \t])<(?=[ \t]*\r?\n|[A-Za-z_$][\w$]*(?:[ \t]+extends\b|[ \t]*[,=]|>\())", re.MULTILINE
)
_TYPE_PARAMETER_MODIFIERS = re.compile(
    rb"(?<=[<,])([ \t\r\n]*)(in[ \t]+out|in|out|const)(?=[ \t\r\n]+[A-Za-z_$][\w$]*[ \t\r\n]*(?:[,>=]|extends\b))"
)
_ABSTRACT_OVERRIDE_FIELD = re.compile(
    rb"\babstract([ \t]+)override(?=[ \t]+(?:readonly[ \t]+)?[#A-Za-z_$][\w$]*[ \t]*[?!]?[ \t]*[:;=\r\n}])"
)
_ANONYMOUS_ABSTRACT_CLASS = re.compile(
    rb"\bdefault[ \t\r\n]+(abstract)(?=[ \t\r\n]+class(?:[ \t\r\n]*[{<]|[ \t\r\n]+(?:extends|implements)\b))"
)
_EXPORT_TYPE_STAR = re.compile(rb"\bexport[ \t\r\n]+(type)(?=[ \t\r\n]+\*)")
_ESCAPE = re.compile(rb"\\[^\r\n]")
_BLANKS = b" \t\r\n"
_TYPE_ENDINGS = (
    frozenset(b")]}>_$")
    | frozenset(range(ord("0"), ord("9") + 1))
    | frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
)


def _previous_code_byte(source: bytes, position: int) -> int | None:
    """The last byte before ``position`` that is not blank and not inside a comment (best effort)."""
    index = position - 1
    while index >= 0:
        while index >= 0 and source[index] in _BLANKS:
            index -= 1
        if index >= 1 and source[index - 1 : index + 1] == b"*/":
            index = source.rfind(b"/*", 0, index - 1) - 1
            continue
        line_start = source.rfind(b"\n", 0, index + 1) + 1
        if source[line_start : index + 1].lstrip().startswith(b"//"):
            index = line_start - 1
            continue
        return source[index] if index >= 0 else None
    return None


class Rewrite(NamedTuple):
    """A same-length rewrite of a source: the new bytes and the ``[start, end)`` byte ranges that differ, in
    order and disjoint. No range contains or creates a line break, so every line and column stays where it was."""

    source: bytes
    changed: list[tuple[int, int]]


def typescript_recovery(source: bytes) -> Rewrite:
    """The source with the grammar's known gaps rewritten to equivalent text of the same length."""
    rewritten = bytearray(source)
    changed: list[tuple[int, int]] = []
    for match in _SIGNATURE_LINE.finditer(source):
        previous = _previous_code_byte(source, match.start(1))
        if previous is not None and previous in _TYPE_ENDINGS:
            rewritten[match.start(1)] = ord(";")
            changed.append((match.start(1), match.end(1)))
    for match in _TYPE_PARAMETER_MODIFIERS.finditer(source):
        rewritten[match.start(2) : match.end(2)] = b" " * (match.end(2) - match.start(2))
        changed.append((match.start(2), match.end(2)))
    for match in _ABSTRACT_OVERRIDE_FIELD.finditer(source):
        rewritten[match.start() : match.end()] = b"override" + match.group(1) + b"abstract"
        changed.append((match.start(), match.end()))
    for match in _ANONYMOUS_ABSTRACT_CLASS.finditer(source):
        rewritten[match.start(1) : match.end(1)] = b" " * len(b"abstract")
        changed.append((match.start(1), match.end(1)))
    for match in _EXPORT_TYPE_STAR.finditer(source):
        rewritten[match.start(1) : match.end(1)] = b"    "
        changed.append((match.start(1), match.end(1)))
    for match in _ESCAPE.finditer(source):
        rewritten[match.start() : match.end()] = b"  "
        changed.append((match.start(), match.end()))
    return Rewrite(bytes(rewritten), _merged(changed))


# A gap of the JSX grammar (tree-sitter-javascript 0.25, shared by TSX): text and attribute strings may not contain
# a bare `&` (one that starts no character reference, as in `<p>Tom & Jerry</p>` or `<a href="?a=1&b=2">`), which
# JSX allows; the grammar reads an error there. Those `&` become spaces: the text is no name the index reads.
_CHARACTER_REFERENCE = re.compile(rb"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_JSX_TEXT = re.compile(rb"[^<>{}]*")
_TEXT_BEFORE = frozenset({"jsx_opening_element", "jsx_element", "jsx_self_closing_element", "jsx_expression"})


def jsx_ampersands(source: bytes, root: SyntaxNode) -> list[tuple[int, int]]:
    """The bare ``&`` of JSX text and attribute strings in the erroneous parts of a tree: in the text that follows
    an opening tag, or a child of an element (a tag, an element or an expression; not the element's own closing
    tag), up to the next ``<``, ``>``, ``{`` or ``}``; inside an attribute's string that has errors. Only erroneous
    subtrees are visited."""
    found: list[tuple[int, int]] = []
    pending: list[SyntaxNode] = [root]
    while pending:
        node = pending.pop()
        inside_element = node.type == "jsx_element"
        for child in node.children:
            if child.type == "jsx_opening_element" or (inside_element and child.type in _TEXT_BEFORE):
                text = _JSX_TEXT.match(source, child.end_byte)
                _bare_ampersands(source, child.end_byte, child.end_byte if text is None else text.end(), found)
            elif node.type == "jsx_attribute" and child.type == "string" and child.has_error:
                _bare_ampersands(source, child.start_byte + 1, child.end_byte - 1, found)
            if child.has_error:
                pending.append(child)
    return found


def _bare_ampersands(source: bytes, start: int, end: int, found: list[tuple[int, int]]) -> None:
    """Append the range of each ``&`` in ``source[start:end]`` that starts no character reference."""
    position = source.find(b"&", start, end)
    while position >= 0:
        if not _CHARACTER_REFERENCE.match(source, position):
            found.append((position, position + 1))
        position = source.find(b"&", position + 1, end)


def _with_spaces(rewrite: Rewrite, ranges: list[tuple[int, int]]) -> Rewrite:
    """``rewrite`` with the bytes of ``ranges`` (outside every range it changed) made spaces too."""
    if not ranges:
        return rewrite
    rewritten = bytearray(rewrite.source)
    for start, end in ranges:
        rewritten[start:end] = b" " * (end - start)
    return Rewrite(bytes(rewritten), _merged([*rewrite.changed, *ranges]))


def recover_typescript(source: bytes, root: SyntaxNode) -> Rewrite:
    """``typescript_recovery`` (the tree is not needed: TypeScript has no JSX)."""
    return typescript_recovery(source)


def recover_tsx(source: bytes, root: SyntaxNode) -> Rewrite:
    """``typescript_recovery`` and the bare ``&`` of JSX text."""
    return _with_spaces(typescript_recovery(source), jsx_ampersands(source, root))


def recover_javascript(source: bytes, root: SyntaxNode) -> Rewrite:
    """The bare ``&`` of JSX text."""
    return _with_spaces(Rewrite(source, []), jsx_ampersands(source, root))


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges sorted, with overlapping or touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class LanguageSpec:
    """One language: a grammar loader, the name of its query file, and its capture-to-kind mapping.

    ``recovery``, when set, rewrites a file that parsed with errors (its source and the root of that first tree)
    into text of the same length that the grammar may parse better (a ``Rewrite``: the new bytes and where they
    changed, so the parse stage can re-parse incrementally); the parse stage keeps whichever tree has fewer bytes
    in error.
    """

    name: str
    grammar: Callable[[], object]
    query_name: str
    kinds: Mapping[str, SymbolKind] | None
    extensions: tuple[str, ...]
    modules: str
    """The module system whose resolver resolves this language's imports (``stages.resolvers.RESOLVERS``)."""
    recovery: Callable[[bytes, SyntaxNode], Rewrite] | None = None
    rows: RowBuilder | None = None
    """Captures → rows in Python (``kinds`` is then ``None``); ``None``: the native ECMAScript extractor."""


@dataclass(frozen=True)
class Language:
    """A ready-to-use language: the compiled grammar and the combined query compiled for the native matcher that
    extraction runs."""

    spec: LanguageSpec
    capsule: object
    """The grammar wheel's ``language()`` capsule: what ``stages._native.parse`` parses with."""
    grammar: tree_sitter.Language
    """The same grammar read through py-tree-sitter's public API, to compile and check the query file."""
    patterns: CompiledPatterns

    @property
    def name(self) -> str:
        return self.spec.name


LANGUAGES: Mapping[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec(
            "typescript",
            tree_sitter_typescript.language_typescript,
            "typescript",
            ECMASCRIPT_KINDS,
            (".ts", ".mts", ".cts"),
            "ecmascript",
            recover_typescript,
        ),
        LanguageSpec(
            "tsx", tree_sitter_typescript.language_tsx, "tsx", ECMASCRIPT_KINDS, (".tsx",), "ecmascript", recover_tsx
        ),
        LanguageSpec(
            "javascript",
            tree_sitter_javascript.language,
            "javascript",
            ECMASCRIPT_KINDS,
            (".js", ".mjs", ".cjs", ".jsx"),
            "ecmascript",
            recover_javascript,
        ),
        LanguageSpec(
            "python", tree_sitter_python.language, "python", None, (".py", ".pyi"), "python", rows=python.rows
        ),
        LanguageSpec("go", tree_sitter_go.language, "go", None, (".go",), "go", rows=go.rows),
    )
}

EXTENSIONS: Mapping[str, str] = {extension: spec.name for spec in LANGUAGES.values() for extension in spec.extensions}

DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")


def language_name_for_path(path: str) -> str | None:
    """The registered language of a path from its extension, or ``None`` when no language handles it."""
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return EXTENSIONS.get(path[dot:].lower())


def module_system_for_path(path: str) -> str | None:
    """The module system of a path's language (``LanguageSpec.modules``), or ``None`` when no language handles it."""
    name = language_name_for_path(path)
    return None if name is None else LANGUAGES[name].modules


def is_declaration_file(path: str) -> bool:
    """Whether a path is a TypeScript declaration file (``.d.ts``, ``.d.mts``, ``.d.cts``)."""
    lowered = path.lower()
    return lowered.endswith(DECLARATION_SUFFIXES)


def query_source(query_name: str) -> str:
    """The text of a query file with the files it inherits from prepended, each included once."""
    included: list[str] = []
    parts: list[str] = []

    def include(name: str) -> None:
        if name in included:
            return
        included.append(name)
        text = (QUERY_DIR / f"{name}.scm").read_text(encoding="utf-8")
        header = _INHERITS.search(text)
        if header is not None:
            for parent in header.group("names").split(","):
                include(parent.strip())
        parts.append(text)

    include(query_name)
    return "\n".join(parts)


@functools.cache
def load_language(name: str) -> Language:
    """The compiled grammar and query of a registered language, built once per process.

    Raises ``KeyError`` for a name that is not registered.
    """
    import tree_sitter  # noqa: PLC0415  (loaded with the first grammar: reading the registry alone needs none of it)

    spec = LANGUAGES[name]
    capsule = spec.grammar()
    grammar = tree_sitter.Language(capsule)
    source = query_source(spec.query_name)
    # tree-sitter compiles the query only as a check: besides names, it rejects patterns no tree can match.
    tree_sitter.Query(grammar, source)
    return Language(spec=spec, capsule=capsule, grammar=grammar, patterns=compile_patterns(grammar, source))
