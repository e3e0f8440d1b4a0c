"""Imports and exports read natively (FileCaptures.rows): failed allocations on the way raise and leak nothing,
and statements damaged by error recovery read as the Python extractor read them."""

from __future__ import annotations

import gc
import importlib
import sys
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from stages import _native
from stages.extract import extract_source
from stages.languages import load_language

try:
    testcapi: ModuleType | None = importlib.import_module("_testcapi")
except ImportError:  # a Python built without its test modules
    testcapi = None

needs_testcapi = pytest.mark.skipif(testcapi is None, reason="allocation failures are injected by CPython's _testcapi")

MODULE_SOURCE = b"""import a, { b as c, "d e" as f, type g } from "./m";
import * as ns from 'pkg';
import h = require("h");
export { a as "x y", c as default } from "./n";
export * as star from "s";
export * from "all";
export { ns, h as k };
export default a;
module.exports = { a, b: c, d() {}, 'q': ns, [z]: 1 };
module.exports.e = f;
exports.g = h;
const { r, s: t } = require("rq");
const u = require("u");
import("dyn");
"""


def _file_captures(language_name: str, source: bytes) -> Iterator[_native.FileCaptures]:
    language = load_language(language_name)
    tree = _native.parse(language.capsule, source, None, time.monotonic() + 10)
    assert tree is not None
    plan = _native.QueryPlan(language.patterns.patterns, language.patterns.capture_names, language.spec.kinds)
    while True:
        yield plan.run(tree, source, time.monotonic() + 10)[1]


def _rows_with_failing_allocation(file: _native.FileCaptures, number: int) -> BaseException | None:
    """``file.rows()`` with its ``number``-th memory allocation failing (CPython's test hook); what it raised."""
    assert testcapi is not None
    rows = file.rows
    testcapi.set_nomemory(number, number + 1)
    try:
        rows(200, 4000, 100)
    except BaseException as exc:  # the test inspects what was raised
        return exc
    finally:
        testcapi.remove_mem_hooks()
    return None


def _is_allocation_failure(error: BaseException) -> bool:
    # msgspec's Struct constructor can return with the MemoryError pending, which Python reports as SystemError
    return isinstance(error, MemoryError) or (
        isinstance(error, SystemError) and isinstance(error.__context__, MemoryError)
    )


@needs_testcapi
def test_rows__every_failed_allocation_raises_memory_error() -> None:
    files = _file_captures("typescript", MODULE_SOURCE)
    completed = False
    for number in range(3000):
        error = _rows_with_failing_allocation(next(files), number)
        if error is None:
            completed = True
            break
        assert _is_allocation_failure(error), (number, error)
    assert completed, "rows() never got past its allocations"


@needs_testcapi
def test_rows__a_failed_allocation_in_a_commonjs_object_leaks_nothing() -> None:
    if sys.getallocatedblocks() == 0:
        pytest.skip("Python's own allocator is off (PYTHONMALLOC=malloc): blocks are not counted")
    files = _file_captures("javascript", b"module.exports = { key: value };\n")
    leaks = {}
    for number in range(40):
        for _ in range(10):
            _rows_with_failing_allocation(next(files), number)
        gc.collect()
        before = sys.getallocatedblocks()
        for _ in range(200):
            _rows_with_failing_allocation(next(files), number)
        gc.collect()
        if sys.getallocatedblocks() - before > 100:
            leaks[number] = sys.getallocatedblocks() - before
    assert leaks == {}


@pytest.mark.parametrize(
    ("source", "reexported"),
    [
        (b'export * as a { b } from "x";', ("b",)),
        (b'export { b } * as a from "x";', ("a",)),
        (b'export * { b } from "x";', ("b",)),
    ],
)
def test_reexport__a_recovered_statement_reads_its_first_direct_clause(
    source: bytes, reexported: tuple[str, ...]
) -> None:
    extraction = extract_source("m.ts", source)
    assert extraction.had_syntax_errors
    assert tuple(export.exported for export in extraction.exports) == reexported
    assert [(i.specifier, i.kind) for i in extraction.imports] == [("x", "reexport")]
