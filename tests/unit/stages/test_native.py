"""stages._native: the C module behind parse and extract, checked through its own entry points."""

from __future__ import annotations

import gc
import time

import pytest
import tree_sitter

from stages import _native
from stages.extract import extract_source
from stages.languages import ECMASCRIPT_KINDS, load_language


def test_query_plan__rejects_a_reference_capture_of_unknown_kind() -> None:
    grammar = load_language("typescript").grammar
    query = tree_sitter.Query(grammar, "(call_expression function: (identifier) @reference.invoke)")
    with pytest.raises(ValueError, match=r"@reference\.invoke: no such kind"):
        _native.QueryPlan(query, ECMASCRIPT_KINDS)


def test_query_plan__rejects_a_definition_capture_of_unknown_kind() -> None:
    grammar = load_language("typescript").grammar
    query = tree_sitter.Query(grammar, "(function_declaration) @definition.routine")
    with pytest.raises(ValueError, match=r"@definition\.routine: no such kind"):
        _native.QueryPlan(query, ECMASCRIPT_KINDS)


def test_query_plan__hands_import_and_export_captures_to_python_in_document_order() -> None:
    language = load_language("typescript")
    source = b'import a from "a";\nexport { a };\nimport b from "b";\n'
    tree = _native.parse(language.grammar, source, None, time.monotonic() + 10)
    assert tree is not None
    captures, requires, _ = _native.QueryPlan(language.query, language.spec.kinds).run(tree, source)
    assert [node.start_point.row for node in captures["import.static"]] == [0, 2]
    assert [node.type for node in captures["export.statement"]] == ["export_statement"]
    assert requires == []


def test_parse__returns_none_once_the_deadline_has_passed() -> None:
    grammar = load_language("typescript").grammar
    source = b"const x = [" + b"1, " * 200_000 + b"];\n"
    assert _native.parse(grammar, source, None, time.monotonic() - 1) is None
    tree = _native.parse(grammar, b"let y = 1;", None, time.monotonic() + 10)
    assert tree is not None
    assert not tree.root_node.has_error


def test_parse__trees_work_with_tree_sitter_and_outlive_their_inputs() -> None:
    language = load_language("tsx")
    tree = _native.parse(language.grammar, b"export const App = () => <div>{1}</div>;\n", None, time.monotonic() + 10)
    assert tree is not None
    gc.collect()
    copy = tree.copy()
    copy.edit(0, 0, 0, (0, 0), (0, 0), (0, 0))
    assert tree.root_node.children[0].type == "export_statement"
    assert tree.root_node.text == b"export const App = () => <div>{1}</div>;\n"
    del copy, tree
    gc.collect()


def test_extract__a_qualifier_with_a_comment_is_read_from_the_tree() -> None:
    source = b"a /* why */ . b();\nthis?.c();\nvery   .\n  long.d();\n"
    references = extract_source("q.ts", source).references
    assert [(r.qualifier, r.name) for r in references] == [("a", "b"), ("this", "c"), ("very . long", "d")]
