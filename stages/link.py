"""Link stage: the extractions of one commit → import targets, reference targets and dependency edges.

Guarantees:
- Deterministic: the result depends only on the order of ``files`` and on the resolver's answers.
- Symbol ids are ``SymbolId(file, symbol)``: the file's index in ``files`` and the symbol's index in that
  file's ``FileExtraction.symbols``. They are stable within one job (the pipeline passes files in path order).
- Named imports follow re-export chains and ``export *`` to the declaration; cycles end the search (the import
  stays unlinked) instead of looping, and so does a chain longer than ``MAX_EXPORT_HOPS``.
- A reference links to the declaration its name denotes: the enclosing function and namespace scopes first
  (class, interface and enum members are not in lexical scope), then the file's top level, then the file's
  imports. ``this.x`` links to a member of the enclosing class; ``A.x`` to a member of the class, namespace or
  enum ``A``, or to the export ``x`` of the module imported as ``A`` (``import * as A``). Anything else keeps its
  name with no target.
- Files with ``error`` set have no rows and take part only as import targets (with no exports).
- Linking reads only names, kinds, parents and import/export structure (``FileView``): a whole
  ``FileExtraction`` will do, and so will the smaller ``LinkFile`` the pipeline's writer decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stages.models import (
    BindingLink,
    ExportKind,
    FileDependency,
    ImportKind,
    LinkedIndex,
    PackageDependency,
    ReferenceKind,
    ReferenceLink,
    ResolvedImport,
    SymbolDependency,
    SymbolId,
    SymbolKind,
)
from stages.resolve import Resolution


class SymbolView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> SymbolKind: ...
    @property
    def parent(self) -> int | None: ...


class BindingView(Protocol):
    @property
    def imported(self) -> str: ...
    @property
    def local(self) -> str: ...


class ImportView(Protocol):
    @property
    def specifier(self) -> str: ...
    @property
    def kind(self) -> ImportKind: ...
    @property
    def bindings(self) -> Sequence[BindingView]: ...


class ExportView(Protocol):
    @property
    def exported(self) -> str: ...
    @property
    def local(self) -> str | None: ...
    @property
    def kind(self) -> ExportKind: ...
    @property
    def import_index(self) -> int | None: ...


class ReferenceView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def qualifier(self) -> str | None: ...
    @property
    def kind(self) -> ReferenceKind: ...
    @property
    def enclosing(self) -> int | None: ...


class FileView(Protocol):
    """What linking reads of one file (``FileExtraction`` and ``LinkFile`` both provide it)."""

    @property
    def path(self) -> str: ...
    @property
    def symbols(self) -> Sequence[SymbolView]: ...
    @property
    def imports(self) -> Sequence[ImportView]: ...
    @property
    def exports(self) -> Sequence[ExportView]: ...
    @property
    def references(self) -> Sequence[ReferenceView]: ...


class Resolver(Protocol):
    """Answers where a module specifier of one file points (``stages.resolve.ModuleResolver`` does)."""

    def resolve(self, importer_path: str, specifier: str) -> Resolution: ...


SCOPE_KINDS: frozenset[SymbolKind] = frozenset(
    {"function", "method", "constructor", "getter", "setter", "namespace", "module"}
)
"""Symbols whose children are in lexical scope for code inside them."""

MEMBER_HOLDERS: frozenset[SymbolKind] = frozenset({"class", "interface", "enum", "namespace", "module"})
TYPE_KINDS: frozenset[SymbolKind] = frozenset({"class", "interface", "type_alias", "enum", "namespace", "module"})
VALUE_KINDS: frozenset[SymbolKind] = frozenset(
    {"function", "class", "variable", "constant", "enum", "namespace", "method", "getter", "setter", "property"}
)
MAX_EXPORT_HOPS = 200
"""Re-export chains longer than this (never seen in real code) are left unlinked rather than followed."""
_TYPE_REFERENCES: frozenset[ReferenceKind] = frozenset({"type", "implements"})


def link(files: Sequence[FileView], resolver: Resolver) -> LinkedIndex:
    """Link every import and reference of one commit's files; see the module docstring for the rules."""
    return _Linker(files, resolver).run()


