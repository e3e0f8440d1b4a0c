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
- Member accesses follow types as a reader would, from the type hints the extractor records (``type_hint`` of
  symbols, ``root_hint`` of references; ``docs/index-contract.md``): ``p.run()`` with ``p: Runner``, ``new C().x``,
  ``this.store.get()`` with ``store: Store``, ``make().x`` with ``make(): Made``, ``super.x``, and a member found in a
  base class or extended interface. A reference whose first name is a parameter or local variable never links to a
  declaration of the same name further out. What following a type read of other files (their declarations and
  hints) is a dependency ``inferred`` of the reading file; the result is the same whichever order files are linked
  in (memoised answers carry what they read and how deep they went, and an answer cut by a cycle or the depth bound
  is never memoised).
- A file's own package (its ``package`` import: Go) brings the top-level names of the package's other files in
  scope, looked up in one table per package (``_Package``, each file read once to build it), so linking a package of
  N files reads O(N) files whatever ``max_tables``; it is a dependency only on the files whose declarations the
  file's links name or read, not on every file of the package.
- Files with ``error`` set have no rows and take part only as import targets (with no exports).
- Linking reads only names, kinds, parents and import/export structure (``FileView``): a whole
  ``FileExtraction`` will do, and so will the smaller ``LinkFile`` the pipeline's writer decodes.
- ``link_batches`` yields the same rows a batch of files at a time and, given ``max_tables``, keeps the name
  lookups of at most that many files (the least recently used are dropped and rebuilt if visited again; what they
  memoise depends only on the files), so a whole repository's links need not be in memory at once.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Protocol, TypeAlias

from stages.languages import module_system_for_path
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
    @property
    def type_hint(self) -> str | None: ...
    @property
    def exported(self) -> bool: ...
    @property
    def receiver(self) -> str | None: ...


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
    @property
    def root_hint(self) -> str | None: ...


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
    {"function", "method", "constructor", "getter", "setter", "namespace", "module", "variable", "constant", "property"}
)
"""Symbols whose children are in lexical scope for code inside them (a variable's or property's children are
declared in the functions of its initialiser, `const x = run(() => { const f = …; f(); })`)."""
_MEMBER_KINDS: frozenset[SymbolKind] = frozenset({"property", "method", "getter", "setter", "constructor"})
"""Children of a scope that no bare name denotes: members of a type literal (`const x: { a: T }`), methods of
`X.prototype.m = function …` (children of the function `X`)."""

MEMBER_HOLDERS: frozenset[SymbolKind] = frozenset({"class", "interface", "enum", "namespace", "module"})
TYPE_KINDS: frozenset[SymbolKind] = frozenset({"class", "interface", "type_alias", "enum", "namespace", "module"})
VALUE_KINDS: frozenset[SymbolKind] = frozenset(
    {"function", "class", "variable", "constant", "enum", "namespace", "method", "getter", "setter", "property"}
)
NAMED_TYPE_KINDS: frozenset[SymbolKind] = frozenset({"class", "interface", "type_alias", "enum"})
"""What a type name can denote (a namespace or a function is no type: ``Record<K, V>`` beside a function ``Record``
is the global type)."""
PLAIN_VALUE_KINDS: frozenset[SymbolKind] = frozenset({"function", "class", "variable", "constant", "enum"})
"""What a value name denotes before a declaration of no value (a namespace, an interface, a type alias) merged with
it: ``Done()`` beside ``interface Done`` calls the function ``Done``."""
_REQUIRE_KINDS = frozenset({"require", "import_equals"})
"""Imports whose ``*`` binding is the module's ``module.exports`` / ``export =`` value, not a namespace object."""
MAX_EXPORT_HOPS = 200
"""Re-export chains longer than this (never seen in real code) are left unlinked rather than followed."""
MAX_TYPE_DEPTH = 40
"""How deep following types may nest (a hint naming a declaration whose hint names another, …): deeper chains
(never seen in real code) are left unlinked rather than followed."""
MAX_TYPE_STEPS = 1_000_000
"""Questions about types one file's references may ask (counting what memoised answers took): the work of following
types is bounded per file whatever its code; past it (never seen in real code) the rest stays unlinked."""
MAX_ANCESTORS = 64
"""Declarations a member is looked for in: a declaration, those its name merges with, and their bases, nearest
first (more are never seen in real code)."""
MAX_DOTTED_CHARS = 512
"""Dotted names of Python imports longer than this (as long as the longest specifier resolution accepts) name no
module for qualifiers."""
MAX_MEMOS = 1 << 18
"""Answers about types kept at most (all are dropped when full: a dropped answer is asked again, the same)."""
MAX_PACKAGE_NAMES = 1 << 20
"""Names of packages' declarations kept at most (``_Package``: the least recently used packages are dropped past it,
never the one in use; a dropped package is built again, the same)."""
BASE_KINDS: frozenset[SymbolKind] = frozenset({"class", "interface", "type_alias"})
"""Symbols whose ``type_hint`` lists their bases (the others' is the type of their value)."""
VALUE_HINT_KINDS: frozenset[SymbolKind] = frozenset({"variable", "constant", "property", "getter"})
"""Symbols whose ``type_hint`` is the type of their value."""
CALLABLE_KINDS: frozenset[SymbolKind] = frozenset({"function", "method"})
"""Symbols whose ``type_hint`` is the type of what a call returns."""
_TYPE_REFERENCES: frozenset[ReferenceKind] = frozenset({"type", "implements"})

CALL = "()"
"""The segment of an ``Expression`` that calls what precedes it."""
Expression: TypeAlias = tuple[str, tuple[str, ...]]
"""A hint or a qualifier as a chain: its root (``{a.B}``: a value of the type ``a.B``; ``this``; ``super``; or a
name) and its segments (a member name, or ``CALL``)."""

_NAME = re.compile(r"[A-Za-z_$\u0080-\U0010ffff][\w$\u0080-\U0010ffff]*")
_NEW = re.compile(r"new +([\w$.\u0080-\U0010ffff]+) *")
_CLOSING = {"(": ")", "[": "]", "{": "}", "<": ">"}


_CHAIN_KEYWORDS = frozenset({"this", "super", "new"})
"""Words that start a chain (``this.a``, ``super.a``, ``new A()``) without naming a declaration."""


def leading_name(text: str) -> str | None:
    """The name a qualifier's text starts with (``a`` of ``a.b(c)``, ``new`` of ``new A()``), if any."""
    match = _NAME.match(text)
    return None if match is None else match.group()


def _skip_group(text: str, start: int) -> int:
    """The position after the bracketed group opening at ``start`` (strings inside skipped), or -1 when it does not
    close (or only where a quote or bracket of another kind is unbalanced)."""
    expected = [_CLOSING[text[start]]]
    position = start + 1
    length = len(text)
    while position < length:
        char = text[position]
        if char in "'\"`":
            position += 1
            while position < length and text[position] != char:
                position += 2 if text[position] == "\\" else 1
            if position >= length:
                return -1
        elif char in _CLOSING and (char != "<" or expected[-1] == ">"):
            expected.append(_CLOSING[char])
        elif char == expected[-1]:
            expected.pop()
            if not expected:
                return position + 1
        elif char in ")]}":
            return -1
        position += 1
    return -1


