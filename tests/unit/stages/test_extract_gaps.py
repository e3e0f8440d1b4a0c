"""Extraction of forms real repositories use that the grammar or the first extractor missed (one test or more per
form): CommonJS definitions, type variables, dynamic imports with options, wrapped function values, ambient module
exports, and forms the grammar reads as errors."""

from __future__ import annotations

from stages.extract import extract_source
from stages.models import FileExtraction


def extract(source: str, path: str = "m.ts") -> FileExtraction:
    result = extract_source(path, source.encode())
    assert result.error is None
    return result


def symbols(source: str, path: str = "m.ts") -> list[tuple[str, str, str | None, bool]]:
    """(kind, name, parent name, exported) of every symbol, in order."""
    result = extract(source, path)
    return [
        (s.kind, s.name, None if s.parent is None else result.symbols[s.parent].name, s.exported)
        for s in result.symbols
    ]


def type_references(source: str, path: str = "m.ts") -> list[str]:
    return [r.name for r in extract(source, path).references if r.kind == "type"]


def test_imports__dynamic_import_with_an_options_argument_is_a_dynamic_import() -> None:
    source = 'const data = import("./x.json", { with: { type: "json" } });\nconst other = import(a, b);'
    assert [(i.kind, i.specifier) for i in extract(source).imports] == [("dynamic", "./x.json")]


def test_symbols__a_function_value_behind_type_assertions_is_a_function() -> None:
    source = (
        "const f = ((a: number) => a) as Handler;\nconst g = (() => {}) satisfies Handler;\n"
        "const h = <Handler>(() => 1);\nconst i = (() => 1) as unknown as Handler;\nconst j = (function () {})!;\n"
        "const k = (class {}) as typeof Base;\nconst n = 1 as number;"
    )
    assert [(kind, name) for kind, name, _, _ in symbols(source)] == [
        ("function", "f"),
        ("function", "g"),
        ("function", "h"),
        ("function", "i"),
        ("function", "j"),
        ("class", "k"),
        ("constant", "n"),
    ]


def test_references__infer_names_are_type_variables_in_the_true_branch_only() -> None:
    source = "type E<T> = T extends Array<infer U> ? U[] : U;\ntype R<T> = T extends (infer A extends Base)[] ? A : B;"
    assert type_references(source) == ["Array", "U", "Base", "B"]


def test_references__mapped_type_keys_are_type_variables_inside_the_mapped_type() -> None:
    source = "type M<T> = { readonly [K in keyof T as Lower<K>]: T[K] } & K;"
    assert type_references(source) == ["Lower", "K"]


def test_references__bigint_is_a_predefined_type_not_a_type_reference() -> None:
    assert type_references("let a: bigint = 1n;\nlet b: Big<bigint>;") == ["Big"]


def test_symbols__export_default_and_export_equals_inside_an_ambient_module_export_its_declaration() -> None:
    source = (
        "declare module '*.md' { const content: string; const other: string; export default content; }\n"
        "declare module 'legacy' { function run(): void; export = run; }\n"
        "declare namespace N { const content: string; }"
    )
    result = extract(source, "m.d.ts")
    assert [(s.name, s.exported, s.is_default_export) for s in result.symbols] == [
        ("*.md", False, False),
        ("content", True, True),
        ("other", False, False),
        ("legacy", False, False),
        ("run", True, False),
        ("N", False, False),
        ("content", False, False),
    ]
    assert result.exports == ()
