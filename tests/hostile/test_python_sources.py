"""Hostile Python sources: each one ends, within the per-file time limit, with rows or a clear per-file error, in
memory that grows with the file (not with its nesting).

Brackets, calls, attribute chains and annotations nest 20,000 levels deep on one line. Blocks (``if``, ``class``,
``def``) nest by indentation, so a file of depth d holds d²/2 bytes of it: 2,000 levels is what fits in the 2 MiB
file limit, and tree-sitter-python reads only about 510 levels of indentation (deeper blocks are syntax errors).
"""

from __future__ import annotations

import time

import pytest

from stages import _native
from stages.extract import ExtractionLimits, _query_plan, extract_source
from stages.lang import python
from stages.parse import ParseLimits, parse_source
from stages.syntax import Captures, Steps, TextLimits
from tests.hostile.test_sources import (
    DEPTH,
    MEMORY_BASE,
    MEMORY_PER_SOURCE_BYTE,
    WIDE,
    Hostile,
    names,
    nested,
    peak_rss_since_reset,
)

BLOCK_DEPTH = 2_000
GRAMMAR_DEPTH = 500


def indented(header: bytes, inner: bytes, depth: int = BLOCK_DEPTH) -> bytes:
    """``depth`` blocks each inside the one before, one space of indentation per level."""
    return b"".join(b" " * level + header + b"\n" for level in range(depth)) + b" " * depth + inner + b"\n"


