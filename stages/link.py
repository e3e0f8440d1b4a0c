"""Link stage: the extractions of one commit → import targets, reference targets and dependency edges.

Guarantees:
- Deterministic: the result depends only on the files, their ids and the resolver's answers; which id a file has
  changes the ids in the result, never which declaration a link names.
- Symbol ids are ``SymbolId(file, symbol)``: the file's id (its position in ``files``, or its key when ``files`` is
  a mapping: the pipeline keeps a file's id across commits) and the symbol's index in that file's
  ``FileExtraction.symbols``.
- ``only`` links a subset of the files (the incremental step relinks the files a change can affect): their rows are
  exactly those a link of all files yields for them. Files are read only when a link visits them, so a lazy
  mapping loads just those.
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
- ``link_batches`` yields the same rows a batch of files at a time and, given ``max_tables``, keeps the name
  lookups of at most that many files (the least recently used are dropped and rebuilt if visited again; what they
  memoise depends only on the files), so a whole repository's links need not be in memory at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, TypeAlias

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


def link(
    files: Sequence[FileView] | Mapping[int, FileView],
    resolver: Resolver,
    *,
    paths: Mapping[str, int] | None = None,
    only: Iterable[int] | None = None,
) -> LinkedIndex:
    """Link the imports and references of one commit's files (of ``only`` among them, if given); see the module
    docstring for the rules. ``paths`` maps every file's path to its id (built from ``files`` when omitted; give it
    with a lazy mapping, so that building it reads no file)."""
    by_id = dict(enumerate(files)) if isinstance(files, Sequence) else files
    index_of_path = paths if paths is not None else {view.path: file_id for file_id, view in by_id.items()}
    linked = sorted(only) if only is not None else sorted(index_of_path.values())
    rows = _Rows()
    linker = _Linker(by_id, index_of_path, resolver)
    for file_index in linked:
        linker.link_file(file_index, rows)
    return rows.index()


def link_batches(
    files: Mapping[int, FileView],
    resolver: Resolver,
    *,
    paths: Mapping[str, int],
    batches: Iterable[Sequence[int]],
    max_tables: int | None = None,
) -> Iterator[LinkedIndex]:
    """``link`` of each batch of file ids in turn (each batch in increasing id order, no file in two), one
    ``LinkedIndex`` per batch: its rows are exactly those ``link`` yields for those files. Lookups built for one
    batch serve the next; ``max_tables`` bounds how many files' lookups are kept (``None``: all). ``batches`` is
    consumed one batch at a time, just before that batch is linked."""
    linker = _Linker(files, paths, resolver, max_tables=max_tables)
    for batch in batches:
        rows = _Rows()
        for file_index in batch:
            linker.link_file(file_index, rows)
        yield rows.index()


_UNSEEN = SymbolId(file=-1, symbol=-1)
"""Marks a memo entry that is not computed yet (a computed entry may be ``None``)."""


_NO_SYMBOLS: frozenset[int] = frozenset()

_SYMBOL_SPAN = 1 << 32
_EDGE_SPAN = 1 << 64
"""A symbol edge of one file is the integer ``enclosing * _EDGE_SPAN + file * _SYMBOL_SPAN + symbol``: integers
order like the (enclosing, file, symbol) triples (file ids and symbol indexes are below 2**32, as the database's
integer columns are) and cost no tuple per reference."""


class _FileTable:
    """Name lookups of one file, built once, and the memos of what its names and imports lead to.

    A commit has thousands of files, so the table keeps few objects the cyclic garbage collector must track:
    name lookups are dictionaries of integers, and names declared twice chain through ``next_*`` lists of indexes
    (-1 ends a chain) instead of one list per name.
    """

    __slots__ = (
        "_children",
        "export_first",
        "exported_memo",
        "extraction",
        "file_index",
        "import_targets",
        "imported_binding",
        "imported_import",
        "imported_memo",
        "known_names",
        "next_export",
        "next_top_level",
        "require_bound",
        "resolutions",
        "star_exports",
        "symbols",
        "top_level",
    )

    def __init__(self, file_index: int, extraction: FileView) -> None:
        self.file_index = file_index
        self.extraction = extraction
        self.symbols = symbols = extraction.symbols
        count = len(symbols)
        # The first top-level declaration of each name; later ones follow ``next_top_level`` (None: no repeats).
        self.top_level: dict[str, int] = {}
        self.next_top_level: list[int] | None = None
        # Names declared inside some function or namespace scope: only these depend on where a reference is.
        scoped_names: set[str] | None = None
        last_of_name: dict[str, int] = {}
        for index, symbol in enumerate(symbols):
            parent = symbol.parent
            if parent is None:
                name = symbol.name
                if name not in self.top_level:
                    self.top_level[name] = index
                else:
                    if self.next_top_level is None:
                        self.next_top_level = [-1] * count
                    self.next_top_level[last_of_name.get(name, self.top_level[name])] = index
                    last_of_name[name] = index
            elif -count <= parent < count and symbols[parent].kind in SCOPE_KINDS:
                if scoped_names is None:
                    scoped_names = set()
                scoped_names.add(symbol.name)
        self._children: dict[int, dict[str, list[int]]] | None = None
        imports = extraction.imports
        # What each imported name is bound by: the import's index and the binding (the first one wins).
        self.imported_import: dict[str, int] = {}
        self.imported_binding: dict[str, BindingView] = {}
        # Top-level variables bound by ``require()`` (``const { a } = require("x")``): they stand for the import.
        self.require_bound: AbstractSet[int] = _NO_SYMBOLS
        for import_index, imported in enumerate(imports):
            import_kind = imported.kind
            if import_kind == "reexport":
                continue  # re-exported names are not bound in the file's scope
            for binding in imported.bindings:
                local = binding.local
                if local in self.imported_import:
                    continue
                self.imported_import[local] = import_index
                self.imported_binding[local] = binding
                if import_kind == "require":
                    bound = {
                        candidate
                        for candidate in self.top_level_candidates(local)
                        if symbols[candidate].kind in ("constant", "variable")
                    }
                    if bound:
                        self.require_bound = self.require_bound | bound
        # Every name a reference of this file could resolve through (any other name has no target), mapped to
        # whether it is declared in an inner scope. A dictionary of booleans is not tracked by the garbage
        # collector, where a set would be.
        self.known_names: dict[str, bool] = (
            dict.fromkeys(self.top_level, False)
            | dict.fromkeys(self.imported_import, False)
            | dict.fromkeys(scoped_names or (), True)
        )
        # The first export of each name (``reexport_all`` aside); later ones follow ``next_export``.
        self.export_first: dict[str, int] = {}
        self.next_export: list[int] | None = None
        self.star_exports: list[ExportView] | None = None
        exports = extraction.exports
        last_of_name.clear()
        for index, export in enumerate(exports):
            if export.kind == "reexport_all":
                if self.star_exports is None:
                    self.star_exports = []
                self.star_exports.append(export)
                continue
            exported = export.exported
            if exported not in self.export_first:
                self.export_first[exported] = index
            else:
                if self.next_export is None:
                    self.next_export = [-1] * len(exports)
                self.next_export[last_of_name.get(exported, self.export_first[exported])] = index
                last_of_name[exported] = index
        self.resolutions: list[Resolution | None] = [None] * len(imports)
        self.import_targets: list[int | None] = [None] * len(imports)
        self.exported_memo: dict[str, SymbolId | None] = {}
        self.imported_memo: dict[str, SymbolId | None] = {}

    def top_level_candidates(self, name: str) -> Iterator[int]:
        """The top-level declarations of ``name``, in file order."""
        candidate = self.top_level.get(name, -1)
        chain = self.next_top_level
        while candidate >= 0:
            yield candidate
            candidate = -1 if chain is None else chain[candidate]

    def choose_top_level(self, name: str, want_type: bool) -> int | None:
        """``_choose`` over the top-level declarations of ``name``."""
        first = self.top_level.get(name)
        chain = self.next_top_level
        if first is None or chain is None or chain[first] < 0:
            return first
        preferred = TYPE_KINDS if want_type else VALUE_KINDS
        symbols = self.symbols
        candidate = first
        while candidate >= 0:
            if symbols[candidate].kind in preferred:
                return candidate
            candidate = chain[candidate]
        return first

    def members(self, holder: int) -> dict[str, list[int]] | None:
        """The symbols declared directly inside ``holder``, by name (built on first use: many files need none)."""
        children = self._children
        if children is None:
            children = self._children = {}
            for index, symbol in enumerate(self.symbols):
                parent = symbol.parent
                if parent is None:
                    continue
                by_name = children.get(parent)
                if by_name is None:
                    children[parent] = {symbol.name: [index]}
                elif symbol.name in by_name:
                    by_name[symbol.name].append(index)
                else:
                    by_name[symbol.name] = [index]
        return children.get(holder)


def _choose(candidates: Sequence[int] | None, symbols: Sequence[SymbolView], want_type: bool) -> int | None:
    """The first candidate of the wanted meaning (type or value), else the first candidate."""
    if not candidates:
        return None
    preferred = TYPE_KINDS if want_type else VALUE_KINDS
    for candidate in candidates:
        if symbols[candidate].kind in preferred:
            return candidate
    return candidates[0]


_Holder: TypeAlias = _FileTable | SymbolId | None
"""What a qualifier denotes: a module (its exports), a declaration (its members), or nothing."""


class _Rows:
    """The rows of the files linked so far, in the order they were linked."""

    __slots__ = (
        "bindings",
        "file_dependencies",
        "package_dependencies",
        "references",
        "resolved",
        "symbol_dependencies",
    )

    def __init__(self) -> None:
        self.resolved: list[ResolvedImport] = []
        self.bindings: list[BindingLink] = []
        self.references: list[ReferenceLink] = []
        self.file_dependencies: list[FileDependency] = []
        self.symbol_dependencies: list[SymbolDependency] = []
        self.package_dependencies: list[PackageDependency] = []

    def index(self) -> LinkedIndex:
        return LinkedIndex(
            resolved_imports=tuple(self.resolved),
            binding_links=tuple(self.bindings),
            reference_links=tuple(self.references),
            file_dependencies=tuple(self.file_dependencies),
            symbol_dependencies=tuple(self.symbol_dependencies),
            package_dependencies=tuple(self.package_dependencies),
        )


class _Linker:
    def __init__(
        self,
        files: Mapping[int, FileView],
        index_of_path: Mapping[str, int],
        resolver: Resolver,
        *,
        max_tables: int | None = None,
    ) -> None:
        self.files = files
        self.resolver = resolver
        self.index_of_path = index_of_path
        self._tables: OrderedDict[int, _FileTable] = OrderedDict()  # least recently used first, when bounded
        self._max_tables = max_tables

    def table(self, file_id: int) -> _FileTable:
        """The name lookups of one file, built on first use (and again after being dropped, when bounded)."""
        tables = self._tables
        table = tables.get(file_id)
        if table is None:
            table = tables[file_id] = _FileTable(file_id, self.files[file_id])
            if self._max_tables is not None and len(tables) > self._max_tables:
                tables.popitem(last=False)
        elif self._max_tables is not None:
            tables.move_to_end(file_id)
        return table

    def link_file(self, file_index: int, rows: _Rows) -> None:
        """Append the rows of one file's links to ``rows``. Edges are sorted per file: files are linked in index
        order, so the concatenation is sorted by source file first, as the whole would be."""
        table = self.table(file_index)
        file_targets: set[int] = set()
        packages: set[tuple[str, bool]] = set()
        for import_index, imported in enumerate(table.extraction.imports):
            resolution = self.resolution(table, import_index)
            target_file = table.import_targets[import_index]
            rows.resolved.append(
                ResolvedImport(
                    file=file_index,
                    import_index=import_index,
                    kind=resolution.kind,
                    target_file=target_file,
                    package=resolution.package,
                    target_path=resolution.path if target_file is None else None,
                )
            )
            if target_file is not None and target_file != file_index:
                file_targets.add(target_file)
            if resolution.package is not None and resolution.kind in ("external", "builtin"):
                packages.add((resolution.package, resolution.kind == "builtin"))
            for binding_index, binding in enumerate(imported.bindings):
                target = None
                if binding.imported != "*" and target_file is not None:  # else the target file is not read
                    target = self.exported_symbol(self.table(target_file), binding.imported)
                rows.bindings.append(
                    BindingLink(file=file_index, import_index=import_index, binding_index=binding_index, target=target)
                )
        symbol_edges = self.link_references(table, rows.references)
        if file_targets:
            rows.file_dependencies.extend(FileDependency(source=file_index, target=t) for t in sorted(file_targets))
        if packages:
            rows.package_dependencies.extend(
                PackageDependency(file=file_index, package=p, is_builtin=b) for p, b in sorted(packages)
            )
        source: SymbolId | None = None
        symbol_dependencies = rows.symbol_dependencies
        for key in sorted(symbol_edges):
            enclosing = key // _EDGE_SPAN
            if source is None or source.symbol != enclosing:
                source = SymbolId(file=file_index, symbol=enclosing)
            symbol_dependencies.append(SymbolDependency(source=source, target=symbol_edges[key]))

    def link_references(self, table: _FileTable, out: list[ReferenceLink]) -> dict[int, SymbolId]:
        """Append the links of one file's references to ``out``; returns its symbol edges as ``edge_key`` → target.

        A name that is not declared in a function or namespace scope of the file denotes the same thing wherever
        it is used, so its target is computed once per file (and per type/value meaning), and so is what a
        qualifier ``q`` of ``q.x`` denotes; a name that the file neither declares nor imports has no target at all.
        """
        file_index = table.file_index
        known_names = table.known_names
        value_memo: dict[str, SymbolId | None] = {}
        type_memo: dict[str, SymbolId | None] = {}
        holder_memo: dict[str, _Holder] = {}
        edges: dict[int, SymbolId] = {}
        edge_span = _EDGE_SPAN
        symbol_span = _SYMBOL_SPAN
        unseen = _UNSEEN
        type_references = _TYPE_REFERENCES
        reference_link = ReferenceLink
        append = out.append
        for reference_index, reference in enumerate(table.extraction.references):
            qualifier = reference.qualifier
            target: SymbolId | None
            if qualifier is None:
                name = reference.name
                scoped = known_names.get(name)
                if scoped is None:
                    target = None
                elif scoped:
                    target = self.name_target(table, name, reference.enclosing, reference.kind in type_references)
                else:
                    want_type = reference.kind in type_references
                    memo = type_memo if want_type else value_memo
                    target = memo.get(name, unseen)
                    if target is unseen:
                        target = memo[name] = self.name_target(table, name, None, want_type)
            elif qualifier == "this":
                holder = self.enclosing_class(table, reference.enclosing)
                target = (
                    None
                    if holder is None
                    else self.member(table, holder, reference.name, reference.kind in type_references)
                )
            else:
                scoped = known_names.get(qualifier)
                if scoped is None:
                    via: _Holder = None
                elif scoped:
                    via = self.qualifier_holder(table, qualifier, reference.enclosing)
                else:
                    via = holder_memo.get(qualifier, unseen)
                    if via is unseen:
                        via = holder_memo[qualifier] = self.qualifier_holder(table, qualifier, None)
                if via is None:
                    target = None
                elif isinstance(via, _FileTable):
                    target = via.exported_memo.get(reference.name, unseen)
                    if target is unseen:
                        target = self.exported_symbol(via, reference.name)
                else:
                    target = self.member(
                        self.table(via.file), via.symbol, reference.name, reference.kind in type_references
                    )
            append(reference_link(file=file_index, reference_index=reference_index, target=target))
            if target is not None:
                enclosing = reference.enclosing
                if enclosing is not None and (target.symbol != enclosing or target.file != file_index):
                    edges[enclosing * edge_span + target.file * symbol_span + target.symbol] = target
        return edges

    # ---- modules ------------------------------------------------------------------------------------

    def resolution(self, table: _FileTable, import_index: int) -> Resolution:
        """Resolve an import once, noting in ``table.import_targets`` the linked file it points to."""
        resolution = table.resolutions[import_index]
        if resolution is None:
            extraction = table.extraction
            resolution = self.resolver.resolve(extraction.path, extraction.imports[import_index].specifier)
            if resolution.kind == "file" and resolution.path is not None:
                table.import_targets[import_index] = self.index_of_path.get(resolution.path)
            table.resolutions[import_index] = resolution
        return resolution

    def import_target(self, table: _FileTable, import_index: int | None) -> _FileTable | None:
        """The table of the file an import of ``table`` resolves to, if it is one of the linked files."""
        if import_index is None:
            return None
        if table.resolutions[import_index] is None:
            self.resolution(table, import_index)
        target_file = table.import_targets[import_index]
        return None if target_file is None else self.table(target_file)

    def exported_symbol(self, table: _FileTable, name: str) -> SymbolId | None:
        """``export_target`` from a fresh search, memoised (many references name the same export)."""
        found = table.exported_memo.get(name, _UNSEEN)
        if found is _UNSEEN:
            found = table.exported_memo[name] = self.export_target(table, name, set())
        return found

    def imported_symbol(self, table: _FileTable, name: str) -> SymbolId | None:
        """What a file imports under ``name`` (its own declarations aside), memoised."""
        found = table.imported_memo.get(name, _UNSEEN)
        if found is _UNSEEN:
            found = table.imported_memo[name] = self.module_binding(table, name, set(), skip_local=True)
        return found

    def export_target(self, table: _FileTable, name: str, seen: set[tuple[int, str]]) -> SymbolId | None:
        """The declaration a module exports as ``name``, following re-exports; ``None`` when there is none."""
        key = (table.file_index, name)
        if key in seen or len(seen) >= MAX_EXPORT_HOPS:
            return None
        seen.add(key)
        exports = table.extraction.exports
        chain = table.next_export
        index = table.export_first.get(name, -1)
        while index >= 0:
            export = exports[index]
            index = -1 if chain is None else chain[index]
            target: SymbolId | None = None
            if export.kind in ("local", "assignment", "commonjs") and export.local is not None:
                target = self.module_binding(table, export.local, seen)
            elif export.kind == "reexport" and export.local is not None:
                source = self.import_target(table, export.import_index)
                if source is not None:
                    target = self.export_target(source, export.local, seen)
            if target is not None:
                return target
        if name == "default":
            return self.export_target(table, "export=", seen) if "export=" in table.export_first else None
        for star in table.star_exports or ():
            source = self.import_target(table, star.import_index)
            if source is not None:
                target = self.export_target(source, name, seen)
                if target is not None:
                    return target
        return None

    def module_binding(
        self, table: _FileTable, name: str, seen: set[tuple[int, str]], *, skip_local: bool = False
    ) -> SymbolId | None:
        """What a top-level name of a file denotes: its own declaration, else what it imports under that name."""
        first = table.top_level.get(name)
        if first is not None and not skip_local and first not in table.require_bound:
            return SymbolId(file=table.file_index, symbol=first)
        import_index = table.imported_import.get(name)
        if import_index is None:
            return None
        binding = table.imported_binding[name]
        source = self.import_target(table, import_index)
        if binding.imported == "*" or source is None:
            return None
        return self.export_target(source, binding.imported, seen)

    # ---- references ---------------------------------------------------------------------------------

    def qualifier_holder(self, table: _FileTable, qualifier: str, enclosing: int | None) -> _Holder:
        """What ``qualifier.x`` looks into: the module imported as ``qualifier`` (``import * as qualifier``), else
        the class, interface, enum or namespace named ``qualifier``; ``None`` when it is neither."""
        if not qualifier.isidentifier():
            return None
        namespace = self.namespace_import(table, qualifier, enclosing)
        if namespace is not None:
            return namespace
        holder_id = self.name_target(table, qualifier, enclosing, want_type=False)
        if holder_id is None or self.table(holder_id.file).symbols[holder_id.symbol].kind not in MEMBER_HOLDERS:
            return None
        return holder_id

    def member(self, table: _FileTable, holder: int, name: str, want_type: bool) -> SymbolId | None:
        members = table.members(holder)
        chosen = None if members is None else _choose(members.get(name), table.symbols, want_type)
        return None if chosen is None else SymbolId(file=table.file_index, symbol=chosen)

    def enclosing_class(self, table: _FileTable, symbol: int | None) -> int | None:
        symbols = table.symbols
        while symbol is not None and symbols[symbol].kind != "class":
            symbol = symbols[symbol].parent
        return symbol

    def local_declaration(self, table: _FileTable, name: str, enclosing: int | None, want_type: bool) -> int | None:
        """The declaration of ``name`` visible from ``enclosing`` inside the file (innermost scope first), chosen
        among those of its scope by ``_choose``."""
        symbols = table.symbols
        scope = enclosing
        while scope is not None:
            if symbols[scope].kind in SCOPE_KINDS:
                members = table.members(scope)
                found = None if members is None else members.get(name)
                if found:
                    return _choose(found, symbols, want_type)
            scope = symbols[scope].parent
        return table.choose_top_level(name, want_type)

    def name_target(self, table: _FileTable, name: str, enclosing: int | None, want_type: bool) -> SymbolId | None:
        local = self.local_declaration(table, name, enclosing, want_type)
        if local is not None and local not in table.require_bound:
            return SymbolId(file=table.file_index, symbol=local)
        imported = self.imported_symbol(table, name)
        if imported is not None or local is None:
            return imported
        return SymbolId(file=table.file_index, symbol=local)

    def namespace_import(self, table: _FileTable, name: str, enclosing: int | None) -> _FileTable | None:
        """The file imported as ``name`` by ``import * as name`` (or ``import name = require()``), if not shadowed."""
        if self.local_declaration(table, name, enclosing, want_type=False) is not None:
            return None
        import_index = table.imported_import.get(name)
        if import_index is None or table.imported_binding[name].imported != "*":
            return None
        return self.import_target(table, import_index)
