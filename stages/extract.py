"""Extract stage: one parsed file → its symbols, imports, exports and references as plain Structs.

Guarantees:
- ``extract_source`` always returns a ``FileExtraction``. A file that breaks a parse limit or the decode policy
  (see ``stages.parse``) comes back with ``error`` set and no rows; it never raises for bad input.
- One walk of the tree per file matches the language's query file (``stages._native``, built from
  stages/native/); declarations, signatures, JSDoc and references are built there in C, import and export
  statements here. The rules are those of docs/index-contract.md whichever side applies them.
- Files with syntax errors still yield every declaration the grammar recognised outside the ERROR spans,
  and record ``had_syntax_errors``.
- Output is deterministic: symbols, imports, exports and references are each sorted by source position.
- Every range lies within the file, and ``source[name_span]`` decodes to exactly ``Symbol.name``.

What counts as a symbol is written down in ``docs/index-contract.md``.
"""

from __future__ import annotations

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
    Span,
    Symbol,
)
from stages.parse import ParsedFile, ParseError, ParseLimits, parse_source

Node = tree_sitter.Node

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


_query_plans: dict[str, _native.QueryPlan] = {}


def _query_plan(language: Language) -> _native.QueryPlan:
    """The language's query, ready to run natively (built once per process)."""
    plan = _query_plans.get(language.name)
    if plan is None:
        plan = _query_plans[language.name] = _native.QueryPlan(
            language.patterns.patterns, language.patterns.capture_names, language.spec.kinds
        )
    return plan


@dataclass(frozen=True)
class ExtractionLimits:
    """Per-file parse limits and bounds on stored text (in characters; a text cut at its bound ends in ``…``)."""

    parse: ParseLimits = field(default_factory=ParseLimits)
    max_signature_chars: int = 200
    max_doc_chars: int = 4000
    max_qualifier_chars: int = 100

    def __post_init__(self) -> None:
        for name in ("max_signature_chars", "max_doc_chars", "max_qualifier_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ExtractionLimits.{name} must be an int of at least 1, not {value!r}")


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
        self.imports: list[_PendingImport] = []
        self.exports: list[_PendingExport] = []
        self.later_exported: set[str] = set()
        self.later_default: set[str] = set()

    # ---- text helpers -------------------------------------------------------------------------------

    def text(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8", "replace")

    def node_text(self, node: Node) -> str:
        return self.text(node.start_byte, node.end_byte)

    # ---- driver -------------------------------------------------------------------------------------

    def run(self) -> FileExtraction:
        captures, requires, declarations = _query_plan(self.parsed.language).run(self.parsed.tree, self.source)
        for capture, nodes in sorted(captures.items()):
            family, _, suffix = capture.partition(".")
            if family == "import":
                for node in nodes:
                    self.import_use(suffix, node)
            elif family == "export":
                for node in nodes:
                    self.export_use(suffix, node)
        for call in requires:
            self.import_use("require", call)
        symbols, declared_exports = declarations.symbols(
            self.later_exported, self.later_default, self.limits.max_signature_chars, self.limits.max_doc_chars
        )
        imports, import_index = self.finish_imports()
        return FileExtraction(
            path=self.parsed.path,
            language=self.parsed.language.name,
            is_declaration_file=self.parsed.is_declaration_file,
            size_bytes=len(self.source),
            had_syntax_errors=self.parsed.had_syntax_errors,
            error=None,
            symbols=symbols,
            imports=imports,
            exports=self.finish_exports(symbols, declared_exports, import_index),
            references=declarations.references(self.limits.max_qualifier_chars),
        )

    # ---- imports and exports ------------------------------------------------------------------------

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

    def finish_exports(
        self, symbols: tuple[Symbol, ...], declared_exports: list[tuple[int, bool]], import_index: dict[int, int]
    ) -> tuple[Export, ...]:
        """The file's exports in source order: the export statements' rows and one row per top-level
        declaration that carries ``export`` itself (``declared_exports``: its index, whether default)."""
        pending = list(self.exports)
        for index, is_default in declared_exports:
            symbol = symbols[index]
            pending.append(
                _PendingExport(
                    exported="default" if is_default else symbol.name,
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
