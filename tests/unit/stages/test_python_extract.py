"""Python extraction: one small source per construct of docs/index-contract.md, "Python", asserted on exact rows."""

from __future__ import annotations

import pytest

from stages.extract import ExtractionLimits, extract_source
from stages.models import Export, FileExtraction, ImportBinding, Span

DEFAULT_LIMITS = ExtractionLimits()


def extract(source: str, path: str = "m.py", limits: ExtractionLimits = DEFAULT_LIMITS) -> FileExtraction:
    result = extract_source(path, source.encode(), limits=limits)
    assert result.error is None
    assert result.language == "python"
    return result


def symbols(source: str) -> list[tuple[str, str, str | None, bool]]:
    """(kind, name, parent name, exported) of every symbol, in output order."""
    result = extract(source)
    return [
        (s.kind, s.name, None if s.parent is None else result.symbols[s.parent].name, s.exported)
        for s in result.symbols
    ]


def references(source: str) -> list[tuple[str, str | None, str, str | None, str | None]]:
    """(kind, qualifier, name, enclosing symbol name, root hint) of every reference, in source order."""
    result = extract(source)
    return [
        (r.kind, r.qualifier, r.name, None if r.enclosing is None else result.symbols[r.enclosing].name, r.root_hint)
        for r in result.references
    ]


def span_text(source: str, span: Span) -> str:
    return source.encode()[span.start_byte : span.end_byte].decode()


def test_python__pyi_files_are_python() -> None:
    result = extract("def f() -> int: ...\n", "m.pyi")
    assert [s.name for s in result.symbols] == ["f"]


def test_python__functions_classes_and_methods() -> None:
    source = (
        "def f(): pass\n"
        "async def g(): pass\n"
        "class C:\n"
        "    def m(self): pass\n"
        "    async def n(self): pass\n"
        "    class Inner:\n"
        "        def deep(self): pass\n"
    )
    assert symbols(source) == [
        ("function", "f", None, True),
        ("function", "g", None, True),
        ("class", "C", None, True),
        ("method", "m", "C", True),
        ("method", "n", "C", True),
        ("class", "Inner", "C", True),
        ("method", "deep", "Inner", True),
    ]
    result = extract(source)
    assert [s.is_async for s in result.symbols] == [False, True, False, False, True, False, False]


def test_python__decorated_members_are_properties_setters_and_methods() -> None:
    source = (
        "import functools\n"
        "class C:\n"
        "    @property\n"
        "    def a(self) -> int: ...\n"
        "    @a.setter\n"
        "    def a(self, v): ...\n"
        "    @a.deleter\n"
        "    def a(self): ...\n"
        "    @functools.cached_property\n"
        "    def b(self): ...\n"
        "    @cached_property\n"
        "    def c(self): ...\n"
        "    @staticmethod\n"
        "    def s(): ...\n"
        "    @classmethod\n"
        "    def k(cls): ...\n"
    )
    assert [(kind, name) for kind, name, _, _ in symbols(source)] == [
        ("class", "C"),
        ("property", "a"),
        ("setter", "a"),
        ("setter", "a"),
        ("property", "b"),
        ("property", "c"),
        ("method", "s"),
        ("method", "k"),
    ]


def test_python__assignments_are_variables_and_constants() -> None:
    source = (
        "x = 1\n"
        "y: int = 1\n"
        "z: str\n"
        "a = b = 1\n"
        "c, (d, *e) = f\n"
        "MAX_SIZE = 10\n"
        "_PRIVATE_2 = 1\n"
        "limit: Final = 3\n"
        "other: typing.Final[int] = 3\n"
        "x += 1\n"
        "obj.attr = 1\n"
        "items[0] = 1\n"
    )
    assert [(kind, name) for kind, name, _, _ in symbols(source)] == [
        ("variable", "x"),
        ("variable", "y"),
        ("variable", "z"),
        ("variable", "a"),
        ("variable", "b"),
        ("variable", "c"),
        ("variable", "d"),
        ("variable", "e"),
        ("constant", "MAX_SIZE"),
        ("constant", "_PRIVATE_2"),
        ("constant", "limit"),
        ("constant", "other"),
    ]


