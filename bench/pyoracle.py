"""The Python cross-check's oracle: what CPython's ``ast`` says a file declares and imports, by the contract's rules.

Only the standard library is used, so any interpreter can run it: ``bench/pycheck.py`` imports it in-process, or,
with ``--oracle-python PY``, runs ``PY bench/pyoracle.py ROOT`` and reads the facts of every ``.py``/``.pyi`` file
under ROOT as JSON from its output (a newer interpreter's ``ast`` reads newer syntax: Python 3.12's ``type``
statements and type parameters). The rules are docs/index-contract.md's ("Python"), applied to the syntax tree with
iterative walks (no recursion proportional to nesting); where the contract is silent, Python's meaning is taken
(``match`` bodies bind names like ``if`` bodies; ``t.TYPE_CHECKING`` through an alias of ``typing`` is the guard).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE_SUFFIXES = (".py", ".pyi")
ALL_CAPS = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
TYPING_MODULES = frozenset({"typing", "typing_extensions"})
PROPERTY_DECORATORS = frozenset({"property", "cached_property", "functools.cached_property"})


@dataclass(frozen=True, order=True)
class Declaration:
    """A declaration as compared: name, kind, 1-based line of the name, and the enclosing class's name."""

    name: str
    kind: str
    line: int
    parent: str | None

    def __str__(self) -> str:
        inside = f" in {self.parent}" if self.parent is not None else ""
        return f"{self.kind} {self.name}{inside} (line {self.line})"


@dataclass(frozen=True, order=True)
class ImportFact:
    """An import as compared: specifier, kind, 1-based line of the specifier, sorted (imported, local) bindings."""

    specifier: str
    kind: str
    line: int
    bindings: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        names = ", ".join(
            f"{imported} as {local}" if imported != local else imported for imported, local in self.bindings
        )
        return f"{self.kind} {self.specifier!r} [{names}] (line {self.line})"


@dataclass(frozen=True)
class OracleFile:
    """What ``ast`` says about one file: its declarations (exported ones flagged) and imports, or why it failed."""

    declarations: tuple[Declaration, ...] = ()
    exported: tuple[Declaration, ...] | None = ()
    """The exported declarations; ``None`` when ``__all__`` is not a literal the contract reads."""
    imports: tuple[ImportFact, ...] = ()
    type_only: tuple[ImportFact, ...] = ()
    parse_failure: str | None = None


# --- Declarations and imports from ``ast`` ------------------------------------------------------------


def dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else ``None`` (iterative: chains may be long)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _is_typing_name(node: ast.expr, name: str) -> bool:
    """``name`` or ``typing.name`` / ``typing_extensions.name``, subscripted or not."""
    if isinstance(node, ast.Subscript):
        node = node.value
    written = dotted_name(node)
    if written is None:
        return False
    module, _, last = written.rpartition(".")
    return last == name and (module == "" or module in TYPING_MODULES)


def assignment_kind(name: str, annotation: ast.expr | None) -> str:
    """``type_alias`` for ``X: TypeAlias``, ``constant`` for ALL_CAPS names or ``Final`` annotations, else
    ``variable``."""
    if annotation is not None and _is_typing_name(annotation, "TypeAlias"):
        return "type_alias"
    if ALL_CAPS.match(name) or (annotation is not None and _is_typing_name(annotation, "Final")):
        return "constant"
    return "variable"


def target_names(target: ast.expr) -> list[ast.Name]:
    """The names an assignment target binds: a name, each name of a (nested) tuple or list, starred ones too;
    attributes and subscripts bind no declaration."""
    found: list[ast.Name] = []
    pending = [target]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Name):
            found.append(node)
        elif isinstance(node, ast.Starred):
            pending.append(node.value)
        elif isinstance(node, ast.Tuple | ast.List):
            pending.extend(reversed(node.elts))
    return found


