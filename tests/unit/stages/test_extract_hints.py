"""Type hints: ``Symbol.type_hint`` and ``Reference.root_hint`` (docs/index-contract.md, "Type hints")."""

from __future__ import annotations

from stages.extract import extract_source
from stages.models import FileExtraction


def extract(source: str, path: str = "m.ts") -> FileExtraction:
    result = extract_source(path, source.encode())
    assert result.error is None
    return result


def hint(source: str, name: str, path: str = "m.ts") -> str | None:
    """The type hint of the one symbol called ``name``."""
    [symbol] = [symbol for symbol in extract(source, path).symbols if symbol.name == name]
    return symbol.type_hint


def root_hints(source: str, path: str = "m.ts") -> list[tuple[str | None, str, str | None]]:
    """(qualifier, name, root hint) of every call, new and JSX reference, in source order."""
    return [
        (reference.qualifier, reference.name, reference.root_hint)
        for reference in extract(source, path).references
        if reference.kind in ("call", "new", "jsx")
    ]


# ---- Symbol.type_hint: annotations --------------------------------------------------------------------


def test_type_hint__a_type_name_dotted_name_or_generic_is_its_name_in_braces() -> None:
    assert hint("let a: Foo;", "a") == "{Foo}"
    assert hint("let a: ns.sub.Foo;", "a") == "{ns.sub.Foo}"
    assert hint("let a: Foo<Bar, Baz>;", "a") == "{Foo}"
    assert hint("let a: ns.Foo<Bar>;", "a") == "{ns.Foo}"


def test_type_hint__a_union_with_null_undefined_or_void_is_its_one_named_type() -> None:
    assert hint("let a: Foo | null;", "a") == "{Foo}"
    assert hint("let a: undefined | Foo<T> | null | void;", "a") == "{Foo}"
    assert hint("let a: (Foo | null);", "a") == "{Foo}"
    assert hint("let a: Foo | Bar;", "a") is None
    assert hint("let a: null | undefined;", "a") is None


def test_type_hint__promise_and_promise_like_are_unwrapped() -> None:
    assert hint("let a: Promise<Foo>;", "a") == "{Foo}"
    assert hint("let a: PromiseLike<ns.Foo | undefined>;", "a") == "{ns.Foo}"
    assert hint("let a: Promise<string>;", "a") is None


def test_type_hint__other_types_give_none() -> None:
    for annotation in ("string", "Foo[]", "[Foo]", "'a'", "() => Foo", "{ a: Foo }", "typeof x", "keyof Foo"):
        assert hint(f"let v: {annotation};", "v") is None, annotation


def test_type_hint__a_type_parameter_in_scope_gives_none() -> None:
    source = "class Box<T> { value: T; other: U; make<V>(): V {} }"
    assert hint(source, "value") is None
    assert hint(source, "other") == "{U}"
    assert hint(source, "make") is None


# ---- Symbol.type_hint: initialisers -------------------------------------------------------------------


def test_type_hint__new_is_its_class_with_generic_arguments_dropped() -> None:
    assert hint("const a = new Foo(1);", "a") == "{Foo}"
    assert hint("const a = new ns.Bar<T>(1);", "a") == "{ns.Bar}"
    assert hint("const a = new (pick())();", "a") is None


def test_type_hint__calls_and_chains_keep_names_and_drop_arguments() -> None:
    assert hint("const a = make(1, 2);", "a") == "make()"
    assert hint("const a = make<T>();", "a") == "make()"
    assert hint("const a = x.y.z;", "a") == "x.y.z"
    assert hint("const a = x.b(1).c(2);", "a") == "x.b().c()"
    assert hint("const a = new Foo().bar();", "a") == "{Foo}.bar()"
    assert hint("const a = this.a.b();", "a") == "this.a.b()"


def test_type_hint__optional_and_non_null_chains_are_plain_chains() -> None:
    assert hint("const a = (x!.b?.c);", "a") == "x.b.c"
    assert hint("const a = x?.b?.();", "a") == "x.b()"


def test_type_hint__await_parentheses_and_satisfies_are_looked_through() -> None:
    assert hint("const a = await this.load();", "a") == "this.load()"
    assert hint("const a = ((make()));", "a") == "make()"
    assert hint("const a = make() satisfies Foo;", "a") == "make()"


