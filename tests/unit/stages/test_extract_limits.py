"""The per-file time limit covers parse and extraction, and extraction stays linear at any nesting depth."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from stages import _native
from stages.extract import ExtractionLimits, _query_plan, extract_parsed, extract_source
from stages.parse import ParseLimits, ParseTimeoutError, parse_source

NATIVE = Path(__file__).resolve().parents[3] / "stages" / "native"
DEPTH = 20_000


def nested(kind: str, depth: int) -> bytes:
    """``depth`` levels of one construct, each inside the previous one."""
    if kind == "function":
        return b"function f(){" * depth + b"}" * depth
    if kind == "require":
        return b"require(" * depth + b"'x'" + b")" * depth
    return b"namespace a {" * depth + b"}" * depth


def steps(source: bytes) -> int:
    """The work the extractor does on ``source`` (nodes walked and captures handled), counted in C."""
    parsed = parse_source("nested.ts", source)
    _, captures = _query_plan(parsed.language).run(parsed.tree, parsed.source, parsed.deadline)
    captures.rows(200, 4000, 100)
    return captures.steps


@pytest.mark.parametrize("kind", ["function", "require", "namespace"])
def test_extract__twenty_thousand_nested_levels_extract_within_the_default_limit(kind: str) -> None:
    extraction = extract_source("nested.ts", nested(kind, DEPTH))
    assert extraction.error is None
    if kind == "require":
        assert [i.specifier for i in extraction.imports] == ["x"]  # only the innermost call has a string argument
    else:
        assert len(extraction.symbols) == DEPTH
        assert extraction.symbols[-1].parent == DEPTH - 2


@pytest.mark.parametrize("kind", ["function", "require", "namespace"])
def test_extract__work_grows_linearly_with_nesting_depth(kind: str) -> None:
    assert steps(nested(kind, 4_000)) <= 2 * steps(nested(kind, 2_000)) + 16


def test_native__asks_tree_sitter_for_no_lookup_that_walks_from_the_root() -> None:
    # ts_node_parent and the sibling lookups walk down from the root on every call: asked once per capture,
    # they made 20,000 nested functions take 21 s. The walk carries the ancestors instead.
    walking = re.compile(r"\bts_node_(parent|next_sibling|prev_sibling|next_named_sibling|prev_named_sibling)\s*\(")
    for source in NATIVE.glob("*.c"):
        assert walking.search(source.read_text()) is None, source.name


def test_extract__a_passed_deadline_stops_the_walk_with_a_timeout_error() -> None:
    parsed = dataclasses.replace(parse_source("nested.ts", nested("function", 2_000)), deadline=time.monotonic() - 1)
    with pytest.raises(ParseTimeoutError, match=r"nested\.ts: extraction exceeded 5 s .* and was stopped") as raised:
        extract_parsed(parsed)
    assert raised.value.kind == "timeout"


def test_extract__a_deadline_passing_between_the_walk_and_the_rows_stops_the_rows() -> None:
    source = b"f(x);\n" * 120  # 961 steps of walk, under the 1024 between clock reads; the rows pass 1024
    parsed = parse_source("calls.ts", source)
    deadline = time.monotonic() + 0.05
    _, captures = _query_plan(parsed.language).run(parsed.tree, parsed.source, deadline)
    assert captures.steps < 1024  # the walk never read the clock, so it could not have stopped
    while time.monotonic() <= deadline:
        time.sleep(0.01)
    with pytest.raises(_native.DeadlineExceeded):
        captures.rows(200, 4000, 100)


def test_extract__a_file_past_its_limit_comes_back_with_a_timeout_error_and_no_rows() -> None:
    limits = ExtractionLimits(parse=ParseLimits(parse_timeout_seconds=1e-9))
    extraction = extract_source("nested.ts", nested("function", 2_000), limits=limits)
    assert extraction.error is not None
    assert extraction.error.kind == "timeout"
    assert extraction.symbols == extraction.imports == extraction.references == ()