def test_python__type_aliases() -> None:
    source = "type Pair[T] = tuple[T, T]\nAlias: TypeAlias = dict[str, int]\nOld: typing.TypeAlias = int\n"
    result = extract(source)
    assert [(s.kind, s.name) for s in result.symbols] == [
        ("type_alias", "Pair"),
        ("type_alias", "Alias"),
        ("type_alias", "Old"),
    ]
    assert result.symbols[0].signature == "type Pair[T] = tuple[T, T]"
    assert result.symbols[0].type_hint == "{tuple}"


def test_python__declarations_inside_module_and_class_blocks_are_symbols_but_not_inside_functions() -> None:
    source = (
        "if TYPE_CHECKING:\n"
        "    A = 1\n"
        "else:\n"
        "    A = 2\n"
        "try:\n"
        "    def f(): pass\n"
        "except ImportError:\n"
        "    f = None\n"
        "finally:\n"
        "    g = 1\n"
        "with ctx:\n"
        "    w = 1\n"
        "for i in range(3):\n"
        "    loop_body = i\n"
        "while cond:\n"
        "    while_body = 1\n"
        "class C:\n"
        "    if sys.version_info >= (3, 8):\n"
        "        def m(self):\n"
        "            local = 1\n"
        "            def nested(): pass\n"
        "            class Local:\n"
        "                x = 1\n"
        "def outer():\n"
        "    global G\n"
        "    G = 1\n"
        "    inner = 1\n"
        "squares = [n for n in range(3)]\n"
        "if (walrus := 1): pass\n"
    )
    assert [(kind, name, parent) for kind, name, parent, _ in symbols(source)] == [
        ("constant", "A", None),
        ("constant", "A", None),
        ("function", "f", None),
        ("variable", "f", None),
        ("variable", "g", None),
        ("variable", "w", None),
        ("variable", "loop_body", None),
        ("variable", "while_body", None),
        ("class", "C", None),
        ("method", "m", "C"),
        ("function", "outer", None),
        ("variable", "squares", None),
    ]


def test_python__spans_and_name_spans() -> None:
    source = "@dec\nclass C(B):\n    x: int = 1\n    @staticmethod\n    def m(): pass\n"
    result = extract(source)
    c, x, m = result.symbols
    assert span_text(source, c.span) == source.rstrip("\n")
    assert c.span == Span(
        start_line=1, start_column=0, end_line=5, end_column=17, start_byte=0, end_byte=len(source) - 1
    )
    assert span_text(source, c.name_span) == "C"
    assert span_text(source, x.span) == "x: int = 1"
    assert x.name_span == Span(start_line=3, start_column=4, end_line=3, end_column=5, start_byte=21, end_byte=22)
    assert span_text(source, m.span) == "@staticmethod\n    def m(): pass"
    assert span_text(source, m.name_span) == "m"


def test_python__exported_without_all_is_names_not_starting_with_an_underscore() -> None:
    source = (
        "def public(): pass\n"
        "def _private(): pass\n"
        "class Public:\n"
        "    def method(self): pass\n"
        "    def _helper(self): pass\n"
        "    def __mangled(self): pass\n"
        "    def __init__(self): pass\n"
        "class _Hidden:\n"
        "    def method(self): pass\n"
    )
    assert [(name, exported) for _, name, _, exported in symbols(source)] == [
        ("public", True),
        ("_private", False),
        ("Public", True),
        ("method", True),
        ("_helper", False),
        ("__mangled", False),
        ("__init__", True),
        ("_Hidden", False),
        ("method", False),
    ]


def test_python__a_literal_all_restricts_exported_with_its_additions() -> None:
    source = (
        "__all__ = ['a', \"_b\"]\n"
        "__all__ += ('c',)\n"
        "__all__.extend(['d'])\n"
        "__all__.append('e')\n"
        "def a(): pass\n"
        "def _b(): pass\n"
        "def c(): pass\n"
        "def d(): pass\n"
        "def e(): pass\n"
        "def f(): pass\n"
    )
    assert [(name, exported) for _, name, _, exported in symbols(source)] == [
        ("__all__", False),
        ("a", True),
        ("_b", True),
        ("c", True),
        ("d", True),
        ("e", True),
        ("f", False),
    ]