def method_kind(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``property`` for ``@property``/``@cached_property``, ``setter`` for ``@x.setter``/``@x.deleter``, else
    ``method``."""
    for decorator in function.decorator_list:
        written = dotted_name(decorator)
        if written in PROPERTY_DECORATORS:
            return "property"
        if written is not None and written.count(".") == 1 and written.endswith((".setter", ".deleter")):
            return "setter"
    return "method"


_BLOCKS: tuple[type[ast.stmt], ...] = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.Match,
)
_TRY_STAR: tuple[type[ast.stmt], ...] = (ast.TryStar,) if hasattr(ast, "TryStar") else ()
_TYPE_ALIAS: tuple[type[ast.stmt], ...] = (ast.TypeAlias,) if hasattr(ast, "TypeAlias") else ()  # Python ≥ 3.12


def block_bodies(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists of a compound statement whose declarations count as its scope's (if, loops, with, try,
    and match: the contract does not name ``match``, but its cases bind names in the enclosing scope as ``if``
    branches do)."""
    bodies: list[list[ast.stmt]] = [getattr(statement, "body", [])]
    bodies.append(getattr(statement, "orelse", []))
    bodies.extend(handler.body for handler in getattr(statement, "handlers", []))
    bodies.extend(case.body for case in getattr(statement, "cases", []))
    bodies.append(getattr(statement, "finalbody", []))
    return bodies


@dataclass
class _Scope:
    statements: list[ast.stmt]
    enclosing: int | None
    """Index of the enclosing class's declaration in the result, ``None`` at module level."""


@dataclass(frozen=True)
class Declared:
    """A declaration, the statement that declares it, and the index of its enclosing class's ``Declared``."""

    declaration: Declaration
    statement: ast.stmt
    enclosing: int | None


_FROM_HEADER = re.compile(rb"from(?:[ \t\f]|\\\r?\n)+")
_DEFINITION_HEADER = re.compile(rb"(?:async(?:[ \t\f]|\\\r?\n)+)?(?:def|class)(?:[ \t\f]|\\\r?\n)+")


class LineStarts:
    """Byte offsets of a source's lines, to find where a ``def``/``class`` name is (``ast`` gives the keyword's
    position only, and a backslash may put the name on a later line)."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.starts = [0, *(match.end() for match in re.finditer(rb"\r\n|\r|\n", source))]

    def name_line(self, statement: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ImportFrom) -> int:
        """The line of a definition's name, or of a ``from`` import's module."""
        if statement.lineno > len(self.starts):
            return statement.lineno
        pattern = _FROM_HEADER if isinstance(statement, ast.ImportFrom) else _DEFINITION_HEADER
        header = pattern.match(self.source, self.starts[statement.lineno - 1] + statement.col_offset)
        return statement.lineno + (header.group().count(b"\n") if header is not None else 0)


def declarations(module: ast.Module, lines: LineStarts) -> list[Declared]:
    """The contract's declarations of a module, classes before their members (scopes are visited in order)."""
    found: list[Declared] = []
    pending = [_Scope(list(module.body), None)]
    while pending:
        scope = pending.pop(0)

        def add(name: str, kind: str, line: int, statement: ast.stmt, scope: _Scope = scope) -> None:
            parent = found[scope.enclosing].declaration.name if scope.enclosing is not None else None
            found.append(Declared(Declaration(name, kind, line, parent), statement, scope.enclosing))

        blocks: list[_Scope] = []
        for statement in scope.statements:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "function" if scope.enclosing is None else method_kind(statement)
                add(statement.name, kind, lines.name_line(statement), statement)
            elif isinstance(statement, ast.ClassDef):
                add(statement.name, "class", lines.name_line(statement), statement)
                pending.append(_Scope(list(statement.body), len(found) - 1))
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    for name in target_names(target):
                        add(name.id, assignment_kind(name.id, None), name.lineno, statement)
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                target = statement.target
                add(target.id, assignment_kind(target.id, statement.annotation), target.lineno, statement)
            elif _TYPE_ALIAS and isinstance(statement, _TYPE_ALIAS):
                alias_name = statement.name  # type: ignore[attr-defined]
                add(alias_name.id, "type_alias", alias_name.lineno, statement)
            elif isinstance(statement, _BLOCKS + _TRY_STAR):
                blocks.extend(_Scope(body, scope.enclosing) for body in block_bodies(statement) if body)
        pending[:0] = blocks
    return found


def literal_all(module: ast.Module) -> set[str] | None:
    """The names of a module's literal ``__all__`` (assigned, ``+=``, ``.extend([...])``, ``.append("x")``, in
    module-level blocks too); ``None`` when the module has no ``__all__``; raises ``NotLiteral`` when some
    ``__all__`` is not a list or tuple of string literals."""
    names: set[str] | None = None
    pending = [list(module.body)]
    while pending:
        for statement in pending.pop():
            value: ast.expr | None = None
            targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
            if isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign) and any(
                isinstance(t, ast.expr) and dotted_name(t) == "__all__" for t in targets
            ):
                value = statement.value
            elif (
                isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Call)
                and dotted_name(statement.value.func) in {"__all__.extend", "__all__.append"}
            ):
                call = statement.value
                if len(call.args) != 1:
                    raise NotLiteral
                value = ast.List(elts=[call.args[0]]) if dotted_name(call.func) == "__all__.append" else call.args[0]
            elif isinstance(statement, _BLOCKS + _TRY_STAR):
                pending.extend(block_bodies(statement))
                continue
            else:
                continue
            if not isinstance(value, ast.List | ast.Tuple):
                raise NotLiteral
            strings = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(strings) != len(value.elts):
                raise NotLiteral
            names = (names or set()) | set(strings)
    return names


