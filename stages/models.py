"""Plain data produced by the parse, extract and link stages.

Everything here is a msgspec Struct so it crosses process boundaries as ``msgspec.msgpack`` bytes
(tree-sitter trees never leave the process that parsed them). Structs are frozen and keyword-only;
collections are tuples so a decoded value is as immutable as the one that was encoded. They hold no reference
cycles, so they are not tracked by the cyclic garbage collector (``gc=False``): extraction allocates hundreds of
thousands of them, and tracking made collection a third of the cost of building a reference.

Position convention (the index contract, see ``docs/index-contract.md``): lines are 1-based, columns are
0-based **byte** offsets within the line (UTF-8), byte offsets are 0-based from the start of the file, and
every end is exclusive.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SymbolKind = Literal[
    "function",
    "class",
    "method",
    "constructor",
    "getter",
    "setter",
    "property",
    "interface",
    "type_alias",
    "enum",
    "enum_member",
    "namespace",
    "module",
    "variable",
    "constant",
]
"""``namespace`` is ``namespace A {}`` / ``module A {}`` / ``declare global {}``; ``module`` is an ambient
``declare module "name" {}`` whose name is a string."""

ImportKind = Literal["import", "side_effect", "reexport", "dynamic", "require", "import_equals", "package"]
"""``import`` has bindings; ``side_effect`` is ``import "x"``; ``reexport`` is ``export … from "x"``;
``dynamic`` is ``import("x")``; ``require`` is ``require("x")``; ``import_equals`` is ``import a = require("x")``;
``package`` is the implicit import of a file's own package (Go: the names declared at the top level of the other
files of the package are in scope where the file neither declares nor imports them)."""

ExportKind = Literal["local", "reexport", "reexport_all", "reexport_namespace", "assignment", "commonjs"]
"""``local`` exports a binding of this file (``export function f``, ``export { a as b }``, ``export default x``);
``reexport`` is ``export { a as b } from``; ``reexport_all`` is ``export * from``; ``reexport_namespace`` is
``export * as ns from``; ``assignment`` is ``export = x``; ``commonjs`` is ``module.exports = …`` /
``exports.x = …``."""

ReferenceKind = Literal["call", "new", "extends", "implements", "type", "jsx"]

FileErrorKind = Literal["too_large", "invalid_utf8", "nul_byte", "timeout", "unsupported_language", "internal_error"]
"""``internal_error``: the extraction itself raised on this file (a bug); the file is kept with no rows."""

ResolutionKind = Literal["file", "external", "builtin", "unresolved"]

Transport = Literal["https", "http", "git", "ssh", "file", "local"]
"""How a repository is reached (``stages.fetch.RepoTarget``); here so messages can name it without loading git."""


class Span(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    """A half-open source range: 1-based lines, 0-based byte columns, 0-based byte offsets."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int
    start_byte: int
    end_byte: int