def _type_name(text: str) -> bool:
    return all(_NAME.fullmatch(part) for part in text.split("."))


def parse_expression(text: str) -> Expression | None:
    """The chain a hint or a qualifier's text denotes (``docs/index-contract.md``, "Type hints"), or ``None`` when it
    is not one: ``this.a?.b!.c(x)<T>`` and the like are chains, ``a[0].b``, ``(a || b).c`` and ``a + b`` are not."""
    length = len(text)
    segments: list[str] = []
    if text.startswith("{"):
        end = text.find("}")
        if end < 0 or not _type_name(text[1:end]):
            return None
        root, position = text[: end + 1], end + 1
    elif text.startswith("new "):
        match = _NEW.match(text)
        if match is None or not _type_name(match.group(1)):
            return None
        position = match.end()
        if position < length and text[position] == "<":
            position = _skip_group(text, position)
        if position < 0 or position >= length or text[position] != "(":
            return None
        position = _skip_group(text, position)
        if position < 0:
            return None
        root = "{" + match.group(1) + "}"
    else:
        match = _NAME.match(text)
        if match is None:
            return None
        root, position = match.group(), match.end()
    while position < length:
        char = text[position]
        if char in " !":
            position += 1
        elif char == "." or (char == "?" and text.startswith("?.", position)):
            position += 1 if char == "." else 2
            while position < length and text[position] == " ":
                position += 1
            if position < length and text[position] == "(":
                continue  # `f?.()`
            private = position < length and text[position] == "#"
            match = _NAME.match(text, position + private)
            if match is None:
                return None
            segments.append(text[position : match.end()])
            position = match.end()
        elif char in "(<":
            end = _skip_group(text, position)
            if end < 0 or (char == "<" and not text.startswith("(", end)):
                return None
            if char == "(":
                segments.append(CALL)
            position = end
        else:
            return None
    return root, tuple(segments)


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
        "import_files",
        "import_targets",
        "imported_binding",
        "imported_import",
        "imported_memo",
        "known_names",
        "module_memo",
        "module_paths",
        "next_export",
        "next_top_level",
        "python",
        "receivers",
        "require_bound",
        "resolutions",
        "scope_imports",
        "siblings",
        "star_exports",
        "star_names",
        "symbols",
        "top_level",
    )

    def __init__(self, file_index: int, extraction: FileView) -> None:
        self.file_index = file_index
        self.extraction = extraction
        self.symbols = symbols = extraction.symbols
        self.python = module_system_for_path(extraction.path) == "python"
        count = len(symbols)
        # The first top-level declaration of each name; later ones follow ``next_top_level`` (None: no repeats).
        self.top_level: dict[str, int] = {}
        self.next_top_level: list[int] | None = None
        # Names declared inside some function or namespace scope: only these depend on where a reference is.
        scoped_names: set[str] | None = None
        # Methods declared apart from their type (``Symbol.receiver``): type name → method name → the first one.
        # They are members of that type, not names in scope.
        self.receivers: dict[str, dict[str, int]] | None = None
        last_of_name: dict[str, int] = {}
        for index, symbol in enumerate(symbols):
            parent = symbol.parent
            if parent is None:
                receiver = symbol.receiver
                if receiver is not None:
                    if self.receivers is None:
                        self.receivers = {}
                    self.receivers.setdefault(receiver, {}).setdefault(symbol.name, index)
                    continue
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
        # Imports whose names are in scope unqualified: the file's own package, and star imports (a binding whose
        # ``local`` is ``*``, Go's `import . "x"`).
        self.scope_imports: tuple[int, ...] = ()
        for import_index, imported in enumerate(imports):
            import_kind = imported.kind
            if import_kind == "reexport":
                continue  # re-exported names are not bound in the file's scope
            if import_kind == "package":
                self.scope_imports += (import_index,)
            for binding in imported.bindings:
                local = binding.local
                if local == "*":
                    self.scope_imports += (import_index,)
                    continue
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
        # Python's `import a.b.c` binds `a` and makes `a.b.c` name that module: each such dotted name → its import,
        # and its first name → -1 (the module of that name).
        self.module_paths: dict[str, int] | None = None
        if self.python:
            for local, import_index in self.imported_import.items():
                if "." in local and len(local) <= MAX_DOTTED_CHARS and self.imported_binding[local].imported == "*":
                    if self.module_paths is None:
                        self.module_paths = {}
                    self.module_paths.setdefault(local.split(".", 1)[0], -1)
                    self.module_paths[local] = import_index
        # Every name a reference of this file could resolve through (any other name has no target), mapped to
        # whether it is declared in an inner scope. A dictionary of booleans is not tracked by the garbage
        # collector, where a set would be. (Dotted names count by their first name; the linker adds the names a
        # Python `from m import *` brings, ``star_names``, when it reads the modules.)
        self.known_names: dict[str, bool] = (
            dict.fromkeys(self.top_level, False)
            | dict.fromkeys((local.split(".", 1)[0] for local in self.imported_import), False)
            | dict.fromkeys(scoped_names or (), True)
        )
        self.star_names: AbstractSet[str] | None = None  # None until read (an empty set is an answer too)
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
        # Every linked file of a module of several files an import resolves to (``Resolution.paths``), else empty.
        self.import_files: list[tuple[int, ...]] = [()] * len(imports)
        # The other files of the module this table stands for, when it is the module of several files that an
        # import resolved to (its exports are those of its files, in order), else empty.
        self.siblings: tuple[int, ...] = ()
        self.exported_memo: dict[str, SymbolId | None] = {}
        self.imported_memo: dict[str, SymbolId | None] = {}
        self.module_memo: dict[str, int | None] = {}  # exported name → the file of the module it re-exports whole

    def name_scope(self, name: str) -> bool | None:
        """``known_names[name]``; for a name the file does not know, ``False`` (top-level) when an import brings
        names in scope unqualified (``scope_imports``), else ``None`` (the name has no target)."""
        scoped = self.known_names.get(name)
        return False if scoped is None and self.scope_imports else scoped

    def top_level_candidates(self, name: str) -> Iterator[int]:
        """The top-level declarations of ``name``, in file order."""
        candidate = self.top_level.get(name, -1)
        chain = self.next_top_level
        while candidate >= 0:
            yield candidate
            candidate = -1 if chain is None else chain[candidate]

    def exports_named(self, name: str) -> Iterator[ExportView]:
        """The file's exports of ``name`` (``reexport_all`` aside), in file order."""
        exports = self.extraction.exports
        chain = self.next_export
        index = self.export_first.get(name, -1)
        while index >= 0:
            yield exports[index]
            index = -1 if chain is None else chain[index]

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


def _is_package(path: str) -> bool:
    """Whether a Python file is a package's ``__init__`` (its submodules are its attributes)."""
    return path.endswith(("/__init__.py", "/__init__.pyi")) or path in ("__init__.py", "__init__.pyi")


