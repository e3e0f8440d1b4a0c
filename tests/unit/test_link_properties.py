"""Property tests of linking over generated commits (``LinkFile``s with valid indexes): every edge list is exactly
the sorted, distinct set its rule derives from the links, targets exist, and unknown names stay unlinked."""

from __future__ import annotations

from unittest.mock import patch

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.link import link, link_batches, parse_expression
from stages.models import (
    ExportKind,
    ImportKind,
    LinkBinding,
    LinkedIndex,
    LinkExport,
    LinkFile,
    LinkImport,
    LinkReference,
    LinkSymbol,
    ReferenceKind,
    SymbolDependency,
    SymbolId,
    SymbolKind,
)
from stages.resolve import ModuleResolver

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SYMBOL_KINDS: list[SymbolKind] = [
    "function",
    "class",
    "method",
    "property",
    "interface",
    "type_alias",
    "enum",
    "namespace",
    "variable",
    "constant",
]
IMPORT_KINDS: list[ImportKind] = ["import", "reexport", "require", "import_equals", "dynamic"]
EXPORT_KINDS: list[ExportKind] = ["local", "reexport", "reexport_all", "assignment", "commonjs"]
REFERENCE_KINDS: list[ReferenceKind] = ["call", "new", "type", "implements", "jsx"]
NAMES = ["a", "b", "C", "default"]
HINTS = [None, None, "{C}", "{a}", "{C},{b}", "{m0.C}", "a()", "b.C", "this.b", "super.a()", "{C}.b().a", "", "a["]
"""Type hints, well formed or not, that name the generated symbols (so that chains, bases and cycles occur)."""
QUALIFIERS = [None, None, "this", "super", "x.y", "a.b", "C()", "new C()", "this.a.b()", "a?.b!", *NAMES]


