"""The language registry: which grammar and which query parse and extract a file.

A language is a tree-sitter grammar, our own query file ``stages/queries/<name>.scm`` and a mapping from the
query's ``@definition.<kind>`` capture names to symbol kinds. A query file may start with
``; inherits: a, b`` to include other query files first, so dialects share patterns without copying them.
Adding a language means adding a query file and a ``LanguageSpec`` to ``LANGUAGES``; nothing else changes.

Grammars and compiled queries are built once per process (``functools.cache``): tree-sitter objects cannot
cross process boundaries, so each worker compiles its own on first use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from stages.models import SymbolKind

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


@dataclass(frozen=True)
class LanguageSpec:
    """One language: a grammar loader, the name of its query file, and its capture-to-kind mapping."""

    name: str
    grammar: Callable[[], object]
    query_name: str
    kinds: Mapping[str, SymbolKind]


@dataclass(frozen=True)
class Language:
    """A ready-to-use language: the compiled grammar and the compiled combined query."""

    spec: LanguageSpec
    grammar: tree_sitter.Language
    query: tree_sitter.Query

    @property
    def name(self) -> str:
        return self.spec.name


LANGUAGES: Mapping[str, LanguageSpec] = {
    spec.name: spec
    for spec in (
        LanguageSpec("typescript", tree_sitter_typescript.language_typescript, "typescript", ECMASCRIPT_KINDS),
        LanguageSpec("tsx", tree_sitter_typescript.language_tsx, "tsx", ECMASCRIPT_KINDS),
        LanguageSpec("javascript", tree_sitter_javascript.language, "javascript", ECMASCRIPT_KINDS),
    )
}

EXTENSIONS: Mapping[str, str] = {
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
}

DECLARATION_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")


def language_name_for_path(path: str) -> str | None:
    """The registered language of a path from its extension, or ``None`` when no language handles it."""
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return EXTENSIONS.get(path[dot:].lower())


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
    spec = LANGUAGES[name]
    grammar = tree_sitter.Language(spec.grammar())
    query = tree_sitter.Query(grammar, query_source(spec.query_name))
    return Language(spec=spec, grammar=grammar, query=query)