def test_python__a_computed_all_does_not_restrict_exported() -> None:
    assert [(n, e) for _, n, _, e in symbols("__all__ = other.__all__\ndef f(): pass\n")] == [
        ("__all__", False),
        ("f", True),
    ]


def test_python__docstrings_of_functions_classes_and_attributes() -> None:
    source = (
        'def f():\n    """Summary.\n\n    Details\n      indented.\n    """\n'
        "class C:\n    # a comment first\n    'Class doc.'\n"
        "    x = 1\n    '''Doc of x.'''\n"
        '    y = 2\n    # comment\n    "Doc of y."\n'
        "def g():\n    return 'not a doc'\n"
        "def h():\n    f'no {f}'\n"
        "def k():\n    'tab\\tand \\N{BULLET}' ' joined'\n"
    )
    result = extract(source)
    assert [(s.name, s.doc) for s in result.symbols] == [
        ("f", "Summary.\n\nDetails\n  indented."),
        ("C", "Class doc."),
        ("x", "Doc of x."),
        ("y", "Doc of y."),
        ("g", None),
        ("h", None),
        ("k", "tab     and \u2022 joined"),  # cleandoc expands tabs
    ]


def test_python__docstrings_are_bounded() -> None:
    source = 'def f():\n    """' + "x" * 10_000 + '"""\n'
    doc = extract(source, limits=ExtractionLimits(max_doc_chars=50)).symbols[0].doc
    assert doc == "x" * 49 + "…"


def test_python__signatures_are_headers_with_decorators_and_collapsed_whitespace() -> None:
    source = (
        "@staticmethod\n"
        "@other.dec(1,\n    2)\n"
        "async def f(a: int,\n        *, b=2) -> str:\n    pass\n"
        "class C(B, metaclass=M):  # trailing comment\n    pass\n"
        "x: int = 1\n"
        "def g(): return 1\n"
    )
    result = extract(source)
    assert [s.signature for s in result.symbols] == [
        "@staticmethod @other.dec(1, 2) async def f(a: int, *, b=2) -> str",
        "class C(B, metaclass=M)",
        "x: int = 1",
        "def g()",
    ]


def test_python__signatures_are_bounded() -> None:
    source = "x = [" + "1, " * 1000 + "]\ndef f(" + "a, " * 1000 + "): pass\n"
    result = extract(source, limits=ExtractionLimits(max_signature_chars=40))
    assert [s.signature for s in result.symbols] == [
        ("x = [" + "1, " * 20)[:39] + "…",
        ("def f(" + "a, " * 20)[:39] + "…",
    ]


def test_python__type_hints_of_variables_functions_and_classes() -> None:
    source = (
        "a: Foo = make()\n"
        "b: Optional[Foo] = None\n"
        "c: Foo | None = None\n"
        "d: typing.Union[None, mod.Foo] = None\n"
        "e: 'pkg.Foo'\n"
        "f: Dict[str, Foo] = {}\n"
        "g: int | str = 1\n"
        "h = Foo()\n"
        "i = a.b(1).c\n"
        "j = super().m()\n"
        "k = [1]\n"
        "l: ClassVar[Foo]\n"
        "m: type[Foo]\n"
        "n, o = Foo(), Bar()\n"
        "def fn() -> Optional[Foo]: ...\n"
        "def none(): ...\n"
        "class C(Base, mod.Other, Generic[T], metaclass=M): ...\n"
        "class D: ...\n"
    )
    result = extract(source)
    assert [(s.name, s.type_hint) for s in result.symbols] == [
        ("a", "{Foo}"),
        ("b", "{Foo}"),
        ("c", "{Foo}"),
        ("d", "{mod.Foo}"),
        ("e", "{pkg.Foo}"),
        ("f", "{Dict}"),
        ("g", None),
        ("h", "Foo()"),
        ("i", "a.b().c"),
        ("j", "super.m()"),
        ("k", None),
        ("l", "{Foo}"),
        ("m", None),
        ("n", None),
        ("o", None),
        ("fn", "{Foo}"),
        ("none", None),
        ("C", "{Base},{mod.Other},{Generic}"),
        ("D", None),
    ]


