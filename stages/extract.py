"""Extract stage: one parsed file → its symbols, imports, exports and references as plain Structs.

Guarantees:
- ``extract_source`` always returns a ``FileExtraction``. A file that breaks a parse limit or the decode policy
  (see ``stages.parse``) comes back with ``error`` set and no rows; it never raises for bad input.
- One combined query per language runs once per file; every row comes from a single pass over its captures,
  so cost grows with the number of declarations and references, not with the number of nodes.
- Files with syntax errors still yield every declaration the grammar recognised outside the ERROR spans,
  and record ``had_syntax_errors``.
- Output is deterministic: symbols, imports, exports and references are each sorted by source position.
- Every range lies within the file, and ``source[name_span]`` decodes to exactly ``Symbol.name``.

What counts as a symbol is written down in ``docs/index-contract.md``.
"""

from __future__ import annotations

import bisect
import functools
import importlib.metadata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import tree_sitter

from stages import _native
from stages.languages import Language, is_declaration_file, language_name_for_path
from stages.models import (
    Export,
    ExportKind,
    FileError,
    FileExtraction,
    Import,
    ImportBinding,
    ImportKind,
    Reference,
    Span,
    Symbol,
    SymbolKind,
)
from stages.parse import ParsedFile, ParseError, ParseLimits, parse_source

Node = tree_sitter.Node

if importlib.metadata.version("tree-sitter") != _native.TREE_SITTER_VERSION:
    raise ImportError(
        f"stages._native reads trees with tree-sitter {_native.TREE_SITTER_VERSION}'s runtime, but tree-sitter "
        f"{importlib.metadata.version('tree-sitter')} is installed: install the version pyproject.toml pins"
    )

FUNCTION_VALUES = frozenset({"function_expression", "function", "generator_function", "arrow_function"})
_BINDS_DECLARATION = FUNCTION_VALUES | {"class"}
"""Values that make even a local variable a symbol."""
_WRAPPERS = frozenset({"parenthesized_expression", "type_assertion"})
"""Value nodes that ``_unwrapped`` may look through."""
MEMBER_CONTAINERS = frozenset({"class_body", "interface_body", "object_type"})
"""Members of classes, interfaces and type literals; object literal members are not symbols."""
SIMPLE_NAMES = frozenset(
    {
        "identifier",
        "type_identifier",
        "property_identifier",
        "private_property_identifier",
        "number",
        "computed_property_name",
        "shorthand_property_identifier_pattern",
        "string",
    }
)
_PREFIX_BYTES = 8
"""Bytes per character of a signature's bound read first when its range is long (see ``normalised``)."""
_MAX_DOC_GAP = 256
"""Bytes of blank space allowed between a JSDoc block (or a decorator) and what it belongs to."""


_query_plans: dict[str, _native.QueryPlan] = {}


def _query_plan(language: Language) -> _native.QueryPlan:
    """The language's query, ready to run natively (built once per process)."""
    plan = _query_plans.get(language.name)
    if plan is None:
        plan = _query_plans[language.name] = _native.QueryPlan(language.query)
    return plan


@dataclass(frozen=True)
class ExtractionLimits:
    """Per-file parse limits and bounds on stored text."""

    parse: ParseLimits = field(default_factory=ParseLimits)
    max_signature_chars: int = 200
    max_doc_chars: int = 4000
    max_qualifier_chars: int = 100


def extract_source(
    path: str, source: bytes, *, limits: ExtractionLimits = ExtractionLimits(), language: str | None = None
) -> FileExtraction:
    """Parse and extract one file; a file that cannot be parsed comes back with ``error`` set and no rows."""
    try:
        parsed = parse_source(path, source, limits=limits.parse, language=language)
    except ParseError as exc:
        return FileExtraction(
            path=path,
            language=language or language_name_for_path(path),
            is_declaration_file=is_declaration_file(path),
            size_bytes=len(source),
            had_syntax_errors=False,
            error=FileError(kind=exc.kind, message=str(exc)),
        )
    return extract_parsed(parsed, limits=limits)


def extract_parsed(parsed: ParsedFile, *, limits: ExtractionLimits = ExtractionLimits()) -> FileExtraction:
    """Extract the rows of an already parsed file (same process as the parse)."""
    return _FileExtractor(parsed, limits).run()


def _span(start_byte: int, end_byte: int, start: tuple[int, int], end: tuple[int, int]) -> Span:
    return Span(
        start_line=start[0] + 1,
        start_column=start[1],
        end_line=end[0] + 1,
        end_column=end[1],
        start_byte=start_byte,
        end_byte=end_byte,
    )


def _node_span(node: Node) -> Span:
    extent = node.range
    start, end = extent.start_point, extent.end_point
    return Span(
        start_line=start[0] + 1,
        start_column=start[1],
        end_line=end[0] + 1,
        end_column=end[1],
        start_byte=extent.start_byte,
        end_byte=extent.end_byte,
    )


def _inner_span(node: Node) -> Span:
    """The span inside a quoted string node (quotes are single bytes at both ends)."""
    start, end = node.start_point, node.end_point
    return _span(node.start_byte + 1, node.end_byte - 1, (start.row, start.column + 1), (end.row, end.column - 1))


