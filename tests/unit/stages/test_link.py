"""Cross-file linking: imports to declarations through re-export chains, references to definitions, edges."""

from __future__ import annotations

import msgspec

from stages.extract import extract_source
from stages.link import link
from stages.models import FileExtraction, LinkedIndex, SymbolId
from stages.resolve import ModuleResolver


def build(sources: dict[str, str]) -> tuple[list[FileExtraction], LinkedIndex]:
    """Extract every file (in path order) and link them with the real resolver over the same files."""
    files = [extract_source(path, text.encode()) for path, text in sorted(sources.items())]
    resolver = ModuleResolver.from_files(sources, sources.get)
    return files, link(files, resolver)


def name_of(files: list[FileExtraction], target: SymbolId | None) -> str | None:
    if target is None:
        return None
    return f"{files[target.file].path}:{files[target.file].symbols[target.symbol].name}"


def reference_targets(files: list[FileExtraction], index: LinkedIndex, path: str) -> list[tuple[str, str | None]]:
    file_index = [file.path for file in files].index(path)
    return [
        (files[file_index].references[link.reference_index].name, name_of(files, link.target))
        for link in index.reference_links
        if link.file == file_index
    ]


def binding_targets(files: list[FileExtraction], index: LinkedIndex, path: str) -> list[tuple[str, str | None]]:
    file_index = [file.path for file in files].index(path)
    result = []
    for binding_link in index.binding_links:
        if binding_link.file == file_index:
            imported = files[file_index].imports[binding_link.import_index]
            binding = imported.bindings[binding_link.binding_index]
            result.append((binding.local, name_of(files, binding_link.target)))
    return result


def test_link__named_and_aliased_imports_reach_the_exported_declaration() -> None:
    files, index = build(
        {
            "src/a.ts": "import { add, sub as minus } from './math';\nexport const r = add(1) + minus(2);",
            "src/math.ts": "export function add(x) { return x; }\nexport const sub = (x) => -x;",
        }
    )
    assert binding_targets(files, index, "src/a.ts") == [("add", "src/math.ts:add"), ("minus", "src/math.ts:sub")]
    assert reference_targets(files, index, "src/a.ts") == [("add", "src/math.ts:add"), ("minus", "src/math.ts:sub")]


def test_link__reexport_chains_and_export_star_are_followed() -> None:
    files, index = build(
        {
            "src/app.ts": "import { Button, helper, Renamed } from './ui';\nhelper(); new Button(); Renamed();",
            "src/ui/index.ts": (
                "export { Button } from './button';\nexport * from './util';\n"
                "export { inner as Renamed } from './util';"
            ),
            "src/ui/button.ts": "export class Button {}",
            "src/ui/util.ts": "import { deep } from './deep';\nexport function helper() {}\nexport { deep as inner };",
            "src/ui/deep.ts": "export function deep() {}",
        }
    )
    assert binding_targets(files, index, "src/app.ts") == [
        ("Button", "src/ui/button.ts:Button"),
        ("helper", "src/ui/util.ts:helper"),
        ("Renamed", "src/ui/deep.ts:deep"),
    ]


def test_link__export_star_cycles_end_without_a_target() -> None:
    files, index = build(
        {
            "a.ts": "export * from './b';\nexport const own = 1;",
            "b.ts": "export * from './a';",
            "c.ts": "import { missing, own } from './b';",
        }
    )
    assert binding_targets(files, index, "c.ts") == [("missing", None), ("own", "a.ts:own")]


def test_link__default_imports_reach_default_exports_and_export_assignments() -> None:
    files, index = build(
        {
            "main.ts": "import Widget from './widget';\nimport api from './legacy';\nimport anon from './anon';",
            "widget.ts": "export default class Widget {}",
            "legacy.ts": "function api() {}\nexport = api;",
            "anon.ts": "export default function () {}",
        }
    )
    assert binding_targets(files, index, "main.ts") == [
        ("Widget", "widget.ts:Widget"),
        ("api", "legacy.ts:api"),
        ("anon", "anon.ts:default"),
    ]


def test_link__commonjs_exports_and_require_bindings() -> None:
    files, index = build(
        {
            "lib.js": "function parse() {}\nmodule.exports = { parse };",
            "main.js": "const { parse } = require('./lib');\nparse();",
        }
    )
    assert binding_targets(files, index, "main.js") == [("parse", "lib.js:parse")]
    assert reference_targets(files, index, "main.js") == [("parse", "lib.js:parse")]