def test_python__import_statements() -> None:
    source = "import a.b.c\nimport a.b as c, d\nimport os.path as p\n"
    result = extract(source)
    assert [(i.specifier, i.kind, [(b.imported, b.local) for b in i.bindings]) for i in result.imports] == [
        ("a.b.c", "import", [("*", "a.b.c")]),
        ("a.b", "import", [("*", "c")]),
        ("d", "import", [("*", "d")]),
        ("os.path", "import", [("*", "p")]),
    ]
    first = result.imports[0]
    assert span_text(source, first.span) == "import a.b.c"
    assert span_text(source, first.specifier_span) == "a.b.c"
    assert first.bindings == (
        ImportBinding(imported="*", local="a.b.c", is_type_only=False, span=first.specifier_span),
    )
    assert span_text(source, result.imports[1].bindings[0].span) == "a.b as c"


def test_python__from_imports_relative_wildcard_and_future() -> None:
    source = (
        "from __future__ import annotations\n"
        "from m import x, y as z\n"
        "from m import (\n    p,\n    q as r,\n)\n"
        "from . import sibling\n"
        "from ..a.b import deep\n"
        "from .mod import *\n"
    )
    result = extract(source)
    assert [(i.specifier, [(b.imported, b.local) for b in i.bindings]) for i in result.imports] == [
        ("__future__", [("annotations", "annotations")]),
        ("m", [("x", "x"), ("y", "z")]),
        ("m", [("p", "p"), ("q", "r")]),
        (".", [("sibling", "sibling")]),
        ("..a.b", [("deep", "deep")]),
        (".mod", []),
    ]
    assert [span_text(source, i.specifier_span) for i in result.imports] == [
        "__future__",
        "m",
        "m",
        ".",
        "..a.b",
        ".mod",
    ]


def test_python__imports_anywhere_and_type_checking_imports_are_type_only() -> None:
    source = (
        "import typing\n"
        "if TYPE_CHECKING:\n    from a import A\nelse:\n    from b import B\n"
        "if typing.TYPE_CHECKING:\n    import c\n"
        "def f():\n    import d\n"
        "try:\n    import e\nexcept ImportError:\n    e = None\n"
    )
    result = extract(source)
    assert [(i.specifier, i.is_type_only, [b.is_type_only for b in i.bindings]) for i in result.imports] == [
        ("typing", False, [False]),
        ("a", True, [True]),
        ("b", False, [False]),
        ("c", True, [True]),
        ("d", False, [False]),
        ("e", False, [False]),
    ]


def test_python__dynamic_imports_of_literal_names() -> None:
    source = (
        "importlib.import_module('plugins.a')\n"
        'import_module("b")\n'
        "__import__('c')\n"
        "importlib.import_module(name)\n"
        "importlib.import_module(f'x{y}')\n"
        "importlib.import_module('.rel', __package__)\n"
    )
    result = extract(source)
    assert [(i.kind, i.specifier, i.bindings) for i in result.imports] == [
        ("dynamic", "plugins.a", ()),
        ("dynamic", "b", ()),
        ("dynamic", "c", ()),
    ]
    assert [span_text(source, i.specifier_span) for i in result.imports] == ["plugins.a", "b", "c"]
    assert [(r.qualifier, r.name) for r in result.references] == [
        ("importlib", "import_module"),
        ("importlib", "import_module"),
        ("importlib", "import_module"),
    ]


def test_python__exports_of_declarations_and_module_level_imports() -> None:
    source = (
        "from m import x as y, z\n"
        "import a.b as ab\n"
        "import p.q\n"
        "from w import *\n"
        "if c:\n    V = 1\nelse:\n    V = 2\n"
        "class C:\n    member = 1\n"
        "def f():\n    from inner import hidden\n"
        "def _g(): pass\n"
    )
    result = extract(source)
    assert [(e.kind, e.exported, e.local, e.import_index) for e in result.exports] == [
        ("reexport", "y", "x", 0),
        ("reexport", "z", "z", 0),
        ("reexport_namespace", "ab", "*", 1),
        ("reexport_namespace", "p", "*", 2),
        ("reexport_all", "*", None, 3),
        ("local", "V", "V", None),
        ("local", "C", "C", None),
        ("local", "f", "f", None),
        ("local", "_g", "_g", None),
    ]
    assert result.exports[0] == Export(
        exported="y",
        local="x",
        kind="reexport",
        is_type_only=False,
        span=result.imports[0].bindings[0].span,
        import_index=0,
    )


