"""Extraction of forms real repositories use that the grammar or the first extractor missed (one test or more per
form): CommonJS definitions, type variables, dynamic imports with options, wrapped function values, ambient module
exports, and forms the grammar reads as errors."""

from __future__ import annotations

from stages.extract import extract_source
from stages.link import link
from stages.models import FileExtraction
from stages.resolve import ModuleResolver


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
        "const k = (class {}) as typeof Base;\nconst l = ((a) => a) as Api.Handler;\nconst m = (x as Api).Handler;\n"
        "const n = 1 as number;"
    )
    assert [(kind, name) for kind, name, _, _ in symbols(source)] == [
        ("function", "f"),
        ("function", "g"),
        ("function", "h"),
        ("function", "i"),
        ("function", "j"),
        ("class", "k"),
        ("function", "l"),
        ("constant", "m"),
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


def test_exports__export_type_star_is_a_type_only_reexport_without_syntax_errors() -> None:
    result = extract('export type * from "./types";\nexport type * as shapes from "./shapes";\nexport * from "./v";')
    assert not result.had_syntax_errors
    assert [(i.kind, i.specifier, i.is_type_only) for i in result.imports] == [
        ("reexport", "./types", True),
        ("reexport", "./shapes", True),
        ("reexport", "./v", False),
    ]
    assert [(e.kind, e.exported, e.is_type_only) for e in result.exports] == [
        ("reexport_all", "*", True),
        ("reexport_namespace", "shapes", True),
        ("reexport_all", "*", False),
    ]


def test_exports__export_type_star_next_to_a_real_error_keeps_the_error() -> None:
    result = extract('export type * from "./types";\nlet broken = (;')
    assert result.had_syntax_errors
    assert [(i.specifier, i.is_type_only) for i in result.imports] == [("./types", True)]


def test_parse__a_bare_ampersand_in_jsx_text_or_an_attribute_string_is_no_syntax_error() -> None:
    source = (
        'export const A = () => <p title="a & b">Tom & Jerry && co &amp; <b>&</b></p>;\n'
        "const L = <a href=\"?utm_source=sdk&utm_medium=organic&amp;x=1\" title='a&b'>Docs</a>;\nfunction B() {}"
    )
    for path in ("a.jsx", "a.tsx"):
        result = extract(source, path)
        assert not result.had_syntax_errors, path
        assert [s.name for s in result.symbols] == ["A", "L", "B"]


def test_parse__a_real_error_next_to_jsx_text_ampersands_is_still_an_error() -> None:
    for path in ("a.jsx", "a.tsx"):
        assert extract("const a = <p>Tom & Jerry</p>;\nlet broken = (;", path).had_syntax_errors, path
        assert extract('const a = <a href="?a&b">D</a>;\nlet broken = (;', path).had_syntax_errors, path
        assert extract("const a = b & ;", path).had_syntax_errors, path


COMMONJS = """\
function Router(options) {}
Router.prototype.route = function route(path) { const layer = () => path; return layer(); };
Router.prototype.use = async (fn) => fn;
Router.prototype.count = 0;
var app = {};
app.init = function () {};
exports.json = parser.json;
exports.Router = Router;
exports.query = function query() {};
module.exports.View = class View {};
missing.x = function () {};
function setup() { exports.inner = function () {}; }
later.y = function () {};
var later = {};
"""


def test_symbols__commonjs_definitions_at_the_top_level_are_symbols() -> None:
    assert symbols(COMMONJS, "m.js") == [
        ("function", "Router", None, True),
        ("method", "route", "Router", True),
        ("function", "layer", "route", False),
        ("method", "use", "Router", True),
        ("variable", "app", None, False),
        ("method", "init", "app", False),
        ("constant", "json", None, True),
        ("function", "query", None, True),
        ("class", "View", None, True),
        ("function", "setup", None, False),
        ("variable", "later", None, False),
    ]


def test_exports__commonjs_definitions_are_the_locals_of_their_export_rows() -> None:
    assert [(e.exported, e.local, e.kind) for e in extract(COMMONJS, "m.js").exports] == [
        ("json", "json", "commonjs"),
        ("Router", "Router", "commonjs"),
        ("query", "query", "commonjs"),
        ("View", "View", "commonjs"),
        ("inner", None, "commonjs"),
    ]


def test_symbols__a_commonjs_method_signature_and_span_are_its_assignment() -> None:
    source = "function A() {}\n/** Runs. */\nA.prototype.run = async function (a, b) { return a; };"
    method = extract(source, "m.js").symbols[1]
    assert (method.name, method.signature, method.doc, method.is_async) == (
        "run",
        "A.prototype.run = async function (a, b)",
        "Runs.",
        True,
    )
    assert source[method.span.start_byte : method.span.end_byte].startswith("A.prototype.run =")
    assert source[method.name_span.start_byte : method.name_span.end_byte] == "run"


def test_link__a_required_module_s_commonjs_definitions_are_link_targets() -> None:
    sources = {
        "lib/express.js": "exports.json = function json() {};\nfunction Router() {}\nexports.Router = Router;",
        "app.js": "const { json, Router } = require('./lib/express');\njson();\nnew Router();",
    }
    files = [extract_source(path, text.encode()) for path, text in sorted(sources.items())]
    index = link(files, ModuleResolver.from_files(sources, sources.get))
    targets = [
        (files[0].references[row.reference_index].name, None if row.target is None else row.target.symbol)
        for row in index.reference_links
        if row.file == 0
    ]
    assert [(name, None if symbol is None else files[1].symbols[symbol].name) for name, symbol in targets] == [
        ("json", "json"),
        ("Router", "Router"),
    ]


def reference_targets(sources: dict[str, str], path: str) -> list[tuple[str, str | None]]:
    """(name, target symbol name) of every reference of ``path``, linked with the other files."""
    files = [extract_source(name, text.encode()) for name, text in sorted(sources.items())]
    index = link(files, ModuleResolver.from_files(sources, sources.get))
    file = sorted(sources).index(path)
    return [
        (
            files[file].references[row.reference_index].name,
            None if row.target is None else files[row.target.file].symbols[row.target.symbol].name,
        )
        for row in index.reference_links
        if row.file == file
    ]


def test_link__declarations_inside_callbacks_of_a_variable_or_field_link_from_that_callback_only() -> None:
    source = (
        "const suite = run(() => { const token = () => 1; token(); });\n"
        "class View { onClick = () => { function helper() {} helper(); }; }\n"
        "const api = { go() { const step = () => 1; step(); } };\n"
        "const other = run(() => { token(); helper(); step(); });\n"
        "token();"
    )
    assert reference_targets({"m.ts": source}, "m.ts") == [
        ("run", None),
        ("token", "token"),
        ("helper", "helper"),
        ("step", "step"),
        ("run", None),
        ("token", None),
        ("helper", None),
        ("step", None),
        ("token", None),
    ]


def test_link__members_of_a_variable_s_type_literal_are_not_in_scope_in_its_initialiser() -> None:
    source = "function helper() {}\nconst x: { helper(): void } = { helper: () => helper() };"
    files = [extract_source("m.ts", source.encode())]
    index = link(files, ModuleResolver.from_files({"m.ts": source}, {"m.ts": source}.get))
    target = index.reference_links[0].target
    assert target is not None
    assert files[0].symbols[target.symbol].kind == "function"
