"""Symbols: one small source per kind of declaration, including the awkward ones."""

from __future__ import annotations

import msgspec

from stages.extract import extract_source
from stages.models import FileExtraction, Symbol


def extract(source: str, path: str = "m.ts") -> FileExtraction:
    result = extract_source(path, source.encode())
    assert result.error is None
    return result


def kinds(source: str, path: str = "m.ts") -> list[tuple[str, str, str | None]]:
    """(kind, name, parent name) of every symbol, in output order."""
    result = extract(source, path)
    return [(s.kind, s.name, None if s.parent is None else result.symbols[s.parent].name) for s in result.symbols]


def only(source: str, path: str = "m.ts") -> Symbol:
    result = extract(source, path)
    assert len(result.symbols) == 1, result.symbols
    return result.symbols[0]


def test_extract__function_declaration_is_a_function() -> None:
    assert kinds("function f(a: number): string { return ''; }") == [("function", "f", None)]


def test_extract__arrow_function_is_a_function() -> None:
    symbol = only("export const f = async (a: number): Promise<void> => { await a; };")
    assert (symbol.kind, symbol.name, symbol.exported, symbol.is_async) == ("function", "f", True, True)
    assert symbol.signature == "const f = async (a: number): Promise<void> =>"


def test_extract__function_expression_and_generator_values_are_functions() -> None:
    assert kinds("var g = function* () {}; let h = function named() {};") == [
        ("function", "g", None),
        ("function", "h", None),
    ]


def test_extract__generator_declaration_is_a_function() -> None:
    symbol = only("async function* gen() { yield 1; }")
    assert (symbol.kind, symbol.name, symbol.is_async) == ("function", "gen", True)


def test_extract__top_level_const_is_a_constant_and_let_var_are_variables() -> None:
    assert kinds("const A = 1; let b = 2, c; var d;") == [
        ("constant", "A", None),
        ("variable", "b", None),
        ("variable", "c", None),
        ("variable", "d", None),
    ]


def test_extract__local_and_loop_variables_are_not_symbols_but_local_functions_are() -> None:
    source = (
        "function f() { const x = 1; const g = () => x; const { y } = o; }\n"
        "for (let i = 0; i < 1; i++) {}\n"
        "class K { static { let s = 1; } m() { var v = (function () {}); } }"
    )
    assert kinds(source) == [
        ("function", "f", None),
        ("function", "g", "f"),
        ("class", "K", None),
        ("method", "m", "K"),
        ("function", "v", "m"),
    ]


def test_extract__block_variables_outside_functions_are_symbols() -> None:
    assert kinds("if (a) { var b = 1; }") == [("variable", "b", None)]


def test_extract__destructured_names_are_symbols_and_exports() -> None:
    source = "export const { a, b: [c], d = 1, ...rest } = source;"
    result = extract(source)
    assert [(s.kind, s.name, s.exported) for s in result.symbols] == [
        ("constant", "a", True),
        ("constant", "c", True),
        ("constant", "d", True),
        ("constant", "rest", True),
    ]
    assert [(e.exported, e.local) for e in result.exports] == [("a", "a"), ("c", "c"), ("d", "d"), ("rest", "rest")]
    for symbol in result.symbols:
        assert source[symbol.name_span.start_byte : symbol.name_span.end_byte] == symbol.name


def test_extract__class_with_members() -> None:
    source = """
    export abstract class Shape<T> extends Base implements Drawable {
      static count = 0;
      #secret: string;
      protected abstract area(): number;
      constructor(private readonly origin: Point, public label?: string, plain = 1) { super(); }
      protected get size(): number { return 1; }
      set size(value: number) {}
      async *points(): AsyncGenerator<Point> {}
      [Symbol.iterator]() {}
      'quoted-name'() {}
      declare readonly brand: T;
    }
    """
    assert kinds(source) == [
        ("class", "Shape", None),
        ("property", "count", "Shape"),
        ("property", "#secret", "Shape"),
        ("method", "area", "Shape"),
        ("constructor", "constructor", "Shape"),
        ("property", "origin", "Shape"),
        ("property", "label", "Shape"),
        ("getter", "size", "Shape"),
        ("setter", "size", "Shape"),
        ("method", "points", "Shape"),
        ("method", "[Symbol.iterator]", "Shape"),
        ("method", "quoted-name", "Shape"),
        ("property", "brand", "Shape"),
    ]
    symbols = extract(source).symbols
    assert symbols[0].exported
    assert symbols[0].signature == "export abstract class Shape<T> extends Base implements Drawable"
    assert symbols[9].is_async