class _FileTable:
    """Name lookups of one file, built once."""

    def __init__(self, extraction: FileView) -> None:
        self.extraction = extraction
        self.top_level: dict[str, list[int]] = {}
        self.children: dict[int, dict[str, list[int]]] = {}
        for index, symbol in enumerate(extraction.symbols):
            if symbol.parent is None:
                self.top_level.setdefault(symbol.name, []).append(index)
            else:
                self.children.setdefault(symbol.parent, {}).setdefault(symbol.name, []).append(index)
        self.imported: dict[str, tuple[int, int]] = {}
        for import_index, imported in enumerate(extraction.imports):
            if imported.kind == "reexport":
                continue  # re-exported names are not bound in the file's scope
            for binding_index, binding in enumerate(imported.bindings):
                self.imported.setdefault(binding.local, (import_index, binding_index))
        self.exports: dict[str, list[ExportView]] = {}
        self.star_exports: list[ExportView] = []
        for export in extraction.exports:
            if export.kind == "reexport_all":
                self.star_exports.append(export)
            else:
                self.exports.setdefault(export.exported, []).append(export)


def _choose(candidates: Sequence[int] | None, symbols_kinds: Sequence[SymbolKind], want_type: bool) -> int | None:
    """The first candidate of the wanted meaning (type or value), else the first candidate."""
    if not candidates:
        return None
    preferred = TYPE_KINDS if want_type else VALUE_KINDS
    for candidate in candidates:
        if symbols_kinds[candidate] in preferred:
            return candidate
    return candidates[0]