class _PendingSymbol:
    """A symbol before parents are known; ``start``/``end`` are the full span's bytes."""

    __slots__ = (
        "constructor_member",
        "doc",
        "end",
        "exported",
        "is_async",
        "is_default",
        "kind",
        "name",
        "name_span",
        "signature",
        "span",
        "start",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: SymbolKind,
        span: Span,
        name_span: Span,
        exported: bool,
        is_default: bool,
        is_async: bool,
        signature: str,
        doc: str | None,
        constructor_member: bool = False,
    ) -> None:
        self.name = name
        self.kind = kind
        self.span = span
        self.name_span = name_span
        self.start = span.start_byte
        self.end = span.end_byte
        self.exported = exported
        self.is_default = is_default
        self.is_async = is_async
        self.signature = signature
        self.doc = doc
        self.constructor_member = constructor_member


class _PendingImport:
    __slots__ = ("bindings", "is_type_only", "key", "kind", "span", "specifier", "specifier_span")

    def __init__(
        self,
        *,
        key: int,
        specifier: str,
        kind: ImportKind,
        is_type_only: bool,
        span: Span,
        specifier_span: Span,
        bindings: tuple[ImportBinding, ...],
    ) -> None:
        self.key = key
        self.specifier = specifier
        self.kind = kind
        self.is_type_only = is_type_only
        self.span = span
        self.specifier_span = specifier_span
        self.bindings = bindings


class _PendingExport:
    __slots__ = ("exported", "import_key", "is_type_only", "kind", "local", "span")

    def __init__(
        self,
        *,
        exported: str,
        local: str | None,
        kind: ExportKind,
        is_type_only: bool,
        span: Span,
        import_key: int | None = None,
    ) -> None:
        self.exported = exported
        self.local = local
        self.kind = kind
        self.is_type_only = is_type_only
        self.span = span
        self.import_key = import_key