class _Package:
    """What the files of one package (what a file's ``package`` import resolves to, in order) declare for each
    other, built once per package so that a name looked up through it costs one dictionary lookup, whatever the
    package's size: each top-level name's first declaration (methods aside) and, for a name declared in several
    files, the first one in the second file declaring it (what the first file's own lookups fall through to); the
    methods declared apart from their types, by type name → (method name → the first method of that name, the files
    declaring methods of that type)."""

    __slots__ = ("files", "later", "members", "methods", "names", "size")

    def __init__(self, files: tuple[int, ...], members: frozenset[int]) -> None:
        self.files = files
        self.members = members
        self.names: dict[str, SymbolId] = {}
        self.later: dict[str, SymbolId] = {}
        self.methods: dict[str, tuple[dict[str, SymbolId], frozenset[int]]] = {}
        self.size = 0

    def declaration(self, name: str, reader: int) -> SymbolId | None:
        """The first top-level declaration of ``name`` in a file of the package other than ``reader``."""
        found = self.names.get(name)
        return self.later.get(name) if found is not None and found.file == reader else found


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

_AS_VALUE, _AS_INSTANCE, _AS_MODULE = 0, 1, 2
_Value: TypeAlias = tuple[int, int, int]
"""What an expression evaluates to, as ``(role, file, symbol)``: the declaration itself as a value (``_AS_VALUE``: a
variable, a function, a class as a constructor), a value of the type it declares (``_AS_INSTANCE``), or the module
of a namespace import (``_AS_MODULE``, symbol -1 for a module of one file, else ``-2 - n`` for the ``n``-th module
of several files the linker met: ``_Linker.module_value``)."""


