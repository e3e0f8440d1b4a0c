"""Imports and exports: every form of import, re-export, dynamic import, require and CommonJS export."""

from __future__ import annotations

from stages.extract import extract_source
from stages.models import FileExtraction


def extract(source: str, path: str = "m.ts") -> FileExtraction:
    result = extract_source(path, source.encode())
    assert result.error is None
    return result


def imports(source: str, path: str = "m.ts") -> list[tuple[str, str, bool, list[tuple[str, str, bool]]]]:
    return [
        (i.kind, i.specifier, i.is_type_only, [(b.imported, b.local, b.is_type_only) for b in i.bindings])
        for i in extract(source, path).imports
    ]


def exports(source: str, path: str = "m.ts") -> list[tuple[str, str | None, str, int | None]]:
    return [(e.exported, e.local, e.kind, e.import_index) for e in extract(source, path).exports]


def test_imports__default_named_aliased_and_namespace() -> None:
    source = "import React, { useState, useEffect as effect } from 'react';\nimport * as path from 'node:path';"
    assert imports(source) == [
        (
            "import",
            "react",
            False,
            [("default", "React", False), ("useState", "useState", False), ("useEffect", "effect", False)],
        ),
        ("import", "node:path", False, [("*", "path", False)]),
    ]


def test_imports__side_effect_import_has_no_bindings() -> None:
    assert imports("import './polyfill';") == [("side_effect", "./polyfill", False, [])]


def test_imports__type_only_statement_and_specifiers() -> None:
    source = "import type { A } from './a';\nimport { type B, C } from './b';\nimport type D from './d';"
    assert imports(source) == [
        ("import", "./a", True, [("A", "A", True)]),
        ("import", "./b", False, [("B", "B", True), ("C", "C", False)]),
        ("import", "./d", True, [("default", "D", True)]),
    ]


def test_imports__string_named_import() -> None:
    assert imports("import { 'a-b' as ab } from './x';") == [("import", "./x", False, [("a-b", "ab", False)])]


def test_imports__import_equals_require() -> None:
    assert imports("import fs = require('fs');") == [("import_equals", "fs", False, [("*", "fs", False)])]


def test_imports__dynamic_import_with_a_literal_only() -> None:
    source = (
        "const m = import('./lazy');\nconst n = import(`./tpl`);\nconst o = import(name);\nconst p = import(`./${x}`);"
    )
    assert imports(source) == [("dynamic", "./lazy", False, []), ("dynamic", "./tpl", False, [])]


def test_imports__require_with_bindings() -> None:
    source = (
        "const fs = require('fs');\nconst { join, resolve: res } = require('path');\nrequire('./side');\nrequire(dyn);"
    )
    assert imports(source, "a.cjs") == [
        ("require", "fs", False, [("*", "fs", False)]),
        ("require", "path", False, [("join", "join", False), ("resolve", "res", False)]),
        ("require", "./side", False, []),
    ]


def test_imports__specifier_span_is_inside_the_quotes() -> None:
    source = 'import x from "./some/where";'
    result = extract(source)
    span = result.imports[0].specifier_span
    assert source[span.start_byte : span.end_byte] == "./some/where"
    assert (span.start_line, span.start_column) == (1, 15)


def test_exports__reexports_link_to_their_import() -> None:
    source = (
        "export { a as b, default as c } from './x';\n"
        "export * from './y';\n"
        "export * as ns from './z';\n"
        "export type { T } from './t';"
    )
    assert imports(source) == [
        ("reexport", "./x", False, [("a", "b", False), ("default", "c", False)]),
        ("reexport", "./y", False, []),
        ("reexport", "./z", False, [("*", "ns", False)]),
        ("reexport", "./t", True, [("T", "T", True)]),
    ]
    assert exports(source) == [
        ("b", "a", "reexport", 0),
        ("c", "default", "reexport", 0),
        ("*", None, "reexport_all", 1),
        ("ns", "*", "reexport_namespace", 2),
        ("T", "T", "reexport", 3),
    ]


def test_exports__declarations_and_clauses() -> None:
    source = (
        "export function f() {}\n"
        "export class C {}\n"
        "const x = 1, y = 2;\n"
        "export { x, y as why };\n"
        "export default x;\n"
        "export interface I {}\n"
        "export type T = 1;\n"
        "export enum E {}\n"
    )
    assert exports(source) == [
        ("f", "f", "local", None),
        ("C", "C", "local", None),
        ("why", "y", "local", None),
        ("x", "x", "local", None),
        ("default", "x", "local", None),
        ("I", "I", "local", None),
        ("T", "T", "local", None),
        ("E", "E", "local", None),
    ]


def test_exports__namespace_members_are_not_module_exports() -> None:
    result = extract("export namespace N { export const inner = 1; }")
    assert [(e.exported, e.local) for e in result.exports] == [("N", "N")]
    assert [s.exported for s in result.symbols] == [True, True]


def test_exports__commonjs_module_exports_assignment() -> None:
    assert exports("function api() {}\nmodule.exports = api;", "a.js") == [("export=", "api", "commonjs", None)]


def test_exports__commonjs_module_exports_object_and_named_exports() -> None:
    source = (
        "function a() {}\n"
        "const b = 1;\n"
        "module.exports = { a, bee: b, c: 3, d() {} };\n"
        "exports.e = a;\n"
        "module.exports.f = function () {};"
    )
    assert exports(source, "a.cjs") == [
        ("a", "a", "commonjs", None),
        ("bee", "b", "commonjs", None),
        ("c", None, "commonjs", None),
        ("d", None, "commonjs", None),
        ("e", "a", "commonjs", None),
        ("f", "f", "commonjs", None),
    ]
    result = extract(source, "a.cjs")
    assert [(s.name, s.exported) for s in result.symbols] == [("a", True), ("b", True), ("f", True)]


def test_exports__unrelated_member_assignments_are_not_exports() -> None:
    assert exports("obj.exports = 1;\nmodule.other = 2;\nthis.x = 3;", "a.js") == []


def test_imports__inside_ambient_modules_are_listed() -> None:
    source = "declare module 'm' {\n  import { X } from 'x';\n  export { Y } from 'y';\n}"
    assert [i.specifier for i in extract(source).imports] == ["x", "y"]
    assert exports(source) == []