def test_type_hint__as_and_angle_assertions_are_the_types_hint() -> None:
    assert hint("const a = y as Foo;", "a") == "{Foo}"
    assert hint("const a = <Foo>y;", "a") == "{Foo}"
    assert hint("const a = y as string;", "a") is None


def test_type_hint__as_const_is_the_expressions_hint() -> None:
    assert hint("const a = b.c as const;", "a") == "b.c"


def test_type_hint__other_expressions_give_none() -> None:
    for value in ("x[0]", "1", "'s'", "{}", "[]", "c ? a : b", "a + b", "`t${a}`", "import('x')"):
        assert hint(f"const a = {value};", "a") is None, value


def test_type_hint__the_annotation_comes_before_the_initialiser() -> None:
    assert hint("const a: Foo = make();", "a") == "{Foo}"
    assert hint("const a: string[] = make();", "a") == "make()"


def test_type_hint__a_destructured_variable_has_none() -> None:
    assert hint("const { a } = make();", "a") is None


# ---- Symbol.type_hint: by kind ------------------------------------------------------------------------


def test_type_hint__class_fields_and_property_signatures() -> None:
    source = "class A { a: Foo; b = new Bar(); #c = make(); } interface I { d?: Baz; }"
    assert hint(source, "a") == "{Foo}"
    assert hint(source, "b") == "{Bar}"
    assert hint(source, "#c") == "make()"
    assert hint(source, "d") == "{Baz}"


def test_type_hint__javascript_class_fields() -> None:
    assert hint("class A { b = new Bar(); }", "b", "m.js") == "{Bar}"


def test_type_hint__a_parameter_property_is_its_annotation() -> None:
    source = "class A { constructor(private readonly repo: Repo, public size = new Size()) {} }"
    assert hint(source, "repo") == "{Repo}"
    assert hint(source, "size") == "{Size}"


def test_type_hint__functions_methods_and_getters_are_their_return_types() -> None:
    source = "function f(): Foo {}\nclass A { m(): Promise<Bar> {} get g(): Baz {} set s(v: Baz) {} n() {} }"
    assert hint(source, "f") == "{Foo}"
    assert hint(source, "m") == "{Bar}"
    assert hint(source, "g") == "{Baz}"
    assert hint(source, "s") is None
    assert hint(source, "n") is None
    assert hint("declare function h(): ns.Foo;", "h") == "{ns.Foo}"
    assert hint("interface I { m(): Foo; }", "m") == "{Foo}"


def test_type_hint__an_arrow_function_variable_is_its_return_type() -> None:
    assert hint("const f = (x: number): Foo => make(x);", "f") == "{Foo}"
    assert hint("const f = async function (): Promise<Foo> {};", "f") == "{Foo}"
    assert hint("const f = () => make();", "f") is None


def test_type_hint__a_class_is_its_extends_value_when_a_name() -> None:
    assert hint("class A extends Base<T> {}", "A") == "{Base}"
    assert hint("class A extends ns.B {}", "A") == "{ns.B}"
    assert hint("class A extends mixin(B) {}", "A") is None
    assert hint("class A implements I {}", "A") is None
    assert hint("class A extends ns.B {}", "A", "m.js") == "{ns.B}"
    assert hint("const A = class extends Base {};", "A") == "{Base}"


def test_type_hint__an_interface_is_its_extends_types() -> None:
    assert hint("interface I extends A, ns.B<C> {}", "I") == "{A},{ns.B}"
    assert hint("interface I {}", "I") is None


def test_type_hint__a_type_alias_is_a_named_type_or_an_intersections_named_parts() -> None:
    assert hint("type X = Foo<T>;", "X") == "{Foo}"
    assert hint("type X = A & ns.B & { c: 1 };", "X") == "{A},{ns.B}"
    assert hint("type X<T> = T & A;", "X") == "{A}"
    assert hint("type X = A | B;", "X") is None
    assert hint("type X = { a: 1 };", "X") is None


def test_type_hint__other_kinds_have_none() -> None:
    source = "enum E { A = make() } namespace N {}"
    assert hint(source, "E") is None
    assert hint(source, "A") is None
    assert hint(source, "N") is None