def test_extract__overloads_are_one_symbol_each() -> None:
    source = """
    export function f(a: string): string;
    export function f(a: number): number;
    export function f(a: any) { return a; }
    class C { m(a: string): void; m(a: any) {} }
    """
    assert kinds(source) == [
        ("function", "f", None),
        ("function", "f", None),
        ("function", "f", None),
        ("class", "C", None),
        ("method", "m", "C"),
        ("method", "m", "C"),
    ]
    result = extract(source)
    assert [e.exported for e in result.exports] == ["f"]


def test_extract__declaration_merging_keeps_every_declaration() -> None:
    source = "interface Box { a: number }\ninterface Box { b: string }\nnamespace Box { export const c = 1; }"
    assert kinds(source) == [
        ("interface", "Box", None),
        ("property", "a", "Box"),
        ("interface", "Box", None),
        ("property", "b", "Box"),
        ("namespace", "Box", None),
        ("constant", "c", "Box"),
    ]


def test_extract__anonymous_default_class_is_named_default_at_the_keyword() -> None:
    source = "export default class { run() {} }"
    result = extract(source)
    assert kinds(source) == [("class", "default", None), ("method", "run", "default")]
    cls = result.symbols[0]
    assert cls.exported
    assert cls.is_default_export
    assert source[cls.name_span.start_byte : cls.name_span.end_byte] == "default"
    assert [(e.exported, e.local) for e in result.exports] == [("default", "default")]


def test_extract__anonymous_default_abstract_class_is_a_class_with_its_abstract_members() -> None:
    source = "export default abstract class<T> extends Base<T> {\n  abstract run(): T;\n  stop() {}\n}\n"
    result = extract(source)
    assert not result.had_syntax_errors
    assert kinds(source) == [("class", "default", None), ("method", "run", "default"), ("method", "stop", "default")]
    cls = result.symbols[0]
    assert (cls.exported, cls.is_default_export) == (True, True)
    assert cls.signature == "export default abstract class<T> extends Base<T>"
    assert [(r.name, r.kind) for r in result.references if r.kind == "extends"] == [("Base", "extends")]


def test_extract__anonymous_default_function_is_named_default() -> None:
    symbol = only("export default async function () {}")
    assert (symbol.kind, symbol.name, symbol.is_default_export, symbol.is_async) == (
        "function",
        "default",
        True,
        True,
    )


def test_extract__named_default_export_keeps_its_name() -> None:
    result = extract("export default function main() {}")
    assert (result.symbols[0].name, result.symbols[0].is_default_export) == ("main", True)
    assert [(e.exported, e.local) for e in result.exports] == [("default", "main")]


def test_extract__default_exported_expression_is_an_export_without_a_symbol() -> None:
    result = extract("export default () => 1;")
    assert result.symbols == ()
    assert [(e.exported, e.local) for e in result.exports] == [("default", None)]


def test_extract__export_later_in_the_file_marks_the_symbol_exported() -> None:
    result = extract("function a() {}\nclass B {}\nconst c = 1;\nexport { a, B as Bee };\nexport default c;")
    assert [(s.name, s.exported, s.is_default_export) for s in result.symbols] == [
        ("a", True, False),
        ("B", True, False),
        ("c", True, True),
    ]


def test_extract__export_assignment_marks_the_symbol_exported() -> None:
    result = extract("function api() {}\nexport = api;")
    assert result.symbols[0].exported
    assert [(e.exported, e.local, e.kind) for e in result.exports] == [("export=", "api", "assignment")]


