"""Go: the captures of stages/queries/go.scm → symbols, imports, exports and references (docs/index-contract.md, "Go").

Guarantees (those of ``stages.extract``): rows sorted by source position, every span inside the file,
``source[name_span] == name``, text bounded by ``TextLimits``, one ``captures.steps.take()`` per unit of work, and
work linear in the captures at any nesting (no recursion: every walk below a captured node uses an explicit stack
or a loop, and reads at most a bounded number of bytes per row).

What is declared is read from the file's top level only (Go declares nothing visible outside a function inside
one): the package clause, imports, functions, methods, types with their fields and interface methods, constants and
variables. Locals (parameters, receivers, ``:=``, ``var`` in a function, ``range`` and type-switch bindings) are
not symbols; they give references their ``root_hint``. A local is in scope from its declaration to the end of the
top-level declaration that holds it (Go's block scopes are not tracked: the latest declaration before a use wins).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import msgspec

from stages.models import Export, Import, ImportBinding, ImportKind, Reference, ReferenceKind, Span, Symbol, SymbolKind
from stages.syntax import Captures, Rows, SyntaxNode, bounded, span_of

PREDECLARED_TYPES = frozenset(
    {
        "any",
        "bool",
        "byte",
        "comparable",
        "complex64",
        "complex128",
        "error",
        "float32",
        "float64",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "rune",
        "string",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
    }
)
"""Go's predeclared types: a use of one is no reference (they name nothing a repository declares)."""

OWN_PACKAGE = "."
"""The specifier of the implicit import of a file's own package (``ImportKind`` ``package``): the names declared
at the top level of the other files of its directory are in scope."""

MAX_HINT_CHARS = 200
MAX_HINT_REPLACEMENTS = 8
MAX_SCANNED_BYTES = 4096
MAX_INDENT_BYTES = 1024  # blank space around a doc comment; past it, the comment documents nothing
"""Bytes of source read at most to build one signature, qualifier or hint (the kept text is shorter still)."""

_WHITESPACE = re.compile(r"\s+")
_VERSION_ELEMENT = re.compile(r"v[0-9]+")
_IDENTIFIER_PART = re.compile(r"[^\W\d]\w*|_\w*")
_DECLARATION_KEYWORDS = {"const_declaration": "const", "var_declaration": "var", "type_declaration": "type"}


def rows(captures: Captures) -> Rows:
    """The rows of one Go file (see the module docstring)."""
    return _GoFile(captures).rows()


def assumed_package_name(import_path: str) -> str:
    """The name a package imported by ``import_path`` is assumed to declare, as Go's tools assume it before reading
    the package: the last path element, the one before it when that is a major version (``v2``), without a ``go-``
    prefix, up to its first character that no identifier holds (``gopkg.in/yaml.v3`` → ``yaml``)."""
    elements = [element for element in import_path.split("/") if element]
    if not elements:
        return import_path
    name = elements[-1]
    if len(elements) > 1 and _VERSION_ELEMENT.fullmatch(name):
        name = elements[-2]
    if name.startswith("go-"):
        name = name[3:]
    match = _IDENTIFIER_PART.match(name)
    return match.group() if match else name


def is_exported_name(name: str) -> bool:
    """Go's rule: a name is exported when its first character is an upper-case letter."""
    return bool(name) and name[0].isupper()