def test_type_hint__a_hint_over_200_characters_is_omitted() -> None:
    chain = ".".join(f"part{index:02}" for index in range(40))  # 279 characters
    assert len(chain) > 200
    assert hint(f"const a = {chain};", "a") is None
    short = ".".join(f"p{index}" for index in range(20))
    assert hint(f"const a = {short};", "a") == short


# ---- Reference.root_hint ------------------------------------------------------------------------------


def test_root_hint__an_untyped_parameter_is_empty() -> None:
    assert root_hints("function f(a) { a.run(); }") == [("a", "run", "")]


def test_root_hint__a_typed_parameter_is_its_annotations_hint() -> None:
    assert root_hints("function f(a: Foo) { a.run(); }") == [("a", "run", "{Foo}")]
    assert root_hints("function f(a?: Foo | null) { a!.run(); }") == [("a!", "run", "{Foo}")]


def test_root_hint__a_parameters_default_value_gives_its_hint() -> None:
    assert root_hints("function f(a = new Foo()) { a.run(); }", "m.js") == [
        (None, "Foo", None),
        ("a", "run", "{Foo}"),
    ]
    assert root_hints("function f(a = new Foo()) { a.run(); }") == [(None, "Foo", None), ("a", "run", "{Foo}")]


def test_root_hint__a_local_const_with_new_is_its_class() -> None:
    assert root_hints("function f() { const a = new Foo(); a.run(); }") == [
        (None, "Foo", None),
        ("a", "run", "{Foo}"),
    ]


def test_root_hint__a_local_from_another_local_substitutes_its_hint() -> None:
    source = "function f() { const a = new A(); const b = a.getB(); b.run(); }"
    assert root_hints(source)[-1] == ("b", "run", "{A}.getB()")


def test_root_hint__a_local_from_an_unhinted_local_is_empty() -> None:
    source = "function f(p) { const b = p.getB(); b.run(); }"
    assert root_hints(source)[-1] == ("b", "run", "")


def test_root_hint__a_local_from_a_top_level_name_keeps_that_name() -> None:
    source = "const store = make();\nfunction f() { const b = store.get(); b.run(); }"
    assert root_hints(source)[-1] == ("b", "run", "store.get()")


def test_root_hint__substitutions_are_bounded() -> None:
    lines = ["const v0 = new A();"] + [f"const v{index} = v{index - 1}.m();" for index in range(1, 12)]
    source = "function f() {\n" + "\n".join(lines) + "\nv8.run(); v9.run(); v11.run();\n}"
    hints = [hint for _qualifier, name, hint in root_hints(source) if name == "run"]
    assert hints[0] == "{A}" + ".m()" * 8
    assert hints[1:] == ["", ""]


def test_root_hint__the_innermost_declaration_wins() -> None:
    source = "function f(a: Outer) { const g = (a: Inner) => a.x(); a.y(); }"
    assert root_hints(source) == [("a", "x", "{Inner}"), ("a", "y", "{Outer}")]


def test_root_hint__block_scoped_lets_in_sibling_blocks_are_apart() -> None:
    source = "function f() { { let a = new A(); a.x(); } { let a = new B(); a.y(); } a.z(); }"
    assert root_hints(source) == [
        (None, "A", None),
        ("a", "x", "{A}"),
        (None, "B", None),
        ("a", "y", "{B}"),
        ("a", "z", None),
    ]


def test_root_hint__var_is_visible_in_its_whole_function() -> None:
    source = "function f() { if (c) { var a = new A(); } a.x(); }"
    assert root_hints(source, "m.js")[-1] == ("a", "x", "{A}")


def test_root_hint__catch_and_loop_bindings_are_empty() -> None:
    source = (
        "function f(xs) { try {} catch (e) { e.log(); } for (const [k, v] of xs) { v.run(); } "
        "for (k2 in o) { k2.x(); } }"
    )
    assert root_hints(source) == [("e", "log", ""), ("v", "run", ""), ("k2", "x", None)]


def test_root_hint__a_destructured_local_is_empty() -> None:
    assert root_hints("function f({ a }) { const { b } = a; a.x(); b.y(); }") == [("a", "x", ""), ("b", "y", "")]