class _FileExtractor:
    """Holds one file's state during extraction; ``run`` is the single pass over the query captures."""

    def __init__(self, parsed: ParsedFile, limits: ExtractionLimits) -> None:
        self.parsed = parsed
        self.source = parsed.source
        self.limits = limits
        self.kinds = parsed.language.spec.kinds
        self.symbols: list[_PendingSymbol] = []
        self.ordered_symbols: list[_PendingSymbol] = []
        self.symbol_name_starts: set[int] = set()
        self.imports: list[_PendingImport] = []
        self.exports: list[_PendingExport] = []
        self.later_exported: set[str] = set()
        self.later_default: set[str] = set()
        self.type_parameter_scopes: dict[bytes, list[tuple[int, int]]] = {}
        self.comment_starts: list[int] = []
        self.comment_ends: list[int] = []
        self.decorators: list[Node] = []
        self.decorator_starts: list[int] = []
        self.decorator_ends: list[int] = []
        self.function_starts: list[int] = []
        self.function_ends: list[int] = []

    # ---- text helpers -------------------------------------------------------------------------------

    def text(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8", "replace")

    def node_text(self, node: Node) -> str:
        return self.text(node.start_byte, node.end_byte)

    def normalised(self, start: int, end: int, bound: int) -> str:
        """The text with runs of whitespace made one space, cut at ``bound`` characters (ending in ``…``)."""
        if end - start <= bound:
            raw = self.source[start:end]
            if b"\n" not in raw and b"  " not in raw and b"\t" not in raw and b"\r" not in raw:
                return raw.decode("utf-8", "replace")
        elif bound > 0 and end - start > _PREFIX_BYTES * bound:
            # A long range (a whole type alias, say): the normalised text of a prefix is a prefix of the
            # whole one, so when it is long enough the rest is never decoded. The margin keeps a character
            # cut in two at the prefix's end out of the result.
            text = " ".join(self.text(start, start + _PREFIX_BYTES * bound).split())
            if len(text) > bound + 4:
                return text[: bound - 1] + "…"
        text = " ".join(self.text(start, end).split())
        if len(text) > bound:
            return text[: bound - 1] + "…"
        return text

    # ---- driver -------------------------------------------------------------------------------------

    def run(self) -> FileExtraction:
        captures, requires, reference_candidates = _query_plan(self.parsed.language).run(self.parsed.tree, self.source)
        comments = sorted([(node.end_byte, node.start_byte) for node in captures.get("comment", ())])
        self.comment_ends = [end for end, _ in comments]
        self.comment_starts = [start for _, start in comments]
        self.decorators = sorted(captures.get("decorator", ()), key=lambda node: node.start_byte)
        self.decorator_starts = [node.start_byte for node in self.decorators]
        self.decorator_ends = [node.end_byte for node in self.decorators]
        self.function_scopes(captures.get("scope.function", ()))
        ordered = sorted(captures.items())
        handlers = self.definition_handlers()
        for capture, nodes in ordered:
            family, _, suffix = capture.partition(".")
            if family == "definition":
                handler = handlers[suffix]
                for node in nodes:
                    handler(node)
            elif capture == "scope.type_parameters":
                for node in nodes:
                    self.type_parameters(node)
        self.merge_type_parameter_scopes()
        for capture, nodes in ordered:
            family, _, suffix = capture.partition(".")
            if family == "import":
                for node in nodes:
                    self.import_use(suffix, node)
            elif family == "export":
                for node in nodes:
                    self.export_use(suffix, node)
        for call in requires:
            self.import_use("require", call)
        symbols = self.finish_symbols()
        imports, import_index = self.finish_imports()
        exports = self.finish_exports(symbols, import_index)
        references: tuple[Reference, ...] = reference_candidates.finish(
            self.source,
            self.symbol_name_starts,
            self.type_parameter_scopes,
            [symbol.span.start_byte for symbol in symbols],
            [symbol.span.end_byte for symbol in symbols],
            self.limits.max_qualifier_chars,
            self.qualifier_text,
        )
        return FileExtraction(
            path=self.parsed.path,
            language=self.parsed.language.name,
            is_declaration_file=self.parsed.is_declaration_file,
            size_bytes=len(self.source),
            had_syntax_errors=self.parsed.had_syntax_errors,
            error=None,
            symbols=symbols,
            imports=imports,
            exports=exports,
            references=references,
        )

    # ---- symbols ------------------------------------------------------------------------------------

    def add_symbol(
        self,
        *,
        name: str,
        name_span: Span,
        kind: SymbolKind,
        outer: Node,
        header_end: int | None,
        exported: bool = False,
        is_default: bool = False,
        is_async: bool = False,
        signature_prefix: str = "",
        doc_start: int | None = None,
        span: Span | None = None,
        constructor_member: bool = False,
    ) -> None:
        if not name or name_span.start_byte in self.symbol_name_starts:
            return
        self.symbol_name_starts.add(name_span.start_byte)
        header_start = _header_start(outer)
        end = outer.end_byte if header_end is None else header_end
        bound = self.limits.max_signature_chars - (len(signature_prefix) + 1 if signature_prefix else 0)
        signature = self.normalised(header_start, max(header_start, end), bound).rstrip(" =;")
        if signature_prefix:
            signature = f"{signature_prefix} {signature}"
        self.symbols.append(
            _PendingSymbol(
                name=name,
                kind=kind,
                span=span or _node_span(outer),
                name_span=name_span,
                exported=exported,
                is_default=is_default,
                is_async=is_async,
                signature=signature,
                doc=self.doc_before(outer.start_byte if doc_start is None else doc_start),
                constructor_member=constructor_member,
            )
        )

    def simple_name(self, node: Node | None) -> tuple[str, Span] | None:
        if node is None:
            return None
        node_type = node.type
        if node_type not in SIMPLE_NAMES or node.is_missing:
            return None
        if node_type == "string":
            if node.end_byte - node.start_byte < 2:
                return None
            span = _inner_span(node)
            return self.text(span.start_byte, span.end_byte), span
        span = _node_span(node)
        return self.text(span.start_byte, span.end_byte), span

    def definition_handlers(self) -> dict[str, Callable[[Node], None]]:
        """The handler of each ``@definition.<suffix>`` capture, chosen once per capture name, not per node."""
        handlers: dict[str, Callable[[Node], None]] = {
            "class": self.class_definition,
            "default_function": self.default_function,
            "method": self.method,
            "property": self.property,
            "parameter_property": self.parameter_property,
            "enum_member": self.enum_member,
            "namespace": self.namespace,
            "global": self.global_augmentation,
            "variable": self.variable,
        }
        for suffix in ("function", "interface", "type_alias", "enum"):
            handlers[suffix] = functools.partial(self.named_declaration, kind=self.kinds[suffix])
        return handlers

    def named_declaration(self, node: Node, kind: SymbolKind) -> None:
        named = self.simple_name(node.child_by_field_name("name"))
        if named is None:
            return
        outer, exported, is_default = _export_wrapper(node)
        body = node.child_by_field_name("body")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind=kind,
            outer=outer,
            header_end=None if body is None or kind == "type_alias" else body.start_byte,
            exported=exported,
            is_default=is_default,
            is_async=_has_async(node),
        )

    def class_definition(self, node: Node) -> None:
        if node.type != "class":
            self.named_declaration(node, "class")
            return
        parent = node.parent
        if parent is None or parent.type != "export_statement":
            return  # a class expression bound to a variable is the variable's symbol; others are not declarations
        named = self.simple_name(node.child_by_field_name("name"))
        if named is None:
            named = self.default_keyword(parent)
        if named is None:
            return
        body = node.child_by_field_name("body")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind="class",
            outer=parent,
            header_end=None if body is None else body.start_byte,
            exported=True,
            is_default=True,
        )

    def default_keyword(self, export_statement: Node) -> tuple[str, Span] | None:
        for child in export_statement.children:
            if child.type == "default":
                return "default", _node_span(child)
        return None

    def default_function(self, statement: Node) -> None:
        value = statement.child_by_field_name("value")
        if value is None:
            return
        named = self.simple_name(value.child_by_field_name("name")) or self.default_keyword(statement)
        if named is None:
            return
        body = value.child_by_field_name("body")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind="function",
            outer=statement,
            header_end=None if body is None else body.start_byte,
            exported=True,
            is_default=True,
            is_async=_has_async(value),
        )

    def class_member_outer(self, node: Node) -> tuple[int, Span]:
        """Where a class member starts and its span: TypeScript puts a member's decorators before it, as
        siblings in the class body; they belong to the member."""
        start = node.start_byte
        index = bisect.bisect_right(self.decorator_ends, start) - 1
        first: int | None = None
        while index >= 0:
            gap = self.source[self.decorator_ends[index] : start]
            if len(gap) > _MAX_DOC_GAP or gap.strip():
                break
            first = index
            start = self.decorator_starts[index]
            index -= 1
        if first is None:
            return start, _node_span(node)
        begin = self.decorators[first].start_point
        end = node.end_point
        return start, _span(start, node.end_byte, (begin.row, begin.column), (end.row, end.column))

    def method(self, node: Node) -> None:
        container = node.parent
        if container is None or container.type not in MEMBER_CONTAINERS:
            return  # object literal methods are not declarations of the index
        named = self.simple_name(node.child_by_field_name("name"))
        if named is None:
            return
        kind: SymbolKind = "method"
        for child in node.children:
            if child.start_byte >= named[1].start_byte:
                break
            if child.type == "get":
                kind = "getter"
            elif child.type == "set":
                kind = "setter"
        if named[0] == "constructor" and container.type == "class_body":
            kind = "constructor"
        doc_start, span = self.class_member_outer(node)
        body = node.child_by_field_name("body")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind=kind,
            outer=node,
            header_end=None if body is None else body.start_byte,
            is_async=_has_async(node),
            doc_start=doc_start,
            span=span,
        )

    def property(self, node: Node) -> None:
        container = node.parent
        if container is None or container.type not in MEMBER_CONTAINERS:
            return
        named = self.simple_name(node.child_by_field_name("name") or node.child_by_field_name("property"))
        if named is None:
            return
        doc_start, span = self.class_member_outer(node)
        value = node.child_by_field_name("value")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind="property",
            outer=node,
            header_end=None if value is None else value.start_byte,
            doc_start=doc_start,
            span=span,
        )

    def parameter_property(self, node: Node) -> None:
        parameters = node.parent
        method = parameters.parent if parameters is not None else None
        if method is None or method.type != "method_definition":
            return
        method_name = method.child_by_field_name("name")
        if method_name is None or self.node_text(method_name) != "constructor":
            return
        named = self.simple_name(node.child_by_field_name("pattern"))
        if named is None or node.child_by_field_name("pattern").type != "identifier":  # type: ignore[union-attr]
            return
        value = node.child_by_field_name("value")
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind="property",
            outer=node,
            header_end=None if value is None else value.start_byte,
            constructor_member=True,
        )

    def enum_member(self, node: Node) -> None:
        name_node = node.child_by_field_name("name") if node.type == "enum_assignment" else node
        named = self.simple_name(name_node)
        if named is None:
            return
        self.add_symbol(name=named[0], name_span=named[1], kind="enum_member", outer=node, header_end=None)

    def namespace(self, node: Node) -> None:
        """``namespace A.B {}`` declares ``A`` and, inside it, ``B`` (as the compiler does)."""
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        outer, exported, is_default = _export_wrapper(node)
        body = node.child_by_field_name("body")
        header_end = None if body is None else body.start_byte
        if name_node.type == "nested_identifier":
            pieces = [piece for piece in _leaves(name_node) if piece.is_named]
            end = node.end_point
            for index, piece in enumerate(pieces):
                start = piece.start_point
                self.add_symbol(
                    name=self.node_text(piece),
                    name_span=_node_span(piece),
                    kind="namespace",
                    outer=outer,
                    header_end=header_end,
                    exported=exported if index == 0 else True,
                    span=None
                    if index == 0
                    else _span(piece.start_byte, node.end_byte, (start.row, start.column), (end.row, end.column)),
                )
            return
        named = self.simple_name(name_node)
        if named is None:
            return
        self.add_symbol(
            name=named[0],
            name_span=named[1],
            kind="module" if name_node.type == "string" else "namespace",
            outer=outer,
            header_end=header_end,
            exported=exported,
            is_default=is_default,
        )

    def global_augmentation(self, node: Node) -> None:
        keyword = next((child for child in node.children if child.type == "global"), None)
        body = next((child for child in node.children if child.type == "statement_block"), None)
        if keyword is None:
            return
        outer, exported, _ = _export_wrapper(node)
        self.add_symbol(
            name="global",
            name_span=_node_span(keyword),
            kind="namespace",
            outer=outer,
            header_end=None if body is None else body.start_byte,
            exported=exported,
        )

    def variable(self, node: Node) -> None:
        """A variable: a function or class when initialised by one (at any depth), else a constant or variable
        when outside every function. Loop variables are not symbols."""
        value = node.child_by_field_name("value")
        value_type = ""
        if value is not None:
            value_type = value.type
            if value_type in _WRAPPERS:
                value = _unwrapped(value)
                value_type = value.type if value is not None else ""
        if value_type not in _BINDS_DECLARATION:
            start = node.start_byte
            index = bisect.bisect_right(self.function_starts, start) - 1
            if index >= 0 and start < self.function_ends[index]:  # ``inside_function``, inlined (hot path)
                return  # a local variable: the common case, rejected before any other node access
        declaration = node.parent
        if declaration is None:
            return
        container = declaration.parent
        if container is None or container.type == "for_statement":
            return
        keyword = "var"
        if declaration.type == "lexical_declaration":
            kind_node = declaration.child_by_field_name("kind")
            keyword = kind_node.type if kind_node is not None else "let"
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        kind: SymbolKind
        if value_type in FUNCTION_VALUES and name_node.type == "identifier":
            kind = "function"
        elif value_type == "class" and name_node.type == "identifier":
            kind = "class"
        elif self.inside_function(node.start_byte):
            return  # a destructured local bound to a function or class value
        else:
            kind = "constant" if keyword == "const" else "variable"
        outer, exported, _ = _export_wrapper(declaration, container)
        header_end: int | None = None
        if value is not None:
            body = value.child_by_field_name("body") if kind in ("function", "class") else None
            header_end = body.start_byte if body is not None else value.start_byte
        bindings = [name_node] if name_node.type == "identifier" else list(_pattern_bindings(name_node))
        for binding in bindings:
            named = self.simple_name(binding)
            if named is None:
                continue
            self.add_symbol(
                name=named[0],
                name_span=named[1],
                kind=kind,
                outer=node,
                header_end=header_end,
                exported=exported,
                is_async=value is not None and kind == "function" and _has_async(value),
                signature_prefix=keyword,
                doc_start=outer.start_byte,
                span=None if binding is name_node else named[1],
            )

    def inside_function(self, position: int) -> bool:
        """Whether a byte offset lies in the body (or parameters) of any function, method or static block."""
        index = bisect.bisect_right(self.function_starts, position) - 1
        return index >= 0 and position < self.function_ends[index]

    def function_scopes(self, functions: Iterable[Node]) -> None:
        """Keep the outermost function ranges, sorted, for ``inside_function``."""
        starts = self.function_starts
        ends = self.function_ends
        last_end = -1
        for start, end in sorted([(node.start_byte, node.end_byte) for node in functions]):
            if start < last_end:
                continue
            starts.append(start)
            ends.append(end)
            last_end = end

    def merge_type_parameter_scopes(self) -> None:
        """Sort each name's scopes and merge overlaps, so ``is_type_parameter`` is one bisection."""
        for name, scopes in self.type_parameter_scopes.items():
            merged: list[tuple[int, int]] = []
            for start, end in sorted(scopes):
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
                else:
                    merged.append((start, end))
            self.type_parameter_scopes[name] = merged

    def type_parameters(self, node: Node) -> None:
        """Record each type parameter's name as a declaration and its owner's range as its scope."""
        owner = node.parent
        if owner is None:
            return
        scope = (owner.start_byte, owner.end_byte)
        for parameter in node.named_children:
            name_node = parameter.child_by_field_name("name") if parameter.type == "type_parameter" else None
            if name_node is None:
                continue
            start = name_node.start_byte
            self.symbol_name_starts.add(start)
            self.type_parameter_scopes.setdefault(self.source[start : name_node.end_byte], []).append(scope)

    def doc_before(self, anchor_start: int) -> str | None:
        """The JSDoc block that ends on the line above ``anchor_start`` (or on its line) with only blanks between."""
        position = bisect.bisect_right(self.comment_ends, anchor_start) - 1
        if position < 0:
            return None
        comment_end = self.comment_ends[position]
        gap = self.source[comment_end:anchor_start] if anchor_start - comment_end <= _MAX_DOC_GAP else b"\n\n"
        if gap.count(b"\n") > 1 or gap.strip():
            return None
        raw = self.source[self.comment_starts[position] : comment_end]
        if not raw.startswith(b"/**") or raw.startswith(b"/**/") or not raw.endswith(b"*/"):
            return None
        text = raw[3:-2].decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        doc = _doc_text(text)
        return doc[: self.limits.max_doc_chars] if doc else None

    def finish_symbols(self) -> tuple[Symbol, ...]:
        pending = sorted(self.symbols, key=lambda s: (s.start, -s.end, s.name_span.start_byte))
        self.ordered_symbols = pending
        parents: list[int | None] = []
        stack: list[int] = []
        for index, symbol in enumerate(pending):
            while stack and pending[stack[-1]].end < symbol.end:
                stack.pop()
            while stack and pending[stack[-1]].end <= symbol.start:
                stack.pop()
            parent = stack[-1] if stack else None
            if symbol.constructor_member and parent is not None:
                parent = parents[parent]
            parents.append(parent)
            stack.append(index)
        result: list[Symbol] = []
        for index, symbol in enumerate(pending):
            top_level = parents[index] is None
            exported = symbol.exported or (top_level and symbol.name in self.later_exported)
            is_default = symbol.is_default or (top_level and symbol.name in self.later_default)
            result.append(
                Symbol(
                    name=symbol.name,
                    kind=symbol.kind,
                    span=symbol.span,
                    name_span=symbol.name_span,
                    parent=parents[index],
                    exported=exported or is_default,
                    is_default_export=is_default,
                    is_async=symbol.is_async,
                    signature=symbol.signature,
                    doc=symbol.doc,
                )
            )
        return tuple(result)

    # ---- imports and exports ------------------------------------------------------------------------

    def string_value(self, node: Node | None) -> tuple[str, Span] | None:
        if node is None:
            return None
        if node.type == "string" or (
            node.type == "template_string" and not any(child.type == "template_substitution" for child in node.children)
        ):
            if node.end_byte - node.start_byte < 2:
                return None
            span = _inner_span(node)
            return self.text(span.start_byte, span.end_byte), span
        return None

    def import_use(self, suffix: str, node: Node) -> None:
        if suffix == "static":
            self.import_statement(node)
            return
        arguments = node.child_by_field_name("arguments")
        if arguments is None or arguments.named_child_count != 1:
            return
        specifier = self.string_value(arguments.named_children[0])
        if specifier is None:
            return
        kind: ImportKind = "dynamic" if suffix == "dynamic" else "require"
        bindings: tuple[ImportBinding, ...] = ()
        parent = node.parent
        if kind == "require" and parent is not None and parent.type == "variable_declarator":
            bindings = self.require_bindings(parent.child_by_field_name("name"))
        self.imports.append(
            _PendingImport(
                key=node.start_byte,
                specifier=specifier[0],
                kind=kind,
                is_type_only=False,
                span=_node_span(node),
                specifier_span=specifier[1],
                bindings=bindings,
            )
        )

    def require_bindings(self, pattern: Node | None) -> tuple[ImportBinding, ...]:
        if pattern is None:
            return ()
        if pattern.type == "identifier":
            return (
                ImportBinding(
                    imported="*", local=self.node_text(pattern), is_type_only=False, span=_node_span(pattern)
                ),
            )
        if pattern.type != "object_pattern":
            return ()
        bindings = []
        for child in pattern.named_children:
            if child.type == "shorthand_property_identifier_pattern":
                name = self.node_text(child)
                bindings.append(ImportBinding(imported=name, local=name, is_type_only=False, span=_node_span(child)))
            elif child.type == "pair_pattern":
                key = self.simple_name(child.child_by_field_name("key"))
                value = child.child_by_field_name("value")
                if key is not None and value is not None and value.type == "identifier":
                    bindings.append(
                        ImportBinding(
                            imported=key[0], local=self.node_text(value), is_type_only=False, span=_node_span(child)
                        )
                    )
        return tuple(bindings)

    def import_statement(self, node: Node) -> None:
        is_type_only = any(child.type == "type" for child in node.children)
        bindings: list[ImportBinding] = []
        source_node = node.child_by_field_name("source")
        kind: ImportKind = "side_effect"
        for child in node.named_children:
            if child.type == "import_clause":
                kind = "import"
                self.import_clause(child, is_type_only, bindings)
            elif child.type == "import_require_clause":
                kind = "import_equals"
                source_node = child.child_by_field_name("source")
                local = next((c for c in child.named_children if c.type == "identifier"), None)
                if local is not None:
                    bindings.append(
                        ImportBinding(
                            imported="*", local=self.node_text(local), is_type_only=is_type_only, span=_node_span(local)
                        )
                    )
        specifier = self.string_value(source_node)
        if specifier is None:
            return
        self.imports.append(
            _PendingImport(
                key=node.start_byte,
                specifier=specifier[0],
                kind=kind,
                is_type_only=is_type_only,
                span=_node_span(node),
                specifier_span=specifier[1],
                bindings=tuple(bindings),
            )
        )

    def import_clause(self, clause: Node, is_type_only: bool, bindings: list[ImportBinding]) -> None:
        for part in clause.named_children:
            if part.type == "identifier":
                bindings.append(
                    ImportBinding(
                        imported="default", local=self.node_text(part), is_type_only=is_type_only, span=_node_span(part)
                    )
                )
            elif part.type == "namespace_import":
                local = next((c for c in part.named_children if c.type == "identifier"), None)
                if local is not None:
                    bindings.append(
                        ImportBinding(
                            imported="*", local=self.node_text(local), is_type_only=is_type_only, span=_node_span(part)
                        )
                    )
            elif part.type == "named_imports":
                for specifier in part.named_children:
                    if specifier.type != "import_specifier":
                        continue
                    imported = self.module_export_name(specifier.child_by_field_name("name"))
                    if imported is None:
                        continue
                    alias = specifier.child_by_field_name("alias")
                    local_name = self.node_text(alias) if alias is not None else imported
                    type_only = is_type_only or any(c.type == "type" for c in specifier.children)
                    bindings.append(
                        ImportBinding(
                            imported=imported, local=local_name, is_type_only=type_only, span=_node_span(specifier)
                        )
                    )

    def module_export_name(self, node: Node | None) -> str | None:
        if node is None:
            return None
        if node.type == "string":
            value = self.string_value(node)
            return None if value is None else value[0]
        return self.node_text(node)

    def export_use(self, suffix: str, node: Node) -> None:
        if suffix == "commonjs":
            self.commonjs_export(node)
        else:
            self.export_statement(node)

    def export_statement(self, node: Node) -> None:
        parent = node.parent
        top_level = parent is not None and parent.type == "program"
        children = node.children
        is_type_only = any(child.type == "type" for child in children)
        source_node = node.child_by_field_name("source")
        if source_node is not None:
            self.reexport(node, source_node, is_type_only, _node_span(node), top_level)
            return
        if not top_level:
            return
        # Most export statements export a declaration, whose own symbol makes the row: the span is only
        # built for the statements that make rows here.
        has_default = False
        has_equals = False
        span: Span | None = None
        for child in children:
            child_type = child.type
            if child_type == "default":
                has_default = True
            elif child_type == "=":
                has_equals = True
            elif child_type == "export_clause":
                if span is None:
                    span = _node_span(node)
                for specifier in child.named_children:
                    if specifier.type != "export_specifier":
                        continue
                    name = self.module_export_name(specifier.child_by_field_name("name"))
                    if name is None:
                        continue
                    alias = self.module_export_name(specifier.child_by_field_name("alias"))
                    exported = alias or name
                    type_only = is_type_only or any(c.type == "type" for c in specifier.children)
                    self.exports.append(
                        _PendingExport(exported=exported, local=name, kind="local", is_type_only=type_only, span=span)
                    )
                    self.later_exported.add(name)
                    if exported == "default":
                        self.later_default.add(name)
        local: str | None = None
        if has_default and node.child_by_field_name("declaration") is None:
            value = node.child_by_field_name("value")
            if value is not None and value.type in ("identifier", "class", "function_expression", "generator_function"):
                if value.type == "identifier":
                    local = self.node_text(value)
                    self.later_default.add(self.node_text(value))
                else:
                    return  # named by the declaration's own export row
            else:
                local = None
            self.exports.append(
                _PendingExport(
                    exported="default", local=local, kind="local", is_type_only=False, span=span or _node_span(node)
                )
            )
        elif has_equals:
            value = next((c for c in node.named_children if c.type != "comment"), None)
            local = self.node_text(value) if value is not None and value.type == "identifier" else None
            if local is not None:
                self.later_exported.add(local)
            self.exports.append(
                _PendingExport(
                    exported="export=",
                    local=local,
                    kind="assignment",
                    is_type_only=False,
                    span=span or _node_span(node),
                )
            )

    def reexport(self, node: Node, source_node: Node, is_type_only: bool, span: Span, top_level: bool) -> None:
        specifier = self.string_value(source_node)
        if specifier is None:
            return
        bindings: list[ImportBinding] = []
        exports: list[_PendingExport] = []
        key = node.start_byte
        clause = next((c for c in node.named_children if c.type in ("export_clause", "namespace_export")), None)
        if clause is None:
            exports.append(
                _PendingExport(
                    exported="*", local=None, kind="reexport_all", is_type_only=is_type_only, span=span, import_key=key
                )
            )
        elif clause.type == "namespace_export":
            name = self.module_export_name(clause.named_children[0]) if clause.named_child_count else None
            if name is not None:
                bindings.append(
                    ImportBinding(imported="*", local=name, is_type_only=is_type_only, span=_node_span(clause))
                )
                exports.append(
                    _PendingExport(
                        exported=name,
                        local="*",
                        kind="reexport_namespace",
                        is_type_only=is_type_only,
                        span=span,
                        import_key=key,
                    )
                )
        else:
            for export_specifier in clause.named_children:
                if export_specifier.type != "export_specifier":
                    continue
                imported = self.module_export_name(export_specifier.child_by_field_name("name"))
                if imported is None:
                    continue
                alias = self.module_export_name(export_specifier.child_by_field_name("alias"))
                type_only = is_type_only or any(c.type == "type" for c in export_specifier.children)
                bindings.append(
                    ImportBinding(
                        imported=imported,
                        local=alias or imported,
                        is_type_only=type_only,
                        span=_node_span(export_specifier),
                    )
                )
                exports.append(
                    _PendingExport(
                        exported=alias or imported,
                        local=imported,
                        kind="reexport",
                        is_type_only=type_only,
                        span=span,
                        import_key=key,
                    )
                )
        self.imports.append(
            _PendingImport(
                key=key,
                specifier=specifier[0],
                kind="reexport",
                is_type_only=is_type_only,
                span=span,
                specifier_span=specifier[1],
                bindings=tuple(bindings),
            )
        )
        if top_level:
            self.exports.extend(exports)

    def commonjs_export(self, node: Node) -> None:
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if left is None or right is None:
            return
        target = left.child_by_field_name("object")
        prop = left.child_by_field_name("property")
        if target is None or prop is None:
            return
        target_text = self.node_text(target)
        if target_text not in ("module", "exports", "module.exports"):
            return  # ``this.x = …`` and the like: most assignments to a member export nothing
        prop_text = self.node_text(prop)
        span = _node_span(node)
        if target_text == "module" and prop_text == "exports":
            if right.type == "object":
                self.commonjs_object(right, span)
                return
            local = self.node_text(right) if right.type == "identifier" else None
            if local is not None:
                self.later_exported.add(local)
            self.exports.append(
                _PendingExport(exported="export=", local=local, kind="commonjs", is_type_only=False, span=span)
            )
        elif target_text in ("exports", "module.exports"):
            local = self.node_text(right) if right.type == "identifier" else None
            if local is not None:
                self.later_exported.add(local)
            self.exports.append(
                _PendingExport(exported=prop_text, local=local, kind="commonjs", is_type_only=False, span=span)
            )

    def commonjs_object(self, value: Node, span: Span) -> None:
        for member in value.named_children:
            exported: str | None = None
            local: str | None = None
            if member.type == "shorthand_property_identifier":
                exported = local = self.node_text(member)
            elif member.type == "pair":
                key = self.simple_name(member.child_by_field_name("key"))
                pair_value = member.child_by_field_name("value")
                if key is not None:
                    exported = key[0]
                    if pair_value is not None and pair_value.type == "identifier":
                        local = self.node_text(pair_value)
            elif member.type == "method_definition":
                key = self.simple_name(member.child_by_field_name("name"))
                exported = key[0] if key is not None else None
            if exported is None:
                continue
            if local is not None:
                self.later_exported.add(local)
            self.exports.append(
                _PendingExport(exported=exported, local=local, kind="commonjs", is_type_only=False, span=span)
            )

    def finish_imports(self) -> tuple[tuple[Import, ...], dict[int, int]]:
        ordered = sorted(self.imports, key=lambda i: (i.span.start_byte, i.specifier_span.start_byte))
        imports = tuple(
            Import(
                specifier=i.specifier,
                kind=i.kind,
                is_type_only=i.is_type_only,
                span=i.span,
                specifier_span=i.specifier_span,
                bindings=i.bindings,
            )
            for i in ordered
        )
        return imports, {i.key: index for index, i in enumerate(ordered)}

    def finish_exports(self, symbols: tuple[Symbol, ...], import_index: dict[int, int]) -> tuple[Export, ...]:
        pending = list(self.exports)
        for symbol, declared in zip(symbols, self.ordered_symbols, strict=True):
            if symbol.parent is None and declared.exported:
                pending.append(
                    _PendingExport(
                        exported="default" if declared.is_default else symbol.name,
                        local=symbol.name,
                        kind="local",
                        is_type_only=False,
                        span=symbol.span,
                    )
                )
        seen: set[tuple[str, str]] = set()
        result: list[Export] = []
        for export in sorted(pending, key=lambda e: (e.span.start_byte, e.exported)):
            identity = (export.kind, export.exported)
            if export.kind in ("local", "commonjs") and identity in seen:
                continue
            seen.add(identity)
            result.append(
                Export(
                    exported=export.exported,
                    local=export.local,
                    kind=export.kind,
                    is_type_only=export.is_type_only,
                    span=export.span,
                    import_index=None if export.import_key is None else import_index.get(export.import_key),
                )
            )
        return tuple(result)

    # ---- references ---------------------------------------------------------------------------------

    def qualifier_text(self, node: Node, qualifier_start: int, name_start: int) -> str:
        """The text before the last ``.`` (or ``?.``) of a qualified name, whitespace-normalised and bounded."""
        raw = self.source[qualifier_start:name_start].rstrip()
        if b"/" in raw:  # a comment between the parts: ask the tree where the qualifier ends
            member = node.parent
            qualifier = None
            if member is not None:
                qualifier = member.child_by_field_name("object") or member.child_by_field_name("module")
            end = qualifier.end_byte if qualifier is not None else qualifier_start
        else:
            end = qualifier_start + len(raw.removesuffix(b".").removesuffix(b"?").rstrip())
        return self.normalised(qualifier_start, end, self.limits.max_qualifier_chars)


