"""Linking Python: hand-built rows as the contract's extraction writes them (``docs/index-contract.md``, "Python"),
resolved by the Python resolver through the commit resolver."""

from __future__ import annotations

from collections.abc import Sequence

from stages.commit import CommitContext, link_commit
from stages.link import link
from stages.models import (
    ExportKind,
    LinkBinding,
    LinkedIndex,
    LinkExport,
    LinkFile,
    LinkImport,
    LinkReference,
    LinkSymbol,
    ReferenceKind,
    SymbolId,
    SymbolKind,
)
from stages.resolvers import CommitResolver


def sym(
    name: str, kind: SymbolKind = "function", parent: int | None = None, hint: str | None = None, exported: bool = True
) -> LinkSymbol:
    return LinkSymbol(name=name, kind=kind, parent=parent, type_hint=hint, exported=exported)


def imp(specifier: str, *bindings: tuple[str, str]) -> LinkImport:
    return LinkImport(
        specifier=specifier,
        kind="import",
        bindings=tuple(LinkBinding(imported=imported, local=local) for imported, local in bindings),
    )


def ref(
    name: str,
    qualifier: str | None = None,
    kind: ReferenceKind = "call",
    enclosing: int | None = None,
    root_hint: str | None = None,
) -> LinkReference:
    return LinkReference(name=name, qualifier=qualifier, kind=kind, enclosing=enclosing, root_hint=root_hint)


def module(
    path: str,
    symbols: Sequence[LinkSymbol] = (),
    imports: Sequence[LinkImport] = (),
    references: Sequence[LinkReference] = (),
    reexports: Sequence[tuple[str, str | None, ExportKind, int]] = (),
) -> LinkFile:
    """A module whose exports are those the contract gives: one ``local`` per top-level name, then ``reexports``
    (exported, local, kind, import index)."""
    local_names = dict.fromkeys(symbol.name for symbol in symbols if symbol.parent is None)
    exports = [LinkExport(exported=name, local=name, kind="local", import_index=None) for name in local_names]
    exports += [
        LinkExport(exported=exported, local=local, kind=kind, import_index=index)
        for exported, local, kind, index in reexports
    ]
    return LinkFile(
        path=path, symbols=tuple(symbols), imports=tuple(imports), exports=tuple(exports), references=tuple(references)
    )


def link_files(files: list[LinkFile], configs: dict[str, str] | None = None) -> LinkedIndex:
    configs = configs or {}
    paths = [file.path for file in files] + list(configs)
    return link(files, CommitResolver.from_files(paths, configs.get))


def targets(index: LinkedIndex, file: int) -> list[SymbolId | None]:
    return [found.target for found in index.reference_links if found.file == file]


def at(file: int, symbol: int) -> SymbolId:
    return SymbolId(file=file, symbol=symbol)


# --- from m import x -----------------------------------------------------------------------------------------


def test_link__from_import_binds_the_modules_top_level_name() -> None:
    main = module("main.py", imports=[imp("util", ("helper", "helper"))], references=[ref("helper")])
    util = module("util.py", symbols=[sym("helper")])
    index = link_files([main, util])
    assert [binding.target for binding in index.binding_links] == [at(1, 0)]
    assert targets(index, 0) == [at(1, 0)]


def test_link__from_package_import_follows_the_init_reexport() -> None:
    main = module("main.py", imports=[imp("pkg", ("helper", "helper"))], references=[ref("helper")])
    init = module(
        "pkg/__init__.py",
        imports=[imp(".impl", ("helper", "helper"))],
        reexports=[("helper", "helper", "reexport", 0)],
    )
    impl = module("pkg/impl.py", symbols=[sym("helper")])
    index = link_files([main, init, impl])
    assert targets(index, 0) == [at(2, 0)]


def test_link__from_package_import_submodule_binds_the_module() -> None:
    main = module(
        "main.py",
        imports=[imp("pkg", ("sub", "sub"))],
        references=[ref("run", "sub"), ref("Tool", "sub", kind="type")],
    )
    init = module("pkg/__init__.py")
    sub = module("pkg/sub.py", symbols=[sym("run"), sym("Tool", "class")])
    index = link_files([main, init, sub])
    assert [binding.target for binding in index.binding_links] == [None]
    assert targets(index, 0) == [at(2, 0), at(2, 1)]
    dependencies = {(d.source, d.target, d.inferred) for d in index.file_dependencies if d.source == 0}
    assert (0, 2, True) in dependencies  # what the links read of the submodule is a dependency


def test_link__a_name_of_the_package_wins_over_its_submodule() -> None:
    main = module("main.py", imports=[imp("pkg", ("sub", "sub"))], references=[ref("sub"), ref("run", "sub")])
    init = module("pkg/__init__.py", symbols=[sym("sub", "class"), sym("run", "method", parent=0)])
    sub = module("pkg/sub.py", symbols=[sym("run")])
    index = link_files([main, init, sub])
    assert targets(index, 0) == [at(1, 0), at(1, 1)]


