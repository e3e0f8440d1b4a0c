"""Edge cases where the native matcher must capture what tree-sitter's query cursor captures (ERROR nodes and
wildcards), and query syntax stages.patterns must read as tree-sitter does or reject."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import tree_sitter

from stages import _native
from stages.languages import LANGUAGES, language_name_for_path, load_language, query_source
from stages.patterns import MAX_PATTERN_DEPTH, PatternError, compile_patterns
from stages.syntax import SyntaxNode

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "crosscheck"
GO_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "go"

NodeKey = tuple[int, int, str]


def _keys(captures: Mapping[str, Sequence[SyntaxNode]]) -> dict[str, set[NodeKey]]:
    return {name: {(node.start_byte, node.end_byte, node.type) for node in nodes} for name, nodes in captures.items()}


def _both(language_name: str, query: str, source: bytes) -> tuple[dict[str, set[NodeKey]], dict[str, set[NodeKey]]]:
    """The matcher's captures and tree-sitter's (from its complete matches), by capture name."""
    language = load_language(language_name)
    compiled = compile_patterns(language.grammar, query)
    plan = _native.QueryPlan(compiled.patterns, compiled.capture_names, language.spec.kinds)
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
    assert tree is not None
    ours, _ = plan.run(tree, source, time.monotonic() + 10)
    theirs: dict[str, set[NodeKey]] = {}
    their_root = tree_sitter.Parser(language.grammar).parse(source).root_node
    for _, captures in tree_sitter.QueryCursor(tree_sitter.Query(language.grammar, query)).matches(their_root):
        for name, value in _keys(captures).items():
            theirs.setdefault(name, set()).update(value)
    return _keys(ours), theirs


def test_native_matcher__any_named_node_pattern_skips_error_nodes() -> None:
    ours, theirs = _both("typescript", "(_) @check.node", b"let x = ) y;\nfoo bar ) baz;\n")
    assert ours == theirs
    assert "ERROR" not in {node_type for _, _, node_type in ours["check.node"]}
    assert "identifier" in {node_type for _, _, node_type in ours["check.node"]}


def test_native_matcher__wildcard_child_is_never_an_error_node() -> None:
    ours, theirs = _both("typescript", "(variable_declarator (_) @check.child) @check.declarator", b"let x = ) y;\n")
    assert ours == theirs
    assert ours["check.child"] == {(4, 5, "identifier"), (10, 11, "identifier")}


def test_native_matcher__wildcard_parent_of_a_named_child_is_never_an_error_node() -> None:
    source = b"a b c d\nf(a b c);\n"
    ours, theirs = _both("typescript", "(_ (identifier) @check.child) @check.parent", source)
    assert ours == theirs
    assert "ERROR" not in {node_type for _, _, node_type in ours["check.parent"]}


def test_native_matcher__error_nodes_still_match_by_name_and_inside_errors() -> None:
    query = "(ERROR (identifier) @check.inside) @check.error\n(_ (_) @check.any_child) @check.any_parent"
    ours, theirs = _both("typescript", query, b"a b c d\nf(a b c);\n")
    assert ours == theirs
    assert ours["check.error"] == {(0, 5, "ERROR"), (12, 15, "ERROR")}


def _damaged(source: bytes, rng: random.Random) -> bytes:
    data = bytearray(source)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(data) + 1)
        if rng.random() < 0.5:
            del data[at : at + rng.randint(1, 6)]
        else:
            data[at:at] = rng.choice([b"{", b"}", b"(", b")", b";", b'"', b"`", b"<", b"=", b"readonly ", b"\n"])
    return bytes(data)


@pytest.mark.parametrize("language_name", sorted(LANGUAGES))
def test_native_matcher__query_files_capture_what_tree_sitter_captures_on_damaged_fixtures(language_name: str) -> None:
    language = load_language(language_name)
    query = re.sub(
        r"@([\w.]+)", lambda match: "@check." + match.group(1).replace(".", "_"), query_source(language.spec.query_name)
    )
    rng = random.Random(language_name)
    files = [
        path
        for fixtures in (FIXTURES, GO_FIXTURES)
        for path in sorted(fixtures.rglob("*"))
        if language_name_for_path(path.name) == language_name
    ]
    for path in files:
        for _ in range(3):
            source = _damaged(path.read_bytes(), rng)
            ours, theirs = _both(language_name, query, source)
            assert ours == theirs, (path.name, source)


def test_compile_patterns__rejects_a_supertype_which_the_matcher_cannot_see() -> None:
    with pytest.raises(PatternError, match="line 2: supertype 'expression' is not supported"):
        compile_patterns(load_language("typescript").grammar, "(identifier) @a\n(call_expression (expression)) @b")


@pytest.mark.parametrize("query", ["(call_expression []) @x", "(call_expression function: []) @x", "[] @x"])
def test_compile_patterns__rejects_an_empty_alternation_instead_of_dropping_the_child(query: str) -> None:
    with pytest.raises(PatternError, match="empty alternation"):
        compile_patterns(load_language("typescript").grammar, query)


def test_compile_patterns__reads_string_escapes_as_tree_sitter_does() -> None:
    grammar = load_language("typescript").grammar
    query = '(as_expression "\\as") @x'
    tree_sitter.Query(grammar, query)
    compiled = compile_patterns(grammar, query)
    assert compiled.patterns[0].child is not None
    assert compiled.patterns[0].child.symbols == (grammar.id_for_node_kind("as", False),)


@pytest.mark.parametrize("query", ['(binary_expression "\\u003d") @x', '(binary_expression "=\n") @x'])
def test_compile_patterns__rejects_strings_tree_sitter_reads_otherwise(query: str) -> None:
    grammar = load_language("typescript").grammar
    with pytest.raises(tree_sitter.QueryError):
        tree_sitter.Query(grammar, query)
    with pytest.raises(PatternError):
        compile_patterns(grammar, query)


def test_compile_patterns__rejects_patterns_deeper_than_the_matcher_allows() -> None:
    grammar = load_language("typescript").grammar
    deepest = "(parenthesized_expression " * (MAX_PATTERN_DEPTH - 1) + "(identifier)" + ")" * (MAX_PATTERN_DEPTH - 1)
    compiled = compile_patterns(grammar, deepest + " @x")
    _native.QueryPlan(compiled.patterns, compiled.capture_names, load_language("typescript").spec.kinds)
    with pytest.raises(PatternError, match=f"more than {MAX_PATTERN_DEPTH} nodes"):
        compile_patterns(grammar, "(parenthesized_expression " + deepest + ") @x")
