"""Linking's per-file lookups: names declared several times, names whose meaning depends on the scope, and
edges gathered per file; over real extractions and over the writer's ``LinkFile`` form."""

from __future__ import annotations

import msgspec

from stages.extract import extract_source
from stages.link import link
from stages.models import (
    FileExtraction,
    LinkBinding,
    LinkedIndex,
    LinkExport,
    LinkFile,
    LinkImport,
    LinkReference,
    LinkSymbol,
    SymbolId,
)
from stages.resolve import ModuleResolver


def extract_and_link(sources: dict[str, str]) -> tuple[list[FileExtraction], LinkedIndex]:
    files = [extract_source(path, text.encode()) for path, text in sorted(sources.items())]
    return files, link(files, ModuleResolver.from_files(sources, sources.get))


def link_files(files: list[LinkFile]) -> LinkedIndex:
    paths = [file.path for file in files]
    no_configs: dict[str, str] = {}
    return link(files, ModuleResolver.from_files(paths, no_configs.get))


def targets_of(index: LinkedIndex, file: int) -> list[SymbolId | None]:
    return [reference_link.target for reference_link in index.reference_links if reference_link.file == file]


def test_link__a_name_shadowed_in_one_function_keeps_its_file_wide_meaning_before_and_after() -> None:
    files, index = extract_and_link(
        {
            "m.ts": (
                "import { run } from './other';\n"
                "run();\n"
                "export function inner() { function run() {} run(); }\n"
                "export function after() { run(); }\n"
                "run();\n"
            ),
            "other.ts": "export function run() {}",
        }
    )
    main = files[0]
    assert [symbol.name for symbol in main.symbols] == ["inner", "run", "after"]
    imported_run = SymbolId(file=1, symbol=0)
    assert targets_of(index, 0) == [imported_run, SymbolId(file=0, symbol=1), imported_run, imported_run]


def test_link__a_namespace_import_shadowed_inside_a_function_is_not_followed_there() -> None:
    files, index = extract_and_link(
        {
            "m.ts": (
                "import * as u from './u';\n"
                "export function f() { function u() {} u.x(); }\n"
                "export function g() { u.x(); }\n"
            ),
            "u.ts": "export function x() {}",
        }
    )
    assert [symbol.name for symbol in files[0].symbols] == ["f", "u", "g"]
    assert targets_of(index, 0) == [None, SymbolId(file=1, symbol=0)]


def test_link__type_and_value_uses_of_one_name_in_one_file_each_get_their_meaning() -> None:
    _, index = extract_and_link(
        {
            "m.ts": (
                "export interface A { a: number }\n"
                "export function A() {}\n"
                "const first = A();\n"
                "const v: A = A();\n"
                "let w: A;\n"
            )
        }
    )
    interface, function = SymbolId(file=0, symbol=0), SymbolId(file=0, symbol=2)
    assert targets_of(index, 0) == [function, interface, function, interface]


def test_link__names_declared_three_times_choose_by_meaning_in_file_order() -> None:
    symbols = (
        LinkSymbol(name="T", kind="type_alias", parent=None),
        LinkSymbol(name="T", kind="interface", parent=None),
        LinkSymbol(name="T", kind="function", parent=None),
        LinkSymbol(name="N", kind="function", parent=None),
        LinkSymbol(name="N", kind="variable", parent=None),
        LinkSymbol(name="N", kind="constant", parent=None),
    )
    references = (
        LinkReference(name="T", qualifier=None, kind="type", enclosing=None),
        LinkReference(name="T", qualifier=None, kind="call", enclosing=None),
        LinkReference(name="N", qualifier=None, kind="type", enclosing=None),
        LinkReference(name="N", qualifier=None, kind="new", enclosing=None),
    )
    index = link_files([LinkFile(path="m.ts", symbols=symbols, references=references)])
    # a type named like values only is no declaration of the file (a global type, e.g. `Record` beside `function
    # Record`): unlinked
    first = [SymbolId(file=0, symbol=s) for s in (0, 2)]
    assert targets_of(index, 0) == [*first, None, SymbolId(file=0, symbol=3)]


