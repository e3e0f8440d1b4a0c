"""Linking member accesses by following types: typed parameters, fields, locals, return types, ``new``, ``this`` and
``super``, bases, and what following types reads of other files."""

from __future__ import annotations

from stages.extract import extract_source
from stages.link import MAX_TYPE_DEPTH, link
from stages.models import FileExtraction, LinkedIndex, LinkFile, LinkReference, LinkSymbol, SymbolId
from stages.resolve import ModuleResolver


def build(sources: dict[str, str]) -> tuple[list[FileExtraction], LinkedIndex]:
    files = [extract_source(path, text.encode()) for path, text in sorted(sources.items())]
    return files, link(files, ModuleResolver.from_files(sources, sources.get))


def targets(files: list[FileExtraction], index: LinkedIndex, path: str) -> list[tuple[str, str | None]]:
    """(qualifier.name, target as ``path:Parent.name``) of the file's qualified references, in source order."""
    file_index = [file.path for file in files].index(path)
    result = []
    for reference_link in index.reference_links:
        if reference_link.file != file_index:
            continue
        reference = files[file_index].references[reference_link.reference_index]
        if reference.qualifier is None:
            continue
        result.append((f"{reference.qualifier}.{reference.name}", _name(files, reference_link.target)))
    return result


def _name(files: list[FileExtraction], target: SymbolId | None) -> str | None:
    if target is None:
        return None
    symbols = files[target.file].symbols
    symbol = symbols[target.symbol]
    parent = "" if symbol.parent is None else symbols[symbol.parent].name + "."
    return f"{files[target.file].path}:{parent}{symbol.name}"


STORE = """
export class Store {
  get(key: string): Item { return new Item(); }
}
export class Item { save() {} }
export interface Runner { run(): void; store: Store }
export function makeStore(): Store { return new Store(); }
"""


def test_link__a_typed_parameter_links_its_member_calls_through_an_import() -> None:
    files, index = build(
        {
            "store.ts": STORE,
            "app.ts": "import { Runner, Store } from './store';\n"
            "export function go(runner: Runner, store?: Store | null) { runner.run(); store!.get('a').save(); }",
        }
    )
    assert targets(files, index, "app.ts") == [
        ("runner.run", "store.ts:Runner.run"),
        ("store!.get", "store.ts:Store.get"),
        ("store!.get('a').save", "store.ts:Item.save"),
    ]
    dependency = next(d for d in index.file_dependencies if d.source == 0)
    assert (dependency.target, dependency.inferred) == (1, True)  # app.ts reads store.ts's declarations


def test_link__fields_getters_locals_new_and_return_types_are_followed() -> None:
    files, index = build(
        {
            "store.ts": STORE,
            "app.ts": "import { Store, makeStore } from './store';\n"
            "export class App {\n"
            "  private store = new Store();\n"
            "  get current(): Store { return this.store; }\n"
            "  start() {\n"
            "    this.store.get('k');\n"
            "    this.current.get('k');\n"
            "    const made = makeStore();\n"
            "    const item = made.get('x');\n"
            "    item.save();\n"
            "    new Store().get('n');\n"
            "    makeStore().get('m');\n"
            "  }\n"
            "}\n",
        }
    )
    assert targets(files, index, "app.ts") == [
        ("this.store.get", "store.ts:Store.get"),
        ("this.current.get", "store.ts:Store.get"),
        ("made.get", "store.ts:Store.get"),
        ("item.save", "store.ts:Item.save"),
        ("new Store().get", "store.ts:Store.get"),
        ("makeStore().get", "store.ts:Store.get"),
    ]


def test_link__members_are_found_in_bases_through_this_super_and_typed_values() -> None:
    files, index = build(
        {
            "base.ts": "export class Base { hello() {} }\nexport interface Named { name(): string }\n"
            "export interface Aged { age(): number }\nexport interface Person extends Named, Aged {}",
            "derived.ts": "import { Base, Person } from './base';\n"
            "export class Derived extends Base {\n"
            "  greet(p: Person) { this.hello(); super.hello(); p.name(); p.age(); }\n"
            "}\n"
            "export function use(d: Derived) { d.hello(); }\n",
        }
    )
    assert targets(files, index, "derived.ts") == [
        ("this.hello", "base.ts:Base.hello"),
        ("super.hello", "base.ts:Base.hello"),
        ("p.name", "base.ts:Named.name"),
        ("p.age", "base.ts:Aged.age"),
        ("d.hello", "base.ts:Base.hello"),
    ]


def test_link__a_parameter_or_local_never_links_to_an_outer_declaration_of_its_name() -> None:
    files, index = build(
        {
            "a.ts": "export const logger = { info() {} };\nexport function helper() {}\n"
            "export function run(logger: any, helper: () => void) { logger.info(); helper(); }\n"
            "export function again() { const helper = load(); helper(); }\n",
        }
    )
    links = [(files[0].references[r.reference_index].name, r.target) for r in index.reference_links]
    assert links == [("info", None), ("helper", None), ("load", None), ("helper", None)]


def test_link__interface_declarations_of_one_name_merge_their_members() -> None:
    files, index = build(
        {
            "a.ts": "interface Box { open(): void }\ninterface Box { close(): void }\n"
            "export function f(b: Box) { b.open(); b.close(); }",
        }
    )
    assert targets(files, index, "a.ts") == [("b.open", "a.ts:Box.open"), ("b.close", "a.ts:Box.close")]


