"""Property tests: generated programs extract exactly; any bytes are handled; ranges and names are exact."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.extract import extract_source
from stages.models import FileExtraction, Span

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RESERVED = frozenset(
    {
        "abstract",
        "accessor",
        "any",
        "as",
        "asserts",
        "async",
        "await",
        "bigint",
        "boolean",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "constructor",
        "continue",
        "debugger",
        "declare",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "from",
        "function",
        "get",
        "global",
        "if",
        "implements",
        "import",
        "in",
        "infer",
        "instanceof",
        "interface",
        "is",
        "keyof",
        "let",
        "module",
        "namespace",
        "never",
        "new",
        "null",
        "number",
        "object",
        "of",
        "out",
        "override",
        "package",
        "private",
        "protected",
        "public",
        "readonly",
        "require",
        "return",
        "satisfies",
        "set",
        "static",
        "string",
        "super",
        "switch",
        "symbol",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "typeof",
        "undefined",
        "unique",
        "unknown",
        "using",
        "var",
        "void",
        "while",
        "with",
        "yield",
    }
)
"""Keywords, contextual keywords and predefined type names: never generated as identifiers."""

identifiers = st.from_regex(r"[a-zA-Z_$é][a-zA-Z0-9_$é]{0,7}", fullmatch=True).filter(lambda n: n not in RESERVED)
specifiers = st.from_regex(r"(\./|\.\./|@scope/)?[a-z][a-z0-9_-]{0,6}(/[a-z0-9]{1,4})?", fullmatch=True)

Expected = tuple[str, str, str | None, bool]
"""(kind, name, parent name, exported) of a symbol, in source order."""


@dataclass
class Program:
    lines: list[str] = field(default_factory=list)
    symbols: list[Expected] = field(default_factory=list)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    imports: list[tuple[str, str, list[tuple[str, str, bool]]]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def body(draw: st.DrawFn, program: Program, owner: str, depth: int, typescript: bool) -> None:
    """Statements of a function body: calls, locals (not symbols), nested functions and classes."""
    for choice in draw(st.lists(st.sampled_from(["call", "local", "function", "arrow", "class"]), max_size=3)):
        if choice == "call":
            callee = draw(identifiers)
            program.lines.append(f"  {callee}(1);")
            program.calls.append((callee, owner))
        elif choice == "local":
            program.lines.append(f"  const {draw(identifiers)} = 1;")
        elif depth > 0 and choice == "function":
            function(draw, program, owner, depth - 1, typescript, exported=False)
        elif depth > 0 and choice == "arrow":
            arrow(draw, program, owner, depth - 1, typescript, exported=False)
        elif depth > 0 and choice == "class":
            klass(draw, program, owner, depth - 1, typescript, exported=False)


def function(
    draw: st.DrawFn, program: Program, parent: str | None, depth: int, typescript: bool, *, exported: bool
) -> None:
    name = draw(identifiers)
    prefix = "export " if exported else ""
    asynchronous, star = draw(st.sampled_from([("", ""), ("async ", ""), ("", "*"), ("async ", "*")]))
    program.lines.append(f"{prefix}{asynchronous}function{star} {name}(a, b) {{")
    program.symbols.append(("function", name, parent, exported))
    body(draw, program, name, depth, typescript)
    program.lines.append("}")


def arrow(
    draw: st.DrawFn, program: Program, parent: str | None, depth: int, typescript: bool, *, exported: bool
) -> None:
    name = draw(identifiers)
    prefix = "export " if exported else ""
    program.lines.append(f"{prefix}const {name} = async (x) => {{")
    program.symbols.append(("function", name, parent, exported))
    body(draw, program, name, depth, typescript)
    program.lines.append("};")


def klass(
    draw: st.DrawFn, program: Program, parent: str | None, depth: int, typescript: bool, *, exported: bool
) -> None:
    name = draw(identifiers)
    prefix = "export " if exported else ""
    program.lines.append(f"{prefix}class {name} {{")
    program.symbols.append(("class", name, parent, exported))
    for member in draw(st.lists(st.sampled_from(["method", "property", "getter", "static"]), max_size=4)):
        member_name = draw(identifiers)
        if member == "property":
            program.lines.append(f"  {member_name} = 1;")
            program.symbols.append(("property", member_name, name, False))
            continue
        keyword = {"method": "", "getter": "get ", "static": "static "}[member]
        program.lines.append(f"  {keyword}{member_name}() {{")
        program.symbols.append(("getter" if member == "getter" else "method", member_name, name, False))
        body(draw, program, member_name, max(depth - 1, 0), typescript)
        program.lines.append("  }")
    program.lines.append("}")


def declaration(draw: st.DrawFn, program: Program, parent: str | None, typescript: bool) -> None:
    kinds = ["function", "arrow", "class", "const", "let"]
    if typescript:
        kinds += ["interface", "enum", "type", "namespace"] if parent is None else ["interface", "enum", "type"]
    kind = draw(st.sampled_from(kinds))
    exported = draw(st.booleans())
    prefix = "export " if exported else ""
    if kind == "function":
        function(draw, program, parent, 2, typescript, exported=exported)
    elif kind == "arrow":
        arrow(draw, program, parent, 1, typescript, exported=exported)
    elif kind == "class":
        klass(draw, program, parent, 1, typescript, exported=exported)
    elif kind in ("const", "let"):
        name = draw(identifiers)
        program.lines.append(f"{prefix}{kind} {name} = {draw(st.integers(0, 99))};")
        program.symbols.append(("constant" if kind == "const" else "variable", name, parent, exported))
    elif kind == "interface":
        name = draw(identifiers)
        program.lines.append(f"{prefix}interface {name} {{")
        program.symbols.append(("interface", name, parent, exported))
        for member in draw(st.lists(st.sampled_from(["property", "method"]), max_size=3)):
            member_name = draw(identifiers)
            program.lines.append(f"  {member_name}{': string' if member == 'property' else '(): void'};")
            program.symbols.append((member, member_name, name, False))
        program.lines.append("}")
    elif kind == "enum":
        name = draw(identifiers)
        members = draw(st.lists(identifiers, max_size=3))
        program.lines.append(f"{prefix}enum {name} {{ {', '.join(members)} }}")
        program.symbols.append(("enum", name, parent, exported))
        program.symbols.extend(("enum_member", member, name, False) for member in members)
    elif kind == "type":
        name = draw(identifiers)
        field_name = draw(identifiers)
        program.lines.append(f"{prefix}type {name} = {{ {field_name}: number }};")
        program.symbols.append(("type_alias", name, parent, exported))
        program.symbols.append(("property", field_name, name, False))
    else:
        name = draw(identifiers)
        program.lines.append(f"{prefix}namespace {name} {{")
        program.symbols.append(("namespace", name, parent, exported))
        for _ in range(draw(st.integers(0, 3))):
            declaration(draw, program, name, typescript)
        program.lines.append("}")


@st.composite
def programs(draw: st.DrawFn, typescript: bool) -> Program:
    program = Program()
    for form in draw(st.lists(st.sampled_from(["named", "default", "namespace", "side_effect", "type"]), max_size=4)):
        specifier = draw(specifiers)
        if form == "named":
            pairs = draw(st.lists(st.tuples(identifiers, identifiers), min_size=1, max_size=3))
            clause = ", ".join(f"{imported} as {local}" for imported, local in pairs)
            program.lines.append(f"import {{ {clause} }} from '{specifier}';")
            program.imports.append(("import", specifier, [(i, local, False) for i, local in pairs]))
        elif form == "default":
            local = draw(identifiers)
            program.lines.append(f'import {local} from "{specifier}";')
            program.imports.append(("import", specifier, [("default", local, False)]))
        elif form == "namespace":
            local = draw(identifiers)
            program.lines.append(f"import * as {local} from '{specifier}';")
            program.imports.append(("import", specifier, [("*", local, False)]))
        elif form == "side_effect":
            program.lines.append(f"import '{specifier}';")
            program.imports.append(("side_effect", specifier, []))
        elif typescript:
            local = draw(identifiers)
            program.lines.append(f"import type {{ {local} }} from '{specifier}';")
            program.imports.append(("import", specifier, [(local, local, True)]))
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            callee = draw(identifiers)
            program.lines.append(f"{callee}();")
            program.calls.append((callee, None))
        else:
            declaration(draw, program, None, typescript)
    return program


def actual_symbols(result: FileExtraction) -> list[Expected]:
    return [
        (s.kind, s.name, None if s.parent is None else result.symbols[s.parent].name, s.exported)
        for s in result.symbols
    ]


def check_invariants(source: bytes, result: FileExtraction) -> None:
    """Every range lies in the file, agrees with its line/column, and name ranges spell the names."""
    line_starts = [0] + [index + 1 for index, byte in enumerate(source) if byte == 0x0A]

    def check(span: Span) -> None:
        assert 0 <= span.start_byte <= span.end_byte <= len(source)
        assert line_starts[span.start_line - 1] + span.start_column == span.start_byte
        assert line_starts[span.end_line - 1] + span.end_column == span.end_byte

    for index, symbol in enumerate(result.symbols):
        check(symbol.span)
        check(symbol.name_span)
        assert source[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == symbol.name
        assert symbol.name
        assert symbol.parent is None or 0 <= symbol.parent < index
        assert len(symbol.signature) <= 200
    for imported in result.imports:
        check(imported.span)
        check(imported.specifier_span)
        assert (
            source[imported.specifier_span.start_byte : imported.specifier_span.end_byte].decode() == imported.specifier
        )
    for export in result.exports:
        check(export.span)
        assert export.import_index is None or 0 <= export.import_index < len(result.imports)
    for reference in result.references:
        check(reference.span)
        assert source[reference.span.start_byte : reference.span.end_byte].decode() == reference.name
        assert reference.enclosing is None or 0 <= reference.enclosing < len(result.symbols)


@PROPERTY_SETTINGS
@given(programs(typescript=True), st.sampled_from(["m.ts", "m.tsx"]))
def test_generated_typescript__extracts_exactly_the_generated_declarations(program: Program, path: str) -> None:
    source = program.text.encode()
    result = extract_source(path, source)
    assert result.error is None
    assert not result.had_syntax_errors, program.text
    assert actual_symbols(result) == program.symbols
    assert [
        (i.kind, i.specifier, [(b.imported, b.local, b.is_type_only) for b in i.bindings]) for i in result.imports
    ] == program.imports
    assert [
        (r.name, None if r.enclosing is None else result.symbols[r.enclosing].name) for r in result.references
    ] == program.calls
    check_invariants(source, result)


@PROPERTY_SETTINGS
@given(programs(typescript=False), st.sampled_from(["m.js", "m.jsx", "m.mjs"]))
def test_generated_javascript__extracts_exactly_the_generated_declarations(program: Program, path: str) -> None:
    source = program.text.encode()
    result = extract_source(path, source)
    assert result.error is None
    assert actual_symbols(result) == program.symbols
    assert [(i.kind, i.specifier) for i in result.imports] == [(kind, spec) for kind, spec, _ in program.imports]
    check_invariants(source, result)


@PROPERTY_SETTINGS
@given(
    st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)),
    st.sampled_from(["x.ts", "x.tsx", "x.js", "x.d.ts"]),
)
def test_arbitrary_bytes__never_raise_and_keep_the_invariants(source: bytes, path: str) -> None:
    result = extract_source(path, source)
    if result.error is None:
        check_invariants(source, result)
    else:
        assert result.symbols == ()
        assert path in result.error.message


SNIPPETS = [
    ("import React, { useState as us } from 'react';\nexport default function App() { return <Foo.Bar x={1}/>; }\n"),
    (
        "/** Doc. */\n@dec() export abstract class A<in out T> extends B implements C {\n"
        "  constructor(private x: T) { super(); } get y() { return 1; } }\n"
    ),
    (
        "namespace N.M { export const enum E { A = 1, 'b' } }\n"
        "declare module 'x' { export function f(): void; }\ndeclare global { var g: number }\n"
    ),
    (
        "export const f = async <T,>(a: T): Promise<T> => a;\n"
        "export { f as g }; export * from './h'; export * as ns from './i';\n"
    ),
    ("const { a, b: [c] } = require('m');\nmodule.exports = { a, d: c };\nexports.e = () => import('./lazy');\n"),
    (
        "type X<T> = { [K in keyof T]: T[K] } & { m(): void };\n"
        "interface I { (): void; new (): I; [k: string]: unknown; p?: number }\n"
    ),
    (
        "export const dual: {\n  <A>(f: A): <B>(self: B) => A\n  <A, B>(self: B, f: A): A\n} = make()\n"
        "type Q = `a\\`b${string}`;\n"
    ),
]


@st.composite
def mutated_snippets(draw: st.DrawFn) -> bytes:
    source = bytearray(draw(st.sampled_from(SNIPPETS)).encode())
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(source)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if action == "delete":
            del source[position : position + draw(st.integers(1, 12))]
        elif action == "insert":
            source[position:position] = draw(
                st.sampled_from(
                    [b"{", b"}", b"(", b"<", b">", b"'", b"`", b"/*", b"\n", b"\xc3\xa9", b"\\", b"export "]
                )
            )
        else:
            end = min(len(source), position + draw(st.integers(1, 30)))
            source[position:position] = source[position:end]
    return bytes(source)


@PROPERTY_SETTINGS
@given(mutated_snippets(), st.sampled_from(["x.ts", "x.tsx", "x.js"]))
def test_mutated_snippets__never_raise_keep_the_invariants_and_are_deterministic(source: bytes, path: str) -> None:
    first = extract_source(path, source)
    second = extract_source(path, source)
    assert first == second
    if first.error is None:
        check_invariants(source, first)