class NotLiteral(Exception):
    """A module's ``__all__`` is computed, so what it exports is not known without running it."""


def exported_declarations(module: ast.Module, found: Sequence[Declared]) -> list[Declaration] | None:
    """The declarations the contract marks exported, or ``None`` when ``__all__`` is not literal."""
    try:
        public = literal_all(module)
    except NotLiteral:
        return None
    exported = [False] * len(found)
    for index, declared in enumerate(found):
        name = declared.declaration.name
        if declared.enclosing is None:
            exported[index] = name in public if public is not None else not name.startswith("_")
        else:
            dunder = name.startswith("__") and name.endswith("__")
            exported[index] = exported[declared.enclosing] and (dunder or not name.startswith("_"))
    return [declared.declaration for declared, flag in zip(found, exported, strict=True) if flag]


def is_type_checking_test(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``<module>.TYPE_CHECKING``: the contract names ``typing.TYPE_CHECKING``, and code
    writes it through an alias too (``import typing as t``; ``t.TYPE_CHECKING``)."""
    written = dotted_name(test)
    return written is not None and (written == "TYPE_CHECKING" or written.endswith(".TYPE_CHECKING"))


DYNAMIC_IMPORTERS = frozenset({"importlib.import_module", "__import__"})


def statement_lists(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists nested in a statement: bodies, ``else``/``finally`` blocks, handlers and match cases."""
    for name in ("body", "orelse", "finalbody"):
        body = getattr(statement, name, None)
        if isinstance(body, list):
            yield body
    for holder in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
        yield holder.body


def dynamic_imports(module: ast.Module) -> list[ImportFact]:
    """Literal ``importlib.import_module("x")`` / ``__import__("x")`` calls anywhere (kind ``dynamic``)."""
    found = []
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Call)
            and dotted_name(node.func) in DYNAMIC_IMPORTERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            argument = node.args[0]
            found.append(ImportFact(str(argument.value), "dynamic", argument.lineno, ()))
    return found