def test_link__type_alias_members_and_intersections_are_followed() -> None:
    files, index = build(
        {
            "a.ts": "interface A { a(): void }\ntype Both = A & { b(): void };\n"
            "export function f(x: Both) { x.a(); x.b(); }",
        }
    )
    assert targets(files, index, "a.ts") == [("x.a", "a.ts:A.a"), ("x.b", "a.ts:Both.b")]


def _chain_file(count: int, cyclic: bool) -> LinkFile:
    """Classes C0 … C{count-1}, each extending the next (the last one the first when ``cyclic``), and a reference
    ``this.missing()`` inside C0."""
    symbols = []
    for index in range(count):
        base = (index + 1) % count if cyclic or index + 1 < count else None
        symbols.append(
            LinkSymbol(name=f"C{index}", kind="class", parent=None, type_hint=None if base is None else f"{{C{base}}}")
        )
    symbols.append(LinkSymbol(name="m", kind="method", parent=count - 1))
    references = (
        LinkReference(name="m", qualifier="this", kind="call", enclosing=0),
        LinkReference(name="missing", qualifier="this", kind="call", enclosing=0),
    )
    return LinkFile(path="chain.ts", symbols=tuple(symbols), references=references)


def test_link__cyclic_bases_and_chains_past_the_depth_bound_end_unlinked() -> None:
    resolver = ModuleResolver.from_files(["chain.ts"], {}.get)
    near = link([_chain_file(5, cyclic=False)], resolver)
    assert [r.target for r in near.reference_links] == [SymbolId(file=0, symbol=5), None]
    cyclic = link([_chain_file(5, cyclic=True)], resolver)
    assert [r.target for r in cyclic.reference_links] == [SymbolId(file=0, symbol=5), None]
    deep = link([_chain_file(MAX_TYPE_DEPTH * 100, cyclic=False)], resolver)  # no recursion error, no hang
    assert [r.target for r in deep.reference_links] == [None, None]


CLASSES = "class A { x() {} }\nclass B { x() {} }\n"


def test_link__an_overloaded_call_with_different_return_types_is_not_followed() -> None:
    files, index = build(
        {
            "a.ts": CLASSES + "function make(a: string): A;\nfunction make(a: number): B;\n"
            "function make(a: unknown): A | B { return new A(); }\nmake(1).x();\n"
        }
    )
    assert targets(files, index, "a.ts") == [("make(1).x", None)]


def test_link__a_name_declared_twice_in_one_scope_with_different_types_is_not_followed() -> None:
    files, index = build(
        {"a.ts": CLASSES + "const s = new A();\nif (globalThis) { const s = new B(); s.x(); }\nnew A().x();\n"}
    )
    assert targets(files, index, "a.ts") == [("s.x", None), ("new A().x", "a.ts:A.x")]


def test_link__a_prototype_method_is_no_name_in_the_scope_of_its_siblings() -> None:
    files, index = build(
        {
            "a.js": "function Router() {}\nfunction handle() {}\nRouter.prototype.handle = function () {};\n"
            "Router.prototype.route = function () { handle(); };\n"
        }
    )
    (call,) = [link for link in index.reference_links if files[0].references[link.reference_index].name == "handle"]
    assert _name(files, call.target) == "a.js:handle"  # the top-level function, not Router.handle


def _chain_module(low: int, high: int, imported_from: str | None = None) -> str:
    lines = [f"import {{ C{high} }} from '{imported_from}';"] if imported_from else []
    lines += [f"export class C{k} extends C{k + 1} {{}}" for k in range(low, high)]
    return "\n".join(lines) + "\n"


def test_link__a_file_linked_alone_reads_and_links_as_in_a_full_link_near_the_depth_bound() -> None:
    sources = {
        "x.ts": _chain_module(0, 10, "./y"),
        "y.ts": _chain_module(10, 20, "./z"),
        "z.ts": _chain_module(20, 45) + "export class C45 { run() {} }\n",
        "a_first.ts": "import { C10 } from './y';\nexport function g(c: C10) { c.run(); }\n",
        "b_second.ts": "import { C0 } from './x';\nexport function f(c: C0) { c.run(); }\n",
    }
    files, full = build(sources)
    second = [file.path for file in files].index("b_second.ts")
    alone = link(files, ModuleResolver.from_files(sources, sources.get), only=[second])
    assert [d for d in full.file_dependencies if d.source == second] == list(alone.file_dependencies)
    assert [r for r in full.reference_links if r.file == second] == list(alone.reference_links)


def test_link__a_cyclic_lattice_of_bases_costs_one_visit_per_declaration() -> None:
    """Each interface extends the next two, and the last ones the first: walked as a tree, 2**200 paths (the test's
    timeout would end it); walked once per declaration, at once."""
    levels = 200
    lines = [
        f"interface A{k} extends A{k + 1}, B{k + 1} {{}}\ninterface B{k} extends A{k + 1}, B{k + 1} {{}}"
        for k in range(levels)
    ]
    lines.append(f"interface A{levels} extends A0 {{ found(): void }}\ninterface B{levels} extends B0 {{}}")
    lines.append("export function f(p: A0) { p.missing(); p.x(); }")
    files, index = build({"a.ts": "\n".join(lines) + "\n"})
    assert targets(files, index, "a.ts") == [("p.missing", None), ("p.x", None)]
