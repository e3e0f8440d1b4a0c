"""Hostile Python import structures for the linker: long star-import chains and cycles, absurdly dotted imports and
qualifiers, packages nested thousands deep. Each links without exhausting the stack, in work bounded by the
linker's bounds, and answers what the bounds allow."""

from __future__ import annotations

from typing import Any

import pytest

from stages.link import MAX_EXPORT_HOPS, _Linker, link
from stages.models import (
    LinkBinding,
    LinkedIndex,
    LinkExport,
    LinkFile,
    LinkImport,
    LinkReference,
    LinkSymbol,
    SymbolId,
)
from stages.resolvers import CommitResolver

CHAIN = 2_000


def star_module(path: str, imported: str | None, own: str) -> LinkFile:
    imports = () if imported is None else (LinkImport(specifier=imported, kind="import", bindings=()),)
    exports = [LinkExport(exported=own, local=own, kind="local", import_index=None)]
    if imported is not None:
        exports.append(LinkExport(exported="*", local=None, kind="reexport_all", import_index=0))
    return LinkFile(
        path=path,
        symbols=(LinkSymbol(name=own, kind="function", parent=None),),
        imports=imports,
        exports=tuple(exports),
        references=(LinkReference(name="f0", qualifier=None, kind="call", enclosing=None),),
    )


def link_all(files: list[LinkFile]) -> LinkedIndex:
    no_configs: dict[str, str] = {}
    return link(files, CommitResolver.from_files([file.path for file in files], no_configs.get))


def test_star_import_chain_of_two_thousand_modules__reaches_what_the_hop_bound_allows() -> None:
    files = [star_module(f"m{n}.py", None if n == 0 else f"m{n - 1}", f"f{n}") for n in range(CHAIN)]
    index = link_all(files)
    targets = {link.file: link.target for link in index.reference_links}
    assert targets[0] == SymbolId(file=0, symbol=0)
    assert targets[MAX_EXPORT_HOPS // 2] is not None
    assert targets[CHAIN - 1] is None  # f0 lies past the bound


def test_star_import_cycle_of_every_module__ends() -> None:
    count = 300
    files = [star_module(f"c{n}.py", f"c{(n + 1) % count}", f"f{n}") for n in range(count)]
    index = link_all(files)
    assert len(index.reference_links) == count


def test_dotted_import_of_ten_thousand_segments__links_nothing_and_ends() -> None:
    dotted = ".".join(f"p{n}" for n in range(10_000))
    main = LinkFile(
        path="main.py",
        imports=(LinkImport(specifier=dotted, kind="import", bindings=(LinkBinding(imported="*", local=dotted),)),),
        references=(
            LinkReference(name="f", qualifier=dotted, kind="call", enclosing=None),
            LinkReference(name="f", qualifier=dotted + ".x" * 5_000, kind="call", enclosing=None),
        ),
    )
    index = link_all([main])
    assert [link.target for link in index.reference_links] == [None, None]
    assert [resolved.kind for resolved in index.resolved_imports] == ["unresolved"]


def test_package_nested_two_thousand_deep__links_its_deepest_module() -> None:
    depth = 2_000
    directories = ["/".join(f"d{level}" for level in range(count)) for count in range(1, depth + 1)]
    files = [LinkFile(path=f"{directory}/__init__.py") for directory in directories]
    dotted = directories[-1].replace("/", ".")
    files.append(
        LinkFile(path=f"{directories[-1]}/leaf.py", symbols=(LinkSymbol(name="f", kind="function", parent=None),))
    )
    main = LinkFile(
        path="main.py",
        imports=(LinkImport(specifier="d0", kind="import", bindings=(LinkBinding(imported="*", local="d0"),)),),
        references=(
            LinkReference(name="f", qualifier=f"{dotted}.leaf", kind="call", enclosing=None),
            LinkReference(name="f", qualifier="d0.d1.leaf", kind="call", enclosing=None),
        ),
    )
    files.append(main)
    index = link_all(files)
    main_id = len(files) - 1
    targets = [link.target for link in index.reference_links if link.file == main_id]
    assert targets == [None, None]  # past the chain's depth bound, and no such module


def test_thousands_of_star_imports_of_external_modules__are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose star imports bring no names (external modules) has its star names read once, not on every lookup
    of its table while following types (which made linking quadratic: 2,000 calls `f(n)().m()` took seconds)."""
    count = 2_000
    functions = tuple(LinkSymbol(name=f"f{n}", kind="function", parent=None, type_hint="{C}") for n in range(count))
    main = LinkFile(
        path="main.py",
        symbols=(
            LinkSymbol(name="C", kind="class", parent=None),
            LinkSymbol(name="m", kind="method", parent=0),
            *functions,
        ),
        imports=tuple(LinkImport(specifier=f"ext{n}", kind="import", bindings=()) for n in range(count)),
        exports=tuple(LinkExport(exported="*", local=None, kind="reexport_all", import_index=n) for n in range(count)),
        references=tuple(
            LinkReference(name="m", qualifier=f"f{n}()", kind="call", enclosing=None) for n in range(count)
        ),
    )
    reads = 0
    original = _Linker._plain_import_target

    def counting(self: _Linker, table: Any, import_index: int | None) -> Any:
        nonlocal reads
        reads += 1
        return original(self, table, import_index)

    monkeypatch.setattr(_Linker, "_plain_import_target", counting)
    index = link_all([main])
    assert all(link.target == SymbolId(file=0, symbol=1) for link in index.reference_links)
    assert reads <= 4 * count
