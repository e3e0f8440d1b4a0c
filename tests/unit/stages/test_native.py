"""stages._native: the C module behind parse and extract, checked through its own entry points."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import pytest
import tree_sitter

from stages import _native
from stages.extract import extract_source
from stages.languages import ECMASCRIPT_KINDS, LANGUAGES, language_name_for_path, load_language
from stages.patterns import compile_patterns


def plan_for(query: str) -> _native.QueryPlan:
    compiled = compile_patterns(load_language("typescript").grammar, query)
    return _native.QueryPlan(compiled.patterns, compiled.capture_names, ECMASCRIPT_KINDS)


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "crosscheck"
GO_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "go"


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
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
    assert tree is not None
    captures, file = plan_for("(import_statement) @check.import\n(identifier) @check.name").run(
        tree, source, time.monotonic() + 10
    )
    assert [node.start_point.row for node in captures["check.import"]] == [0, 2]
    assert [source[node.start_byte : node.end_byte] for node in captures["check.name"]] == [b"a", b"a", b"b"]
    assert file.rows(200, 4000, 100) == ((), (), (), ())


def test_file_captures__rows_are_built_once() -> None:
    language = load_language("typescript")
    source = b"export const a = f();\n"
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
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
    capsule = load_language("typescript").capsule
    source = b"const x = [" + b"1, " * 200_000 + b"];\n"
    assert _native.parse(capsule, source, None, time.monotonic() - 1) is None
    tree = _native.parse(capsule, b"let y = 1;", None, time.monotonic() + 10)
    assert tree is not None
    assert not tree.root_node.has_error


def test_parse__trees_outlive_their_inputs_and_copies_are_independent() -> None:
    language = load_language("tsx")
    source = b"export const App = () => <div>{1}</div>;\n"
    tree = _native.parse(language.capsule, bytes(source), None, time.monotonic() + 10)
    assert tree is not None
    gc.collect()
    copy = tree.copy()
    copy.edit(
        start_byte=0, old_end_byte=6, new_end_byte=6, start_point=(0, 0), old_end_point=(0, 6), new_end_point=(0, 6)
    )
    root = tree.root_node
    del tree
    gc.collect()
    assert root.children[0].type == "export_statement"
    assert (root.start_byte, root.end_byte, root.end_point) == (0, len(source), (1, 0))
    reparsed = _native.parse(language.capsule, source, copy, time.monotonic() + 10)
    assert reparsed is not None
    assert reparsed.root_node.children[0].type == "export_statement"


def test_parse__takes_only_a_grammar_capsule() -> None:
    import ctypes

    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    wrong_name = new_capsule(id(object()), b"something.else", None)
    for wrong in (load_language("typescript").grammar, wrong_name, None, b"x"):
        with pytest.raises(TypeError, match="language\\(\\) capsule"):
            _native.parse(wrong, b"let x;", None, time.monotonic() + 10)


def _end(node: Any) -> int | None:
    return None if node is None else int(node.end_byte)


def _walk(node: Any) -> list[tuple[object, ...]]:
    """Every node below ``node`` with what SyntaxNode offers of it (fields by child index), in pre-order."""
    rows: list[tuple[object, ...]] = []
    pending = [node]
    while pending:
        current = pending.pop()
        children = current.children
        rows.append(
            (
                current.type,
                current.is_named,
                current.is_missing,
                current.has_error,
                current.start_byte,
                current.end_byte,
                tuple(current.start_point),
                tuple(current.end_point),
                current.child_count,
                current.named_child_count,
                [child.type for child in current.named_children],
                [current.field_name_for_child(index) for index in range(len(children))],
                [(child.start_byte, child.type) for child in current.children_by_field_name("name")],
                None if (named := current.child_by_field_name("body")) is None else named.start_byte,
                None if current.child_count == 0 or (first := current.child(0)) is None else first.start_byte,
                None if current.named_child_count == 0 else _end(current.named_child(current.named_child_count - 1)),
            )
        )
        pending.extend(reversed(children))
    return rows


@pytest.mark.parametrize("language_name", sorted(LANGUAGES))
def test_node__answers_as_py_tree_sitter_does_on_the_fixtures(language_name: str) -> None:
    language = load_language(language_name)
    candidates = sorted([*FIXTURES.rglob("*"), *GO_FIXTURES.rglob("*")])
    files = [path for path in candidates if language_name_for_path(path.name) == language_name]
    assert files, f"no {language_name} fixture"
    for path in files:
        source = path.read_bytes()
        ours = _native.parse(language.capsule, source, None, time.monotonic() + 10)
        assert ours is not None
        theirs = tree_sitter.Parser(language.grammar).parse(source)
        assert _walk(ours.root_node) == _walk(theirs.root_node), path.name


def test_node__extent_type_and_fields_read_at_once_agree_with_single_reads() -> None:
    """``extent``, the per-tree memo of type names (ERROR is outside the grammar's symbol table) and of field ids
    answer as the single reads do, on a tree with errors and missing nodes."""
    source = b"def f(a, b:\n    return (a +\nclass C(:\n    x = [1, 2\n)) ]]\n"
    language = load_language("python")
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
    assert tree is not None
    theirs = tree_sitter.Parser(language.grammar).parse(source)
    assert _walk(tree.root_node) == _walk(theirs.root_node)
    types: list[str] = []
    pending = [tree.root_node]
    while pending:
        node = pending.pop()
        types.append(node.type)
        assert node.extent == (node.start_byte, node.end_byte, *node.start_point, *node.end_point)
        assert node.child_by_field_name("name") == node.child_by_field_name("name")
        pending.extend(node.children)
    assert "ERROR" in types
    with pytest.raises(TypeError, match="field name must be a str"):
        tree.root_node.child_by_field_name(b"name")  # type: ignore[arg-type]


def test_node__equality_and_hash_follow_the_node_not_the_object() -> None:
    tree = _native.parse(load_language("typescript").capsule, b"f(a); g(b);", None, time.monotonic() + 10)
    assert tree is not None
    first, second = tree.root_node.children[0], tree.root_node.children[1]
    assert first == tree.root_node.children[0]
    assert hash(first) == hash(tree.root_node.children[0])
    assert first != second
    assert len({first, second, tree.root_node.children[0]}) == 2
    assert first.child(99) is None
    assert first.child(-1) is None
    assert first.field_name_for_child(99) is None
    assert first.child_by_field_name("no_such_field") is None
    assert first.children_by_field_name("no_such_field") == []
    assert "expression_statement" in repr(first)


def test_extract__a_qualifier_with_a_comment_is_read_from_the_tree() -> None:
    source = b"a /* why */ . b();\nthis?.c();\nvery   .\n  long.d();\n"
    references = extract_source("q.ts", source).references
    assert [(r.qualifier, r.name) for r in references] == [("a", "b"), ("this", "c"), ("very . long", "d")]