def _doc_text(text: str) -> str:
    """A JSDoc block's text: each line without its leading blanks and ``*`` (and one space after it), and
    without trailing blanks; blank lines at both ends dropped."""
    lines: list[str] = []
    append = lines.append
    for line in text.split("\n"):
        content = line.lstrip()
        if content[:1] == "*":
            content = content[2:] if content[1:2] == " " else content[1:]
        append(content.rstrip())
    return "\n".join(lines).strip()


def _unwrapped(value: Node | None) -> Node | None:
    """A variable's value without parentheses; ``<A>(x) => …`` read as a type assertion of an arrow function
    (the grammar's reading next to a syntax error) is the generic arrow function the compiler sees."""
    while value is not None:
        if value.type == "parenthesized_expression" and value.named_child_count == 1:
            value = value.named_children[0]
        elif value.type == "type_assertion" and value.named_child_count == 2:
            inner = value.named_children[1]
            if inner.type != "arrow_function":
                return value
            value = inner
        else:
            return value
    return value


def _export_wrapper(node: Node, parent: Node | None = None) -> tuple[Node, bool, bool]:
    """The outermost node of a declaration (with ``declare``/``export``), whether exported, whether default.

    ``parent`` is the node's parent when the caller has it already (``Node.parent`` walks down from the root)."""
    outer = node
    if parent is None:
        parent = outer.parent
    if parent is not None and parent.type == "ambient_declaration":
        outer = parent
        parent = outer.parent
    if parent is not None and parent.type == "export_statement":
        is_default = any(child.type == "default" for child in parent.children)
        return parent, True, is_default
    return outer, False, False


