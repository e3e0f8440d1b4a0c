"""stages._native: the C module behind parse and extract, checked through its own entry points."""

from __future__ import annotations

import gc
import time

import pytest

from stages import _native
from stages.extract import extract_source
from stages.languages import ECMASCRIPT_KINDS, load_language
from stages.patterns import compile_patterns


def plan_for(query: str) -> _native.QueryPlan:
    compiled = compile_patterns(load_language("typescript").grammar, query)
    return _native.QueryPlan(compiled.patterns, compiled.capture_names, ECMASCRIPT_KINDS)


def test_query_plan__rejects_a_reference_capture_of_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"@reference\.invoke: no such kind"):
        plan_for("(call_expression function: (identifier) @reference.invoke)")


def test_query_plan__rejects_a_definition_capture_of_unknown_kind() -> None:
    with pytest.raises(ValueError, match=r"@definition\.routine: no such kind"):
        plan_for("(function_declaration) @definition.routine")


def test_query_plan__rejects_malformed_patterns() -> None:
    with pytest.raises(ValueError, match="capture 7 is out of range"):
        _native.QueryPlan([((1,), 0, (7,), None)], ("comment",), ECMASCRIPT_KINDS)
    with pytest.raises(TypeError, match=r"must be \(symbols, field, captures, child\)"):
        _native.QueryPlan([((1,), 0)], ("comment",), ECMASCRIPT_KINDS)


def test_query_plan__hands_captures_of_no_known_family_to_python_in_document_order() -> None:
    language = load_language("typescript")
    source = b'import a from "a";\nexport { a };\nimport b from "b";\n'
    tree = _native.parse(language.grammar, source, None, time.monotonic() + 10)
    assert tree is not None
    captures, file = plan_for("(import_statement) @check.import\n(identifier) @check.name").run(
        tree, source, time.monotonic() + 10
    )
    assert [node.start_point.row for node in captures["check.import"]] == [0, 2]
    assert [node.text for node in captures["check.name"]] == [b"a", b"a", b"b"]
    assert file.rows(200, 4000, 100) == ((), (), (), ())


def test_file_captures__rows_are_built_once() -> None:
    language = load_language("typescript")
    source = b"export const a = f();\n"
    tree = _native.parse(language.grammar, source, None, time.monotonic() + 10)
    assert tree is not None
    _, file = _native.QueryPlan(language.patterns.patterns, language.patterns.capture_names, ECMASCRIPT_KINDS).run(
        tree, source, time.monotonic() + 10
    )
    symbols, imports, exports, references = file.rows(200, 4000, 100)
    assert ([s.name for s in symbols], imports, [e.exported for e in exports], [r.name for r in references]) == (
        ["a"],
        (),
        ["a"],
        ["f"],
    )
    with pytest.raises(RuntimeError, match=r"rows\(\) was called already"):
        file.rows(200, 4000, 100)


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