class _Linker:
    def __init__(self, files: Sequence[FileView], resolver: Resolver) -> None:
        self.files = files
        self.resolver = resolver
        self.tables = [_FileTable(extraction) for extraction in files]
        self.kinds = [tuple(symbol.kind for symbol in extraction.symbols) for extraction in files]
        self.index_of_path = {extraction.path: index for index, extraction in enumerate(files)}
        self.resolutions: dict[tuple[int, int], tuple[Resolution, int | None]] = {}
        self.exported_cache: dict[tuple[int, str], SymbolId | None] = {}
        self.imported_cache: dict[tuple[int, str], SymbolId | None] = {}

    def run(self) -> LinkedIndex:
        resolved: list[ResolvedImport] = []
        bindings: list[BindingLink] = []
        references: list[ReferenceLink] = []
        file_edges: set[tuple[int, int]] = set()
        symbol_edges: set[tuple[int, int, int, int]] = set()
        packages: set[tuple[int, str, bool]] = set()
        for file_index, extraction in enumerate(self.files):
            for import_index, imported in enumerate(extraction.imports):
                resolution, target_file = self.resolution(file_index, import_index)
                resolved.append(
                    ResolvedImport(
                        file=file_index,
                        import_index=import_index,
                        kind=resolution.kind,
                        target_file=target_file,
                        package=resolution.package,
                    )
                )
                if target_file is not None and target_file != file_index:
                    file_edges.add((file_index, target_file))
                if resolution.package is not None and resolution.kind in ("external", "builtin"):
                    packages.add((file_index, resolution.package, resolution.kind == "builtin"))
                for binding_index, binding in enumerate(imported.bindings):
                    target = None
                    if binding.imported != "*" and target_file is not None:
                        target = self.exported_symbol(target_file, binding.imported)
                    bindings.append(
                        BindingLink(
                            file=file_index, import_index=import_index, binding_index=binding_index, target=target
                        )
                    )
            for reference_index, reference in enumerate(extraction.references):
                target = self.reference_target(file_index, reference)
                references.append(ReferenceLink(file=file_index, reference_index=reference_index, target=target))
                if target is not None and reference.enclosing is not None:
                    edge = (file_index, reference.enclosing, target.file, target.symbol)
                    if edge[:2] != edge[2:]:
                        symbol_edges.add(edge)
        return LinkedIndex(
            paths=tuple(extraction.path for extraction in self.files),
            resolved_imports=tuple(resolved),
            binding_links=tuple(bindings),
            reference_links=tuple(references),
            file_dependencies=tuple(FileDependency(source=s, target=t) for s, t in sorted(file_edges)),
            symbol_dependencies=tuple(
                SymbolDependency(source=SymbolId(file=a, symbol=b), target=SymbolId(file=c, symbol=d))
                for a, b, c, d in sorted(symbol_edges)
            ),
            package_dependencies=tuple(
                PackageDependency(file=f, package=p, is_builtin=b) for f, p, b in sorted(packages)
            ),
        )

    # ---- modules ------------------------------------------------------------------------------------

    def resolution(self, file_index: int, import_index: int) -> tuple[Resolution, int | None]:
        key = (file_index, import_index)
        cached = self.resolutions.get(key)
        if cached is None:
            extraction = self.files[file_index]
            resolution = self.resolver.resolve(extraction.path, extraction.imports[import_index].specifier)
            target = (
                self.index_of_path.get(resolution.path)
                if resolution.kind == "file" and resolution.path is not None
                else None
            )
            cached = (resolution, target)
            self.resolutions[key] = cached
        return cached

    def import_target_file(self, file_index: int, import_index: int | None) -> int | None:
        if import_index is None:
            return None
        return self.resolution(file_index, import_index)[1]

    def exported_symbol(self, file_index: int, name: str) -> SymbolId | None:
        """``export_target`` from a fresh search, memoised (many references name the same export)."""
        key = (file_index, name)
        if key not in self.exported_cache:
            self.exported_cache[key] = self.export_target(file_index, name, set())
        return self.exported_cache[key]

    def imported_symbol(self, file_index: int, name: str) -> SymbolId | None:
        """What a file imports under ``name`` (its own declarations aside), memoised."""
        key = (file_index, name)
        if key not in self.imported_cache:
            self.imported_cache[key] = self.module_binding(file_index, name, set(), skip_local=True)
        return self.imported_cache[key]

    def export_target(self, file_index: int, name: str, seen: set[tuple[int, str]]) -> SymbolId | None:
        """The declaration a module exports as ``name``, following re-exports; ``None`` when there is none."""
        if (file_index, name) in seen or len(seen) >= MAX_EXPORT_HOPS:
            return None
        seen.add((file_index, name))
        table = self.tables[file_index]
        for export in table.exports.get(name, ()):
            target: SymbolId | None = None
            if export.kind in ("local", "assignment", "commonjs") and export.local is not None:
                target = self.module_binding(file_index, export.local, seen)
            elif export.kind == "reexport" and export.local is not None:
                source = self.import_target_file(file_index, export.import_index)
                if source is not None:
                    target = self.export_target(source, export.local, seen)
            if target is not None:
                return target
        if name == "default":
            return self.export_target(file_index, "export=", seen) if "export=" in table.exports else None
        for star in table.star_exports:
            source = self.import_target_file(file_index, star.import_index)
            if source is not None:
                target = self.export_target(source, name, seen)
                if target is not None:
                    return target
        return None

    def module_binding(
        self, file_index: int, name: str, seen: set[tuple[int, str]], *, skip_local: bool = False
    ) -> SymbolId | None:
        """What a top-level name of a file denotes: its own declaration, else what it imports under that name."""
        candidates = self.tables[file_index].top_level.get(name)
        if candidates and not skip_local and not self.is_require_binding(file_index, candidates[0]):
            return SymbolId(file=file_index, symbol=candidates[0])
        imported = self.tables[file_index].imported.get(name)
        if imported is None:
            return None
        import_index, binding_index = imported
        binding = self.files[file_index].imports[import_index].bindings[binding_index]
        source = self.import_target_file(file_index, import_index)
        if binding.imported == "*" or source is None:
            return None
        return self.export_target(source, binding.imported, seen)

    # ---- references ---------------------------------------------------------------------------------

    def reference_target(self, file_index: int, reference: ReferenceView) -> SymbolId | None:
        want_type = reference.kind in _TYPE_REFERENCES
        if reference.qualifier is None:
            return self.name_target(file_index, reference.name, reference.enclosing, want_type)
        if reference.qualifier == "this":
            holder = self.enclosing_class(file_index, reference.enclosing)
            return None if holder is None else self.member(file_index, holder, reference.name, want_type)
        if not reference.qualifier.isidentifier():
            return None
        namespace_file = self.namespace_import(file_index, reference.qualifier, reference.enclosing)
        if namespace_file is not None:
            return self.exported_symbol(namespace_file, reference.name)
        holder_id = self.name_target(file_index, reference.qualifier, reference.enclosing, want_type=False)
        if holder_id is None or self.kinds[holder_id.file][holder_id.symbol] not in MEMBER_HOLDERS:
            return None
        return self.member(holder_id.file, holder_id.symbol, reference.name, want_type)

    def member(self, file_index: int, holder: int, name: str, want_type: bool) -> SymbolId | None:
        members = self.tables[file_index].children.get(holder, {}).get(name)
        chosen = _choose(members, self.kinds[file_index], want_type)
        return None if chosen is None else SymbolId(file=file_index, symbol=chosen)

    def enclosing_class(self, file_index: int, symbol: int | None) -> int | None:
        symbols = self.files[file_index].symbols
        while symbol is not None and symbols[symbol].kind != "class":
            symbol = symbols[symbol].parent
        return symbol

    def local_candidates(self, file_index: int, name: str, enclosing: int | None) -> list[int] | None:
        """Declarations of ``name`` visible from ``enclosing`` inside the file, innermost scope first."""
        table = self.tables[file_index]
        symbols = self.files[file_index].symbols
        scope = enclosing
        while scope is not None:
            if symbols[scope].kind in SCOPE_KINDS:
                found = table.children.get(scope, {}).get(name)
                if found:
                    return found
            scope = symbols[scope].parent
        return table.top_level.get(name)

    def name_target(self, file_index: int, name: str, enclosing: int | None, want_type: bool) -> SymbolId | None:
        local = _choose(self.local_candidates(file_index, name, enclosing), self.kinds[file_index], want_type)
        if local is not None and not self.is_require_binding(file_index, local):
            return SymbolId(file=file_index, symbol=local)
        imported = self.imported_symbol(file_index, name)
        if imported is not None or local is None:
            return imported
        return SymbolId(file=file_index, symbol=local)

    def is_require_binding(self, file_index: int, symbol: int) -> bool:
        """Whether a top-level variable is bound by ``require()`` (``const { a } = require("x")``)."""
        extraction = self.files[file_index]
        declared = extraction.symbols[symbol]
        if declared.parent is not None or declared.kind not in ("constant", "variable"):
            return False
        imported = self.tables[file_index].imported.get(declared.name)
        return imported is not None and extraction.imports[imported[0]].kind == "require"

    def namespace_import(self, file_index: int, name: str, enclosing: int | None) -> int | None:
        """The file imported as ``name`` by ``import * as name`` (or ``import name = require()``), if not shadowed."""
        if self.local_candidates(file_index, name, enclosing):
            return None
        imported = self.tables[file_index].imported.get(name)
        if imported is None:
            return None
        import_index, binding_index = imported
        if self.files[file_index].imports[import_index].bindings[binding_index].imported != "*":
            return None
        return self.import_target_file(file_index, import_index)