class _GoFile:
    """One file's rows, built from its captures."""

    def __init__(self, captures: Captures) -> None:
        self.captures = captures
        self.source = captures.source
        self.limits = captures.limits
        self.steps = captures.steps
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []
        self.exports: list[Export] = []
        self.top_types: dict[str, int] = {}
        # Top-level declarations (start, end) in order: the scopes of locals and type parameters.
        self.scope_starts: list[int] = []
        self.scope_ends: list[int] = []
        self.type_parameters: dict[int, set[str]] = {}
        # (name, top-level declaration) → where its locals of that name are declared, in order, and their hints.
        self.local_positions: dict[tuple[str, int], list[int]] = {}
        self.local_hints: dict[tuple[str, int], list[str]] = {}
        self.local_names: set[str] = set()  # every name some local is declared with (most names are none)
        self.comments_by_end_row: dict[int, SyntaxNode] | None = None

    # ---- text ---------------------------------------------------------------------------------------

    def text(self, node: SyntaxNode, limit: int = MAX_SCANNED_BYTES) -> str:
        start, end = node.start_byte, node.end_byte
        if end - start > limit:
            end = start + limit
        return self.source[start:end].decode("utf-8", "replace")

    def header(self, start: int, end: int) -> str:
        """Source text of ``[start, end)`` with whitespace runs collapsed, bounded to a signature's length."""
        end = min(end, start + MAX_SCANNED_BYTES)
        text = _WHITESPACE.sub(" ", self.source[start:end].decode("utf-8", "replace")).strip()
        return bounded(text, self.limits.max_signature_chars)

    def doc(self, node: SyntaxNode) -> str | None:
        """The comment group that ends on the line just above ``node`` (or ``None``), as go/parser's lead comments:
        comments each alone on their lines, each ending on the line above the next; ``//`` lines without their
        markers and one following space, or a ``/* */`` block without its markers."""
        lines: list[str] = []
        below_start = node.start_byte
        comment = self.comment_ending_on(node.start_point[0] - 1)
        read = 0
        while comment is not None and self.alone_between(comment, below_start):
            self.steps.take()
            text = self.text(comment, self.limits.max_doc_chars * 4 + 4)
            if text.startswith("//"):
                body = text[2:]
                lines.append(body[1:] if body.startswith(" ") else body)
            else:
                lines.extend(reversed(text[2:].removesuffix("*/").strip("\n").split("\n")))
            read += len(text)
            below_start = comment.start_byte
            comment = self.comment_ending_on(comment.start_point[0] - 1)
            if read > self.limits.max_doc_chars * 4:
                break
        if not lines:
            return None
        text = "\n".join(reversed(lines)).strip("\n")
        return bounded(text, self.limits.max_doc_chars) if text.strip() else None

    def comment_ending_on(self, row: int) -> SyntaxNode | None:
        """The last comment that ends on ``row`` (0-based), from the captured comments indexed once per file."""
        if self.comments_by_end_row is None:
            self.comments_by_end_row = {}
            for comment in self.captures.of("comment"):
                self.steps.take()
                self.comments_by_end_row[comment.end_point[0]] = comment
        return self.comments_by_end_row.get(row) if row >= 0 else None

    def alone_between(self, comment: SyntaxNode, below_start: int) -> bool:
        """Whether ``comment`` starts its line and only blank space lies between it and ``below_start`` (the
        start of what it documents, or of the comment below it)."""
        window = max(0, comment.start_byte - MAX_INDENT_BYTES)
        newline = self.source.rfind(b"\n", window, comment.start_byte)
        if (newline < 0 and window > 0) or below_start - comment.end_byte > MAX_INDENT_BYTES:
            return False
        line_start = newline + 1
        return (
            not self.source[line_start : comment.start_byte].strip()
            and not self.source[comment.end_byte : below_start].strip()
        )

    # ---- rows ---------------------------------------------------------------------------------------

    def rows(self) -> Rows:
        files = self.captures.of("file")
        for file in files:
            for node in file.named_children:
                self.steps.take()
                if node.type in ("function_declaration", "method_declaration", *_DECLARATION_KEYWORDS):
                    self.scope_starts.append(node.start_byte)
                    self.scope_ends.append(node.end_byte)
        self.collect_type_parameters()
        for file in files:
            self.top_level(file)
        self.collect_locals()
        references = self.references()
        return tuple(self.symbols), tuple(self.imports), tuple(self.exports), tuple(references)

    def add_symbol(
        self,
        name_node: SyntaxNode,
        kind: SymbolKind,
        span_node: SyntaxNode,
        parent: int | None,
        *,
        signature: str,
        doc: str | None,
        hint: str | None,
        receiver: str | None = None,
    ) -> int:
        self.steps.take()
        name = self.text(name_node)
        self.symbols.append(
            Symbol(
                name=name,
                kind=kind,
                span=span_of(span_node),
                name_span=span_of(name_node),
                parent=parent,
                exported=is_exported_name(name) and kind != "module",
                is_default_export=False,
                is_async=False,
                signature=signature,
                doc=doc,
                type_hint=hint,
                receiver=receiver,
            )
        )
        return len(self.symbols) - 1

    def export(self, symbol: int) -> None:
        declared = self.symbols[symbol]
        if declared.exported:
            self.exports.append(
                Export(
                    exported=declared.name,
                    local=declared.name,
                    kind="local",
                    is_type_only=False,
                    span=declared.span,
                    import_index=None,
                )
            )

    def top_level(self, file: SyntaxNode) -> None:
        for node in file.named_children:
            self.steps.take()
            kind = node.type
            if kind == "package_clause":
                self.package_clause(node)
            elif kind == "import_declaration":
                self.import_declaration(node)
            elif kind == "function_declaration":
                self.function(node)
            elif kind == "method_declaration":
                self.method(node)
            elif kind in _DECLARATION_KEYWORDS:
                self.declaration(node, _DECLARATION_KEYWORDS[kind])

    def package_clause(self, node: SyntaxNode) -> None:
        name = next((child for child in node.named_children if child.type == "package_identifier"), None)
        if name is None:
            return
        signature = self.header(node.start_byte, node.end_byte)
        self.add_symbol(name, "module", node, None, signature=signature, doc=self.doc(node), hint=None)
        span = span_of(name)
        self.imports.append(
            Import(
                specifier=OWN_PACKAGE,
                kind="package",
                is_type_only=False,
                span=span_of(node),
                specifier_span=span,
                bindings=(),
            )
        )

    def import_declaration(self, node: SyntaxNode) -> None:
        pending = [node]
        while pending:
            current = pending.pop()
            self.steps.take()
            if current.type == "import_spec":
                self.import_spec(current)
            elif current.type in ("import_declaration", "import_spec_list"):
                pending.extend(reversed(current.named_children))

    def import_spec(self, spec: SyntaxNode) -> None:
        path = spec.child_by_field_name("path")
        if path is None or path.type not in ("interpreted_string_literal", "raw_string_literal"):
            return
        if path.end_byte - path.start_byte < 2 or path.has_error:
            return
        start, end = path.start_byte + 1, path.end_byte - 1
        specifier = self.source[start:end].decode("utf-8", "replace")
        specifier_span = Span(
            start_line=path.start_point[0] + 1,
            start_column=path.start_point[1] + 1,
            end_line=path.end_point[0] + 1,
            end_column=path.end_point[1] - 1,
            start_byte=start,
            end_byte=end,
        )
        alias = spec.child_by_field_name("name")
        bindings: tuple[ImportBinding, ...]
        kind: ImportKind = "import"
        if alias is None:
            bindings = (
                ImportBinding(
                    imported="*", local=assumed_package_name(specifier), is_type_only=False, span=specifier_span
                ),
            )
        elif alias.type == "blank_identifier":
            kind, bindings = "side_effect", ()
        elif alias.type == "dot":
            bindings = (ImportBinding(imported="*", local="*", is_type_only=False, span=span_of(alias)),)
        else:
            bindings = (ImportBinding(imported="*", local=self.text(alias), is_type_only=False, span=span_of(alias)),)
        self.imports.append(
            Import(
                specifier=specifier,
                kind=kind,
                is_type_only=False,
                span=span_of(spec),
                specifier_span=specifier_span,
                bindings=bindings,
            )
        )

    def function(self, node: SyntaxNode) -> None:
        name = node.child_by_field_name("name")
        if name is None:
            return
        body = node.child_by_field_name("body")
        signature = self.header(node.start_byte, body.start_byte if body is not None else node.end_byte)
        hint = self.result_hint(node, node.start_byte)
        self.export(self.add_symbol(name, "function", node, None, signature=signature, doc=self.doc(node), hint=hint))

    def method(self, node: SyntaxNode) -> None:
        name = node.child_by_field_name("name")
        if name is None:
            return
        body = node.child_by_field_name("body")
        signature = self.header(node.start_byte, body.start_byte if body is not None else node.end_byte)
        receiver = self.receiver_type(node.child_by_field_name("receiver"))
        parent = None if receiver is None else self.top_types.get(receiver)
        hint = self.result_hint(node, node.start_byte)
        # A receiver type not declared above in this file is declared in another file of the package (or further
        # down this one): the method names it, and the linker finds the method through the type's name.
        self.add_symbol(
            name,
            "method",
            node,
            parent,
            signature=signature,
            doc=self.doc(node),
            hint=hint,
            receiver=receiver if parent is None else None,
        )

    def receiver_type(self, receiver: SyntaxNode | None) -> str | None:
        """The name of a receiver's type: ``T`` of ``(t *T)``, ``(T)``, ``(p Pair[K, V])``."""
        if receiver is None:
            return None
        declaration = next((child for child in receiver.named_children if child.type == "parameter_declaration"), None)
        node = None if declaration is None else declaration.child_by_field_name("type")
        for _ in range(8):
            if node is None:
                return None
            if node.type == "type_identifier":
                return self.text(node)
            if node.type in ("pointer_type", "parenthesized_type"):
                node = node.named_children[0] if node.named_children else None
            elif node.type == "generic_type":
                node = node.child_by_field_name("type")
            else:
                return None
        return None

    def declaration(self, node: SyntaxNode, keyword: str) -> None:
        """A ``const``, ``var`` or ``type`` declaration, grouped or not."""
        pending = [node]
        specs: list[SyntaxNode] = []
        while pending:
            current = pending.pop()
            self.steps.take()
            if current.type in ("const_spec", "var_spec", "type_spec", "type_alias"):
                specs.append(current)
            elif current.type in ("const_declaration", "var_declaration", "type_declaration", "var_spec_list"):
                pending.extend(reversed(current.named_children))
        single = len(specs) == 1 and not any(child.type == "(" for child in node.children)
        previous_hint: str | None = None
        for spec in specs:
            span_node = node if single else spec
            doc = self.doc(spec) if not single else self.doc(node)
            if spec.type in ("type_spec", "type_alias"):
                self.type_spec(spec, span_node, doc, keyword)
            else:
                previous_hint = self.value_spec(spec, span_node, doc, keyword, previous_hint)

    def type_spec(self, spec: SyntaxNode, span_node: SyntaxNode, doc: str | None, keyword: str) -> None:
        name = spec.child_by_field_name("name")
        definition = spec.child_by_field_name("type")
        if name is None or definition is None:
            return
        body_start = definition.end_byte
        members: SyntaxNode | None = None
        kind: SymbolKind = "type_alias"
        hint: str | None
        if definition.type == "struct_type" and spec.type == "type_spec":
            kind = "class"
            members = next((c for c in definition.named_children if c.type == "field_declaration_list"), None)
        elif definition.type == "interface_type" and spec.type == "type_spec":
            kind = "interface"
            members = definition
        if members is not None:
            brace = next((child for child in members.children if child.type == "{"), None)
            body_start = brace.start_byte if brace is not None else definition.end_byte
            hint = None
        else:
            hint = self.type_hint(definition)
        signature = self.header(spec.start_byte, body_start)
        signature = bounded(f"{keyword} {signature}", self.limits.max_signature_chars)
        symbol = self.add_symbol(name, kind, span_node, None, signature=signature, doc=doc, hint=hint)
        self.top_types.setdefault(self.symbols[symbol].name, symbol)
        self.export(symbol)
        if members is not None:
            bases = self.members(members, symbol, kind)
            if bases:
                self.symbols[symbol] = _with_hint(self.symbols[symbol], ",".join(bases)[:MAX_HINT_CHARS])

    def members(self, members: SyntaxNode, parent: int, kind: SymbolKind) -> list[str]:
        """Add the fields of a struct or the methods of an interface; returns the hints of its embedded types."""
        bases: list[str] = []
        for member in members.named_children:
            self.steps.take()
            if member.type == "field_declaration":
                field_type = member.child_by_field_name("type")
                hint = None if field_type is None else self.type_hint(field_type)
                names = _named(member.children_by_field_name("name"))
                signature = self.header(member.start_byte, member.end_byte)
                doc = self.doc(member)
                if not names:
                    embedded = self.embedded_name(field_type)
                    if embedded is not None:
                        self.add_symbol(embedded, "property", member, parent, signature=signature, doc=doc, hint=hint)
                        if hint is not None:
                            bases.append(hint)
                for name in names:
                    self.add_symbol(name, "property", member, parent, signature=signature, doc=doc, hint=hint)
            elif member.type == "method_elem":
                method_name = member.child_by_field_name("name")
                if method_name is not None:
                    signature = self.header(member.start_byte, member.end_byte)
                    hint = self.result_hint(member, member.start_byte)
                    self.add_symbol(
                        method_name, "method", member, parent, signature=signature, doc=self.doc(member), hint=hint
                    )
            elif member.type == "type_elem" and kind == "interface":
                embedded_types = member.named_children
                if len(embedded_types) == 1:
                    hint = self.type_hint(embedded_types[0])
                    if hint is not None:
                        bases.append(hint)
        return bases

    def embedded_name(self, node: SyntaxNode | None) -> SyntaxNode | None:
        """The type name an embedded field is named by: ``T`` of ``T``, ``*T``, ``pkg.T``, ``T[int]``."""
        for _ in range(8):
            if node is None:
                return None
            if node.type == "type_identifier":
                return node
            if node.type == "pointer_type":
                node = node.named_children[0] if node.named_children else None
            elif node.type == "qualified_type":
                node = node.child_by_field_name("name")
            elif node.type == "generic_type":
                node = node.child_by_field_name("type")
            else:
                return None
        return None

    def value_spec(
        self, spec: SyntaxNode, span_node: SyntaxNode, doc: str | None, keyword: str, previous_hint: str | None
    ) -> str | None:
        """Add the constants or variables of one spec; returns the hint an implicitly repeated ``iota`` spec keeps."""
        names = _named(spec.children_by_field_name("name"))
        declared_type = spec.child_by_field_name("type")
        value = spec.child_by_field_name("value")
        values = [] if value is None else list(value.named_children)
        end = value.start_byte if value is not None else spec.end_byte
        header = self.header(spec.start_byte, end).rstrip(" =")
        signature = bounded(f"{keyword} {header}", self.limits.max_signature_chars)
        kind: SymbolKind = "constant" if keyword == "const" else "variable"
        spec_hint = None if declared_type is None else self.type_hint(declared_type)
        if declared_type is None and value is None and keyword == "const":
            spec_hint = previous_hint
        for index, name in enumerate(names):
            hint = spec_hint
            if hint is None and declared_type is None and len(values) == len(names):
                hint = self.expression_hint(values[index])
            span = span_node if len(names) == 1 else name
            self.export(self.add_symbol(name, kind, span, None, signature=signature, doc=doc, hint=hint))
        return spec_hint if declared_type is not None else None

    # ---- hints --------------------------------------------------------------------------------------

    def type_hint(self, node: SyntaxNode) -> str | None:
        """``{T}`` for a named type (through pointers, parentheses and type arguments), ``{pkg.T}`` for a qualified
        one; ``None`` for a predeclared type, a type parameter in scope or any other type."""
        current: SyntaxNode | None = node
        for _ in range(16):
            if current is None:
                return None
            if current.type == "type_identifier":
                name = self.text(current, 256)
                if name in PREDECLARED_TYPES or self.is_type_parameter(name, current.start_byte):
                    return None
                return _bounded_hint("{" + name + "}")
            if current.type == "qualified_type":
                return _bounded_hint("{" + _WHITESPACE.sub("", self.text(current, 512)) + "}")
            if current.type in ("pointer_type", "parenthesized_type"):
                current = current.named_children[0] if current.named_children else None
            elif current.type == "generic_type":
                current = current.child_by_field_name("type")
            else:
                return None
        return None

    def result_hint(self, node: SyntaxNode, scope_start: int) -> str | None:
        """A function's, method's or interface method's hint: its single result's type."""
        result = node.child_by_field_name("result")
        if result is None:
            return None
        if result.type == "parameter_list":
            declarations = result.named_children
            if len(declarations) != 1 or len(declarations[0].children_by_field_name("name")) > 1:
                return None
            result = declarations[0].child_by_field_name("type")
            if result is None:
                return None
        return self.type_hint(result)

    def expression_hint(self, node: SyntaxNode) -> str | None:
        """What an expression's value is, as a hint: a composite literal's type (``&T{}`` too), ``new(T)``, a type
        assertion's type, a chain of names, selectors and calls with the arguments dropped."""
        current = node
        suffix: list[str] = []
        for _ in range(64):
            self.steps.take()
            kind = current.type
            if kind == "parenthesized_expression" or (kind == "unary_expression" and self.operator(current) == "&"):
                inner = current.named_children
                if not inner:
                    return None
                current = inner[-1]
            elif kind == "composite_literal" and not suffix:
                literal_type = current.child_by_field_name("type")
                return None if literal_type is None else self.type_hint(literal_type)
            elif kind == "type_assertion_expression" and not suffix:
                asserted = current.child_by_field_name("type")
                return None if asserted is None else self.type_hint(asserted)
            elif kind == "call_expression":
                function = current.child_by_field_name("function")
                if function is None:
                    return None
                if function.type == "identifier" and self.text(function) == "new" and not suffix:
                    arguments = current.child_by_field_name("arguments")
                    first = None if arguments is None or not arguments.named_children else arguments.named_children[0]
                    return None if first is None else self.type_hint(first)
                suffix.append("()")
                current = function
            elif kind == "selector_expression":
                field = current.child_by_field_name("field")
                operand = current.child_by_field_name("operand")
                if field is None or operand is None:
                    return None
                suffix.append("." + self.text(field, 256))
                current = operand
            elif kind == "identifier":
                text = self.text(current, 256) + "".join(reversed(suffix))
                return text if len(text) <= MAX_HINT_CHARS else None
            else:
                return None
            if sum(len(part) for part in suffix) > MAX_HINT_CHARS:
                return None
        return None

    def operator(self, node: SyntaxNode) -> str | None:
        operator = node.child_by_field_name("operator")
        return None if operator is None else self.text(operator, 4)

    # ---- scopes -------------------------------------------------------------------------------------

    def scope_of(self, position: int) -> int | None:
        """The index of the top-level declaration holding ``position``, if any."""
        index = bisect.bisect_right(self.scope_starts, position) - 1
        return index if index >= 0 and position < self.scope_ends[index] else None

    def collect_type_parameters(self) -> None:
        """The type parameters of each top-level declaration: ``[T any]`` lists, and the names a generic receiver
        binds (``K``, ``V`` of ``func (p Pair[K, V]) …``)."""
        for file in self.captures.of("file"):
            for node in file.named_children:
                receiver = node.child_by_field_name("receiver") if node.type == "method_declaration" else None
                declaration = None
                if receiver is not None:
                    declaration = next((c for c in receiver.named_children if c.type == "parameter_declaration"), None)
                receiver_type = None if declaration is None else declaration.child_by_field_name("type")
                if receiver_type is not None and receiver_type.type == "pointer_type" and receiver_type.named_children:
                    receiver_type = receiver_type.named_children[0]
                arguments = None
                if receiver_type is not None and receiver_type.type == "generic_type":
                    arguments = receiver_type.child_by_field_name("type_arguments")
                scope = self.scope_of(node.start_byte)
                if arguments is None or scope is None:
                    continue
                names = self.type_parameters.setdefault(scope, set())
                for argument in arguments.named_children:
                    self.steps.take()
                    named = (
                        argument.named_children[0]
                        if argument.type == "type_elem" and argument.named_children
                        else argument
                    )
                    if named.type == "type_identifier":
                        names.add(self.text(named, 256))
        for declaration in self.captures.of("type_parameter"):
            self.steps.take()
            scope = self.scope_of(declaration.start_byte)
            if scope is not None:
                names = self.type_parameters.setdefault(scope, set())
                names.update(self.text(name, 256) for name in _named(declaration.children_by_field_name("name")))

    def is_type_parameter(self, name: str, position: int) -> bool:
        if not self.type_parameters:
            return False
        scope = self.scope_of(position)
        return scope is not None and name in self.type_parameters.get(scope, ())

    def collect_locals(self) -> None:
        """Every local's scope, position and hint (declaration order within a scope is source order)."""
        declared: list[tuple[int, str, str]] = []
        for declaration in self.captures.of("local.parameter"):
            self.steps.take()
            declared_type = declaration.child_by_field_name("type")
            hint = "" if declared_type is None else (self.type_hint(declared_type) or "")
            declared.extend((name.start_byte, self.text(name, 256), hint) for name in self.names_of(declaration))
        for declaration in self.captures.of("local.var"):
            self.steps.take()
            if self.is_top_level_spec(declaration):
                continue
            names = _named(declaration.children_by_field_name("name"))
            declared_type = declaration.child_by_field_name("type")
            value = declaration.child_by_field_name("value")
            values = [] if value is None else list(value.named_children)
            for index, name in enumerate(names):
                if declared_type is not None:
                    hint = self.type_hint(declared_type) or ""
                else:
                    hint = (self.expression_hint(values[index]) or "") if len(values) == len(names) else ""
                declared.append((name.end_byte, self.text(name, 256), hint))
        for declaration in self.captures.of("local.short"):
            self.steps.take()
            left = declaration.child_by_field_name("left")
            right = declaration.child_by_field_name("right")
            targets = [] if left is None else [n for n in left.named_children if n.type == "identifier"]
            values = [] if right is None else list(right.named_children)
            for index, name in enumerate(targets):
                hint = (self.expression_hint(values[index]) or "") if len(values) == len(targets) else ""
                declared.append((declaration.end_byte, self.text(name, 256), hint))
        for clause in self.captures.of("local.range"):
            self.steps.take()
            left = clause.child_by_field_name("left")
            if left is not None and any(child.type == ":=" for child in clause.children):
                names = [n for n in left.named_children if n.type == "identifier"]
                declared.extend((clause.start_byte, self.text(name, 256), "") for name in names)
        for statement in self.captures.of("local.switch"):
            self.steps.take()
            alias = statement.child_by_field_name("alias")
            if alias is not None:
                names = [alias] if alias.type == "identifier" else list(alias.named_children)
                declared.extend((statement.start_byte, self.text(name, 256), "") for name in names)
        declared.sort(key=lambda item: item[0])
        for position, local_name, hint in declared:
            scope = self.scope_of(position)
            if scope is not None and local_name != "_":
                self.local_names.add(local_name)
                self.local_positions.setdefault((local_name, scope), []).append(position)
                self.local_hints.setdefault((local_name, scope), []).append(hint)

    def names_of(self, declaration: SyntaxNode) -> Sequence[SyntaxNode]:
        names = _named(declaration.children_by_field_name("name"))
        if names or declaration.type != "variadic_parameter_declaration":
            return names
        return [child for child in declaration.named_children if child.type == "identifier"][:1]

    def is_top_level_spec(self, spec: SyntaxNode) -> bool:
        scope = self.scope_of(spec.start_byte)
        return scope is None or self.source[self.scope_starts[scope] : self.scope_starts[scope] + 4] != b"func"

    def local(self, name: str, position: int) -> tuple[int, str] | None:
        """The local ``name`` a use at ``position`` denotes, as (where it is declared, its hint): the latest declared
        before it in the same top-level declaration."""
        if name not in self.local_names:
            return None
        scope = self.scope_of(position)
        if scope is None:
            return None
        positions = self.local_positions.get((name, scope))
        if positions is None:
            return None
        index = bisect.bisect_right(positions, position) - 1
        return None if index < 0 else (positions[index], self.local_hints[(name, scope)][index])

    def resolved_hint(self, hint: str, position: int) -> str:
        """``hint`` with a leading local replaced by that local's hint (at most ``MAX_HINT_REPLACEMENTS`` times)."""
        for _ in range(MAX_HINT_REPLACEMENTS):
            if not hint or hint.startswith("{"):
                return hint
            match = _IDENTIFIER_PART.match(hint)
            if match is None:
                return hint
            local = self.local(match.group(), position)
            if local is None:
                return hint
            declared_at, local_hint = local
            if not local_hint:
                return ""
            position = declared_at - 1
            hint = local_hint + hint[match.end() :]
            if len(hint) > MAX_HINT_CHARS:
                return ""
        return ""

    def root_hint(self, root: str, position: int) -> str | None:
        local = self.local(root, position)
        return None if local is None else self.resolved_hint(local[1], local[0] - 1)

    # ---- references ---------------------------------------------------------------------------------

    def references(self) -> list[Reference]:
        found: dict[int, tuple[SyntaxNode, str, str | None, ReferenceKind, str | None]] = {}
        # The names type declarations declare (an embedded field's name is also a use of its type: kept).
        declared_names = {
            symbol.name_span.start_byte
            for symbol in self.symbols
            if symbol.kind in ("class", "interface", "type_alias")
        }
        for node in self.captures.of("call.name"):
            self.steps.take()
            name = self.text(node, 256)
            found[node.start_byte] = (node, name, None, "call", self.root_hint(name, node.start_byte))
        for node in self.captures.of("call.selector"):
            self.steps.take()
            field = node.child_by_field_name("field")
            operand = node.child_by_field_name("operand")
            if field is None or operand is None:
                continue
            qualifier = self.qualifier(operand)
            root = _IDENTIFIER_PART.match(qualifier)
            hint = None
            if root is not None and (root.end() == len(qualifier) or qualifier[root.end()] in ".(["):
                hint = self.root_hint(root.group(), node.start_byte)
            found[field.start_byte] = (field, self.text(field, 256), qualifier, "call", hint)
        for capture, qualified in (("new.name", False), ("new.qualified", True)):
            for node in self.captures.of(capture):
                self.steps.take()
                named = node.child_by_field_name("type") if node.type == "generic_type" else node
                if named is not None:
                    self.type_reference(named, qualified, "new", found)
        for node in self.captures.of("type.qualified"):
            self.steps.take()
            named = node.child_by_field_name("name")  # rows are keyed by the name's start (`pkg.Foo{}`: a `new`)
            if named is not None and named.start_byte not in found:
                self.type_reference(node, True, "type", found)
        for node in self.captures.of("type.name"):
            self.steps.take()
            if node.start_byte in found or node.start_byte in declared_names:
                continue
            type_name = self.text(node, 256)
            if type_name in PREDECLARED_TYPES or self.is_type_parameter(type_name, node.start_byte):
                continue
            found[node.start_byte] = (node, type_name, None, "type", None)
        positions = sorted(found)
        references: list[Reference] = []
        for position, enclosing in zip(positions, self.enclosing_symbols(positions), strict=True):
            node, reference_name, reference_qualifier, kind, root_hint = found[position]
            references.append(
                Reference(
                    name=reference_name,
                    qualifier=reference_qualifier,
                    kind=kind,
                    span=span_of(node),
                    enclosing=enclosing,
                    root_hint=root_hint,
                )
            )
        return references

    def type_reference(
        self,
        node: SyntaxNode,
        qualified: bool,
        kind: ReferenceKind,
        found: dict[int, tuple[SyntaxNode, str, str | None, ReferenceKind, str | None]],
    ) -> None:
        if not qualified:
            name = self.text(node, 256)
            if name not in PREDECLARED_TYPES and not self.is_type_parameter(name, node.start_byte):
                found[node.start_byte] = (node, name, None, kind, None)
            return
        package = node.child_by_field_name("package")
        named = node.child_by_field_name("name")
        if package is not None and named is not None:
            found[named.start_byte] = (named, self.text(named, 256), self.text(package, 256), kind, None)

    def qualifier(self, operand: SyntaxNode) -> str:
        """The operand's text without whitespace, bounded (``…`` ends a cut one)."""
        limit = self.limits.max_qualifier_chars
        text = _WHITESPACE.sub("", self.text(operand, limit * 8))
        return bounded(text, limit)

    def enclosing_symbols(self, positions: list[int]) -> list[int | None]:
        """For each of ``positions`` (sorted), the innermost symbol whose span holds it: one merge of the symbols in
        span order and the positions, with a stack of open symbols."""
        starts = [symbol.span.start_byte for symbol in self.symbols]
        ends = [symbol.span.end_byte for symbol in self.symbols]
        order = sorted(range(len(starts)), key=lambda index: (starts[index], -ends[index], index))
        opened: list[int] = []
        next_symbol = 0
        enclosing: list[int | None] = []
        take = self.steps.take
        for position in positions:
            take()
            while next_symbol < len(order) and starts[order[next_symbol]] <= position:
                symbol_start = starts[order[next_symbol]]
                while opened and ends[opened[-1]] <= symbol_start:
                    opened.pop()
                opened.append(order[next_symbol])
                next_symbol += 1
            while opened and ends[opened[-1]] <= position:
                opened.pop()
            enclosing.append(opened[-1] if opened else None)
        return enclosing


def _named(nodes: Sequence[SyntaxNode]) -> list[SyntaxNode]:
    """The named nodes of a field's children (a field of several names also lists the commas between them)."""
    return [node for node in nodes if node.is_named]


def _bounded_hint(hint: str) -> str | None:
    return hint if len(hint) <= MAX_HINT_CHARS else None


def _with_hint(symbol: Symbol, hint: str) -> Symbol:
    return msgspec.structs.replace(symbol, type_hint=hint)