def test_root_hint__a_function_valued_local_is_a_symbol_not_a_local() -> None:
    source = "function f(run: Foo) { const run2 = () => 1; run2(); { const run = () => 2; run(); } run(); }"
    assert root_hints(source) == [(None, "run2", None), (None, "run", None), (None, "run", "{Foo}")]


def test_root_hint__a_top_level_name_has_none() -> None:
    assert root_hints("const a = new A();\nfunction f() { a.x(); }") == [(None, "A", None), ("a", "x", None)]


def test_root_hint__this_and_other_roots_have_none() -> None:
    source = "function f(a: A) { this.x(); (a).y(); a[0].z(); }"
    assert root_hints(source) == [("this", "x", None), ("(a)", "y", None), ("a[0]", "z", "{A}")]


def test_root_hint__an_unqualified_call_of_a_parameter_is_its_hint() -> None:
    assert root_hints("function f(make: Factory) { make(); new make(); }") == [
        (None, "make", "{Factory}"),
        (None, "make", "{Factory}"),
    ]


def test_root_hint__the_root_of_a_chain_is_its_first_identifier() -> None:
    source = "function f(a: A) { a.b.c(); a().d(); a!.e(); }"
    assert root_hints(source) == [("a.b", "c", "{A}"), (None, "a", "{A}"), ("a()", "d", "{A}"), ("a!", "e", "{A}")]


def test_root_hint__jsx_tags_of_a_local_have_its_hint() -> None:
    source = "function f(ui: Kit) { return <ui.Button />; }"
    assert root_hints(source, "m.tsx") == [("ui", "Button", "{Kit}")]


def test_root_hint__type_and_heritage_references_have_none() -> None:
    result = extract("function f(a: A) { let b: a.B; class C extends a.D {} }")
    assert {reference.kind: reference.root_hint for reference in result.references} == {"type": None, "extends": None}


def test_root_hint__a_local_hint_over_200_characters_is_empty() -> None:
    chain = ".".join(f"part{index:02}" for index in range(40))
    assert root_hints(f"function f() {{ const a = {chain}; a.run(); }}") == [("a", "run", "")]


def test_root_hint__a_qualifier_deeper_than_the_walk_bound_has_none() -> None:
    source = "function f(a: A) { a" + ".m()" * 40 + "; }"
    hints = [hint for _qualifier, _name, hint in root_hints(source)]
    assert hints[:16] == ["{A}"] * 16
    assert hints[-1] is None


def test_type_hint__a_union_longer_than_the_walk_bound_has_none() -> None:
    assert hint("let v: " + "null | " * 40 + "A;", "v") is None
    assert hint("let v: " + "null | " * 4 + "A;", "v") == "{A}"


def test_root_hint__locals_no_reference_starts_with_are_substituted_too() -> None:
    source = "function f() { const a = new A(); const b = a.x; const c = b.y; c.z(); }"
    assert root_hints(source)[-1] == ("c", "z", "{A}.x.y")


def test_root_hint__a_locals_hint_is_made_where_it_is_declared_not_where_it_is_first_used() -> None:
    source = (
        "class R { x() {} }\nclass S { x() {} }\n"
        "class A { get(): R { return new R(); } }\nclass Z { get(): S { return new S(); } }\n"
        "export function f() {\n"
        "  const later = () => { const a = new Z(); b.x(); };\n"
        "  const a = new A();\n"
        "  const b = a.get();\n"
        "  b.x();\n"
        "}"
    )
    assert [hint for qualifier, _name, hint in root_hints(source) if qualifier == "b"] == ["{A}.get()", "{A}.get()"]


def test_root_hint__a_substituted_local_is_made_from_the_locals_visible_where_it_is_declared() -> None:
    source = "function f() { const c = new C(); const a = c.p; { const c = new D(); const b = a.q; b.run(); } }"
    assert root_hints(source)[-1] == ("b", "run", "{C}.p.q")


def test_root_hint__a_chain_over_the_bound_asked_first_leaves_the_shorter_chains_in_it_whole() -> None:
    lines = ["const v0 = new A();"] + [f"const v{index} = v{index - 1}.p;" for index in range(1, 11)]
    source = "function f() {\nconst g = () => { v10.run(); v3.run(); };\n" + "\n".join(lines) + "\n}"
    assert [hint for _qualifier, name, hint in root_hints(source) if name == "run"] == ["", "{A}.p.p.p"]