def test_link__namespace_imports_link_member_references() -> None:
    files, index = build(
        {
            "main.ts": "import * as util from './util';\nexport function run() { util.format(); util.nope(); }",
            "util.ts": "export function format() {}",
        }
    )
    assert reference_targets(files, index, "main.ts") == [("format", "util.ts:format"), ("nope", None)]


def test_link__local_scope_shadows_the_top_level_and_imports() -> None:
    files, index = build(
        {
            "main.ts": (
                "import { helper } from './other';\n"
                "function helper2() {}\n"
                "export function outer() {\n"
                "  function helper() {}\n"
                "  helper(); helper2();\n"
                "}\n"
                "export function elsewhere() { helper(); }\n"
            ),
            "other.ts": "export function helper() {}",
        }
    )
    assert reference_targets(files, index, "main.ts") == [
        ("helper", "main.ts:helper"),
        ("helper2", "main.ts:helper2"),
        ("helper", "other.ts:helper"),
    ]
    local = [s.name for s in files[0].symbols]
    assert local == ["helper2", "outer", "helper", "elsewhere"]


def test_link__class_members_need_this_or_the_class_name() -> None:
    files, index = build(
        {
            "m.ts": (
                "function step() {}\n"
                "class Job {\n"
                "  static create() { return new Job(); }\n"
                "  step() {}\n"
                "  run() { step(); this.step(); Job.create(); }\n"
                "}\n"
            )
        }
    )
    assert reference_targets(files, index, "m.ts") == [
        ("Job", "m.ts:Job"),
        ("step", "m.ts:step"),
        ("step", "m.ts:step"),
        ("create", "m.ts:create"),
    ]
    job = files[0]
    (this_step,) = [link for link in index.reference_links if job.references[link.reference_index].qualifier == "this"]
    assert this_step.target is not None
    assert job.symbols[this_step.target.symbol].kind == "method"


def test_link__type_references_prefer_types_and_calls_prefer_values() -> None:
    files, index = build(
        {
            "m.ts": (
                "export interface Point { x: number }\n"
                "export function Point(x: number): Point { return { x }; }\n"
                "const p = Point(1);\n"
            )
        }
    )
    kinds = [
        (link_kind, files[0].symbols[link.target.symbol].kind)
        for link in index.reference_links
        if link.target is not None
        for link_kind in [files[0].references[link.reference_index].kind]
    ]
    assert kinds == [("type", "interface"), ("call", "function")]


def test_link__unknown_names_keep_no_target() -> None:
    files, index = build({"m.ts": "console.log(1); fetch('x'); new Unknown();"})
    assert reference_targets(files, index, "m.ts") == [("log", None), ("fetch", None), ("Unknown", None)]


def test_link__dependency_edges_between_files_symbols_and_packages() -> None:
    files, index = build(
        {
            "src/a.ts": (
                "import { b } from './b';\nimport React from 'react';\nimport fs from 'node:fs';\n"
                "import { x } from '@scope/pkg/deep';\nexport function a() { b(); }"
            ),
            "src/b.ts": "export function b() {}\nimport './a';",
        }
    )
    assert [(files[d.source].path, files[d.target].path) for d in index.file_dependencies] == [
        ("src/a.ts", "src/b.ts"),
        ("src/b.ts", "src/a.ts"),
    ]
    assert [(name_of(files, d.source), name_of(files, d.target)) for d in index.symbol_dependencies] == [
        ("src/a.ts:a", "src/b.ts:b")
    ]
    assert [(files[p.file].path, p.package, p.is_builtin) for p in index.package_dependencies] == [
        ("src/a.ts", "@scope/pkg", False),
        ("src/a.ts", "fs", True),
        ("src/a.ts", "react", False),
    ]
    kinds = [(r.kind, r.target_file, r.package) for r in index.resolved_imports if r.file == 0]
    assert kinds == [
        ("file", 1, None),
        ("external", None, "react"),
        ("builtin", None, "fs"),
        ("external", None, "@scope/pkg"),
    ]


def test_link__files_with_errors_are_targets_without_exports() -> None:
    sources = {"good.ts": "import { x } from './bad';\nx();"}
    files = [
        extract_source("bad.ts", b"export const x = '\xff';"),
        extract_source("good.ts", sources["good.ts"].encode()),
    ]
    resolver = ModuleResolver.from_files(["bad.ts", "good.ts"], lambda path: None)
    index = link(files, resolver)
    assert [(r.kind, r.target_file) for r in index.resolved_imports] == [("file", 0)]
    assert [link.target for link in index.binding_links] == [None]
    assert [(d.source, d.target) for d in index.file_dependencies] == [(1, 0)]


