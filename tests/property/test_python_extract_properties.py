"""Property tests of Python extraction: generated programs extract exactly; Python-ish and arbitrary text always
give sorted rows whose ranges lie in the file and whose names are the text of their name ranges."""

from __future__ import annotations

import keyword
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.extract import extract_source
from stages.models import FileExtraction, Span

ALL_CAPS = re.compile(r"_*[A-Z][A-Z0-9_]*\Z")
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

identifiers = st.from_regex(r"[a-zA-Z_é][a-zA-Z0-9_é]{0,7}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name) and not keyword.issoftkeyword(name) and name not in ("print", "exec")
)

TEMPLATES = (
    "def {a}({b}, {c}: {d} = {e}()) -> {d}:",
    "async def {a}(self, *{b}, **{c}):",
    "class {a}({b}, {c}.{d}, metaclass={e}):",
    "@{a}.{b}({c})",
    "@property",
    "{a} = {b} = {c}({d})",
    "{a}, *{b} = {c}",
    "{a}: {b}[{c}, '{d}'] = {e}.{a}().{b}",
    "{a} += {b}",
    "import {a}.{b} as {c}",
    "from .{a} import {b} as {c}, {d}",
    "from {a} import *",
    "if TYPE_CHECKING:",
    "else:",
    "try:",
    "except {a} as {b}:",
    "for {a} in {b}:",
    "with {a}({b}) as {c}:",
    "'''{a} doc'''",
    "return [{a}.{b}() for {a} in {c}]",
    "{a}({b}, {c}=lambda {d}: {d}.{e}())",
    "global {a}",
    "__all__ = ['{a}', '{b}']",
    "type {a}[{b}] = {c} | None",
    "importlib.import_module('{a}.{b}')",
    "pass",
    "({a}",
    "{a}]",
    "print '{a}'",
    "# {a}",
)


@st.composite
def python_ish(draw: st.DrawFn) -> str:
    """Lines of Python statements, well formed or not, at random indentation."""
    lines: list[str] = []
    for template in draw(st.lists(st.sampled_from(TEMPLATES), max_size=30)):
        names = draw(st.lists(identifiers, min_size=5, max_size=5))
        indent = "    " * draw(st.integers(0, 3))
        lines.append(indent + template.format(a=names[0], b=names[1], c=names[2], d=names[3], e=names[4]))
    separator = draw(st.sampled_from(["\n", "\r\n"]))
    return separator.join(lines) + separator


def assert_well_formed(source: bytes, result: FileExtraction) -> None:
    assert result.error is None, result.error

    def valid(span: Span) -> None:
        assert 0 <= span.start_byte <= span.end_byte <= len(source)
        assert (span.start_line, span.start_column) <= (span.end_line, span.end_column)
        assert span.start_line == source.count(b"\n", 0, span.start_byte) + 1
        assert span.start_column == span.start_byte - (source.rfind(b"\n", 0, span.start_byte) + 1)

    def text(span: Span) -> str:
        return source[span.start_byte : span.end_byte].decode()

    for rows in (result.symbols, result.imports, result.references):
        starts = [row.span.start_byte for row in rows]
        assert starts == sorted(starts)
    assert [e.span.start_byte for e in result.exports] == sorted(e.span.start_byte for e in result.exports)
    for index, symbol in enumerate(result.symbols):
        valid(symbol.span)
        valid(symbol.name_span)
        assert symbol.name
        assert text(symbol.name_span) == symbol.name
        assert (
            symbol.span.start_byte <= symbol.name_span.start_byte <= symbol.name_span.end_byte <= symbol.span.end_byte
        )
        if symbol.parent is not None:
            parent = result.symbols[symbol.parent]
            assert symbol.parent < index
            assert parent.kind == "class"
            assert parent.span.start_byte <= symbol.span.start_byte <= symbol.span.end_byte <= parent.span.end_byte
        assert len(symbol.signature) <= 200
    for imported in result.imports:
        valid(imported.span)
        valid(imported.specifier_span)
        for binding in imported.bindings:
            valid(binding.span)
    for export in result.exports:
        valid(export.span)
        assert export.import_index is None or 0 <= export.import_index < len(result.imports)
    for reference in result.references:
        valid(reference.span)
        assert text(reference.span) == reference.name
        if reference.enclosing is not None:
            enclosing = result.symbols[reference.enclosing].span
            assert enclosing.start_byte <= reference.span.start_byte <= reference.span.end_byte <= enclosing.end_byte
        assert reference.qualifier is None or len(reference.qualifier) <= 100
        assert reference.root_hint is None or len(reference.root_hint) <= 200


@PROPERTY_SETTINGS
@given(python_ish())
def test_python_ish_sources__give_sorted_rows_with_valid_spans_and_names(source: str) -> None:
    encoded = source.encode()
    assert_well_formed(encoded, extract_source("m.py", encoded))


@PROPERTY_SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300))
def test_arbitrary_text__gives_sorted_rows_with_valid_spans_and_names(source: str) -> None:
    encoded = source.encode()
    assert_well_formed(encoded, extract_source("m.py", encoded))


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, str | None]]]:
    """A well-formed module of functions, classes with members, and assignments, and its expected symbols."""
    lines: list[str] = []
    expected: list[tuple[str, str, str | None]] = []
    for kind in draw(st.lists(st.sampled_from(["def", "class", "assign", "guarded"]), max_size=8)):
        name = draw(identifiers)
        if kind == "def":
            lines += [f"def {name}(a):", f"    {name}_local = a.b()"]
            expected.append(("function", name, None))
        elif kind == "assign":
            lines.append(f"{name} = {draw(identifiers)}()")
            expected.append(("constant" if ALL_CAPS.match(name) else "variable", name, None))
        elif kind == "guarded":
            lines += ["if TYPE_CHECKING:", f"    from m import {name}", "else:", f"    {name} = None"]
            expected.append(("constant" if ALL_CAPS.match(name) else "variable", name, None))
        else:
            lines.append(f"class {name}:")
            expected.append(("class", name, None))
            members = draw(st.lists(identifiers, min_size=1, max_size=4))
            for member in members:
                lines += [f"    def {member}(self):", "        return self"]
                expected.append(("method", member, name))
    return "\n".join(lines) + "\n", expected


@PROPERTY_SETTINGS
@given(programs())
def test_generated_programs__extract_exactly(program: tuple[str, list[tuple[str, str, str | None]]]) -> None:
    source, expected = program
    result = extract_source("m.py", source.encode())
    assert not result.had_syntax_errors
    assert [
        (s.kind, s.name, None if s.parent is None else result.symbols[s.parent].name) for s in result.symbols
    ] == expected
    assert_well_formed(source.encode(), result)