def test_python__call_references() -> None:
    source = "f()\na.b.g()\na.b().h()\nx[0].skipped()\nf()()\n's'.join(parts)\n(a).paren()\nvery . spaced . call()\n"
    assert references(source) == [
        ("call", None, "f", None, None),
        ("call", "a.b", "g", None, None),
        ("call", "a", "b", None, None),
        ("call", "a.b()", "h", None, None),
        ("call", None, "f", None, None),
        ("call", "very . spaced", "call", None, None),
    ]


def test_python__reference_spans_cover_the_name() -> None:
    source = "obj.method(1)\n"
    result = extract(source)
    (reference,) = result.references
    assert reference.span == Span(start_line=1, start_column=4, end_line=1, end_column=10, start_byte=4, end_byte=10)


def test_python__base_and_decorator_references() -> None:
    source = "@d\n@a.b\n@a.c(x)\nclass C(A, m.B, Generic[T], metaclass=M):\n    pass\n"
    assert references(source) == [
        ("call", None, "d", "C", None),
        ("call", "a", "b", "C", None),
        ("call", "a", "c", "C", None),
        ("extends", None, "A", "C", None),
        ("extends", "m", "B", "C", None),
        ("extends", None, "Generic", "C", None),
    ]


def test_python__annotation_references() -> None:
    source = (
        "def f(a: int, b: Dict[str, 'Foo'] = {}, *c: a.B, d: Foo | None = None,"
        " e: Literal['x'] = 'x', g: Annotated[Bar, 'meta'] = 1) -> 'pkg.Ret': ...\n"
        "x: Callable[[Arg], Res]\n"
    )
    assert [(k, q, n) for k, q, n, _, _ in references(source)] == [
        ("type", None, "int"),
        ("type", None, "Dict"),
        ("type", None, "str"),
        ("type", None, "Foo"),
        ("type", "a", "B"),
        ("type", None, "Foo"),
        ("type", None, "Literal"),
        ("type", None, "Annotated"),
        ("type", None, "Bar"),
        ("type", "pkg", "Ret"),
        ("type", None, "Callable"),
        ("type", None, "Arg"),
        ("type", None, "Res"),
    ]
    result = extract(source)
    foo = result.references[3]
    assert span_text(source, foo.span) == "Foo"
    assert source[foo.span.start_byte - 1] == "'"


def test_python__enclosing_is_the_innermost_symbol() -> None:
    source = "top()\nclass C:\n    x = make()\n    def m(self):\n        def nested():\n            call()\n"
    assert [(n, e) for _, _, n, e, _ in references(source)] == [
        ("top", None),
        ("make", "x"),
        ("call", "m"),
    ]