class _Budget:
    """The questions about types one file may still ask (``MAX_TYPE_STEPS``)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


class _Trace:
    """What one question about types read, how deep it went and what it may still spend (``_Linker.memoised``)."""

    __slots__ = ("budget", "cut", "deepest", "depth", "reads")

    def __init__(self, depth: int, budget: _Budget) -> None:
        self.depth = depth
        self.deepest = depth
        self.budget = budget
        self.cut = False  # met a cycle or a bound: true of this question only, never memoised
        self.reads: set[int] = set()


_Memo: TypeAlias = tuple[object, frozenset[int], int, int]
"""A memoised answer: the answer, the files it read, how many levels of questions it took and how many questions."""


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
        self._memos: dict[tuple[object, ...], _Memo] = {}
        self._asked: set[tuple[object, ...]] = set()  # questions being answered (a repeat is a cycle)
        self._expressions: dict[str, Expression | None] = {}
        self._chains: dict[tuple[str, str | None], Expression | None] = {}
        self._star_visible: dict[int, frozenset[str]] = {}
        self._module_tables: dict[tuple[int, ...], _FileTable] = {}
        self._module_numbers: dict[tuple[int, ...], int] = {}  # a module of several files → its number as a value
        self._module_files: list[tuple[int, ...]] = []
        # A package by the identity of its files' tuple (``_linked_files``) and, for a file outside the files its
        # own ``package`` import resolves to, that file (else -1); least recently used first.
        self._packages: OrderedDict[tuple[int, int], _Package] = OrderedDict()
        self._package_names = 0  # the ``size`` of the packages kept
        # The linked files of a resolution's ``paths``, by the identity of that tuple (the resolver answers the same
        # Resolution for every file of a directory): one tuple per package, converted once.
        self._linked_files: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    def table(self, file_id: int) -> _FileTable:
        """The name lookups of one file, built on first use (and again after being dropped, when bounded); a
        Python file's known names include those its ``from m import *`` bring."""
        table = self._plain_table(file_id)
        if table.python and table.star_exports and table.star_names is None:
            names: set[str] = set()
            for star in table.star_exports:
                source = self._plain_import_target(table, star.import_index)
                if source is not None:
                    names |= self.star_visible(source)
            table.star_names = frozenset(names)
            for name in names:
                table.known_names.setdefault(name, False)
        return table

    def _plain_table(self, file_id: int) -> _FileTable:
        tables = self._tables
        table = tables.get(file_id)
        if table is None:
            table = tables[file_id] = _FileTable(file_id, self.files[file_id])
            if self._max_tables is not None and len(tables) > self._max_tables:
                tables.popitem(last=False)
        elif self._max_tables is not None:
            tables.move_to_end(file_id)
        return table

    def _plain_import_target(self, table: _FileTable, import_index: int | None) -> _FileTable | None:
        """``import_target`` without reading what the target's own star imports bring."""
        if import_index is None:
            return None
        if table.resolutions[import_index] is None:
            self.resolution(table, import_index)
        target_file = table.import_targets[import_index]
        return None if target_file is None else self._plain_table(target_file)

    def star_visible(self, module: _FileTable) -> frozenset[str]:
        """The names a Python ``from <module> import *`` binds: its declarations marked ``exported`` (``__all__``, or
        no leading underscore), the names it imports and exports without a leading underscore, and what its own
        star imports bring that way (breadth first, each module once, at most ``MAX_EXPORT_HOPS``)."""
        found = self._star_visible.get(module.file_index)
        if found is not None:
            return found
        names: set[str] = set()
        modules = [module]
        seen = {module.file_index}
        index = 0
        while index < len(modules):
            current = modules[index]
            index += 1
            symbols = current.symbols
            for export in current.extraction.exports:
                kind = export.kind
                if kind == "local":
                    name = export.exported
                    if any(symbols[candidate].exported for candidate in current.top_level_candidates(name)):
                        names.add(name)
                elif kind != "reexport_all" and not export.exported.startswith("_"):
                    names.add(export.exported)
            for star in current.star_exports or () if current.python else ():
                source = self._plain_import_target(current, star.import_index)
                if source is not None and source.file_index not in seen and len(modules) < MAX_EXPORT_HOPS:
                    seen.add(source.file_index)
                    modules.append(source)
        if len(self._star_visible) >= MAX_MEMOS:
            self._star_visible.clear()
        found = self._star_visible[module.file_index] = frozenset(names)
        return found

    def star_imported(self, table: _FileTable, name: str) -> SymbolId | None:
        """What a Python file's ``from m import *`` binds to ``name``: the first star import that brings it."""
        for star in table.star_exports or ():
            source = self.import_target(table, star.import_index)
            if source is not None and name in self.star_visible(source):
                found = self.exported_symbol(source, name)
                if found is not None:
                    return found
        return None

    def module_at(self, table: _FileTable, specifier: str) -> _FileTable | None:
        """The linked file a Python module specifier, as written in ``table``'s file, names (``None``: none)."""
        resolution = self.resolver.resolve(table.extraction.path, specifier)
        if resolution.kind != "file" or resolution.path is None:
            return None
        file_id = self.index_of_path.get(resolution.path)
        return None if file_id is None else self.table(file_id)

    def submodule(self, table: _FileTable, import_index: int, name: str) -> _FileTable | None:
        """The submodule ``name`` of the package a Python import of ``table`` names (``from pkg import sub``)."""
        specifier = table.extraction.imports[import_index].specifier
        return self.module_at(table, specifier + name if specifier.endswith(".") else f"{specifier}.{name}")

    def dotted_module(self, table: _FileTable, root: str, segments: Sequence[str]) -> tuple[_FileTable, int] | None:
        """The module that the longest dotted name ``root.s1…sk`` a Python file's ``import a.b.c`` binds names, and
        ``k`` (``root`` alone: the module ``root``, ``k`` = 0); ``None`` when ``root`` starts no such name or the
        module is no linked file. The members past it are read as members (a package's submodules among them)."""
        paths = table.module_paths
        if paths is None or root not in paths:
            return None
        dotted = root
        longest = (paths[root], 0)
        for consumed, segment in enumerate(segments, 1):
            dotted = f"{dotted}.{segment}"
            if segment == CALL or len(dotted) > MAX_DOTTED_CHARS:
                break
            import_index = paths.get(dotted)
            if import_index is not None and import_index >= 0:
                longest = (import_index, consumed)
        import_index, consumed = longest
        module = self.import_target(table, import_index) if import_index >= 0 else self.module_at(table, root)
        return None if module is None else (module, consumed)

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
            if imported.kind != "package":  # (its own package: only the files its links name, below)
                if target_file is not None and target_file != file_index:
                    file_targets.add(target_file)
                file_targets.update(table.import_files[import_index])
            if resolution.package is not None and resolution.kind in ("external", "builtin"):
                packages.add((resolution.package, resolution.kind == "builtin"))
            for binding_index, binding in enumerate(imported.bindings):
                target = None
                if binding.imported != "*" and target_file is not None:  # else the target file is not read
                    target = self.exported_symbol(self.table(target_file), binding.imported)
                rows.bindings.append(
                    BindingLink(file=file_index, import_index=import_index, binding_index=binding_index, target=target)
                )
        reads: set[int] = set()
        linked_from = len(rows.references)
        symbol_edges = self.link_references(table, rows.references, reads)
        named = {
            target.file
            for link in rows.references[linked_from:]
            if (target := link.target) is not None and target.file != file_index
        }
        package = self.package(table) if named - file_targets and table.scope_imports else None
        if package is not None:
            file_targets |= named & package.members
        reads.discard(file_index)
        file_targets.discard(file_index)
        if file_targets or reads:
            rows.file_dependencies.extend(
                FileDependency(source=file_index, target=target, inferred=target in reads)
                for target in sorted(file_targets | reads)
            )
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

    def link_references(self, table: _FileTable, out: list[ReferenceLink], reads: set[int]) -> dict[int, SymbolId]:
        """Append the links of one file's references to ``out``; returns its symbol edges as ``edge_key`` → target,
        and adds to ``reads`` the files whose declarations following types read.

        A name that is not declared in a function or namespace scope of the file denotes the same thing wherever
        it is used, so its target is computed once per file (and per type/value meaning), and so is what a
        qualifier ``q`` of ``q.x`` denotes; a name that the file neither declares nor imports has no target at all.
        """
        file_index = table.file_index
        known_names = table.known_names
        value_memo: dict[str, SymbolId | None] = {}
        type_memo: dict[str, SymbolId | None] = {}
        holder_memo: dict[str, _Holder] = {}
        chain_memo: dict[tuple[object, ...], tuple[SymbolId | None, frozenset[int]]] = {}
        budget = _Budget(MAX_TYPE_STEPS)
        edges: dict[int, SymbolId] = {}
        edge_span = _EDGE_SPAN
        symbol_span = _SYMBOL_SPAN
        unseen = _UNSEEN
        type_references = _TYPE_REFERENCES
        reference_link = ReferenceLink
        append = out.append
        # A Python qualifier may pass through submodules (`pkg.sub.f()`, `from pkg import sub; sub.f()`): it is
        # always followed as a chain, which notes the modules it reads.
        python = table.python
        for reference_index, reference in enumerate(table.extraction.references):
            qualifier = reference.qualifier
            target: SymbolId | None
            if qualifier is None:
                name = reference.name
                scoped = table.name_scope(name)
                if scoped is None or reference.root_hint is not None:
                    target = None  # not declared in the file, or a parameter or local variable
                elif scoped:
                    target = self.name_target(table, name, reference.enclosing, reference.kind in type_references)
                else:
                    want_type = reference.kind in type_references
                    memo = type_memo if want_type else value_memo
                    target = memo.get(name, unseen)
                    if target is unseen:
                        target = memo[name] = self.name_target(table, name, None, want_type)
            elif python:
                first = leading_name(qualifier)
                if reference.root_hint is None and first not in known_names and first != "super":
                    target = None  # `print(x).y()`, `os.path.join()` without `import os`: a name the file lacks
                else:
                    target = self.chain_target(table, reference, chain_memo, reads, budget)
            elif qualifier == "this":
                holder = self.enclosing_class(table, reference.enclosing)
                want_type = reference.kind in type_references
                target = None if holder is None else self.member(table, holder, reference.name, want_type)
                if target is None and holder is not None:
                    trace = _Trace(0, budget)
                    holder_id = SymbolId(file=file_index, symbol=holder)
                    target = self.find_member(holder_id, reference.name, want_type, trace)
                    reads |= trace.reads
            elif reference.root_hint is None and (scoped := table.name_scope(qualifier)) is not None:
                if scoped:
                    via: _Holder = self.qualifier_holder(table, qualifier, reference.enclosing)
                else:
                    via = holder_memo.get(qualifier, unseen)
                    if via is unseen:
                        via = holder_memo[qualifier] = self.qualifier_holder(table, qualifier, None)
                if isinstance(via, _FileTable):
                    target = via.exported_memo.get(reference.name, unseen)
                    if target is unseen:
                        target = self.exported_symbol(via, reference.name)
                    if target is not None:
                        target = self.with_meaning(target, reference.kind in type_references, TYPE_KINDS)
                else:
                    target = self.chain_target(table, reference, chain_memo, reads, budget)
            elif (
                reference.root_hint is None
                and not table.scope_imports
                and (first := leading_name(qualifier)) not in known_names
                and (first is not None and first not in _CHAIN_KEYWORDS)
            ):
                target = None  # `console.log()`, `expect(x).toBe()`: the chain starts at a name the file lacks
            else:
                target = self.chain_target(table, reference, chain_memo, reads, budget)
            append(reference_link(file=file_index, reference_index=reference_index, target=target))
            if target is not None:
                enclosing = reference.enclosing
                if enclosing is not None and (target.symbol != enclosing or target.file != file_index):
                    edges[enclosing * edge_span + target.file * symbol_span + target.symbol] = target
        return edges

    def chain_target(
        self,
        table: _FileTable,
        reference: ReferenceView,
        memo: dict[tuple[object, ...], tuple[SymbolId | None, frozenset[int]]],
        reads: set[int],
        budget: _Budget,
    ) -> SymbolId | None:
        """``qualified_target``, memoised per file (with the files it read) for the same chain, name and meaning
        seen from the same scope: what the chain's first name denotes depends on where the reference is only when
        the file declares that name in a function or namespace (or it is ``this``/``super``: the enclosing class).
        The same reference text in the same enclosing symbol is answered from the memo at once."""
        seen = (reference.qualifier, reference.root_hint, reference.name, reference.kind, reference.enclosing)
        found = memo.get(seen)
        if found is not None:
            if found[1]:
                reads |= found[1]
            return found[0]
        chain = self.chain(reference)
        if chain is None:
            return None
        root, segments = chain
        if root in ("this", "super"):
            scope: object = ("class", self.enclosing_class(table, reference.enclosing))
        else:
            first = root[1:-1].split(".", 1)[0] if root.startswith("{") else root
            scope = reference.enclosing if table.known_names.get(first) else None
        want_type = reference.kind in _TYPE_REFERENCES
        key = (root, segments, reference.name, want_type, scope)
        found = memo.get(key)
        if found is None:
            trace = _Trace(0, budget)
            target = self.qualified_target(table, root, segments, reference, trace)
            found = (target, frozenset(trace.reads))
            if not trace.cut:
                memo[key] = found
        memo[seen] = found
        if found[1]:
            reads |= found[1]
        return found[0]

    # ---- modules ------------------------------------------------------------------------------------

    def resolution(self, table: _FileTable, import_index: int) -> Resolution:
        """Resolve an import once, noting in ``table.import_targets`` the linked file it points to."""
        resolution = table.resolutions[import_index]
        if resolution is None:
            extraction = table.extraction
            resolution = self.resolver.resolve(extraction.path, extraction.imports[import_index].specifier)
            if resolution.kind == "file" and resolution.paths:
                files = self.linked_files(resolution.paths)
                table.import_files[import_index] = files
                table.import_targets[import_index] = files[0] if files else None
            elif resolution.kind == "file" and resolution.path is not None:
                table.import_targets[import_index] = self.index_of_path.get(resolution.path)
            table.resolutions[import_index] = resolution
        return resolution

    def linked_files(self, paths: tuple[str, ...]) -> tuple[int, ...]:
        """The ids of the linked files among ``paths``, in order; the same tuple for the same ``paths`` object."""
        known = self._linked_files.get(id(paths))
        if known is not None and known[0] is paths:
            return known[1]
        index_of_path = self.index_of_path
        files = tuple(index_of_path[path] for path in paths if path in index_of_path)
        if len(self._linked_files) >= MAX_MEMOS:
            self._linked_files.clear()
        self._linked_files[id(paths)] = (paths, files)
        return files

    def import_target(self, table: _FileTable, import_index: int | None) -> _FileTable | None:
        """The table of the file an import of ``table`` resolves to, if it is one of the linked files."""
        if import_index is None:
            return None
        if table.resolutions[import_index] is None:
            self.resolution(table, import_index)
        files = table.import_files[import_index]
        if len(files) > 1:
            return self.module_table(files)
        target_file = table.import_targets[import_index]
        return None if target_file is None else self.table(target_file)

    def module_value(self, module: _FileTable) -> _Value:
        """A module as a value (``_Value``): a module of several files keeps them all (its first file alone exports
        only its own names)."""
        if not module.siblings:
            return (_AS_MODULE, module.file_index, -1)
        files = (module.file_index, *module.siblings)
        number = self._module_numbers.get(files)
        if number is None:
            number = self._module_numbers[files] = len(self._module_files)
            self._module_files.append(files)
        return (_AS_MODULE, module.file_index, -2 - number)

    def module_table(self, files: tuple[int, ...]) -> _FileTable:
        """The table of a module of several files: its first file's, exporting what any of its files exports."""
        table = self._module_tables.get(files)
        if table is None:
            table = self._module_tables[files] = _FileTable(files[0], self.files[files[0]])
            table.siblings = files[1:]
        return table

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
        for export in table.exports_named(name):
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
        for sibling in table.siblings:
            target = self.export_target(self.table(sibling), name, seen)
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
            return self.scope_imported(table, name, seen) if table.scope_imports else None
        binding = table.imported_binding[name]
        source = self.import_target(table, import_index)
        if source is None:
            return None
        if binding.imported == "*":
            if table.extraction.imports[import_index].kind not in _REQUIRE_KINDS:
                return None  # a namespace object
            return self.export_target(source, "export=", seen)
        return self.export_target(source, binding.imported, seen)

    def scope_imported(self, table: _FileTable, name: str, seen: set[tuple[int, str]]) -> SymbolId | None:
        """What ``name`` denotes through the imports that bring names in scope unqualified, in file order: a
        top-level declaration (not a method) of another file of the file's own package, or an export of a star
        import's module."""
        imports = table.extraction.imports
        for import_index in table.scope_imports:
            if imports[import_index].kind == "package":
                package = self.package(table)
                target = None if package is None else package.declaration(name, table.file_index)
                if target is not None:
                    return target
            else:
                source = self.import_target(table, import_index)
                target = None if source is None else self.export_target(source, name, seen)
                if target is not None:
                    return target
        return None

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
        return None if holder_id is None else self.namesake(holder_id, MEMBER_HOLDERS)

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
                if found:  # (a method of `X.prototype.m = …` or a type literal's member is no name in scope)
                    found = [index for index in found if symbols[index].kind not in _MEMBER_KINDS]
                if found:
                    return _choose(found, symbols, want_type)
            scope = symbols[scope].parent
        return table.choose_top_level(name, want_type)

    def name_target(self, table: _FileTable, name: str, enclosing: int | None, want_type: bool) -> SymbolId | None:
        """The declaration ``name`` denotes from inside ``enclosing``, as a type (one of ``NAMED_TYPE_KINDS``) or as a
        value (a plain value before what merged with it)."""
        local = self.local_declaration(table, name, enclosing, want_type)
        if local is not None and local not in table.require_bound:
            found: SymbolId | None = SymbolId(file=table.file_index, symbol=local)
        else:
            # a variable bound by `require()` of a file of the commit stands for what that file exports
            found = self.imported_symbol(table, name)
            if found is None and local is not None and self.import_target(table, table.imported_import[name]) is None:
                found = SymbolId(file=table.file_index, symbol=local)
            if (
                found is None
                and local is None
                and table.star_names is not None
                and name in table.star_names
                and name not in table.imported_import
            ):
                found = self.star_imported(table, name)
        return None if found is None else self.with_meaning(found, want_type)

    def with_meaning(
        self, declaration: SymbolId, want_type: bool, type_kinds: AbstractSet[SymbolKind] = NAMED_TYPE_KINDS
    ) -> SymbolId | None:
        """What a name found as ``declaration`` denotes as a type (one of ``type_kinds``, else nothing) or as a value
        (a plain value before what merged with it). A member of a module may be a namespace in a type (``A.B.C``)."""
        if want_type:
            return self.namesake(declaration, type_kinds)
        return self.namesake(declaration, PLAIN_VALUE_KINDS) or declaration

    def namesake(self, declaration: SymbolId, kinds: AbstractSet[SymbolKind]) -> SymbolId | None:
        """``declaration`` if it is of one of ``kinds``, else the first declaration of that name and scope in its file
        that is (a name can be declared more than once: ``function f`` + ``namespace f``), else ``None``."""
        table = self.table(declaration.file)
        symbols = table.symbols
        symbol = symbols[declaration.symbol]
        if symbol.kind in kinds:
            return declaration
        for candidate in self.declared_alike(table, declaration.symbol):
            if symbols[candidate].kind in kinds:
                return SymbolId(file=declaration.file, symbol=candidate)
        return None

    def namespace_import(self, table: _FileTable, name: str, enclosing: int | None) -> _FileTable | None:
        """The module ``name`` denotes, if not shadowed: bound by ``import * as name`` (or ``import name =
        require()``), or imported by name from a module that re-exports a whole module under it (``export * as name
        from``, ``import * as name …; export { name }``)."""
        local = self.local_declaration(table, name, enclosing, want_type=False)
        if local is not None and local not in table.require_bound:
            return None
        import_index = table.imported_import.get(name)
        if import_index is None:
            return None
        source = self.import_target(table, import_index)
        imported = table.imported_binding[name].imported
        if imported == "*":
            return source
        if source is None:  # (a namespace package is no file: its submodule is)
            return self.submodule(table, import_index, imported) if table.python else None
        return self.exported_module(source, imported)

    def exported_module(self, table: _FileTable, name: str) -> _FileTable | None:
        """The module a file exports whole under ``name`` (following re-exports), memoised."""
        found = table.module_memo.get(name, -1)
        if found == -1:
            module = self._exported_module(table, name, set())
            found = table.module_memo[name] = None if module is None else module.file_index
        return None if found is None else self.table(found)

    def _exported_module(self, table: _FileTable, name: str, seen: set[tuple[int, str]]) -> _FileTable | None:
        key = (table.file_index, name)
        if key in seen or len(seen) >= MAX_EXPORT_HOPS:
            return None
        seen.add(key)
        for export in table.exports_named(name):
            found: _FileTable | None = None
            if export.kind == "reexport_namespace" and table.python and export.import_index is not None:
                bindings = table.extraction.imports[export.import_index].bindings
                exact = any(binding.local == export.exported for binding in bindings)
                found = self.import_target(table, export.import_index) if exact else self.module_at(table, name)
            elif export.kind == "reexport_namespace":
                found = self.import_target(table, export.import_index)
            elif export.kind == "reexport" and export.local is not None:
                source = self.import_target(table, export.import_index)
                found = None if source is None else self._exported_module(source, export.local, seen)
                if found is None and table.python and export.import_index is not None:
                    found = self.submodule(table, export.import_index, export.local)  # `from . import sub`
            elif export.kind == "local" and export.local is not None:
                import_index = table.imported_import.get(export.local)
                if import_index is not None and export.local not in table.top_level:
                    source = self.import_target(table, import_index)
                    imported = table.imported_binding[export.local].imported
                    if source is not None and imported == "*":
                        found = source
                    elif source is not None:
                        found = self._exported_module(source, imported, seen)
            if found is not None:
                return found
        if name != "default":
            for star in table.star_exports or ():
                source = self.import_target(table, star.import_index)
                found = None if source is None else self._exported_module(source, name, seen)
                if found is not None:
                    return found
        if table.python and _is_package(table.extraction.path) and self.exported_symbol(table, name) is None:
            return self.module_at(table, "." + name)  # a package's submodule that no name of it hides
        return None

    # ---- types --------------------------------------------------------------------------------------

    def memoised(self, key: tuple[object, ...], trace: _Trace, answer: Callable[[_Trace], object]) -> object:
        """``answer(inner)`` for the question ``key``, asked one level below ``trace``, memoised.

        An answer is exactly what asking afresh gives, whichever files were linked before: a memoised answer brings
        the files it read and is charged the questions it took, and it is asked afresh instead when it would pass
        ``MAX_TYPE_DEPTH`` from here or the budget left (the fresh question then stops where it would have); an
        answer that met a cycle (a question asked again inside itself) or a bound is not memoised."""
        depth = trace.depth
        budget = trace.budget
        memo = self._memos.get(key)
        if memo is not None:
            result, reads, height, size = memo
            if depth + height <= MAX_TYPE_DEPTH and size <= budget.left:
                budget.left -= size
                if reads:
                    trace.reads |= reads
                trace.deepest = max(trace.deepest, depth + height)
                return result
        if depth >= MAX_TYPE_DEPTH or budget.left <= 0 or key in self._asked:
            trace.cut = True
            return None
        budget.left -= 1
        left = budget.left
        inner = _Trace(depth + 1, budget)
        self._asked.add(key)
        try:
            result = answer(inner)
        finally:
            self._asked.discard(key)
        if inner.cut:
            trace.cut = True
        else:
            if len(self._memos) >= MAX_MEMOS:
                self._memos.clear()
            self._memos[key] = (result, frozenset(inner.reads), inner.deepest - depth, 1 + left - budget.left)
        trace.reads |= inner.reads
        trace.deepest = max(trace.deepest, inner.deepest)
        return result

    def expression(self, text: str) -> Expression | None:
        """``parse_expression(text)``, memoised (qualifiers and hints repeat)."""
        parsed = self._expressions.get(text, ())
        if parsed == ():
            if len(self._expressions) >= MAX_MEMOS:
                self._expressions.clear()
            parsed = self._expressions[text] = parse_expression(text)
        return parsed  # type: ignore[return-value]

    def chain(self, reference: ReferenceView) -> Expression | None:
        """The chain a qualified reference's qualifier denotes; a qualifier whose first name is a local starts
        from the local's hint instead (``None`` when the local has none)."""
        qualifier, root_hint = reference.qualifier, reference.root_hint
        assert qualifier is not None
        key = (qualifier, root_hint)
        chain = self._chains.get(key, ())
        if chain != ():
            return chain  # type: ignore[return-value]
        parsed = self.expression(qualifier)
        if parsed is not None and parsed[0] == "super" and parsed[1][:1] == (CALL,):
            parsed = ("super", parsed[1][1:])  # Python's `super().m()`, `super(C, self).m()`
        if parsed is None or root_hint is None:
            chain = parsed
        else:
            root, segments = parsed
            hinted = self.expression(root_hint) if root_hint else None
            if hinted is None or root.startswith("{") or root in ("this", "super"):
                chain = None
            else:
                chain = hinted[0], hinted[1] + segments
        if len(self._chains) >= MAX_MEMOS:
            self._chains.clear()
        self._chains[key] = chain
        return chain

    def qualified_target(
        self, table: _FileTable, root: str, segments: tuple[str, ...], reference: ReferenceView, trace: _Trace
    ) -> SymbolId | None:
        """The member a qualified reference names, its qualifier's chain ``root`` ``segments`` evaluated."""
        value = self.evaluate(table, root, segments, reference.enclosing, trace)
        holder = None if value is None else self.holder_of(value, trace)
        return self.member_of(holder, reference.name, reference.kind in _TYPE_REFERENCES, trace)

    def evaluate(
        self, table: _FileTable, root: str, segments: Sequence[str], scope: int | None, trace: _Trace
    ) -> _Value | None:
        """What the chain ``root`` ``segments`` denotes, read from inside ``scope`` of ``table``'s file."""
        value: _Value | None
        dotted = self.dotted_module(table, root, segments) if table.module_paths is not None else None
        if dotted is not None and dotted[1] > 0:
            value = (_AS_MODULE, dotted[0].file_index, -1)
            segments = segments[dotted[1] :]
        else:
            value = self.root_value(table, root, scope, trace)
            if value is None and dotted is not None:
                value = (_AS_MODULE, dotted[0].file_index, -1)
        for segment in segments:
            if value is None:
                return None
            if segment == CALL:
                role, file_id, symbol = value
                callee = SymbolId(file=file_id, symbol=symbol)
                kind = self.table(file_id).symbols[symbol].kind if role == _AS_VALUE else None
                if kind == "class":
                    value = (_AS_INSTANCE, file_id, symbol)  # calling a class makes an instance (Python)
                    continue
                if kind not in CALLABLE_KINDS:
                    return None
                value = self.hinted_value(callee, trace) if self.single_hint(callee) else None
            else:
                holder = self.holder_of(value, trace)
                member = self.member_of(holder, segment, False, trace)
                if member is not None:
                    value = (_AS_VALUE, member.file, member.symbol)
                elif isinstance(holder, _FileTable) and (module := self.exported_module(holder, segment)) is not None:
                    value = (_AS_MODULE, module.file_index, -1)
                else:
                    value = None
        return value

    def root_value(self, table: _FileTable, root: str, scope: int | None, trace: _Trace) -> _Value | None:
        file_id = table.file_index
        if root.startswith("{"):
            declaration = self.type_declaration(table, root[1:-1], scope, trace)
            if (
                not isinstance(declaration, SymbolId)
                or self.table(declaration.file).symbols[declaration.symbol].kind not in TYPE_KINDS
            ):
                return None
            return (_AS_INSTANCE, declaration.file, declaration.symbol)
        if root in ("this", "super"):
            holder = self.enclosing_class(table, scope)
            if holder is None:
                return None
            if root == "this":
                return (_AS_INSTANCE, file_id, holder)
            bases = self.bases(SymbolId(file=file_id, symbol=holder), trace)
            return (_AS_INSTANCE, bases[0].file, bases[0].symbol) if bases else None
        if table.name_scope(root) is None:
            return None
        namespace = self.namespace_import(table, root, scope)
        if namespace is not None:
            return self.module_value(namespace)
        target = self.name_target(table, root, scope, want_type=False)
        return None if target is None else (_AS_VALUE, target.file, target.symbol)

    def type_declaration(self, table: _FileTable, name: str, scope: int | None, trace: _Trace) -> _Holder:
        """The declaration (or namespace-imported module) a type name (``T``, ``ns.T``) denotes from ``scope``."""
        first = name.split(".", 1)[0]
        scoped = table.name_scope(first)
        if scoped is None:
            return None
        key = ("type", table.file_index, scope if scoped else None, name)
        return self.memoised(key, trace, lambda inner: self._type_declaration(table, name, scope, inner))  # type: ignore[return-value]

    def _type_declaration(self, table: _FileTable, name: str, scope: int | None, trace: _Trace) -> _Holder:
        trace.reads.add(table.file_index)
        parts = name.split(".")
        if len(parts) == 1:
            return self.name_target(table, name, scope, want_type=True)
        dotted = self.dotted_module(table, parts[0], parts[1:-1]) if table.module_paths is not None else None
        holder: _Holder
        if dotted is not None:
            holder, start = dotted[0], 1 + dotted[1]
        else:
            holder, start = self.qualifier_holder(table, parts[0], scope), 1
        for index, part in enumerate(parts[start:], start):
            want_type = index == len(parts) - 1
            if isinstance(holder, _FileTable):
                trace.reads.add(holder.file_index)
                found = self.exported_symbol(holder, part)
            elif holder is not None:
                trace.reads.add(holder.file)
                found = self.member(self.table(holder.file), holder.symbol, part, want_type)
            else:
                return None
            if found is None:
                return None
            if not want_type and self.table(found.file).symbols[found.symbol].kind not in MEMBER_HOLDERS:
                return None
            holder = found
        return holder

    def hinted_value(self, symbol_id: SymbolId, trace: _Trace) -> _Value | None:
        """What a declaration's ``type_hint`` denotes (a value's type, or what a function returns)."""
        key = ("hint", symbol_id.file, symbol_id.symbol)
        return self.memoised(key, trace, lambda inner: self._hinted_value(symbol_id, inner))  # type: ignore[return-value]

    def _hinted_value(self, symbol_id: SymbolId, trace: _Trace) -> _Value | None:
        table = self.table(symbol_id.file)
        trace.reads.add(symbol_id.file)
        symbol = table.symbols[symbol_id.symbol]
        hint = symbol.type_hint
        parsed = None if not hint else self.expression(hint)
        if parsed is None:
            return None
        return self.evaluate(table, parsed[0], parsed[1], symbol.parent, trace)

    def holder_of(self, value: _Value, trace: _Trace) -> _Holder:
        """What ``value.x`` looks into: a module's exports, or the members of a declaration (a class, interface, …
        itself, or the type of a variable, property or getter, followed through hints)."""
        for _ in range(MAX_TYPE_DEPTH):
            role, file_id, symbol = value
            if role == _AS_MODULE:
                return self.table(file_id) if symbol == -1 else self.module_table(self._module_files[-2 - symbol])
            if role == _AS_INSTANCE:
                return SymbolId(file=file_id, symbol=symbol)
            declaration = SymbolId(file=file_id, symbol=symbol)
            kind = self.table(file_id).symbols[symbol].kind
            if kind in MEMBER_HOLDERS:
                return declaration
            hinted = (
                self.hinted_value(declaration, trace)
                if kind in VALUE_HINT_KINDS and self.single_hint(declaration)
                else None
            )
            if hinted is None:
                return self.namesake(declaration, MEMBER_HOLDERS)  # `function f` + `namespace f`: f.x
            value = hinted
        trace.cut = True
        return None

    def member_of(self, holder: _Holder, name: str, want_type: bool, trace: _Trace) -> SymbolId | None:
        if isinstance(holder, _FileTable):
            trace.reads.add(holder.file_index)
            found = self.exported_symbol(holder, name)
            return None if found is None else self.with_meaning(found, want_type, TYPE_KINDS)
        if holder is None:
            return None
        return self.find_member(holder, name, want_type, trace)

    def find_member(self, holder: SymbolId, name: str, want_type: bool, trace: _Trace) -> SymbolId | None:
        """The member ``name`` of a declaration, of the declarations its name merges with, or of their bases,
        nearest first (``ancestors``)."""
        key = ("member", holder.file, holder.symbol, name, want_type)
        return self.memoised(key, trace, lambda inner: self._find_member(holder, name, want_type, inner))  # type: ignore[return-value]

    def _find_member(self, holder: SymbolId, name: str, want_type: bool, trace: _Trace) -> SymbolId | None:
        for ancestor in self.ancestors(holder, trace):
            trace.reads.add(ancestor.file)
            table = self.table(ancestor.file)
            found = self.member(table, ancestor.symbol, name, want_type)
            if found is None and table.symbols[ancestor.symbol].parent is None:
                found = self.receiver_member(table, ancestor.symbol, name, trace)
            if found is not None:
                return found
        return None

    def receiver_member(self, table: _FileTable, holder: int, name: str, trace: _Trace) -> SymbolId | None:
        """The method ``name`` declared apart from the top-level type ``holder`` of ``table``'s file (its
        ``receiver`` names the type): in that file or another file of its package, the first in package order."""
        symbol = table.symbols[holder]
        if symbol.kind not in TYPE_KINDS:
            return None
        package = self.package(table)
        methods = None if package is None else package.methods.get(symbol.name)
        if methods is None:
            return None
        by_name, files = methods
        trace.reads |= files
        return by_name.get(name)

    def package(self, table: _FileTable) -> _Package | None:
        """The package of ``table``'s file: the files its ``package`` import resolves to (the file itself last, when
        they lack it); ``None`` when it has no such import. Built once per package and kept while
        ``MAX_PACKAGE_NAMES`` allows."""
        imports = table.extraction.imports
        files: tuple[int, ...] | None = None
        for import_index in table.scope_imports:
            if imports[import_index].kind == "package":
                self.resolution(table, import_index)
                files = table.import_files[import_index]
                break
        if files is None:
            return None
        key = (id(files), -1)
        package = self._packages.get(key)
        if package is None or package.files is not files:
            package = self._build_package(key, files, files)
        if table.file_index in package.members:
            self._packages.move_to_end(key)
            return package
        key = (id(files), table.file_index)
        own = self._packages.get(key)
        if own is None or own.files is not files:
            own = self._build_package(key, files, (*files, table.file_index))
        self._packages.move_to_end(key)
        return own

    def _build_package(self, key: tuple[int, int], identity: tuple[int, ...], files: tuple[int, ...]) -> _Package:
        """Read each of ``files`` once into a ``_Package`` kept under ``key`` (``identity``: the tuple whose id the
        key holds, kept alive by the package so that the id is not reused)."""
        package = _Package(identity, frozenset(files))
        names = package.names
        later = package.later
        declaring_methods: dict[str, tuple[dict[str, SymbolId], set[int]]] = {}
        for file_id in files:
            table = self.table(file_id)
            symbols = table.symbols
            for name in table.top_level:
                declared = names.get(name)
                if declared is not None and (declared.file == file_id or name in later):
                    continue
                for candidate in table.top_level_candidates(name):
                    if symbols[candidate].kind != "method":
                        if declared is None:
                            names[name] = SymbolId(file=file_id, symbol=candidate)
                        else:
                            later[name] = SymbolId(file=file_id, symbol=candidate)
                        break
            for type_name, by_name in (table.receivers or {}).items():
                known, declaring = declaring_methods.setdefault(type_name, ({}, set()))
                declaring.add(file_id)
                for method_name, index in by_name.items():
                    known.setdefault(method_name, SymbolId(file=file_id, symbol=index))
        package.methods = {
            type_name: (known, frozenset(declaring)) for type_name, (known, declaring) in declaring_methods.items()
        }
        package.size = len(names) + len(later) + sum(len(known) for known, _ in package.methods.values())
        stale = self._packages.pop(key, None)
        if stale is not None:
            self._package_names -= stale.size
        while self._packages and self._package_names + package.size > MAX_PACKAGE_NAMES:
            _, dropped = self._packages.popitem(last=False)
            self._package_names -= dropped.size
        self._packages[key] = package
        self._package_names += package.size
        return package

    def ancestors(self, holder: SymbolId, trace: _Trace) -> tuple[SymbolId, ...]:
        """``holder``, the declarations its name merges with, and then their bases breadth first (each once, at
        most ``MAX_ANCESTORS``): a cycle or a lattice of bases costs one visit per declaration."""
        key = ("ancestors", holder.file, holder.symbol)
        found = self.memoised(key, trace, lambda inner: self._ancestors(holder, inner))
        return found if isinstance(found, tuple) else ()  # (cut: nothing)

    def _ancestors(self, holder: SymbolId, trace: _Trace) -> tuple[SymbolId, ...]:
        trace.reads.add(holder.file)
        found = [
            SymbolId(file=holder.file, symbol=index) for index in self.merged(self.table(holder.file), holder.symbol)
        ]
        seen = set(found)
        index = 0
        while index < len(found) and len(found) < MAX_ANCESTORS:
            for base in self.bases(found[index], trace):
                for declaration in self.merged(self.table(base.file), base.symbol):
                    merged = SymbolId(file=base.file, symbol=declaration)
                    if merged not in seen:
                        seen.add(merged)
                        found.append(merged)
            index += 1
        return tuple(found[:MAX_ANCESTORS])

    def merged(self, table: _FileTable, holder: int) -> list[int]:
        """``holder`` and the other declarations its name merges with in the same scope of its file (``interface`` +
        ``interface``, ``class`` + ``interface``, ``class``/``function``/``enum`` + ``namespace``, …)."""
        symbol = table.symbols[holder]
        return (
            [holder]
            + [
                other
                for other in self.declared_alike(table, holder)
                if other != holder and table.symbols[other].kind in MEMBER_HOLDERS
            ]
            if symbol.kind in MEMBER_HOLDERS | BASE_KINDS
            else [holder]
        )

    def single_hint(self, declaration: SymbolId) -> bool:
        """Whether every declaration of its name and scope that is a value (or every one that is callable: the
        overloads) has the same ``type_hint`` (``const s = new A()`` and, in a block, ``const s = new B()``;
        ``make(a: string): A`` and ``make(a: number): B``): where they differ, which one is meant is not followed."""
        table = self.table(declaration.file)
        symbols = table.symbols
        symbol = symbols[declaration.symbol]
        group = CALLABLE_KINDS if symbol.kind in CALLABLE_KINDS else VALUE_HINT_KINDS
        return all(
            symbols[other].type_hint == symbol.type_hint
            for other in self.declared_alike(table, declaration.symbol)
            if symbols[other].kind in group
        )

    def declared_alike(self, table: _FileTable, index: int) -> Iterable[int]:
        """The declarations of the same name in the same scope of the file as the symbol ``index`` (itself too)."""
        symbol = table.symbols[index]
        if symbol.receiver is not None:
            return (index,)  # a method of a type declared apart from it (its package declares no other of the name)
        if symbol.parent is None:
            return table.top_level_candidates(symbol.name)
        return (table.members(symbol.parent) or {}).get(symbol.name, ())

    def bases(self, holder: SymbolId, trace: _Trace) -> tuple[SymbolId, ...]:
        """The declarations a class, interface or type alias extends (its ``type_hint``), in order."""
        table = self.table(holder.file)
        symbol = table.symbols[holder.symbol]
        if symbol.kind not in BASE_KINDS or not symbol.type_hint:
            return ()
        key = ("bases", holder.file, holder.symbol)
        found = self.memoised(key, trace, lambda inner: self._bases(table, holder.symbol, inner))
        return found if isinstance(found, tuple) else ()  # (cut: nothing)

    def _bases(self, table: _FileTable, holder: int, trace: _Trace) -> tuple[SymbolId, ...]:
        trace.reads.add(table.file_index)
        symbol = table.symbols[holder]
        found: list[SymbolId] = []
        for part in (symbol.type_hint or "").split(","):
            if not (part.startswith("{") and part.endswith("}")):
                continue
            declaration = self.type_declaration(table, part[1:-1], symbol.parent, trace)
            if (
                isinstance(declaration, SymbolId)
                and declaration != SymbolId(file=table.file_index, symbol=holder)
                and self.table(declaration.file).symbols[declaration.symbol].kind in BASE_KINDS | MEMBER_HOLDERS
            ):
                found.append(declaration)
        return tuple(found)