def imports(module: ast.Module, source: bytes, lines: LineStarts) -> list[tuple[ImportFact, bool]]:
    """Every import of a module with whether it is type-only (inside ``if TYPE_CHECKING:``): statements anywhere
    and dynamic imports (only searched for in sources that name an importer, to spare a walk of every node)."""
    found: list[tuple[ImportFact, bool]] = []
    pending: list[tuple[list[ast.stmt], bool]] = [(module.body, False)]
    while pending:
        statements, type_only = pending.pop()
        for statement in statements:
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    binding = ("*", alias.asname or alias.name)
                    found.append((ImportFact(alias.name, "import", alias.lineno, (binding,)), type_only))
            elif isinstance(statement, ast.ImportFrom):
                specifier = "." * statement.level + (statement.module or "")
                bindings = tuple(sorted((a.name, a.asname or a.name) for a in statement.names if a.name != "*"))
                line = lines.name_line(statement)
                found.append((ImportFact(specifier, "import", line, bindings), type_only))
            elif isinstance(statement, ast.If) and is_type_checking_test(statement.test):
                pending.extend(((statement.body, True), (statement.orelse, type_only)))
            else:
                pending.extend((body, type_only) for body in statement_lists(statement))
    if b"import_module" in source or b"__import__" in source:
        found.extend((fact, False) for fact in dynamic_imports(module))
    found.sort(key=lambda pair: (pair[0].line, str(pair[0])))
    return found


def oracle_file(path: str, source: bytes) -> OracleFile:
    """The oracle's facts for one file; a file ``ast`` rejects comes back with ``parse_failure`` set."""
    try:
        module = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return OracleFile(parse_failure=f"{type(exc).__name__}: {exc}")
    lines = LineStarts(source)
    found = declarations(module, lines)
    exported = exported_declarations(module, found)
    all_imports = imports(module, source, lines)
    return OracleFile(
        declarations=tuple(declared.declaration for declared in found),
        exported=None if exported is None else tuple(exported),
        imports=tuple(fact for fact, _ in all_imports),
        type_only=tuple(fact for fact, type_only in all_imports if type_only),
    )


def facts_as_json(facts: OracleFile) -> dict[str, Any]:
    """One file's facts as JSON values (``facts_from_json`` reads them back)."""
    return {
        "declarations": [list(d.__dict__.values()) for d in facts.declarations],
        "exported": None if facts.exported is None else [list(d.__dict__.values()) for d in facts.exported],
        "imports": [[i.specifier, i.kind, i.line, [list(b) for b in i.bindings]] for i in facts.imports],
        "type_only": [[i.specifier, i.kind, i.line, [list(b) for b in i.bindings]] for i in facts.type_only],
        "parse_failure": facts.parse_failure,
    }


def facts_from_json(value: dict[str, Any]) -> OracleFile:
    def declaration(row: list[Any]) -> Declaration:
        return Declaration(str(row[0]), str(row[1]), int(row[2]), None if row[3] is None else str(row[3]))

    def fact(row: list[Any]) -> ImportFact:
        return ImportFact(str(row[0]), str(row[1]), int(row[2]), tuple((str(b[0]), str(b[1])) for b in row[3]))

    exported = value["exported"]
    return OracleFile(
        declarations=tuple(declaration(row) for row in value["declarations"]),
        exported=None if exported is None else tuple(declaration(row) for row in exported),
        imports=tuple(fact(row) for row in value["imports"]),
        type_only=tuple(fact(row) for row in value["type_only"]),
        parse_failure=value["parse_failure"],
    )


def source_paths(root: Path) -> list[str]:
    """Every ``.py``/``.pyi`` file under ``root`` outside ``.git``, root-relative and POSIX, sorted."""
    found: list[str] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d != ".git"]
        base = Path(directory).relative_to(root).as_posix()
        found.extend(name if base == "." else f"{base}/{name}" for name in names if name.endswith(SOURCE_SUFFIXES))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="directory whose .py/.pyi files to read")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    facts = {path: facts_as_json(oracle_file(path, (root / path).read_bytes())) for path in source_paths(root)}
    json.dump({"python": sys.version.split()[0], "files": facts}, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
