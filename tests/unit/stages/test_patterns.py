"""The query-file pattern subset: compiled by stages.patterns, matched by stages._native like tree-sitter does."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import tree_sitter

from stages import _native
from stages.languages import LANGUAGES, language_name_for_path, load_language, query_source
from stages.patterns import PatternError, Step, compile_patterns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "crosscheck"
GO_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "go"


def typescript() -> tree_sitter.Language:
    return load_language("typescript").grammar


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('((identifier) @x (#eq? @x "a"))', "not supported"),
        ("(identifier)* @x", "not supported"),
        ("(call_expression . (identifier) @x)", "not supported"),
        ("(call_expression (identifier) (arguments)) @x", "more than one child pattern"),
        ("(no_such_node) @x", "node type 'no_such_node' is not in the grammar"),
        ("(call_expression no_such_field: (identifier)) @x", "field 'no_such_field' is not in the grammar"),
        ('(required_parameter "no such keyword") @x', "anonymous node 'no such keyword' is not in the grammar"),
        ("(call_expression", "expected close"),
    ],
)
def test_compile_patterns__rejects_what_the_matcher_does_not_do_naming_the_line(source: str, message: str) -> None:
    with pytest.raises(PatternError, match=re.escape(message)):
        compile_patterns(typescript(), "; a comment\n" + source)


def test_compile_patterns__expands_alternations_and_numbers_captures_in_order() -> None:
    grammar = typescript()
    compiled = compile_patterns(
        grammar,
        "(call_expression function: [(identifier) @callee (member_expression) @member])\n"
        "[(class) (enum_declaration)] @t",
    )
    assert compiled.capture_names == ("callee", "member", "t")
    function = grammar.field_id_for_name("function")
    call = grammar.id_for_node_kind("call_expression", True)
    assert compiled.patterns == (
        Step((call,), 0, (), Step((grammar.id_for_node_kind("identifier", True),), function, (0,), None)),
        Step((call,), 0, (), Step((grammar.id_for_node_kind("member_expression", True),), function, (1,), None)),
        Step(
            (grammar.id_for_node_kind("class", True), grammar.id_for_node_kind("enum_declaration", True)), 0, (2,), None
        ),
    )


def _renamed(source: str) -> str:
    """The query with every capture renamed outside the native families, so the plan hands all to Python."""
    return re.sub(r"@([\w.]+)", lambda match: "@check." + match.group(1).replace(".", "_"), source)


@pytest.mark.parametrize("language_name", sorted(LANGUAGES))
def test_native_matcher__captures_what_tree_sitter_captures_on_the_fixtures(language_name: str) -> None:
    language = load_language(language_name)
    source = _renamed(query_source(language.spec.query_name))
    compiled = compile_patterns(language.grammar, source)
    plan = _native.QueryPlan(compiled.patterns, compiled.capture_names, language.spec.kinds)
    query = tree_sitter.Query(language.grammar, source)
    files = [
        path
        for fixtures in (FIXTURES, GO_FIXTURES)
        for path in sorted(fixtures.rglob("*"))
        if language_name_for_path(path.name) == language_name
    ]
    assert files, f"no {language_name} fixture"
    for path in files:
        text = path.read_bytes()
        tree = _native.parse(language.capsule, text, None, time.monotonic() + 10)
        assert tree is not None
        ours, _ = plan.run(tree, text, time.monotonic() + 10)
        theirs = tree_sitter.QueryCursor(query).captures(tree_sitter.Parser(language.grammar).parse(text).root_node)
        assert {name: {(n.start_byte, n.end_byte, n.type) for n in nodes} for name, nodes in ours.items()} == {
            name: {(n.start_byte, n.end_byte, n.type) for n in nodes} for name, nodes in theirs.items()
        }, path.name