def _header_start(node: Node) -> int:
    """Where a declaration's header starts: after its leading decorators and comments."""
    for index in range(node.child_count):
        child = node.child(index)
        if child is not None and child.type not in ("decorator", "comment"):
            return child.start_byte
    return node.start_byte


_BEFORE_ASYNC = frozenset({"decorator", "comment", "accessibility_modifier", "override_modifier", "static", "export"})


def _has_async(node: Node) -> bool:
    """Whether a function-like node starts with ``async`` (after its decorators and modifiers)."""
    for index in range(node.child_count):
        child = node.child(index)
        if child is None or child.type not in _BEFORE_ASYNC:
            return child is not None and child.type == "async"
    return False


def _leaves(node: Node) -> list[Node]:
    """The leaf nodes under ``node`` in source order (iterative: names can nest deeper than Python recursion)."""
    leaves: list[Node] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if current.child_count == 0:
            leaves.append(current)
        else:
            pending.extend(reversed(current.children))
    return leaves


def _pattern_bindings(pattern: Node) -> list[Node]:
    """The identifiers a destructuring pattern binds, in source order (iterative, for deep patterns)."""
    bindings: list[Node] = []
    pending = [pattern]
    while pending:
        node = pending.pop()
        node_type = node.type
        if node_type in ("identifier", "shorthand_property_identifier_pattern"):
            bindings.append(node)
        elif node_type in ("object_pattern", "array_pattern", "rest_pattern"):
            pending.extend(reversed(node.named_children))
        elif node_type == "pair_pattern":
            value = node.child_by_field_name("value")
            if value is not None:
                pending.append(value)
        elif node_type in ("assignment_pattern", "object_assignment_pattern"):
            left = node.child_by_field_name("left")
            if left is not None:
                pending.append(left)
    return bindings