def test_extract__computed_and_string_names_keep_their_text() -> None:
    source = "class C { [key]: number; ['lit']() {} 42: string; }"
    result = extract(source)
    names = [s.name for s in result.symbols]
    assert names == ["C", "[key]", "['lit']", "42"]
    for symbol in result.symbols:
        assert source.encode()[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == symbol.name


def test_extract__decorators_do_not_hide_declarations_and_are_outside_the_signature() -> None:
    source = (
        "/** A component. */\n"
        "@Component({ selector: 'x' })\n"
        "export class Widget {\n"
        "  @Input() name = '';\n"
        "  @HostListener('click')\n"
        "  onClick() {}\n"
        "}\n"
    )
    result = extract(source)
    assert kinds(source) == [("class", "Widget", None), ("property", "name", "Widget"), ("method", "onClick", "Widget")]
    widget = result.symbols[0]
    assert widget.doc == "A component."
    assert widget.signature == "export class Widget"
    assert result.symbols[2].span.start_line == 5  # the decorator line belongs to the method


def test_extract__abstract_members() -> None:
    source = "abstract class A { abstract m(): void; abstract p: number; abstract get g(): string; }"
    assert kinds(source) == [
        ("class", "A", None),
        ("method", "m", "A"),
        ("property", "p", "A"),
        ("getter", "g", "A"),
    ]


def test_extract__declare_module_is_a_module_named_by_its_string() -> None:
    source = "declare module 'lib/x' {\n  export function f(): void;\n  const v: number;\n}"
    result = extract(source)
    assert kinds(source) == [("module", "lib/x", None), ("function", "f", "lib/x"), ("constant", "v", "lib/x")]
    module = result.symbols[0]
    assert source[module.name_span.start_byte : module.name_span.end_byte] == "lib/x"


def test_extract__declare_global_is_a_namespace_named_global() -> None:
    assert kinds("declare global { interface Window { app: App } var debug: boolean; }") == [
        ("namespace", "global", None),
        ("interface", "Window", "global"),
        ("property", "app", "Window"),
        ("variable", "debug", "global"),
    ]


def test_extract__namespaces_nest_and_dotted_names_declare_each_part() -> None:
    source = "export namespace Outer { export namespace Inner { export function f() {} } }\nmodule A.B.C { let x; }"
    assert kinds(source) == [
        ("namespace", "Outer", None),
        ("namespace", "Inner", "Outer"),
        ("function", "f", "Inner"),
        ("namespace", "A", None),
        ("namespace", "B", "A"),
        ("namespace", "C", "B"),
        ("variable", "x", "C"),
    ]
    result = extract(source)
    assert [s.exported for s in result.symbols] == [True, True, True, False, True, True, False]


def test_extract__enums_and_members() -> None:
    source = "export const enum Color { Red, Green = 'g', 'Light Blue' = 3 }"
    assert kinds(source) == [
        ("enum", "Color", None),
        ("enum_member", "Red", "Color"),
        ("enum_member", "Green", "Color"),
        ("enum_member", "Light Blue", "Color"),
    ]


def test_extract__interfaces_with_every_member_kind() -> None:
    source = (
        "interface I { p: string; readonly q?: number; m(): void; get g(): number; set g(v: number);"
        " (): void; new (): I; [k: string]: unknown; }"
    )
    assert kinds(source) == [
        ("interface", "I", None),
        ("property", "p", "I"),
        ("property", "q", "I"),
        ("method", "m", "I"),
        ("getter", "g", "I"),
        ("setter", "g", "I"),
    ]


def test_extract__type_literal_members_are_members_of_the_enclosing_symbol() -> None:
    source = "export type Point<T> = { x: T; y(): T; get z(): T };\nfunction f(o: { flag?: boolean }) {}"
    assert kinds(source) == [
        ("type_alias", "Point", None),
        ("property", "x", "Point"),
        ("method", "y", "Point"),
        ("getter", "z", "Point"),
        ("function", "f", None),
        ("property", "flag", "f"),
    ]
    assert extract(source).symbols[0].signature == "export type Point<T> = { x: T; y(): T; get z(): T }"


def test_extract__object_literal_members_are_not_symbols() -> None:
    assert kinds("export const api = { get() {}, set: () => 1, x: 2 };") == [("constant", "api", None)]


def test_extract__nested_functions_and_local_classes_are_children() -> None:
    source = "function outer() { function inner() {} class Local { m() {} } }"
    assert kinds(source) == [
        ("function", "outer", None),
        ("function", "inner", "outer"),
        ("class", "Local", "outer"),
        ("method", "m", "Local"),
    ]


def test_extract__class_expression_bound_to_a_constant_is_a_class() -> None:
    assert kinds("export const Mixin = class extends Base { run() {} };") == [
        ("class", "Mixin", None),
        ("method", "run", "Mixin"),
    ]


def test_extract__getters_and_setters_in_javascript() -> None:
    source = "class A { get x() { return this._x; } set x(v) { this._x = v; } static #count = 0; }"
    assert kinds(source, "a.js") == [
        ("class", "A", None),
        ("getter", "x", "A"),
        ("setter", "x", "A"),
        ("property", "#count", "A"),
    ]


def test_extract__syntax_error_keeps_symbols_outside_the_error() -> None:
    source = "export interface Before {}\nconst broken = (1 + ;\nexport function after() {}\nclass Tail { m() {} }\n"
    result = extract(source)
    assert result.had_syntax_errors
    found = kinds(source)
    assert ("interface", "Before", None) in found
    assert ("function", "after", None) in found
    assert ("class", "Tail", None) in found
    assert ("method", "m", "Tail") in found


def test_extract__variance_and_const_type_parameters_are_recovered() -> None:
    source = (
        "export class Box<in out T, const U extends string> { get(): T { return this.v; } }\ntype F<out R> = () => R;\n"
    )
    result = extract(source)
    assert not result.had_syntax_errors
    assert kinds(source) == [("class", "Box", None), ("method", "get", "Box"), ("type_alias", "F", None)]
    assert result.symbols[0].signature == "export class Box<in out T, const U extends string>"


def test_extract__call_signature_lines_starting_with_type_parameters_are_recovered() -> None:
    source = (
        "export const dual: {\n"
        "  <A>(f: A): <B>(self: B) => A\n"
        "  <A, B>(self: B, f: A): A\n"
        "} = make()\n"
        "export function after() {}\n"
    )
    result = extract(source)
    assert not result.had_syntax_errors
    assert kinds(source) == [("constant", "dual", None), ("function", "after", None)]


def test_extract__jsdoc_is_attached_only_when_adjacent() -> None:
    source = (
        "/**\n"
        " * Adds.\n"
        " * @param a first\n"
        " */\n"
        "export function add(a) {}\n"
        "\n"
        "/** Far away. */\n"
        "\n"
        "function far() {}\n"
        "// plain\n"
        "function plain() {}\n"
    )
    docs = [(s.name, s.doc) for s in extract(source).symbols]
    assert docs == [("add", "Adds.\n@param a first"), ("far", None), ("plain", None)]


def test_extract__jsdoc_on_class_members() -> None:
    source = "class A {\n  /** The id. */\n  id = 1;\n  /** Runs. */\n  run() {}\n}"
    assert [(s.name, s.doc) for s in extract(source).symbols] == [("A", None), ("id", "The id."), ("run", "Runs.")]


def test_extract__variable_signature_is_bounded_with_its_keyword() -> None:
    symbol = only("export const handler = (" + ", ".join(f"p{i}: number" for i in range(60)) + ") => 0;")
    assert len(symbol.signature) == 200
    assert symbol.signature.startswith("const handler = (p0: number")


def test_extract__signature_is_whitespace_normalised_and_bounded() -> None:
    params = ", ".join(f"p{i}: number" for i in range(100))
    symbol = only(f"function long(\n    {params}\n) {{}}")
    assert len(symbol.signature) == 200
    assert symbol.signature.startswith("function long( p0: number, p1: number")
    assert symbol.signature.endswith("…")


def test_extract__ranges_follow_the_convention() -> None:
    source = "// é\nexport class Ünï {}\n"
    symbol = only(source)
    raw = source.encode()
    assert (symbol.span.start_line, symbol.span.start_column) == (2, 0)
    assert (symbol.name_span.start_line, symbol.name_span.start_column) == (2, 13)
    assert (symbol.name_span.end_line, symbol.name_span.end_column) == (2, 13 + len("Ünï".encode()))
    assert raw[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == "Ünï"
    assert raw[symbol.span.start_byte : symbol.span.end_byte].decode() == "export class Ünï {}"


def test_extract__tsx_and_jsx_components() -> None:
    source = "export function App() { return <div><Header/></div>; }\nexport const Header = () => <h1/>;\n"
    assert kinds(source, "app.tsx") == [("function", "App", None), ("function", "Header", None)]
    assert kinds(source, "app.jsx") == [("function", "App", None), ("function", "Header", None)]


def test_extract__bad_file_returns_an_error_and_no_rows() -> None:
    result = extract_source("bad.ts", b"export const a = '\xc3';")
    assert result.error is not None
    assert result.error.kind == "invalid_utf8"
    assert "bad.ts" in result.error.message
    assert (result.symbols, result.imports, result.references) == ((), (), ())


def test_extract__unsupported_extension_is_an_error_not_an_exception() -> None:
    result = extract_source("notes.txt", b"hello")
    assert result.error is not None
    assert result.error.kind == "unsupported_language"


def test_extract__result_round_trips_through_msgpack() -> None:
    source = (
        "/** D. */\n"
        "export default class { @d() m(): void {} }\n"
        "import x, { y as z } from './m';\n"
        "export * from './n';\n"
    )
    result = extract(source)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(result), type=FileExtraction)
    assert decoded == result


def test_extract__deeply_nested_input_does_not_exhaust_the_stack() -> None:
    dotted = "namespace " + ".".join(f"n{i}" for i in range(3000)) + " {}"
    assert len(extract(dotted).symbols) == 3000
    pattern = "const " + "[" * 3000 + "deep" + "]" * 3000 + " = x;"
    assert [s.name for s in extract(pattern).symbols] == ["deep"]
    unbalanced = extract_source("x.ts", b"(" * 5000 + b"1" + b")" * 4999)
    assert unbalanced.error is None
    assert unbalanced.had_syntax_errors


def test_extract__generic_arrow_read_as_a_type_assertion_is_still_a_function() -> None:
    source = "let a = (1 + ;\nexport const f = <A, E>(self: X<A, E>): Y<E> =>\n  go(() => 1)\n"
    result = extract(source)
    assert result.had_syntax_errors
    assert [(s.kind, s.name) for s in result.symbols] == [("variable", "a"), ("function", "f")]


def test_extract__abstract_override_field_is_recovered_as_a_property() -> None:
    source = (
        "export abstract class T extends B {\n\tabstract override shapeType: string\n\tabstract override m(): void\n}\n"
    )
    assert kinds(source) == [("class", "T", None), ("property", "shapeType", "T"), ("method", "m", "T")]