def test_link__from_dot_import_submodule_and_name() -> None:
    init = module("pkg/__init__.py", symbols=[sym("Config", "class")])
    user = module(
        "pkg/user.py",
        imports=[imp(".", ("models", "models"), ("Config", "Config"))],
        references=[ref("Model", "models"), ref("Config", kind="type")],
    )
    models = module("pkg/models.py", symbols=[sym("Model", "class")])
    index = link_files([init, user, models])
    assert targets(index, 1) == [at(2, 0), at(0, 0)]


def test_link__init_that_imports_its_own_submodule_exports_it() -> None:
    main = module("main.py", imports=[imp("pkg", ("sub", "sub"))], references=[ref("run", "sub")])
    init = module("pkg/__init__.py", imports=[imp(".", ("sub", "sub"))], reexports=[("sub", "sub", "reexport", 0)])
    sub = module("pkg/sub.py", symbols=[sym("run")])
    index = link_files([main, init, sub])
    assert targets(index, 0) == [at(2, 0)]


# --- import a.b.c --------------------------------------------------------------------------------------------


def test_link__dotted_import_links_dotted_qualifiers_into_that_module_and_its_submodules() -> None:
    main = module(
        "main.py",
        imports=[imp("a.b.c", ("*", "a.b.c"))],
        references=[
            ref("f", "a.b.c"),
            ref("g", "a.b.c.d"),
            ref("m", "a.b.c.d.K()"),
            ref("top", "a"),
            ref("missing", "a.b.c"),
        ],
    )
    files = [
        main,
        module("a/__init__.py", symbols=[sym("top")]),
        module("a/b/__init__.py"),
        module("a/b/c/__init__.py", symbols=[sym("f")]),
        module("a/b/c/d.py", symbols=[sym("g"), sym("K", "class"), sym("m", "method", parent=1)]),
    ]
    index = link_files(files)
    assert targets(index, 0) == [at(3, 0), at(4, 0), at(4, 2), at(1, 0), None]
    assert [r.target_file for r in index.resolved_imports if r.file == 0] == [3]


def test_link__dotted_import_of_a_namespace_package_links_through_the_exact_name() -> None:
    main = module("main.py", imports=[imp("ns.mod", ("*", "ns.mod"))], references=[ref("f", "ns.mod")])
    index = link_files([main, module("ns/mod.py", symbols=[sym("f")])])
    assert targets(index, 0) == [at(1, 0)]


def test_link__import_as_links_into_the_module() -> None:
    main = module("main.py", imports=[imp("a.b", ("*", "c"))], references=[ref("f", "c"), ref("C", "c", kind="type")])
    index = link_files([main, module("a/b.py", symbols=[sym("f"), sym("C", "class")])])
    assert targets(index, 0) == [at(1, 0), at(1, 1)]


def test_link__dotted_annotation_links_to_the_class() -> None:
    main = module(
        "main.py",
        symbols=[sym("x", "variable", hint="{pkg.mod.Klass}")],
        imports=[imp("pkg.mod", ("*", "pkg.mod"))],
        references=[ref("Klass", "pkg.mod", kind="type"), ref("run", "x")],
    )
    mod = module("pkg/mod.py", symbols=[sym("Klass", "class"), sym("run", "method", parent=0)])
    index = link_files([main, module("pkg/__init__.py"), mod])
    assert targets(index, 0) == [at(2, 0), at(2, 1)]


def test_link__namespace_package_submodule_from_import() -> None:
    main = module("main.py", imports=[imp("ns", ("mod", "mod"))], references=[ref("f", "mod")])
    index = link_files([main, module("ns/mod.py", symbols=[sym("f")])])
    assert [r.target_path for r in index.resolved_imports] == ["ns"]
    assert targets(index, 0) == [at(1, 0)]


def test_link__module_reexporting_import_a_b_exports_the_top_package() -> None:
    main = module("main.py", imports=[imp("m", ("a", "a"))], references=[ref("f", "a.b"), ref("top", "a")])
    m = module("m.py", imports=[imp("a.b", ("*", "a.b"))], reexports=[("a", "*", "reexport_namespace", 0)])
    files = [main, m, module("a/__init__.py", symbols=[sym("top")]), module("a/b.py", symbols=[sym("f")])]
    index = link_files(files)
    assert targets(index, 0) == [at(3, 0), at(2, 0)]


# --- from m import * -----------------------------------------------------------------------------------------


def test_link__star_import_makes_exported_names_visible_after_own_and_explicit_ones() -> None:
    main = module(
        "main.py",
        symbols=[sym("mine")],
        imports=[imp("lib", ("chosen", "chosen")), imp("star"), imp("other", ("chosen2", "chosen2"))],
        references=[ref("public"), ref("_private"), ref("hidden"), ref("mine"), ref("chosen"), ref("reexported")],
        reexports=[("*", None, "reexport_all", 1)],
    )
    star = module(
        "star.py",
        symbols=[
            sym("public"),
            sym("_private", exported=False),
            sym("hidden", exported=False),
            sym("mine"),
            sym("chosen"),
        ],
        imports=[imp(".deep", ("reexported", "reexported"))],
        reexports=[("reexported", "reexported", "reexport", 0)],
    )
    lib = module("lib.py", symbols=[sym("chosen")])
    deep = module("deep.py", symbols=[sym("reexported")])
    index = link_files([main, star, lib, module("other.py"), deep])
    assert targets(index, 0) == [at(1, 0), None, None, at(0, 0), at(2, 0), at(4, 0)]


