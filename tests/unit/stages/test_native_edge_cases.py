"""stages._native at its edges: misuse of its entry points, text bounds, and spans the corpus never produces.

Each misuse test used to crash the process or read past the source's bytes; the span and bound tests pin the
Python extractor's rules (the specification the C code keeps) where the corpus has no example.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import tree_sitter

from stages import _native
from stages.extract import ExtractionLimits, extract_source
from stages.languages import load_language
from stages.models import Span


def _parsed(language_name: str, source: bytes) -> tuple[_native.QueryPlan, tree_sitter.Tree]:
    language = load_language(language_name)
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
    assert tree is not None
    return _native.QueryPlan(language.patterns.patterns, language.patterns.capture_names, language.spec.kinds), tree


def _point(source: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and 0-based byte column of ``offset``."""
    line_start = source.rfind(b"\n", 0, offset) + 1
    return source.count(b"\n", 0, offset) + 1, offset - line_start


def _assert_span_is_exact(source: bytes, span: Span) -> None:
    assert 0 <= span.start_byte <= span.end_byte <= len(source)
    assert (span.start_line, span.start_column) == _point(source, span.start_byte)
    assert (span.end_line, span.end_column) == _point(source, span.end_byte)


def test_rows__after_refusing_its_arguments_still_builds_the_rows() -> None:
    # In a child process: the failure this guards against (a half-built file read again) was a segmentation fault.
    script = textwrap.dedent(
        """
        import time
        from stages import _native
        from stages.languages import load_language

        language = load_language("typescript")
        source = b"let x: Foo = 1;\\n"
        tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
        patterns = language.patterns
        plan = _native.QueryPlan(patterns.patterns, patterns.capture_names, language.spec.kinds)
        _, captures = plan.run(tree, source, time.monotonic() + 10)
        try:
            captures.rows("200", 4000, 100)
        except TypeError:
            print("rows refused a str bound")
        symbols, _, _, references = captures.rows(200, 4000, 100)
        print([symbol.name for symbol in symbols], [r.name for r in references])
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["rows refused a str bound", "['x'] ['Foo']"]


def test_run__refuses_a_tree_that_was_not_parsed_from_the_source() -> None:
    plan, tree = _parsed("typescript", b"type A = B | C | D | E | F | G | H | I;\n")
    with pytest.raises(ValueError, match=r"the tree ends at byte 40 but the source has 10 bytes"):
        plan.run(tree, b"type A = B", time.monotonic() + 10)


def test_parse__refuses_an_old_tree_of_another_language() -> None:
    source = b"function f(a) { return a + 1 }\n"
    javascript_tree = _native.parse(load_language("javascript").capsule, source, None, time.monotonic() + 10)
    with pytest.raises(ValueError, match="old_tree was parsed with another language"):
        _native.parse(load_language("typescript").capsule, source, javascript_tree, time.monotonic() + 10)


def test_extract__a_string_name_cut_at_a_line_break_ends_before_that_break() -> None:
    # Error recovery ends the unterminated string after the line break, with its closing quote missing.
    source = b'declare module "m\\\n'
    (module,) = extract_source("m.d.ts", source).symbols
    assert (module.name, module.kind) == ("m\\", "module")
    assert module.name_span == Span(
        start_line=1, start_column=16, end_line=1, end_column=18, start_byte=16, end_byte=18
    )


def test_extract__every_span_of_every_truncation_is_exact() -> None:
    source = (
        b'declare module "m\\\nx" {}\nenum E { "a\\\nb" = 1 }\nclass K { "p\\\nq"() {} }\n'
        b"namespace A.B { export const c = d.e(); }\n"
    )
    for cut in range(len(source) + 1):
        prefix = source[:cut]
        extraction = extract_source("t.ts", prefix)
        for symbol in extraction.symbols:
            _assert_span_is_exact(prefix, symbol.span)
            _assert_span_is_exact(prefix, symbol.name_span)
            assert prefix[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == symbol.name
        for reference in extraction.references:
            _assert_span_is_exact(prefix, reference.span)


@pytest.mark.parametrize("huge", [sys.maxsize, 10**30])
def test_extract__bounds_beyond_a_machine_word_cut_nothing(huge: int) -> None:
    source = b"/** Doc. */\nfunction f(a) {}\nthis.a.b();\n"
    limits = ExtractionLimits(max_signature_chars=huge, max_doc_chars=huge, max_qualifier_chars=huge)
    extraction = extract_source("t.ts", source, limits=limits)
    (function,) = extraction.symbols
    assert (function.signature, function.doc) == ("function f(a)", "Doc.")
    assert [(r.qualifier, r.name) for r in extraction.references] == [("this.a", "b")]


@pytest.mark.parametrize("field", ["max_signature_chars", "max_doc_chars", "max_qualifier_chars"])
@pytest.mark.parametrize("bound", [0, -1, -(10**30), 2.5, True])
def test_extraction_limits__reject_text_bounds_that_are_not_positive_ints(field: str, bound: object) -> None:
    with pytest.raises(ValueError, match=rf"ExtractionLimits\.{field} must be an int of at least 1"):
        ExtractionLimits(**{field: bound})  # type: ignore[arg-type]


@pytest.mark.parametrize("tiny", [-sys.maxsize - 1, -(10**30)])
def test_symbols__bounds_below_a_machine_word_cut_everything(tiny: int) -> None:
    """The native side clamps any int; only ``ExtractionLimits`` refuses bounds below 1."""
    source = b"/** Doc. */\nfunction f(a) {}\nconst v = 1;\nthis.a.b();\n"
    plan, tree = _parsed("typescript", source)
    _, captures = plan.run(tree, source, time.monotonic() + 10)
    symbols, _, _, references = captures.rows(tiny, tiny, tiny)
    assert [(s.name, s.signature, s.doc) for s in symbols] == [("f", "…", ""), ("v", "const …", None)]
    assert [(r.qualifier, r.name) for r in references] == [("…", "b")]


def test_extract__jsdoc_lines_end_at_crlf_and_at_a_lone_cr() -> None:
    source = (
        b"/**\r\n * First line\r\n *\r\n * Third\r */\r\nfunction f() {}\r\n/**\r * Only CR\r */\rfunction g() {}\n"
    )
    assert [(s.name, s.doc) for s in extract_source("t.ts", source).symbols] == [
        ("f", "First line\n\nThird"),
        ("g", "Only CR"),
    ]


def test_extract__unicode_whitespace_collapses_only_with_the_rest_of_a_signature() -> None:
    # Text without a line break, tab, CR or double space is kept as written; otherwise every run of what
    # str.split() calls whitespace becomes one space.
    kept = "function f(\u00a0a:\u2003number) {}\n".encode()
    collapsed = "function f(\n\u00a0a:\u2003number,\u2028b\u3000\x1c) {}\n".encode()
    assert extract_source("t.ts", kept).symbols[0].signature == "function f(\u00a0a:\u2003number)"
    assert extract_source("t.ts", collapsed).symbols[0].signature == "function f( a: number, b )"


def test_extract__a_decorator_belongs_to_the_member_across_blank_lines_but_not_past_the_gap_limit() -> None:
    source = b"class A {\n  @near\n\n  m() {}\n  @far" + b" " * 300 + b"n() {}\n}\n"
    symbols = extract_source("t.ts", source).symbols
    assert [(s.name, s.span.start_line, s.span.start_column) for s in symbols] == [
        ("A", 1, 0),
        ("m", 2, 2),
        ("n", 5, 306),
    ]
