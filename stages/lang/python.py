"""Python rows from the captures of stages/queries/python.scm (docs/index-contract.md, "Python").

The query captures declarations, scopes, bindings, imports, calls, decorators and annotations wherever they are;
this module decides from their byte ranges what they are: a scope is a function, lambda, comprehension or class
body, and a ``def``, ``class`` or assignment is a declaration only when no function-like scope contains it.
Every decision is a sweep over ranges in document order (ranges nest or are disjoint), so the work is linear in
the number of captures at any nesting depth; walks below a captured node (targets, annotations, attribute chains)
use explicit stacks or loops and take a step of the per-file deadline per node.
"""

from __future__ import annotations

import ast
import bisect
import inspect
import keyword
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from stages.models import Export, Import, ImportBinding, Reference, ReferenceKind, Span, Symbol, SymbolKind
from stages.syntax import ELLIPSIS, Captures, Rows, SyntaxNode, bounded, extent_span, span_of

_ALL_CAPS = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")
_LEADING_NAME = re.compile(r"[^\W\d]\w*")
MAX_HINT_CHARS = 200
MAX_DOCSTRING_GAP_BYTES = 4096  # blank lines and comments between an assignment and its attribute docstring
"""A longer type hint is none (docs/index-contract.md, "Type hints")."""
MAX_HINT_REPLACEMENTS = 8
"""Leading locals of a root hint replaced by their own hints at most this many times."""
MAX_CHAIN_SEGMENTS = 100
"""An expression chain with more members or calls than this gives no hint (it would exceed ``MAX_HINT_CHARS``)."""

_PROPERTY_DECORATORS = frozenset({"property", "cached_property", "functools.cached_property"})
_STATIC_DECORATORS = frozenset({"staticmethod"})
_TRANSPARENT_GENERICS = frozenset({"Optional", "Final", "ClassVar", "Required", "NotRequired", "ReadOnly", "Annotated"})
_NO_HINT_GENERICS = frozenset({"type", "Type", "Literal"})
_FINAL = frozenset({"Final", "typing.Final", "typing_extensions.Final"})
_TYPE_ALIAS = frozenset({"TypeAlias", "typing.TypeAlias", "typing_extensions.TypeAlias"})
_DYNAMIC_IMPORTERS = frozenset({"__import__", "import_module", "importlib.import_module"})
_DYNAMIC_IMPORT_STARTS = (b"__import__", b"import_module", b"importlib")
_TARGET_CONTAINERS = frozenset(
    {"pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern", "parenthesized_expression", "tuple", "list"}
)
_STRING_TYPES = frozenset({"string", "concatenated_string"})
_FUNCTION_SCOPES = frozenset({"function", "lambda", "comprehension"})


def _is_dotted_name(text: str) -> bool:
    """``a``, ``a.b.C``: identifiers joined by dots, no keyword among them."""
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in text.split("."))


@dataclass(slots=True)
class _Scope:
    """A function, lambda, comprehension or class body: where its names are visible, ``[start, end)``."""

    kind: str
    start: int
    end: int
    node: SyntaxNode
    parent: int = -1
    declares: bool = False
    """A class body outside every function: its assignments and definitions are symbols."""
    annotated: dict[str, str] = field(default_factory=dict)
    """Locals whose annotation (or ``self``'s ``this``) says their hint; the first annotation wins."""
    assigned: dict[str, set[str]] = field(default_factory=dict)
    """Every other local, with the hints its bindings give (``""``: a binding that says nothing)."""
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)

    def bind(self, name: str, hint: str | None, *, annotated: bool = False) -> None:
        if not name:
            return
        if annotated and hint is not None:
            self.annotated.setdefault(name, hint)
        else:
            self.assigned.setdefault(name, set()).add(hint or "")

    def local_hints(self) -> dict[str, str]:
        """Each local's raw hint: its annotation's, else the one hint all its bindings agree on, else ``""``."""
        hints = {name: next(iter(found)) if len(found) == 1 else "" for name, found in self.assigned.items()}
        hints.update(self.annotated)
        for name in self.global_names | self.nonlocal_names:
            hints.pop(name, None)
        return hints


@dataclass(slots=True)
class _Declaration:
    """A symbol before sorting: ``owner`` is the index of the class scope it is declared in (-1: the module);
    ``scope`` the index of a class's own body scope."""

    name: str
    kind: SymbolKind
    span: Span
    name_span: Span
    owner: int
    is_async: bool
    signature: str
    doc: str | None
    type_hint: str | None
    scope: int = -1


@dataclass(slots=True)
class _ImportRow:
    row: Import
    module_level: bool
    reexports: list[tuple[str, str | None, str, Span]]
    """(exported, local, kind, span) of the Export rows a module-level import makes."""


@dataclass(slots=True)
class _Call:
    """A reference that may have a local root: its row's fields and the position where its root is looked up."""

    name: str
    qualifier: str | None
    kind: ReferenceKind
    span: Span
    root: str | None


