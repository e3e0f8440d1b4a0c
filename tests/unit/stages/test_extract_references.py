"""References: calls, new, heritage, type references and JSX component usage, with their enclosing symbol."""

from __future__ import annotations

from stages.extract import extract_source
from stages.models import FileExtraction


def extract(source: str, path: str = "m.ts") -> FileExtraction:
    result = extract_source(path, source.encode())
    assert result.error is None
    return result


def refs(source: str, path: str = "m.ts") -> list[tuple[str, str | None, str, str | None]]:
    """(kind, qualifier, name, enclosing symbol name) of every reference, in source order."""
    result = extract(source, path)
    return [
        (r.kind, r.qualifier, r.name, None if r.enclosing is None else result.symbols[r.enclosing].name)
        for r in result.references
    ]


def test_references__plain_and_member_calls_with_the_callee_name() -> None:
    source = "function run() { setup(); this.step(); a.b.c(); make().done(); obj?.maybe(); }"
    assert refs(source) == [
        ("call", None, "setup", "run"),
        ("call", "this", "step", "run"),
        ("call", "a.b", "c", "run"),
        ("call", None, "make", "run"),
        ("call", "make()", "done", "run"),
        ("call", "obj", "maybe", "run"),
    ]


def test_references__top_level_calls_have_no_enclosing_symbol() -> None:
    assert refs("main();") == [("call", None, "main", None)]


def test_references__new_expressions() -> None:
    assert refs("const m = new Map(); const w = new ns.Widget();") == [
        ("new", None, "Map", "m"),
        ("new", "ns", "Widget", "w"),
    ]


def test_references__extends_and_implements() -> None:
    source = "class A extends Base<T> implements I, ns.J<K> {}\ninterface X extends Y, Z<W> {}"
    assert refs(source) == [
        ("extends", None, "Base", "A"),
        ("type", None, "T", "A"),
        ("implements", None, "I", "A"),
        ("implements", "ns", "J", "A"),
        ("type", None, "K", "A"),
        ("extends", None, "Y", "X"),
        ("extends", None, "Z", "X"),
        ("type", None, "W", "X"),
    ]


def test_references__javascript_extends_expression() -> None:
    assert refs("class A extends B {}\nclass C extends lib.D {}", "a.js") == [
        ("extends", None, "B", "A"),
        ("extends", "lib", "D", "C"),
    ]


def test_references__type_references_skip_declared_names_and_type_parameters() -> None:
    source = (
        "export function f<T extends Base>(a: T, b: Opts): Promise<ns.Result<T>> { return g(a); }\n"
        "interface Opts { next: Opts }"
    )
    assert refs(source) == [
        ("type", None, "Base", "f"),
        ("type", None, "Opts", "f"),
        ("type", None, "Promise", "f"),
        ("type", "ns", "Result", "f"),
        ("call", None, "g", "f"),
        ("type", None, "Opts", "next"),
    ]


def test_references__type_parameter_names_outside_their_owner_are_references() -> None:
    source = "type Box<T> = { v: T };\nlet t: T;"
    assert refs(source) == [("type", None, "T", "t")]


def test_references__jsx_components_but_not_intrinsic_elements() -> None:
    source = "export function App() { return <div><Header title='x'/><ui.Button>go</ui.Button><svg:rect/></div>; }"
    for path in ("a.tsx", "a.jsx", "a.js"):
        assert refs(source, path) == [("jsx", None, "Header", "App"), ("jsx", "ui", "Button", "App")], path


def test_references__decorators_are_calls_enclosed_by_what_they_decorate() -> None:
    source = "@Injectable()\nclass S { @Input value = 1; @ns.dec() m() {} }"
    assert refs(source) == [
        ("call", None, "Injectable", "S"),
        ("call", None, "Input", "value"),
        ("call", "ns", "dec", "m"),
    ]


def test_references__enclosing_symbol_is_the_innermost() -> None:
    source = "class A {\n  m() { inner(); }\n  p = compute();\n}\nconst f = () => other();"
    assert refs(source) == [
        ("call", None, "inner", "m"),
        ("call", None, "compute", "p"),
        ("call", None, "other", "f"),
    ]


def test_references__require_and_import_calls_are_imports_not_references() -> None:
    assert refs("const a = require('a'); import('b');", "a.js") == []


def test_references__position_is_the_name() -> None:
    source = "function f() {\n  api.fetchAll();\n}"
    result = extract(source)
    span = result.references[0].span
    assert source[span.start_byte : span.end_byte] == "fetchAll"
    assert (span.start_line, span.start_column) == (2, 6)