def test_link__an_import_of_a_file_the_index_does_not_hold_keeps_its_path() -> None:
    source = (
        "import './styles.css';\nimport pkg from '../package.json';\nimport { b } from './b';\n"
        "import gone from './gone.css';\nimport React from 'react';"
    )
    files = [extract_source("src/a.ts", source.encode()), extract_source("src/b.ts", b"export const b = 1;")]
    resolver = ModuleResolver.from_files(["package.json", "src/a.ts", "src/b.ts", "src/styles.css"], lambda path: None)
    index = link(files, resolver)
    assert [(r.kind, r.target_file, r.target_path, r.package) for r in index.resolved_imports] == [
        ("file", None, "src/styles.css", None),
        ("file", None, "package.json", None),
        ("file", 1, None, None),
        ("unresolved", None, None, None),
        ("external", None, None, "react"),
    ]


def test_link__is_deterministic_and_round_trips_through_msgpack() -> None:
    sources = {
        "a.ts": "import { b } from './b';\nexport class A extends b.Base { run() { b.go(); } }",
        "b.ts": "export class Base {}\nexport function go() {}\nexport * from './a';",
    }
    _, first = build(sources)
    _, second = build(sources)
    assert first == second
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(first), type=LinkedIndex) == first


def test_link__very_long_reexport_chains_stop_without_exhausting_the_stack() -> None:
    sources = {f"m{i}.ts": f"export * from './m{i + 1}';" for i in range(600)}
    sources["m600.ts"] = "export function end() {}"
    sources["main.ts"] = "import { end } from './m0';\nimport { end as near } from './m590';"
    files, index = build(sources)
    assert binding_targets(files, index, "main.ts") == [("end", None), ("near", "m600.ts:end")]


def test_link__a_name_declared_as_a_type_and_a_value_links_by_meaning_through_imports() -> None:
    files, index = build(
        {
            "src/decision.ts": "export interface Done { a: 1 }\nexport function Done(): Done { return { a: 1 }; }\n"
            "export function Record() {}\nexport namespace ReadonlyArray { export const x = 1; }\n",
            "src/use.ts": "import * as decision from './decision';\n"
            "import { Done, Record, ReadonlyArray } from './decision';\n"
            "decision.Done();\nlet d: decision.Done;\nDone();\nlet e: Done;\n"
            "let r: Record<string, 1>;\nlet a: ReadonlyArray<1>;\n",
        }
    )
    assert reference_targets(files, index, "src/use.ts") == [
        ("Done", "src/decision.ts:Done"),
        ("Done", "src/decision.ts:Done"),
        ("Done", "src/decision.ts:Done"),
        ("Done", "src/decision.ts:Done"),
        ("Record", None),  # the global type: a function is no type
        ("ReadonlyArray", None),  # nor is a namespace
    ]
    kinds = [
        files[target.file].symbols[target.symbol].kind
        for target in (link.target for link in index.reference_links if link.file == 1)
        if target is not None
    ]
    assert kinds == ["function", "interface", "function", "interface"]


def test_link__a_variable_bound_by_require_stands_for_the_module_exports_of_a_file_of_the_commit() -> None:
    files, index = build(
        {
            "lib/hash.js": "function hash(x) { return x; }\nmodule.exports = hash;\n",
            "lib/util.js": "module.exports = { helper() {} };\n",
            "lib/main.js": "const hash = require('./hash');\nconst merge = require('utils-merge');\n"
            "const util = require('./util');\nhash(1);\nmerge({});\nutil.helper();\n",
        }
    )
    assert reference_targets(files, index, "lib/main.js") == [
        ("hash", "lib/hash.js:hash"),
        ("merge", "lib/main.js:merge"),  # an external package: the variable is what the code names
        ("helper", None),  # object-literal members are no symbols
    ]


def test_link__a_module_re_exported_whole_under_a_name_is_a_namespace_where_it_is_imported() -> None:
    files, index = build(
        {
            "src/validation.ts": "export function object() {}\nexport class Validator { check() {} }\n",
            "src/index.ts": "export * as T from './validation';\nimport * as V from './validation';\nexport { V };\n",
            "src/use.ts": "import { T, V } from './index';\nT.object();\nlet v: T.Validator;\nV.object();\n",
        }
    )
    assert reference_targets(files, index, "src/use.ts") == [
        ("object", "src/validation.ts:object"),
        ("Validator", "src/validation.ts:Validator"),
        ("object", "src/validation.ts:object"),
    ]