class _Builder:
    def __init__(self, captures: Captures) -> None:
        self.captures = captures
        self.source = captures.source
        self.limits = captures.limits
        self.steps = captures.steps
        self.scopes: list[_Scope] = []
        self.chains: dict[tuple[int, int], str | None] = {}
        self.dynamic_calls: set[int] = set()
        self.string_statement_starts: list[int] | None = None

    # ---- text ------------------------------------------------------------------------------------------

    def text(self, node: SyntaxNode) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def bounded_text(self, start: int, end: int, bound: int) -> str:
        """``source[start:end]`` with whitespace runs made one space, cut at ``bound`` characters; reads at most
        a few bytes per character of the bound, however long the range."""
        limit = min(end, start + 4 * bound + 64)
        text = " ".join(self.source[start:limit].decode("utf-8", "replace").split())
        if limit < end and len(text) <= bound:
            return text[: bound - 1] + ELLIPSIS
        return bounded(text, bound)

    def string_value(self, node: SyntaxNode, bound: int) -> str | None:
        """The value of a string literal (or of implicitly concatenated ones), ``None`` for f-strings, bytes and
        unterminated strings; a literal of more than ``bound`` characters may keep its escapes as written."""
        parts = [node] if node.type == "string" else list(node.named_children)
        values: list[str] = []
        for part in parts:
            self.steps.take()
            if part.type != "string" or part.child_count < 2:
                return None
            opening, closing = part.child(0), part.child(part.child_count - 1)
            if opening is None or closing is None or opening.type != "string_start" or closing.type != "string_end":
                return None
            prefix = self.text(opening).lower()
            if "f" in prefix or "b" in prefix:
                return None
            raw = self.source[opening.end_byte : closing.start_byte]
            if "r" in prefix or b"\\" not in raw:
                values.append(raw[: 4 * bound + 64].decode("utf-8", "replace"))
            elif part.end_byte - part.start_byte <= 4 * bound + 64:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        value = ast.literal_eval(self.text(part))
                    except (SyntaxError, ValueError):
                        value = raw.decode("utf-8", "replace")
                values.append(value if isinstance(value, str) else raw.decode("utf-8", "replace"))
            else:
                values.append(raw[: 4 * bound + 64].decode("utf-8", "replace"))
        return "".join(values)

    def docstring(self, body: SyntaxNode | None) -> str | None:
        """The docstring of a block: its first statement when that is a string literal, cleaned as
        ``inspect.cleandoc`` does."""
        index = 0
        statement = None if body is None else body.child(index)
        while body is not None and statement is not None and statement.type == "comment":
            self.steps.take()
            index += 1
            statement = body.child(index)
        return None if statement is None else self.statement_string(statement)

    def statement_string(self, statement: SyntaxNode) -> str | None:
        if statement.type != "expression_statement" or statement.child_count != 1:
            return None
        expression = statement.child(0)
        if expression is None or expression.type not in _STRING_TYPES:
            return None
        bound = self.limits.max_doc_chars
        value = self.string_value(expression, bound)
        return None if value is None else bounded(inspect.cleandoc(value[: 4 * bound + 64]), bound)

    def attribute_docstring(self, statement: SyntaxNode) -> str | None:
        """The string-literal statement right after an assignment (comments between are skipped), as Sphinx reads
        attribute docstrings."""
        if self.string_statement_starts is None:
            self.string_statement_starts = [node.start_byte for node in self.captures.of("string_statement")]
        found = bisect.bisect_left(self.string_statement_starts, statement.end_byte)
        if found == len(self.string_statement_starts):
            return None
        following = self.captures.of("string_statement")[found]
        return self.statement_string(following) if self.next_in_block(statement, following) else None

    def next_in_block(self, statement: SyntaxNode, following: SyntaxNode) -> bool:
        """Whether ``following`` is the statement after ``statement`` in the same block: only blank space, comments
        and a ``;`` lie between them, and on another line it starts at the same column (a smaller one is an
        enclosing block's statement)."""
        gap = self.source[statement.end_byte : following.start_byte]
        if len(gap) > MAX_DOCSTRING_GAP_BYTES:
            return False
        lines = gap.split(b"\n")
        if lines[0].strip().lstrip(b";").strip() and not lines[0].strip().startswith(b"#"):
            return False
        if any(line.strip() and not line.strip().startswith(b"#") for line in lines[1:]):
            return False
        return len(lines) == 1 or following.start_point[1] == statement.start_point[1]

    def signature(self, decorators: Sequence[SyntaxNode], start: int, end: int) -> str:
        bound = self.limits.max_signature_chars
        parts: list[str] = []
        length = 0
        for decorator in decorators:
            self.steps.take()
            parts.append(self.bounded_text(decorator.start_byte, decorator.end_byte, bound))
            length += len(parts[-1]) + 1
            if length > bound:
                return bounded(" ".join(parts), bound)
        parts.append(self.bounded_text(start, end, bound))
        return bounded(" ".join(parts), bound)

    # ---- chains and hints --------------------------------------------------------------------------------

    def dotted(self, node: SyntaxNode) -> str | None:
        """The text of an identifier or of attributes of identifiers (``a.b.C``), else ``None``."""
        parts: list[str] = []
        current: SyntaxNode | None = node
        while current is not None and current.type == "attribute":
            self.steps.take()
            attribute = current.child_by_field_name("attribute")
            if attribute is None or len(parts) > MAX_CHAIN_SEGMENTS:
                return None
            parts.append(self.text(attribute))
            current = current.child_by_field_name("object")
        if current is None or current.type != "identifier":
            return None
        parts.append(self.text(current))
        return ".".join(reversed(parts))

    def chain_start(self, node: SyntaxNode) -> SyntaxNode:
        """The object a chain of attributes starts from (``a`` of ``a.b.c``, ``f()`` of ``f().b``)."""
        current = node
        while current.type == "attribute":
            self.steps.take()
            receiver = current.child_by_field_name("object")
            if receiver is None:
                break
            current = receiver
        return current

    def chain_root(self, node: SyntaxNode) -> str | None:
        """The first identifier of a chain of identifiers, attributes and calls (``a`` of ``a.b().c``), or ``None``
        when the node is no such chain. Memoised by range: a chain's inner calls are their own references."""
        visited: list[tuple[int, int]] = []
        current: SyntaxNode | None = node
        root: str | None = None
        while current is not None:
            key = (current.start_byte, current.end_byte)
            if key in self.chains:
                root = self.chains[key]
                break
            self.steps.take()
            visited.append(key)
            if current.type == "identifier":
                root = self.text(current)
                break
            if current.type == "attribute":
                current = current.child_by_field_name("object")
            elif current.type == "call":
                current = current.child_by_field_name("function")
            else:
                break
        for key in visited:
            self.chains[key] = root
        return root

    def expression_hint(self, node: SyntaxNode | None) -> str | None:
        """A chain of names, members and calls with the arguments dropped (``a.b(1).c`` → ``a.b().c``;
        ``super().m()`` → ``super.m()``); ``await e`` and ``(e)`` are ``e``; anything else gives none."""
        segments: list[str] = []
        current = node
        for _ in range(MAX_CHAIN_SEGMENTS):
            if current is None:
                return None
            self.steps.take()
            kind = current.type
            if kind == "identifier":
                root = self.text(current)
                break
            if kind == "attribute":
                attribute = current.child_by_field_name("attribute")
                if attribute is None:
                    return None
                segments.append("." + self.text(attribute))
                current = current.child_by_field_name("object")
            elif kind == "call":
                function = current.child_by_field_name("function")
                if function is not None and function.type == "identifier" and self.text(function) == "super":
                    root = "super"
                    break
                segments.append("()")
                current = function
            elif kind in ("await", "parenthesized_expression"):
                inner = [child for child in current.named_children if child.type != "comment"]
                current = inner[0] if len(inner) == 1 else None
            else:
                return None
        else:
            return None
        hint = root + "".join(reversed(segments))
        return hint if len(hint) <= MAX_HINT_CHARS else None

    def annotation_hint(self, node: SyntaxNode | None) -> str | None:
        """``{Name}`` for a (dotted) type name or a generic's name; ``Optional[X]``, ``X | None``,
        ``Union[X, None]``, ``Final[X]``, ``ClassVar[X]``, ``Annotated[X, …]`` → X's; a plain dotted name in a
        string is that name. Anything else (``type[X]``, ``Literal``, ``None``, unions of several types) gives
        none."""
        current = node
        for _ in range(MAX_CHAIN_SEGMENTS):
            if current is None:
                return None
            self.steps.take()
            kind = current.type
            if kind == "type":
                current = current.named_child(0)
                continue
            if kind in ("identifier", "attribute"):
                name = self.dotted(current)
                if name is None or name == "None" or name.rpartition(".")[2] in _NO_HINT_GENERICS | {"Final"}:
                    return None
                return _hint(name)
            if kind == "string":
                value = self.string_value(current, MAX_HINT_CHARS)
                if value is None or not _is_dotted_name(value) or value == "None":
                    return None
                return _hint(value)
            if kind in ("generic_type", "subscript"):
                name_node, arguments = self.generic_parts(current)
                name = None if name_node is None else self.dotted(name_node)
                if name is None:
                    return None
                base = name.rpartition(".")[2]
                if base in _TRANSPARENT_GENERICS:
                    current = arguments[0] if arguments else None
                elif base == "Union":
                    current = self.single_non_none(arguments)
                elif base in _NO_HINT_GENERICS:
                    return None
                else:
                    return _hint(name)
            elif kind == "binary_operator":
                current = self.single_non_none(self.union_members(current))
            else:
                return None
        return None

    def generic_parts(self, node: SyntaxNode) -> tuple[SyntaxNode | None, list[SyntaxNode]]:
        """The name and the arguments of ``Name[A, B]`` (a ``generic_type`` or a ``subscript``)."""
        if node.type == "subscript":
            return node.child_by_field_name("value"), list(node.children_by_field_name("subscript"))
        name = node.child(0)
        arguments: list[SyntaxNode] = []
        for child in node.named_children[1:]:
            if child.type == "type_parameter":
                arguments.extend(argument for argument in child.named_children if argument.type != "comment")
        return name, arguments

    def union_members(self, node: SyntaxNode) -> list[SyntaxNode]:
        """The operands of ``A | B | …`` (at most three are read: two that are not ``None`` already decide)."""
        members: list[SyntaxNode] = []
        pending = [node]
        while pending and len(members) < 3:
            self.steps.take()
            current = pending.pop()
            operator = current.child_by_field_name("operator")
            if current.type == "binary_operator" and operator is not None and operator.type == "|":
                right, left = current.child_by_field_name("right"), current.child_by_field_name("left")
                pending.extend(part for part in (right, left) if part is not None)
            elif current.type == "type" and (inner := current.named_child(0)) is not None:
                pending.append(inner)
            else:
                members.append(current)
        return members if not pending else [node, node]

    def single_non_none(self, members: Sequence[SyntaxNode]) -> SyntaxNode | None:
        others = [member for member in members if not self.is_none(member)]
        return others[0] if len(others) == 1 else None

    def is_none(self, node: SyntaxNode) -> bool:
        while node.type == "type" and (inner := node.named_child(0)) is not None:
            node = inner
        return node.type == "none" or (node.type == "identifier" and self.text(node) == "None")

    # ---- scopes --------------------------------------------------------------------------------------------

    def build_scopes(self) -> None:
        """Every function, lambda, comprehension and class body, in document order, with its parent scope."""
        captures = self.captures
        for node in captures.of("function"):
            self.steps.take()
            parameters = node.child_by_field_name("parameters")
            self.scopes.append(
                _Scope("function", node.end_byte if parameters is None else parameters.start_byte, node.end_byte, node)
            )
        for node in captures.of("class"):
            self.steps.take()
            body = node.child_by_field_name("body")
            start = node.end_byte if body is None else body.start_byte
            self.scopes.append(_Scope("class", start, node.end_byte, node))
        for name in ("lambda", "comprehension"):
            for node in captures.of(name):
                self.steps.take()
                self.scopes.append(_Scope(name, node.start_byte, node.end_byte, node))
        self.scopes.sort(key=lambda scope: (scope.start, -scope.end))
        stack: list[int] = []
        for index, scope in enumerate(self.scopes):
            while stack and self.scopes[stack[-1]].end <= scope.start:
                stack.pop()
            scope.parent = stack[-1] if stack else -1
            parent_declares = scope.parent < 0 or self.scopes[scope.parent].declares
            scope.declares = scope.kind == "class" and parent_declares
            stack.append(index)

    def innermost(self, positions: Iterable[int]) -> list[int]:
        """The innermost scope containing each position (ascending positions), -1 for the module."""
        result: list[int] = []
        stack: list[int] = []
        scopes = self.scopes
        following = 0
        for position in positions:
            while following < len(scopes) and scopes[following].start <= position:
                while stack and scopes[stack[-1]].end <= scopes[following].start:
                    stack.pop()
                stack.append(following)
                following += 1
            while stack and scopes[stack[-1]].end <= position:
                stack.pop()
            result.append(stack[-1] if stack else -1)
        return result

    def declaring(self, scope: int) -> bool:
        return scope < 0 or self.scopes[scope].declares

    def function_scope(self, scope: int) -> _Scope | None:
        """The scope whose locals a binding at ``scope`` adds to (a class body inside a function counts too: its
        names are visible in its own body)."""
        return None if self.declaring(scope) else self.scopes[scope]

    # ---- declarations and bindings ---------------------------------------------------------------------------

    def targets(self, node: SyntaxNode) -> list[SyntaxNode]:
        """The names an assignment target binds (``a``, ``a, (b, *c)``); attributes and subscripts bind none."""
        if node.type == "identifier":
            return [node]
        found: list[SyntaxNode] = []
        pending = [node]
        while pending:
            self.steps.take()
            current = pending.pop()
            if current.type == "identifier":
                found.append(current)
            elif current.type in _TARGET_CONTAINERS:
                pending.extend(reversed(current.named_children))
        return found

    def decorator_names(self, decorators: Sequence[SyntaxNode]) -> list[str]:
        names: list[str] = []
        for decorator in decorators:
            self.steps.take()
            expression = decorator.named_child(0)
            if expression is not None and expression.type == "call":
                expression = expression.child_by_field_name("function")
            name = None if expression is None else self.dotted(expression)
            names.append(name or "")
        return names

    def parameters(self, function: SyntaxNode, scope: _Scope, is_method: bool, decorators: list[str]) -> None:
        """Bind a function's or lambda's parameters in its scope; a method's first parameter (not of a
        ``@staticmethod``) is ``this``."""
        parameters = function.child_by_field_name("parameters")
        if parameters is None:
            return
        first = is_method and not _STATIC_DECORATORS.intersection(decorators)
        for parameter in parameters.named_children:
            self.steps.take()
            kind = parameter.type
            if kind in ("comment", "keyword_separator", "positional_separator"):
                continue
            if first:
                first = False
                name = parameter if kind == "identifier" else parameter.child_by_field_name("name")
                if name is None and kind == "typed_parameter":
                    name = parameter.named_child(0)
                if name is not None and name.type == "identifier":
                    scope.bind(self.text(name), "this", annotated=True)
                    continue
            if kind == "identifier":
                scope.bind(self.text(parameter), "")
            elif kind in ("typed_parameter", "typed_default_parameter"):
                annotation = parameter.child_by_field_name("type")
                name = parameter.child_by_field_name("name")
                if name is None:
                    inner = parameter.named_child(0)
                    splat = inner is not None and inner.type != "identifier"
                    for target in [] if inner is None else self.targets(inner):
                        scope.bind(self.text(target), "" if splat else self.annotation_hint(annotation), annotated=True)
                else:
                    scope.bind(self.text(name), self.annotation_hint(annotation) or "", annotated=True)
            elif kind == "default_parameter":
                name = parameter.child_by_field_name("name")
                if name is not None:
                    scope.bind(self.text(name), self.expression_hint(parameter.child_by_field_name("value")))
            else:
                names = (
                    self.targets(parameter)
                    if kind in _TARGET_CONTAINERS
                    else [child for child in parameter.named_children if child.type == "identifier"]
                )
                for target in names:
                    scope.bind(self.text(target), "")

    def build(self) -> Rows:
        self.build_scopes()
        declarations, all_names = self.declarations()
        symbols = self.symbols(declarations, all_names)
        imports, exports = self.imports(symbols)
        references = self.references(symbols)
        return symbols, imports, exports, references

    def declarations(self) -> tuple[list[_Declaration], list[str] | None]:
        """Every module- and class-level declaration (unsorted), and the names of a literal ``__all__`` (``None``
        when the module has none); binds the locals of function scopes on the way."""
        captures = self.captures
        source = self.source
        decorated = {}
        for node in captures.of("decorated"):
            self.steps.take()
            definition = node.child_by_field_name("definition")
            if definition is not None:
                decorated[definition.start_byte] = node
        items: list[tuple[int, str, SyntaxNode]] = [
            *((node.start_byte, "function", node) for node in captures.of("function")),
            *((node.start_byte, "class", node) for node in captures.of("class")),
            *((node.start_byte, "assignment", node) for node in captures.of("assignment")),
            *((node.start_byte, "type_alias", node) for node in captures.of("type_alias")),
            *(
                (node.start_byte, "call", node)
                for node in captures.of("call")
                if source.startswith(b"__all__", node.start_byte)
            ),
            *((node.start_byte, "bind.loop", node) for node in captures.of("bind.loop")),
            *((node.start_byte, "bind.as", node) for node in captures.of("bind.as")),
            *((node.start_byte, "bind.except", node) for node in captures.of("bind.except")),
            *((node.start_byte, "bind.walrus", node) for node in captures.of("bind.walrus")),
            *((node.start_byte, "bind.global", node) for node in captures.of("bind.global")),
            *((node.start_byte, "bind.nonlocal", node) for node in captures.of("bind.nonlocal")),
        ]
        items.sort(key=lambda item: item[0])
        declarations: list[_Declaration] = []
        all_names: list[str] | None = None
        class_scopes = {
            scope.node.start_byte: index for index, scope in enumerate(self.scopes) if scope.kind == "class"
        }
        function_scopes = {
            scope.node.start_byte: scope for scope in self.scopes if scope.kind in ("function", "lambda")
        }
        for (_, what, node), scope in zip(items, self.innermost(item[0] for item in items), strict=True):
            self.steps.take()
            declares = self.declaring(scope)
            if what == "function":
                wrapper = decorated.get(node.start_byte)
                decorators = [] if wrapper is None else [d for d in wrapper.named_children if d.type == "decorator"]
                names = self.decorator_names(decorators)
                is_method = scope >= 0 and self.scopes[scope].kind == "class"
                function_scope = function_scopes.get(node.start_byte)
                if function_scope is not None:
                    self.parameters(node, function_scope, is_method, names)
                name = node.child_by_field_name("name")
                if declares and name is not None and name.end_byte > name.start_byte:
                    declarations.append(
                        self.function(
                            node=node,
                            wrapper=wrapper,
                            decorators=decorators,
                            decorator_names=names,
                            name=name,
                            scope=scope,
                        )
                    )
                elif name is not None and not declares:
                    self.scopes[scope].bind(self.text(name), "")
            elif what == "class":
                name = node.child_by_field_name("name")
                if declares and name is not None and name.end_byte > name.start_byte:
                    declarations.append(self.class_(node, decorated.get(node.start_byte), name, scope))
                    declarations[-1].scope = class_scopes.get(node.start_byte, -1)
                elif name is not None and not declares:
                    self.scopes[scope].bind(self.text(name), "")
            elif what == "assignment":
                names_of_all = self.assignment(node, scope, declarations)
                if names_of_all is not None and scope < 0:
                    all_names = [*(all_names or ()), *names_of_all]
            elif what == "type_alias":
                self.type_alias(node, scope, declarations)
            elif what == "call":
                if scope < 0 and all_names is not None:
                    all_names.extend(self.all_call(node))
            else:
                self.binding(what, node, scope)
        for function in captures.of("lambda"):
            self.steps.take()
            lambda_scope = function_scopes.get(function.start_byte)
            if lambda_scope is not None:
                self.parameters(function, lambda_scope, False, [])
        return declarations, all_names

    def function(
        self,
        *,
        node: SyntaxNode,
        wrapper: SyntaxNode | None,
        decorators: Sequence[SyntaxNode],
        decorator_names: Sequence[str],
        name: SyntaxNode,
        scope: int,
    ) -> _Declaration:
        kind: SymbolKind = "function"
        if scope >= 0:
            kind = "method"
            for decorator in decorator_names:
                if decorator in _PROPERTY_DECORATORS:
                    kind = "property"
                elif decorator.count(".") == 1 and decorator.endswith((".setter", ".deleter")):
                    kind = "setter"
        first = node.child(0)
        return _Declaration(
            name=self.text(name),
            kind=kind,
            span=span_of(wrapper or node),
            name_span=span_of(name),
            owner=scope,
            is_async=first is not None and first.type == "async",
            signature=self.signature(decorators, node.start_byte, self.header_end(node)),
            doc=self.docstring(node.child_by_field_name("body")),
            type_hint=self.annotation_hint(node.child_by_field_name("return_type")),
        )

    def header_end(self, node: SyntaxNode) -> int:
        """Where a ``def``'s or ``class``'s header ends: at its ``:`` (else at its body, else at its end)."""
        body = node.child_by_field_name("body")
        limit = node.end_byte if body is None else body.start_byte
        colon = None
        for child in node.children:
            self.steps.take()
            if child.start_byte >= limit:
                break
            if child.type == ":":
                colon = child.start_byte
        return limit if colon is None else colon

    def class_(self, node: SyntaxNode, wrapper: SyntaxNode | None, name: SyntaxNode, scope: int) -> _Declaration:
        decorators = [] if wrapper is None else [d for d in wrapper.named_children if d.type == "decorator"]
        return _Declaration(
            name=self.text(name),
            kind="class",
            span=span_of(wrapper or node),
            name_span=span_of(name),
            owner=scope,
            is_async=False,
            signature=self.signature(decorators, node.start_byte, self.header_end(node)),
            doc=self.docstring(node.child_by_field_name("body")),
            type_hint=self.bases_hint(node.child_by_field_name("superclasses")),
        )

    def bases(self, superclasses: SyntaxNode | None) -> list[SyntaxNode]:
        """A class's bases that are names or dotted names, or generics of one (``Generic[T]`` → ``Generic``)."""
        found: list[SyntaxNode] = []
        for argument in () if superclasses is None else superclasses.named_children:
            self.steps.take()
            base = argument.child_by_field_name("value") if argument.type == "subscript" else argument
            if base is not None and base.type in ("identifier", "attribute") and self.dotted(base) is not None:
                found.append(base)
        return found

    def bases_hint(self, superclasses: SyntaxNode | None) -> str | None:
        names = [self.text(base) for base in self.bases(superclasses)]
        hint = ",".join("{" + "".join(name.split()) + "}" for name in names[:MAX_HINT_CHARS])
        return hint if hint and len(hint) <= MAX_HINT_CHARS else None

    def assignment(self, statement: SyntaxNode, scope: int, declarations: list[_Declaration]) -> list[str] | None:
        """The symbols of an assignment statement, or its locals; returns the names of ``__all__`` when the
        statement assigns or extends it with a literal list or tuple of strings."""
        node = statement.child(0)
        if node is None:
            return None
        if node.type == "augmented_assignment":
            left = node.child_by_field_name("left")
            if left is None or left.type != "identifier":
                return None
            name = self.text(left)
            if self.declaring(scope):
                operator = node.child_by_field_name("operator")
                if name == "__all__" and operator is not None and operator.type == "+=":
                    return self.string_list(node.child_by_field_name("right"))
                return None
            local = self.scopes[scope]
            if name not in local.assigned and name not in local.annotated:
                local.bind(name, None)
            return None
        levels: list[SyntaxNode] = []
        current: SyntaxNode | None = node
        while current is not None and current.type == "assignment":
            self.steps.take()
            levels.append(current)
            current = current.child_by_field_name("right")
        value = current
        annotation = None
        for level in levels:
            annotation = level.child_by_field_name("type")
            if annotation is not None:
                break
        declares = self.declaring(scope)
        annotation_text = None if annotation is None or not declares else "".join(self.text(annotation).split())
        names_of_all: list[str] | None = None
        for level in levels:
            left = level.child_by_field_name("left")
            if left is None:
                continue
            single = left.type == "identifier"
            for target in self.targets(left):
                name = self.text(target)
                if not name:
                    continue
                if not declares:
                    hint = self.annotation_hint(annotation) if annotation is not None else None
                    if hint is not None or annotation is not None:
                        self.scopes[scope].bind(name, hint or "", annotated=True)
                    else:
                        self.scopes[scope].bind(name, self.expression_hint(value) if single else "")
                    continue
                if name == "__all__" and value is not None:
                    names_of_all = self.string_list(value)
                declarations.append(
                    self.variable(
                        statement=statement,
                        assignment=node,
                        target=target,
                        name=name,
                        annotation=annotation,
                        annotation_text=annotation_text,
                        value=value,
                        single=single,
                        scope=scope,
                    )
                )
        return names_of_all

    def variable(
        self,
        *,
        statement: SyntaxNode,
        assignment: SyntaxNode,
        target: SyntaxNode,
        name: str,
        annotation: SyntaxNode | None,
        annotation_text: str | None,
        value: SyntaxNode | None,
        single: bool,
        scope: int,
    ) -> _Declaration:
        kind: SymbolKind = "variable"
        if annotation_text is not None and annotation_text in _TYPE_ALIAS:
            kind = "type_alias"
        elif _ALL_CAPS.match(name) or (
            annotation_text is not None and (annotation_text in _FINAL or annotation_text.partition("[")[0] in _FINAL)
        ):
            kind = "constant"
        hint = None
        if kind != "type_alias" and single:
            hint = self.annotation_hint(annotation) if annotation is not None else self.expression_hint(value)
        return _Declaration(
            name=name,
            kind=kind,
            span=span_of(assignment),
            name_span=span_of(target),
            owner=scope,
            is_async=False,
            signature=self.bounded_text(assignment.start_byte, assignment.end_byte, self.limits.max_signature_chars),
            doc=self.attribute_docstring(statement),
            type_hint=hint,
        )

    def type_alias(self, node: SyntaxNode, scope: int, declarations: list[_Declaration]) -> None:
        left = node.child_by_field_name("left")
        name = left
        while name is not None and name.type in ("type", "generic_type"):
            self.steps.take()
            name = name.child(0)
        if name is None or name.type != "identifier" or name.end_byte == name.start_byte:
            return
        if not self.declaring(scope):
            self.scopes[scope].bind(self.text(name), "")
            return
        declarations.append(
            _Declaration(
                name=self.text(name),
                kind="type_alias",
                span=span_of(node),
                name_span=span_of(name),
                owner=scope,
                is_async=False,
                signature=self.bounded_text(node.start_byte, node.end_byte, self.limits.max_signature_chars),
                doc=self.attribute_docstring(node),
                type_hint=self.annotation_hint(node.child_by_field_name("right")),
            )
        )

    def string_list(self, node: SyntaxNode | None) -> list[str] | None:
        """The strings of a literal list or tuple of string literals (``'a', 'b'`` too), else ``None``."""
        while node is not None and node.type == "parenthesized_expression" and node.named_child_count == 1:
            node = node.named_child(0)
        if node is None or node.type not in ("list", "tuple", "expression_list"):
            return None
        names: list[str] = []
        for element in node.named_children:
            self.steps.take()
            if element.type == "comment":
                continue
            value = self.string_value(element, 1024) if element.type in _STRING_TYPES else None
            if value is None:
                return None
            names.append(value)
        return names

    def all_call(self, call: SyntaxNode) -> list[str]:
        """The names ``__all__.extend([...])`` / ``__all__.append("x")`` add."""
        function = call.child_by_field_name("function")
        if function is None or function.type != "attribute":
            return []
        name = self.dotted(function)
        arguments = call.child_by_field_name("arguments")
        values = [] if arguments is None else [a for a in arguments.named_children if a.type != "comment"]
        if len(values) != 1:
            return []
        if name == "__all__.extend":
            return self.string_list(values[0]) or []
        if name == "__all__.append" and values[0].type in _STRING_TYPES:
            value = self.string_value(values[0], 1024)
            return [] if value is None else [value]
        return []

    def binding(self, what: str, node: SyntaxNode, scope: int) -> None:
        """A local bound by a loop, ``with … as``, ``except … as``, a walrus, or a ``global``/``nonlocal``
        statement (which make a name not local)."""
        if what == "bind.walrus":
            while scope >= 0 and self.scopes[scope].kind == "comprehension":
                scope = self.scopes[scope].parent
        local = self.function_scope(scope)
        if local is None:
            return
        if what == "bind.loop":
            for target in self.targets(node):
                local.bind(self.text(target), "")
        elif what in ("bind.as", "bind.except"):
            alias = node.child_by_field_name("alias")
            value = node.named_child(0)
            hint = ""
            if what == "bind.except" and value is not None and value.type in ("identifier", "attribute"):
                dotted = self.dotted(value)
                hint = "" if dotted is None else _hint(dotted)
            for target in [] if alias is None else self.targets(alias.named_child(0) or alias):
                local.bind(self.text(target), hint)
        elif what == "bind.walrus":
            name = node.child_by_field_name("name")
            if name is not None:
                local.bind(self.text(name), self.expression_hint(node.child_by_field_name("value")))
        else:
            names = local.global_names if what == "bind.global" else local.nonlocal_names
            names.update(self.text(child) for child in node.named_children if child.type == "identifier")

    # ---- symbols, imports, exports ----------------------------------------------------------------------------

    def symbols(self, declarations: list[_Declaration], all_names: list[str] | None) -> tuple[Symbol, ...]:
        """The declarations in source order (a class before its members), with parents and ``exported``."""
        declarations.sort(key=lambda d: (d.span.start_byte, -d.span.end_byte, d.name_span.start_byte))
        exported_names = None if all_names is None else frozenset(all_names)
        class_symbols: dict[int, int] = {}
        symbols: list[Symbol] = []
        for declaration in declarations:
            self.steps.take()
            name = declaration.name
            parent = None if declaration.owner < 0 else class_symbols.get(declaration.owner)
            if parent is None:
                exported = name in exported_names if exported_names is not None else not name.startswith("_")
            else:
                exported = symbols[parent].exported and (not name.startswith("_") or _is_dunder(name))
            if declaration.kind == "class" and declaration.scope >= 0:
                class_symbols[declaration.scope] = len(symbols)
            symbols.append(
                Symbol(
                    name=name,
                    kind=declaration.kind,
                    span=declaration.span,
                    name_span=declaration.name_span,
                    parent=parent,
                    exported=exported,
                    is_default_export=False,
                    is_async=declaration.is_async,
                    signature=declaration.signature,
                    doc=declaration.doc,
                    type_hint=declaration.type_hint,
                )
            )
        return tuple(symbols)

    def type_checking_blocks(self) -> list[tuple[int, int]]:
        """The bodies of ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:`` (not their ``elif``/``else``)."""
        blocks: list[tuple[int, int]] = []
        for node in self.captures.of("type_checking"):
            self.steps.take()
            condition = node.child_by_field_name("condition")
            name = None if condition is None else self.dotted(condition)
            consequence = node.child_by_field_name("consequence")
            if name is not None and consequence is not None and name.rpartition(".")[2] == "TYPE_CHECKING":
                blocks.append((consequence.start_byte, consequence.end_byte))
        return blocks

    def imports(self, symbols: Sequence[Symbol]) -> tuple[tuple[Import, ...], tuple[Export, ...]]:
        """Import rows (statements anywhere, literal dynamic imports) and the Export rows of the module: one
        ``local`` per module-level symbol name, one re-export per module-level import binding."""
        statements = self.captures.of("import")
        blocks = self.type_checking_blocks()
        found: list[_ImportRow] = []
        open_blocks: list[int] = []
        following = 0
        scopes = self.innermost(node.start_byte for node in statements)
        for node, scope in zip(statements, scopes, strict=True):
            self.steps.take()
            position = node.start_byte
            while following < len(blocks) and blocks[following][0] <= position:
                while open_blocks and blocks[open_blocks[-1]][1] <= blocks[following][0]:
                    open_blocks.pop()
                open_blocks.append(following)
                following += 1
            while open_blocks and blocks[open_blocks[-1]][1] <= position:
                open_blocks.pop()
            found.extend(self.import_rows(node, bool(open_blocks), scope < 0))
        found.extend(self.dynamic_imports())
        found.sort(key=lambda item: (item.row.span.start_byte, item.row.specifier_span.start_byte))
        imports = tuple(item.row for item in found)
        exports: list[Export] = []
        seen: set[str] = set()
        for symbol in symbols:
            if symbol.parent is None and symbol.name not in seen:
                seen.add(symbol.name)
                exports.append(
                    Export(
                        exported=symbol.name,
                        local=symbol.name,
                        kind="local",
                        is_type_only=False,
                        span=symbol.span,
                        import_index=None,
                    )
                )
        for index, item in enumerate(found):
            if not item.module_level:
                continue
            for exported, local, kind, span in item.reexports:
                self.steps.take()
                exports.append(
                    Export(
                        exported=exported,
                        local=local,
                        kind=kind,  # type: ignore[arg-type]
                        is_type_only=item.row.is_type_only,
                        span=span,
                        import_index=index,
                    )
                )
        exports.sort(key=lambda export: export.span.start_byte)
        return imports, tuple(exports)

    def import_rows(self, node: SyntaxNode, type_only: bool, module_level: bool) -> list[_ImportRow]:
        span = span_of(node)
        if node.type == "import_statement":
            found: list[_ImportRow] = []
            for name in node.children_by_field_name("name"):
                self.steps.take()
                aliased = name.type == "aliased_import"
                module = name.child_by_field_name("name") if aliased else name
                alias = name.child_by_field_name("alias") if aliased else None
                if module is None:
                    continue
                specifier = "".join(self.text(module).split())
                local = specifier if alias is None else self.text(alias)
                if not specifier or not local:
                    continue
                name_span = span_of(name)
                binding = ImportBinding(imported="*", local=local, is_type_only=type_only, span=name_span)
                exported = specifier.partition(".")[0] if alias is None else local
                row = Import(
                    specifier=specifier,
                    kind="import",
                    is_type_only=type_only,
                    span=span,
                    specifier_span=span_of(module) if aliased else name_span,
                    bindings=(binding,),
                )
                found.append(_ImportRow(row, module_level, [(exported, "*", "reexport_namespace", name_span)]))
            return found
        future = node.type == "future_import_statement"
        module = node.child(1) if future else node.child_by_field_name("module_name")
        if module is None:
            return []
        specifier = "".join(self.text(module).split())
        if not specifier:
            return []
        bindings: list[ImportBinding] = []
        reexports: list[tuple[str, str | None, str, Span]] = []
        for name in node.children_by_field_name("name"):
            self.steps.take()
            imported_node = name.child_by_field_name("name") if name.type == "aliased_import" else name
            alias = name.child_by_field_name("alias") if name.type == "aliased_import" else None
            imported = "" if imported_node is None else "".join(self.text(imported_node).split())
            local = imported if alias is None else self.text(alias)
            if imported and local:
                name_span = span_of(name)
                bindings.append(ImportBinding(imported=imported, local=local, is_type_only=type_only, span=name_span))
                reexports.append((local, imported, "reexport", name_span))
        if not bindings and any(child.type == "wildcard_import" for child in node.named_children):
            reexports.append(("*", None, "reexport_all", span))
        row = Import(
            specifier=specifier,
            kind="import",
            is_type_only=type_only,
            span=span,
            specifier_span=span_of(module),
            bindings=tuple(bindings),
        )
        return [_ImportRow(row, module_level, reexports)]

    def dynamic_imports(self) -> list[_ImportRow]:
        """``importlib.import_module("x")``, ``import_module("x")`` and ``__import__("x")`` with one plain
        string (a relative name, which needs the ``package`` argument, is left out)."""
        found: list[_ImportRow] = []
        for call in self.captures.of("call"):
            self.steps.take()
            if not self.source.startswith(_DYNAMIC_IMPORT_STARTS, call.start_byte):
                continue
            function = call.child_by_field_name("function")
            if function is None or function.type not in ("identifier", "attribute"):
                continue
            if self.dotted(function) not in _DYNAMIC_IMPORTERS:
                continue
            arguments = call.child_by_field_name("arguments")
            first = None if arguments is None else arguments.named_child(0)
            if first is None or first.type != "string" or first.child_count != 3:
                continue
            content = first.child(1)
            value = self.string_value(first, 1024)
            if content is None or content.type != "string_content" or not value or value.startswith("."):
                continue
            self.dynamic_calls.add(call.start_byte)
            row = Import(
                specifier=value,
                kind="dynamic",
                is_type_only=False,
                span=span_of(call),
                specifier_span=span_of(content),
                bindings=(),
            )
            found.append(_ImportRow(row, False, []))
        return found

    # ---- references ----------------------------------------------------------------------------------------

    def references(self, symbols: Sequence[Symbol]) -> tuple[Reference, ...]:
        found: dict[int, _Call] = {}
        for call in reversed(self.captures.of("call")):
            self.steps.take()
            if call.start_byte not in self.dynamic_calls:
                self.called(call.child_by_field_name("function"), "call", found)
        for decorator in self.captures.of("decorator"):
            self.steps.take()
            expression = decorator.named_child(0)
            if expression is not None and expression.type != "call":
                self.called(expression, "call", found)
        for class_node in self.captures.of("class"):
            self.steps.take()
            for base in self.bases(class_node.child_by_field_name("superclasses")):
                self.called(base, "extends", found)
        for annotation in self.captures.of("annotation"):
            self.annotation_references(annotation, found)
        ordered = sorted(found.values(), key=lambda call: call.span.start_byte)
        enclosing = self.enclosing(ordered, symbols)
        hints = self.root_hints(ordered)
        return tuple(
            Reference(
                name=call.name,
                qualifier=call.qualifier,
                kind=call.kind,
                span=call.span,
                enclosing=symbol,
                root_hint=hint,
            )
            for call, symbol, hint in zip(ordered, enclosing, hints, strict=True)
        )

    def called(self, node: SyntaxNode | None, kind: ReferenceKind, found: dict[int, _Call]) -> None:
        """A reference to a name or to the last member of a chain of names and calls (``a.b().f``)."""
        if node is None:
            return
        node_type = node.type
        if node_type == "identifier":
            extent = node.extent
            start = extent[0]
            name = self.source[start : extent[1]].decode("utf-8", "replace")
            if name and start not in found:
                found[start] = _Call(name, None, kind, extent_span(extent), name)
            return
        if node_type != "attribute":
            return
        attribute = node.child_by_field_name("attribute")
        receiver = node.child_by_field_name("object")
        if attribute is None or receiver is None:
            return
        extent = attribute.extent
        start = extent[0]
        if start in found:
            return
        root = self.chain_root(receiver)
        name = self.source[start : extent[1]].decode("utf-8", "replace")
        if root is None or not name:
            return
        qualifier = self.bounded_text(receiver.start_byte, receiver.end_byte, self.limits.max_qualifier_chars)
        found[start] = _Call(name, qualifier, kind, extent_span(extent), root)

    def annotation_references(self, annotation: SyntaxNode, found: dict[int, _Call]) -> None:
        """``type`` references to every name and dotted name of an annotation (a plain dotted name in a string
        too); the arguments of ``Literal[…]`` and the metadata of ``Annotated[X, …]`` are not types, and calls
        are references of their own."""
        pending = [annotation]
        while pending:
            self.steps.take()
            node = pending.pop()
            kind = node.type
            if kind == "identifier":
                self.type_reference(node, found)
            elif kind == "attribute":
                start = self.chain_start(node)
                if start.type == "identifier":
                    self.type_reference(node, found)
                else:
                    pending.append(start)
            elif kind == "string":
                self.string_reference(node, found)
            elif kind in ("generic_type", "subscript"):
                name, arguments = self.generic_parts(node)
                base = None if name is None else self.dotted(name)
                if name is not None:
                    pending.append(name)
                if base is not None and base.rpartition(".")[2] == "Literal":
                    continue
                if base is not None and base.rpartition(".")[2] == "Annotated":
                    arguments = arguments[:1]
                pending.extend(arguments)
            elif kind not in ("call", "comment", "none", "lambda"):
                pending.extend(node.named_children)

    def type_reference(self, node: SyntaxNode, found: dict[int, _Call]) -> None:
        if node.type == "identifier":
            name = self.text(node)
            if name and name != "None" and node.start_byte not in found:
                found[node.start_byte] = _Call(name, None, "type", span_of(node), None)
            return
        attribute = node.child_by_field_name("attribute")
        receiver = node.child_by_field_name("object")
        if attribute is None or receiver is None or attribute.start_byte in found:
            return
        qualifier = self.bounded_text(receiver.start_byte, receiver.end_byte, self.limits.max_qualifier_chars)
        found[attribute.start_byte] = _Call(self.text(attribute), qualifier, "type", span_of(attribute), None)

    def string_reference(self, node: SyntaxNode, found: dict[int, _Call]) -> None:
        """A string annotation that is a plain dotted name (``"Foo"``, ``"a.B"``) names that type."""
        content = node.child(1) if node.child_count == 3 else None
        opening = node.child(0)
        if content is None or content.type != "string_content" or content.child_count or opening is None:
            return
        if "f" in self.text(opening).lower() or "b" in self.text(opening).lower():
            return
        text = self.text(content)
        if not _is_dotted_name(text) or text == "None" or content.start_point[0] != content.end_point[0]:
            return
        qualifier, _, name = text.rpartition(".")
        start = content.start_byte + len(text.encode()) - len(name.encode())
        row, column = content.start_point
        offset = start - content.start_byte
        span = Span(
            start_line=row + 1,
            start_column=column + offset,
            end_line=row + 1,
            end_column=column + offset + len(name.encode()),
            start_byte=start,
            end_byte=start + len(name.encode()),
        )
        if start not in found:
            found[start] = _Call(name, qualifier or None, "type", span, None)

    def enclosing(self, references: Sequence[_Call], symbols: Sequence[Symbol]) -> list[int | None]:
        """The innermost symbol whose span contains each reference (references in source order)."""
        result: list[int | None] = []
        stack: list[int] = []
        following = 0
        for reference in references:
            position = reference.span.start_byte
            while following < len(symbols) and symbols[following].span.start_byte <= position:
                start = symbols[following].span.start_byte
                while stack and symbols[stack[-1]].span.end_byte <= start:
                    stack.pop()
                stack.append(following)
                following += 1
            while stack and symbols[stack[-1]].span.end_byte <= position:
                stack.pop()
            inside = stack and symbols[stack[-1]].span.end_byte >= reference.span.end_byte
            result.append(stack[-1] if inside else None)
        return result

    def root_hints(self, references: Sequence[_Call]) -> list[str | None]:
        """Each call reference's root hint: the hint of the local its root names, seen from where it is (class
        bodies hide their names from the functions inside them), with leading locals replaced by their hints."""
        visible: dict[str, list[str | None]] = {}
        local_hints: dict[int, dict[str, str]] = {}
        scopes = self.scopes
        opened: list[int] = []

        def close() -> None:
            index = opened.pop()
            scope = scopes[index]
            if scope.kind != "class":
                for name in local_hints.pop(index):
                    visible[name].pop()
                for name in scope.global_names:
                    visible[name].pop()

        def open_(index: int) -> None:
            self.steps.take()
            opened.append(index)
            scope = scopes[index]
            hints = local_hints[index] = scope.local_hints()
            if scope.kind != "class":
                for name, hint in hints.items():
                    visible.setdefault(name, []).append(hint)
                for name in scope.global_names:
                    visible.setdefault(name, []).append(None)

        def lookup(name: str) -> str | None:
            if opened and scopes[opened[-1]].kind == "class" and name in local_hints[opened[-1]]:
                return None
            bound = visible.get(name)
            return bound[-1] if bound else None

        result: list[str | None] = []
        following = 0
        for reference in references:
            position = reference.span.start_byte
            while following < len(scopes) and scopes[following].start <= position:
                while opened and scopes[opened[-1]].end <= scopes[following].start:
                    close()
                open_(following)
                following += 1
            while opened and scopes[opened[-1]].end <= position:
                close()
            if reference.root is None or not opened:
                result.append(None)
                continue
            result.append(self.resolved(reference.root, lookup))
        return result

    def resolved(self, root: str, lookup: Callable[[str], str | None]) -> str | None:
        hint = lookup(root)
        for _ in range(MAX_HINT_REPLACEMENTS):
            self.steps.take()
            if not hint or hint[0] == "{":
                return hint
            leading = _LEADING_NAME.match(hint)
            if leading is None or leading.group() in ("this", "super"):
                return hint
            replacement = lookup(leading.group())
            if replacement is None:
                return hint
            if not replacement:
                return ""
            hint = replacement + hint[leading.end() :]
            if len(hint) > MAX_HINT_CHARS:
                return ""
        return hint


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _hint(name: str) -> str:
    return "{" + name + "}"


def rows(captures: Captures) -> Rows:
    """The rows of one Python file (docs/index-contract.md, "Python")."""
    return _Builder(captures).build()