class Symbol(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One declaration. ``parent`` is the index of the enclosing symbol in ``FileExtraction.symbols``."""

    name: str
    kind: SymbolKind
    span: Span
    name_span: Span
    parent: int | None
    exported: bool
    is_default_export: bool
    is_async: bool
    signature: str
    doc: str | None
    type_hint: str | None = None
    """What a value of this declaration is, for following member accesses (``docs/index-contract.md``, "Type
    hints"): a property's, variable's or parameter property's declared type or initialiser, a function's, method's
    or getter's return type, a class's, interface's or type alias's bases; ``None`` when the code does not say."""
    receiver: str | None = None
    """The name of the top-level type this method belongs to when that type is not its ``parent``: declared in
    another file of its package (the files its file's ``package`` import resolves to) or further down its own file
    (Go: ``func (s *Server) Handle()`` in ``handlers.go``, ``type Server struct`` in ``server.go``); ``parent`` is
    then ``None``. The linker finds such a method among the members of that type."""


class ImportBinding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One name brought in by an import.

    ``imported`` is the exported name in the target (``"default"`` for default imports, ``"*"`` for namespace
    imports and ``import x = require()``); ``local`` is the name bound in this file.
    """

    imported: str
    local: str
    is_type_only: bool
    span: Span


class Import(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One module specifier use: a static import, a re-export's source, ``import()`` or ``require()``."""

    specifier: str
    kind: ImportKind
    is_type_only: bool
    span: Span
    specifier_span: Span
    bindings: tuple[ImportBinding, ...]


class Export(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One exported name.

    ``exported`` is the public name (``"default"``, ``"export="`` for ``export =`` and
    ``module.exports =``, ``"*"`` for ``export * from``). ``local`` is the name of the binding in this file for
    local exports (``None`` when an expression is exported); for re-exports it is the name imported from the
    source module (``"*"`` for ``export * as ns``). ``import_index`` points into ``FileExtraction.imports``
    for re-exports.
    """

    exported: str
    local: str | None
    kind: ExportKind
    is_type_only: bool
    span: Span
    import_index: int | None


class Reference(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A use of a name.

    ``name`` is the last identifier (``b`` for ``a.b()``, ``Foo`` for ``<ns.Foo/>``); ``qualifier`` is the text
    before the last dot (``a``, ``this``, ``ns``) or ``None``; ``span`` covers ``name`` only; ``enclosing`` is
    the index of the innermost symbol whose range contains the reference.
    """

    name: str
    qualifier: str | None
    kind: ReferenceKind
    span: Span
    enclosing: int | None
    root_hint: str | None = None
    """When the first name of the reference (of its qualifier, if it has one) is a parameter or local variable of an
    enclosing function: that local's type hint, or ``""`` when the code does not say; ``None`` otherwise (the name
    is looked up among the file's declarations and imports)."""


class FileError(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Why a file yielded no rows."""

    kind: FileErrorKind
    message: str


class FileExtraction(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything extracted from one file. A file with ``error`` set has no rows."""

    path: str
    language: str | None
    is_declaration_file: bool
    size_bytes: int
    had_syntax_errors: bool
    error: FileError | None
    symbols: tuple[Symbol, ...] = ()
    imports: tuple[Import, ...] = ()
    exports: tuple[Export, ...] = ()
    references: tuple[Reference, ...] = ()


class LinkSymbol(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The fields of a ``Symbol`` that linking reads (see ``LinkFile``)."""

    name: str
    kind: SymbolKind
    parent: int | None
    type_hint: str | None = None
    exported: bool = True
    """Read by a Python ``from m import *`` (which binds only the names ``__all__`` or their spelling export)."""
    receiver: str | None = None


class LinkBinding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The fields of an ``ImportBinding`` that linking reads."""

    imported: str
    local: str


class LinkImport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The fields of an ``Import`` that linking reads."""

    specifier: str
    kind: ImportKind
    bindings: tuple[LinkBinding, ...]


class LinkExport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The fields of an ``Export`` that linking reads."""

    exported: str
    local: str | None
    kind: ExportKind
    import_index: int | None


class LinkReference(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The fields of a ``Reference`` that linking reads."""

    name: str
    qualifier: str | None
    kind: ReferenceKind
    enclosing: int | None
    root_hint: str | None = None


class LinkFile(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The part of a ``FileExtraction`` that the cross-file step reads: no ranges, signatures or docs.

    Field names are those of ``FileExtraction``, so an encoded extraction decodes straight into this smaller
    form (msgpack fields it does not name are skipped); it takes about a third of the memory of the whole.
    """

    path: str
    symbols: tuple[LinkSymbol, ...] = ()
    imports: tuple[LinkImport, ...] = ()
    exports: tuple[LinkExport, ...] = ()
    references: tuple[LinkReference, ...] = ()


class SymbolId(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    """A symbol's id within one link job: its file's index in the linked sequence, and its index in that file."""

    file: int
    symbol: int


class ResolvedImport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where one import of one file points: a file of the commit, an external package, a builtin, or nowhere."""

    file: int
    import_index: int
    kind: ResolutionKind
    target_file: int | None
    package: str | None
    target_path: str | None = None  # a ``file`` target the index does not hold (``./styles.css``), else None


class BindingLink(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A named import linked to the declaration it finally names, after re-export chains and ``export *``."""

    file: int
    import_index: int
    binding_index: int
    target: SymbolId | None


class ReferenceLink(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A reference and its definition, or ``None`` when the name is not defined in the commit."""

    file: int
    reference_index: int
    target: SymbolId | None


class FileDependency(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    """``source`` imports ``target``, or its links read declarations of ``target`` while following types, or both
    (``inferred`` when they read them: an incremental job relinks ``source`` whenever ``target`` is relinked or its
    declarations change)."""

    source: int
    target: int
    inferred: bool = False


class SymbolDependency(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    source: SymbolId
    target: SymbolId


class PackageDependency(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    file: int
    package: str
    is_builtin: bool


class LinkedIndex(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The cross-file result for one commit (or for the files it was asked to relink); file numbers are the file
    ids given to ``link``, rows are ordered by source file id."""

    resolved_imports: tuple[ResolvedImport, ...]
    binding_links: tuple[BindingLink, ...]
    reference_links: tuple[ReferenceLink, ...]
    file_dependencies: tuple[FileDependency, ...]
    symbol_dependencies: tuple[SymbolDependency, ...]
    package_dependencies: tuple[PackageDependency, ...]