def test_link__an_export_named_several_times_links_to_the_first_that_leads_somewhere() -> None:
    library = LinkFile(
        path="lib.ts",
        symbols=(LinkSymbol(name="b", kind="function", parent=None), LinkSymbol(name="c", kind="class", parent=None)),
        exports=(
            LinkExport(exported="x", local="missing", kind="local", import_index=None),
            LinkExport(exported="y", local="c", kind="local", import_index=None),
            LinkExport(exported="x", local=None, kind="local", import_index=None),
            LinkExport(exported="x", local="b", kind="local", import_index=None),
            LinkExport(exported="x", local="c", kind="local", import_index=None),
        ),
    )
    main = LinkFile(
        path="main.ts",
        imports=(
            LinkImport(
                specifier="./lib",
                kind="import",
                bindings=(LinkBinding(imported="x", local="x"), LinkBinding(imported="y", local="y")),
            ),
        ),
    )
    index = link_files([library, main])
    assert [binding.target for binding in index.binding_links] == [
        SymbolId(file=0, symbol=0),
        SymbolId(file=0, symbol=1),
    ]


def test_link__a_require_bound_constant_stands_for_the_required_export() -> None:
    library = LinkFile(
        path="lib.js",
        symbols=(LinkSymbol(name="parse", kind="function", parent=None),),
        exports=(LinkExport(exported="parse", local="parse", kind="commonjs", import_index=None),),
    )
    main = LinkFile(
        path="main.js",
        symbols=(
            LinkSymbol(name="parse", kind="constant", parent=None),
            LinkSymbol(name="own", kind="constant", parent=None),
        ),
        imports=(
            LinkImport(specifier="./lib", kind="require", bindings=(LinkBinding(imported="parse", local="parse"),)),
        ),
        references=(
            LinkReference(name="parse", qualifier=None, kind="call", enclosing=None),
            LinkReference(name="own", qualifier=None, kind="call", enclosing=None),
        ),
    )
    index = link_files([library, main])
    assert targets_of(index, 1) == [SymbolId(file=0, symbol=0), SymbolId(file=1, symbol=1)]


def test_link__symbol_edges_are_the_sorted_distinct_links_from_inside_a_symbol() -> None:
    sources = {
        "a.ts": (
            "import { b, B } from './b';\n"
            "export function a() { b(); b(); new B(); a(); local(); }\n"
            "function local() { b(); a(); }\n"
            "b();\n"
        ),
        "b.ts": "import { a } from './a';\nexport class B { go() { a(); b(); } }\nexport function b() { a(); }",
    }
    files, index = extract_and_link(sources)
    expected = sorted(
        {
            (link.file, enclosing, link.target.file, link.target.symbol)
            for link in index.reference_links
            for enclosing in [files[link.file].references[link.reference_index].enclosing]
            if link.target is not None
            and enclosing is not None
            and (link.file, enclosing) != (link.target.file, link.target.symbol)
        }
    )
    assert len(expected) >= 6
    assert [
        (edge.source.file, edge.source.symbol, edge.target.file, edge.target.symbol)
        for edge in index.symbol_dependencies
    ] == expected


def test_link__the_writers_link_files_link_exactly_like_whole_extractions() -> None:
    sources = {
        "src/app.ts": (
            "import * as ui from './ui';\nimport { helper as h } from './ui';\nimport fs from 'node:fs';\n"
            "export class App extends ui.Base { run() { this.run(); h(); ui.helper(); fs.readFileSync('x'); } }\n"
        ),
        "src/ui/index.ts": "export * from './base';\nexport function helper() {}",
        "src/ui/base.ts": "export class Base {}\nexport type Alias = Base;",
    }
    files, whole = extract_and_link(sources)
    light = msgspec.msgpack.decode(msgspec.msgpack.encode(files), type=list[LinkFile])
    assert link(light, ModuleResolver.from_files(sources, sources.get)) == whole
    assert any(reference_link.target is not None for reference_link in whole.reference_links)