HOSTILE: dict[str, Hostile] = {
    # nesting
    "nested ifs": Hostile(
        "a.py",
        indented(b"if a:", b"X = f()"),
        check=lambda r: [(s.name, s.parent) for s in r.symbols] == [("X", None)] and r.references[0].name == "f",
    ),
    "nested classes": Hostile(
        "a.py",
        indented(b"class A:", b"x = 1"),
        check=lambda r: all(s.parent == (None if k == 0 else k - 1) for k, s in enumerate(r.symbols[:GRAMMAR_DEPTH])),
    ),
    "nested classes within the grammar's depth": Hostile(
        "a.py",
        indented(b"class A:", b"x = 1", GRAMMAR_DEPTH),
        check=lambda r: len(r.symbols) == GRAMMAR_DEPTH + 1 and r.symbols[-1].parent == GRAMMAR_DEPTH - 1,
    ),
    "nested functions": Hostile(
        "a.py",
        indented(b"def f(p: T):", b"p.x()", GRAMMAR_DEPTH),
        check=lambda r: len(r.symbols) == 1 and r.references[-1].root_hint == "{T}",
    ),
    "nested try blocks": Hostile(
        "a.py", indented(b"try:", b"import m"), check=lambda r: r.had_syntax_errors and r.symbols == ()
    ),
    "nested calls": Hostile("a.py", nested(b"f(", b"", b")"), check=lambda r: len(r.references) == DEPTH),
    "nested lists": Hostile(
        "a.py", nested(b"[", b"", b"]", prefix=b"x = "), check=lambda r: [s.name for s in r.symbols] == ["x"]
    ),
    "nested parentheses": Hostile(
        "a.py", nested(b"(", b"a", b")", prefix=b"x = "), check=lambda r: r.symbols[0].type_hint is None
    ),
    "nested lambdas": Hostile(
        "a.py", nested(b"lambda a: ", b"a.b()", b"", prefix=b"x = "), check=lambda r: r.references[0].root_hint == ""
    ),
    "nested comprehensions": Hostile("a.py", nested(b"[", b"v.x() for v in w", b" for w in u]", DEPTH // 2)),
    "nested generics in an annotation": Hostile(
        "a.py",
        nested(b"list[", b"Foo", b"]", prefix=b"x: "),
        check=lambda r: r.symbols[0].type_hint == "{list}" and len(r.references) == DEPTH + 1,
    ),
    "nested Optional in an annotation": Hostile(
        "a.py", nested(b"Optional[", b"Foo", b"]", prefix=b"x: "), check=lambda r: r.symbols[0].type_hint is None
    ),
    # chains
    "a 20,000-member attribute chain called": Hostile(
        "a.py",
        b"a" + b".b" * DEPTH + b"()",
        check=lambda r: len(r.references) == 1 and len(r.references[0].qualifier or "") <= 100,
    ),
    "a 20,000-call chain": Hostile(
        "a.py",
        b"def f(p: T):\n    p" + b".m()" * DEPTH + b"\n",
        check=lambda r: len(r.references) == DEPTH + 1 and all(len(x.qualifier or "") <= 100 for x in r.references),
    ),
    "a 20,000-member dotted annotation": Hostile(
        "a.py",
        b"x: " + b"a." * DEPTH + b"B\n",
        check=lambda r: len(r.references) == 1 and r.symbols[0].type_hint is None,
    ),
    "a union of 20,000 types": Hostile(
        "a.py", b"x: " + b" | ".join([b"A"] * DEPTH) + b"\n", check=lambda r: r.symbols[0].type_hint is None
    ),
    "20,000 locals each made from the one before": Hostile(
        "a.py",
        b"def f():\n    v0 = A()\n"
        + b"".join(b"    v%d = v%d.p\n" % (k + 1, k) for k in range(WIDE))
        + b"    v%d.x()\n    v1.x()\n" % WIDE,
        check=lambda r: [x.root_hint for x in r.references[-2:]] == ["v19991" + ".p" * 9, "A().p"],
    ),
    # wide
    "a 100,000-name __all__": Hostile(
        "a.py",
        b"__all__ = [" + b",".join(b"'n%d'" % k for k in range(100_000)) + b"]\ndef n5(): pass\ndef other(): pass\n",
        check=lambda r: [(s.name, s.exported) for s in r.symbols[1:]] == [("n5", True), ("other", False)],
    ),
    "50,000 import statements": Hostile(
        "a.py", b"import a\n" * 50_000, check=lambda r: len(r.imports) == len(r.exports) == 50_000
    ),
    "20,000 names in one from-import": Hostile(
        "a.py", b"from m import (" + names(WIDE) + b")\n", check=lambda r: len(r.imports[0].bindings) == WIDE
    ),
    "20,000 parameters": Hostile(
        "a.py",
        b"def f(" + names(WIDE) + b"):\n    a19999.x()\n",
        check=lambda r: len(r.symbols[0].signature) <= 200 and r.references[0].root_hint == "",
    ),
    "20,000 decorators on one function": Hostile(
        "a.py", b"@d\n" * WIDE + b"def f(): pass\n", check=lambda r: len(r.symbols[0].signature) <= 200
    ),
    "20,000 assignment targets": Hostile("a.py", names(WIDE) + b" = x\n", check=lambda r: len(r.symbols) == WIDE),
    "20,000 chained assignments": Hostile(
        "a.py", b" = ".join(names(WIDE).split(b",")) + b" = Foo()\n", check=lambda r: len(r.symbols) == WIDE
    ),
    "a 1 MB docstring": Hostile(
        "a.py",
        b'def f():\n    """' + b"\\n x" * 250_000 + b'"""\n',
        check=lambda r: len(r.symbols[0].doc or "") == 4000,
    ),
    "a 100,000-character identifier": Hostile(
        "a.py", b"x" * 100_000 + b" = 1\n", check=lambda r: len(r.symbols[0].name) == 100_000
    ),
    # broken
    "a file that is all ERROR nodes": Hostile(
        "a.py", b"@#%^" * DEPTH, check=lambda r: r.had_syntax_errors and r.symbols == ()
    ),
    "unclosed brackets": Hostile("a.py", b"f(" * DEPTH, check=lambda r: r.had_syntax_errors),
    "closing brackets only": Hostile("a.py", b")]}" * DEPTH, check=lambda r: r.had_syntax_errors),
    "an unterminated triple-quoted string": Hostile(
        "a.py", b"def f(): pass\nx = '''" + b"text\n" * DEPTH, check=lambda r: r.symbols[0].name == "f"
    ),
    "a Python 2 file": Hostile(
        "a.py",
        b"import os\n"
        b"print 'hello', os.name\n"
        b"print >>sys.stderr, `x`\n"
        b"exec 'code' in ns\n"
        b"try:\n    pass\nexcept IOError, e:\n    raise ValueError, 'bad'\n"
        b"def f((a, b), c=0777L):\n    return ur'raw'\n"
        b"class Old:\n    def m(self): print self\n",
        check=lambda r: {"f", "Old", "m"} <= {s.name for s in r.symbols} and r.imports[0].specifier == "os",
    ),
    "mixed tabs and spaces": Hostile(
        "a.py", b"class A:\n\tdef m(self):\n        \tpass\n" * 1000, check=lambda r: r.symbols[0].name == "A"
    ),
    "CRLF line endings": Hostile(
        "a.py",
        b'class A:\r\n    """Doc."""\r\n    x = 1\r\n' * 1000,
        check=lambda r: r.symbols[0].doc == "Doc." and r.symbols[-1].span.start_line == 3000,
    ),
    "multi-byte characters everywhere": Hostile(
        "a.py",
        "def ƒö(ä: 'Ünï'):\n    ä.ß('😀')\n".encode() * 1000,
        check=lambda r: r.symbols[0].name == "ƒö" and r.references[1].name == "ß" and not r.had_syntax_errors,
    ),
    "a file over the size limit": Hostile("a.py", b"x" * (2 * 1024 * 1024 + 1), "too_large", "exceeds the limit"),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_python_source__ends_in_rows_or_a_clear_error_within_the_limit_and_bounded_memory(case: Hostile) -> None:
    extract_source(case.path, b"")  # the language's one-time set-up is not the case's memory
    extraction, peak = peak_rss_since_reset(lambda: extract_source(case.path, case.source))
    if case.error is None:
        assert extraction.error is None, extraction.error
        assert case.check(extraction)
        for symbol in extraction.symbols:
            assert case.source[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == symbol.name
    else:
        assert extraction.error is not None
        assert extraction.error.kind == case.error
        assert case.message in extraction.error.message
    assert peak < MEMORY_BASE + MEMORY_PER_SOURCE_BYTE * len(case.source)


def test_python_source__a_2_mb_file_of_one_expression_ends_in_its_rows_or_a_timeout() -> None:
    # tree-sitter takes about 3 s of CPU to parse it: on a loaded machine that may pass the 5 s limit
    source = b"x = " + b"a+" * 1_000_000 + b"a\n"
    extraction = extract_source("a.py", source)
    if extraction.error is None:
        assert [s.name for s in extraction.symbols] == ["x"]
    else:
        assert extraction.error.kind == "timeout"


def test_python_source__a_tiny_time_limit_ends_in_a_timeout_error() -> None:
    source = b"def f(p: T):\n    p" + b".m()" * DEPTH + b"\n"
    limits = ExtractionLimits(parse=ParseLimits(parse_timeout_seconds=1e-6))
    extraction = extract_source("a.py", source, limits=limits)
    assert extraction.error is not None
    assert extraction.error.kind == "timeout"
    assert extraction.symbols == extraction.references == ()


def test_python_source__the_row_builder_stops_at_the_deadline() -> None:
    source = b"def f(p: T):\n    p" + b".m()" * DEPTH + b"\n"
    parsed = parse_source("a.py", source)
    nodes, _ = _query_plan(parsed.language).run(parsed.tree, parsed.source, time.monotonic() + 60)
    captures = Captures(
        path="a.py",
        source=source,
        root=parsed.tree.root_node,
        nodes=nodes,
        limits=TextLimits(200, 4000, 100),
        steps=Steps(time.monotonic() - 1),
    )
    with pytest.raises(_native.DeadlineExceeded):
        python.rows(captures)