def test_python__root_hints_of_locals_parameters_and_self() -> None:
    source = (
        "import json\n"
        "class C:\n"
        "    def m(self, p: Foo, q, r=Bar(), *args, **kwargs):\n"
        "        self.run()\n"
        "        p.go()\n"
        "        q.go()\n"
        "        r.go()\n"
        "        a = Foo()\n"
        "        b = a.make()\n"
        "        b.use()\n"
        "        json.dumps()\n"
        "        for item in q:\n"
        "            item.x()\n"
        "        def helper(): pass\n"
        "        helper()\n"
        "        with open(p) as fh:\n"
        "            fh.read()\n"
        "        try:\n"
        "            pass\n"
        "        except ValueError as err:\n"
        "            err.add_note()\n"
        "        lambda s: s.x()\n"
        "        [v.y() for v in q]\n"
        "        def inner():\n"
        "            self.close()\n"
        "    @staticmethod\n"
        "    def s(x):\n"
        "        x.y()\n"
        "    @classmethod\n"
        "    def k(cls):\n"
        "        cls.make()\n"
        "def g():\n"
        "    global G\n"
        "    G = Foo()\n"
        "    G.x()\n"
        "    v = 1\n"
        "    v = Foo()\n"
        "    v.x()\n"
        "    w: Foo = make()\n"
        "    w = other()\n"
        "    w.y()\n"
        "module_level()\n"
    )
    assert [(q, n, hint) for kind, q, n, _, hint in references(source) if kind == "call"] == [
        (None, "Bar", None),  # a default value is evaluated where the function is defined
        ("self", "run", "this"),
        ("p", "go", "{Foo}"),
        ("q", "go", ""),
        ("r", "go", "Bar()"),
        (None, "Foo", None),
        ("a", "make", "Foo()"),
        ("b", "use", "Foo().make()"),
        ("json", "dumps", None),
        ("item", "x", ""),
        (None, "helper", ""),
        (None, "open", None),
        ("fh", "read", ""),
        ("err", "add_note", "{ValueError}"),
        ("s", "x", ""),
        ("v", "y", ""),
        ("self", "close", "this"),
        (None, "staticmethod", None),
        ("x", "y", ""),
        (None, "classmethod", None),
        ("cls", "make", "this"),
        (None, "Foo", None),
        ("G", "x", None),
        (None, "Foo", None),
        ("v", "x", ""),
        (None, "make", None),
        (None, "other", None),
        ("w", "y", "{Foo}"),
        (None, "module_level", None),
    ]


def test_python__python_2_and_broken_code_still_yield_what_the_grammar_recognised() -> None:
    source = "print 'hello'\nexec 'x'\ndef ok(): pass\ndef broken(:\n    pass\nclass Fine: pass\n"
    result = extract(source)
    assert result.had_syntax_errors
    assert [s.name for s in result.symbols if s.name in ("ok", "Fine")] == ["ok", "Fine"]


def test_python__rows_are_sorted_and_names_match_their_spans() -> None:
    source = "from m import a\nclass C(a.B):\n    x: 'T' = f()\n    def m(self, p: int) -> C: return p.q()\nimport z\n"
    result = extract(source)
    for rows in (result.symbols, result.imports, result.references):
        starts = [row.span.start_byte for row in rows]
        assert starts == sorted(starts)
    for symbol in result.symbols:
        assert span_text(source, symbol.name_span) == symbol.name
    for reference in result.references:
        assert span_text(source, reference.span) == reference.name


def test_python__decorators_of_other_shapes_leave_methods_methods() -> None:
    source = (
        "class C:\n"
        "    @name.inplace.setter\n"
        "    def a(self, v): ...\n"
        "    @abc.abstractproperty\n"
        "    def b(self): ...\n"
        "    @b.getter\n"
        "    def c(self): ...\n"
    )
    assert [(kind, name) for kind, name, _, _ in symbols(source)] == [
        ("class", "C"),
        ("method", "a"),
        ("method", "b"),
        ("method", "c"),
    ]


def test_python__an_all_tuple_without_parentheses_is_literal() -> None:
    assert [(n, e) for _, n, _, e in symbols("__all__ = 'a', 'b'\ndef a(): pass\ndef c(): pass\n")] == [
        ("__all__", False),
        ("a", True),
        ("c", False),
    ]


@pytest.mark.parametrize(
    "source",
    [
        b'print "x"\n',
        b"print >>sys.stderr, x\n",
        b'exec "code" in scope\n',
        b"if a <> b:\n    pass\n",
        b'raise E, "m"\n',
    ],
)
def test_python_2_statements__mark_the_file_as_having_syntax_errors_and_keep_its_rows(source: bytes) -> None:
    extraction = extract_source("legacy.py", b"def kept():\n    pass\n" + source)
    assert extraction.had_syntax_errors
    assert extraction.error is None
    assert [symbol.name for symbol in extraction.symbols] == ["kept"]


def test_python_3_spellings_of_the_same__have_no_syntax_errors() -> None:
    source = b'print("x")\nprint("x", file=sys.stderr)\nexec("code", scope)\nif a != b:\n    raise E("m")\n'
    assert not extract_source("modern.py", source).had_syntax_errors
