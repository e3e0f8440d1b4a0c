"""Types of the C extension built from stages/native/extract.c."""

from collections.abc import Callable, Iterable, Sequence

import tree_sitter

from stages.models import Reference

TREE_SITTER_VERSION: str

class ReferenceCandidates:
    def finish(
        self,
        source: bytes,
        declared: Iterable[int],
        type_parameter_scopes: dict[bytes, list[tuple[int, int]]],
        symbol_starts: Sequence[int],
        symbol_ends: Sequence[int],
        max_qualifier_chars: int,
        qualifier_fallback: Callable[[tree_sitter.Node, int, int], str],
        /,
    ) -> tuple[Reference, ...]: ...

class QueryPlan:
    def __init__(self, query: tree_sitter.Query) -> None: ...
    def run(
        self, tree: tree_sitter.Tree, source: bytes, /
    ) -> tuple[dict[str, list[tree_sitter.Node]], list[tree_sitter.Node], ReferenceCandidates]: ...