def test_link__star_import_through_a_package_and_star_cycles_end() -> None:
    main = module(
        "main.py",
        imports=[imp("pkg")],
        references=[ref("f"), ref("g"), ref("m", "K()")],
        reexports=[("*", None, "reexport_all", 0)],
    )
    init = module("pkg/__init__.py", imports=[imp(".a")], reexports=[("*", None, "reexport_all", 0)])
    a = module(
        "pkg/a.py",
        symbols=[sym("f"), sym("K", "class"), sym("m", "method", parent=1)],
        imports=[imp(".b")],
        reexports=[("*", None, "reexport_all", 0)],
    )
    b = module("pkg/b.py", symbols=[sym("g")], imports=[imp(".a")], reexports=[("*", None, "reexport_all", 0)])
    index = link_files([main, init, a, b])
    assert targets(index, 0) == [at(2, 0), at(3, 0), at(2, 2)]


# --- self, super, instances, locals and builtins ------------------------------------------------------------


def test_link__self_call_links_to_the_method_of_the_class_or_its_bases() -> None:
    base = module("base.py", symbols=[sym("Base", "class"), sym("shared", "method", parent=0)])
    main = module(
        "main.py",
        symbols=[
            sym("Child", "class", hint="{Base}"),
            sym("own", "method", parent=0),
            sym("run", "method", parent=0),
        ],
        imports=[imp("base", ("Base", "Base"))],
        references=[
            ref("Base", kind="extends"),
            ref("own", "self", enclosing=2, root_hint="this"),
            ref("shared", "self", enclosing=2, root_hint="this"),
            ref("shared", "cls", enclosing=2, root_hint="this"),
            ref("nothing", "self", enclosing=2, root_hint="this"),
        ],
    )
    index = link_files([base, main])
    assert targets(index, 1) == [at(0, 0), at(1, 1), at(0, 1), at(0, 1), None]


def test_link__super_call_links_to_the_bases_method() -> None:
    main = module(
        "main.py",
        symbols=[
            sym("Base", "class"),
            sym("save", "method", parent=0),
            sym("Child", "class", hint="{Base}"),
            sym("save", "method", parent=2),
        ],
        references=[ref("save", "super()", enclosing=3), ref("save", "super(Child, self)", enclosing=3)],
    )
    index = link_files([main])
    assert targets(index, 0) == [at(0, 1), at(0, 1)]


def test_link__calling_a_class_gives_an_instance() -> None:
    main = module(
        "main.py",
        symbols=[
            sym("Foo", "class"),
            sym("m", "method", parent=0),
            sym("run"),
            sym("made", "variable", hint="Foo()"),
        ],
        references=[
            ref("m", "x", enclosing=2, root_hint="Foo()"),
            ref("m", "Foo()", enclosing=2),
            ref("m", "made"),
            ref("m", "run()", enclosing=2),
        ],
    )
    index = link_files([main])
    assert targets(index, 0) == [at(0, 1), at(0, 1), at(0, 1), None]


def test_link__a_parameter_or_local_never_links_to_a_module_namesake() -> None:
    main = module(
        "main.py",
        symbols=[sym("helper"), sym("run")],
        references=[ref("helper", enclosing=1, root_hint=""), ref("x", "helper", enclosing=1, root_hint="")],
    )
    index = link_files([main])
    assert targets(index, 0) == [None, None]


def test_link__builtins_stay_unlinked() -> None:
    main = module(
        "main.py",
        symbols=[sym("x", "variable", hint="{int}")],
        references=[ref("print"), ref("len"), ref("int", kind="type"), ref("join", "os.path"), ref("bit_length", "x")],
    )
    index = link_files([main])
    assert targets(index, 0) == [None] * 5


# --- packages ------------------------------------------------------------------------------------------------


def test_link_commit__python_package_dependencies_have_distribution_names_and_versions() -> None:
    main = module(
        "src/app/main.py",
        imports=[
            imp("yaml", ("safe_load", "safe_load")),
            imp("requests.adapters", ("*", "requests.adapters")),
            imp("os.path", ("*", "os.path")),
            imp("__future__", ("annotations", "annotations")),
            imp("undeclared_thing"),
        ],
    )
    configs = {"pyproject.toml": '[project]\ndependencies = ["PyYAML>=6", "requests==2.32.3"]\n'}
    context = CommitContext(paths=("pyproject.toml", "src/app/main.py"), configs=configs)
    linked = link_commit([main], context)
    dependencies = [(d.package, d.is_builtin) for d in linked.linked.package_dependencies]
    assert dependencies == [
        ("__future__", True),
        ("os", True),
        ("pyyaml", False),
        ("requests", False),
        ("undeclared-thing", False),
    ]
    assert linked.package_versions == {"0:pyyaml": ">=6", "0:requests": "==2.32.3"}