@st.composite
def commits(draw: st.DrawFn) -> list[LinkFile]:
    file_count = draw(st.integers(1, 4))
    files = []
    for file_index in range(file_count):
        symbols: list[LinkSymbol] = []
        for index in range(draw(st.integers(0, 6))):
            parent = draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None
            symbols.append(
                LinkSymbol(
                    name=draw(st.sampled_from(NAMES)),
                    kind=draw(st.sampled_from(SYMBOL_KINDS)),
                    parent=parent,
                    type_hint=draw(st.sampled_from(HINTS)),
                )
            )
        specifiers = [f"./m{target}" for target in range(file_count)] + ["./missing", "react", "node:fs"]
        imports = [
            LinkImport(
                specifier=draw(st.sampled_from(specifiers)),
                kind=draw(st.sampled_from(IMPORT_KINDS)),
                bindings=tuple(
                    LinkBinding(imported=draw(st.sampled_from([*NAMES, "*"])), local=draw(st.sampled_from(NAMES)))
                    for _ in range(draw(st.integers(0, 2)))
                ),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        exports = []
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(EXPORT_KINDS))
            from_import = kind in ("reexport", "reexport_all") and imports
            exports.append(
                LinkExport(
                    exported=draw(st.sampled_from(NAMES)),
                    local=draw(st.one_of(st.none(), st.sampled_from(NAMES))),
                    kind=kind,
                    import_index=draw(st.integers(0, len(imports) - 1)) if from_import else None,
                )
            )
        references = [
            LinkReference(
                name=draw(st.sampled_from(NAMES)),
                qualifier=draw(st.sampled_from(QUALIFIERS)),
                kind=draw(st.sampled_from(REFERENCE_KINDS)),
                enclosing=draw(st.one_of(st.none(), st.integers(0, len(symbols) - 1))) if symbols else None,
                root_hint=draw(st.sampled_from(HINTS)),
            )
            for _ in range(draw(st.integers(0, 8)))
        ]
        files.append(
            LinkFile(
                path=f"m{file_index}.ts",
                symbols=tuple(symbols),
                imports=tuple(imports),
                exports=tuple(exports),
                references=tuple(references),
            )
        )
    return files


def link_commit(files: list[LinkFile]) -> LinkedIndex:
    no_configs: dict[str, str] = {}
    return link(files, ModuleResolver.from_files([file.path for file in files], no_configs.get))


@PROPERTY_SETTINGS
@given(commits())
def test_link__symbol_edges_are_the_sorted_distinct_links_made_inside_a_symbol(files: list[LinkFile]) -> None:
    index = link_commit(files)
    expected = set()
    for reference_link in index.reference_links:
        enclosing = files[reference_link.file].references[reference_link.reference_index].enclosing
        target = reference_link.target
        if (
            target is not None
            and enclosing is not None
            and (reference_link.file, enclosing)
            != (
                target.file,
                target.symbol,
            )
        ):
            expected.add((reference_link.file, enclosing, target.file, target.symbol))
    actual = [(e.source.file, e.source.symbol, e.target.file, e.target.symbol) for e in index.symbol_dependencies]
    assert actual == sorted(expected)


@PROPERTY_SETTINGS
@given(commits())
def test_link__file_and_package_edges_are_the_sorted_distinct_resolved_imports_and_inferred_reads(
    files: list[LinkFile],
) -> None:
    index = link_commit(files)
    file_edges = {
        (r.file, r.target_file) for r in index.resolved_imports if r.target_file is not None and r.target_file != r.file
    }
    packages = {
        (r.file, r.package, r.kind == "builtin")
        for r in index.resolved_imports
        if r.package is not None and r.kind in ("external", "builtin")
    }
    edges = [(d.source, d.target) for d in index.file_dependencies]
    assert edges == sorted(set(edges))
    assert set(edges) >= file_edges  # every import; the others are read while following types
    assert all(
        d.inferred and d.source != d.target for d in index.file_dependencies if (d.source, d.target) not in file_edges
    )
    assert [(d.file, d.package, d.is_builtin) for d in index.package_dependencies] == sorted(packages)


@PROPERTY_SETTINGS
@given(commits())
def test_link__every_reference_is_linked_once_to_an_existing_symbol_or_nothing(files: list[LinkFile]) -> None:
    index = link_commit(files)
    assert [(r.file, r.reference_index) for r in index.reference_links] == [
        (file_index, reference_index)
        for file_index, file in enumerate(files)
        for reference_index in range(len(file.references))
    ]
    for reference_link in index.reference_links:
        file = files[reference_link.file]
        reference = file.references[reference_link.reference_index]
        declared = {symbol.name for symbol in file.symbols}
        imported = {
            binding.local for imported in file.imports if imported.kind != "reexport" for binding in imported.bindings
        }
        target = reference_link.target
        if target is not None:
            assert 0 <= target.symbol < len(files[target.file].symbols)
        if reference.qualifier is None:
            looked_up: str | None = reference.name
        else:
            chain = parse_expression(reference.qualifier)
            looked_up = None if chain is None else chain[0]
        if (
            reference.root_hint is None
            and looked_up not in {"this", "super", "{C}"}
            and looked_up not in declared | imported
        ):
            assert target is None
        if reference.qualifier is None and reference.root_hint is not None:
            assert target is None  # a parameter or local variable
        if reference.qualifier is None and reference.name not in imported and target is not None:
            assert target.file == reference_link.file
            assert file.symbols[target.symbol].name == reference.name


@PROPERTY_SETTINGS
@given(commits())
def test_link__linking_twice_gives_the_same_result(files: list[LinkFile]) -> None:
    assert link_commit(files) == link_commit(files)


def _relabelled(index: LinkedIndex, ids: list[int]) -> LinkedIndex:
    """``index`` with every file number ``n`` replaced by ``ids[n]`` (rows reordered by the new numbers)."""

    def symbol_id(target: SymbolId) -> SymbolId:
        return SymbolId(file=ids[target.file], symbol=target.symbol)

    def symbol(target: SymbolId | None) -> SymbolId | None:
        return None if target is None else symbol_id(target)

    return LinkedIndex(
        resolved_imports=tuple(
            sorted(
                (
                    msgspec.structs.replace(
                        r, file=ids[r.file], target_file=None if r.target_file is None else ids[r.target_file]
                    )
                    for r in index.resolved_imports
                ),
                key=lambda r: (r.file, r.import_index),
            )
        ),
        binding_links=tuple(
            sorted(
                (msgspec.structs.replace(b, file=ids[b.file], target=symbol(b.target)) for b in index.binding_links),
                key=lambda b: (b.file, b.import_index, b.binding_index),
            )
        ),
        reference_links=tuple(
            sorted(
                (msgspec.structs.replace(r, file=ids[r.file], target=symbol(r.target)) for r in index.reference_links),
                key=lambda r: (r.file, r.reference_index),
            )
        ),
        file_dependencies=tuple(
            sorted(
                (
                    msgspec.structs.replace(d, source=ids[d.source], target=ids[d.target])
                    for d in index.file_dependencies
                ),
                key=lambda d: (d.source, d.target),
            )
        ),
        symbol_dependencies=tuple(
            sorted(
                (
                    SymbolDependency(source=symbol_id(d.source), target=symbol_id(d.target))
                    for d in index.symbol_dependencies
                ),
                key=lambda d: (d.source.file, d.source.symbol, d.target.file, d.target.symbol),
            )
        ),
        package_dependencies=tuple(
            sorted(
                (msgspec.structs.replace(p, file=ids[p.file]) for p in index.package_dependencies),
                key=lambda p: (p.file, p.package),
            )
        ),
    )


@PROPERTY_SETTINGS
@given(commits(), st.data())
def test_link__a_subset_with_other_file_ids_links_as_the_whole_commit_does(
    files: list[LinkFile], data: st.DataObject
) -> None:
    """What the incremental step relies on: file ids are labels (any distinct ids give the same links), and
    relinking some files yields exactly the whole commit's rows of those files."""
    ids = data.draw(st.lists(st.integers(0, 10_000), min_size=len(files), max_size=len(files), unique=True))
    subset = data.draw(st.sets(st.sampled_from(ids)))
    no_configs: dict[str, str] = {}
    resolver = ModuleResolver.from_files([file.path for file in files], no_configs.get)
    whole = _relabelled(link(files, resolver), ids)
    by_id: dict[int, LinkFile] = dict(zip(ids, files, strict=True))
    part = link(by_id, resolver, paths={file.path: file_id for file_id, file in by_id.items()}, only=subset)
    assert part.resolved_imports == tuple(r for r in whole.resolved_imports if r.file in subset)
    assert part.binding_links == tuple(b for b in whole.binding_links if b.file in subset)
    assert part.reference_links == tuple(r for r in whole.reference_links if r.file in subset)
    assert part.file_dependencies == tuple(d for d in whole.file_dependencies if d.source in subset)
    assert part.symbol_dependencies == tuple(d for d in whole.symbol_dependencies if d.source.file in subset)
    assert part.package_dependencies == tuple(p for p in whole.package_dependencies if p.file in subset)


@PROPERTY_SETTINGS
@given(commits(), st.data())
def test_link__batches_in_any_order_link_each_file_as_the_whole_commit_does(
    files: list[LinkFile], data: st.DataObject
) -> None:
    """Answers about types are memoised across files: whichever files were linked before, and however few name
    lookups are kept, a file's rows are those of the whole commit."""
    order = data.draw(st.permutations(range(len(files))))
    no_configs: dict[str, str] = {}
    resolver = ModuleResolver.from_files([file.path for file in files], no_configs.get)
    # bounds small enough for generated commits to meet them: memoised answers past them must be asked afresh
    depth, steps = data.draw(st.sampled_from([(40, 1_000_000), (3, 1_000_000), (4, 6), (40, 3)]))
    with patch("stages.link.MAX_TYPE_DEPTH", depth), patch("stages.link.MAX_TYPE_STEPS", steps):
        whole = link(files, resolver)
        paths = {file.path: file_id for file_id, file in enumerate(files)}
        by_id = dict(enumerate(files))
        batches = list(
            link_batches(by_id, resolver, paths=paths, batches=[[file_id] for file_id in order], max_tables=1)
        )
    for file_id, part in zip(order, batches, strict=True):
        assert part.reference_links == tuple(r for r in whole.reference_links if r.file == file_id)
        assert part.file_dependencies == tuple(d for d in whole.file_dependencies if d.source == file_id)
        assert part.symbol_dependencies == tuple(d for d in whole.symbol_dependencies if d.source.file == file_id)
