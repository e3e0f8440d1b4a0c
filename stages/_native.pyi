"""Types of the C extension built from stages/native/ (extract.c, match.c)."""

from collections.abc import Mapping, Sequence

import tree_sitter

from stages.models import Export, Import, Reference, Symbol, SymbolKind
from stages.patterns import Step

TREE_SITTER_VERSION: str

class DeadlineExceeded(Exception): ...

class FileCaptures:
    @property
    def steps(self) -> int: ...
    def rows(
        self, max_signature_chars: int, max_doc_chars: int, max_qualifier_chars: int, /
    ) -> tuple[tuple[Symbol, ...], tuple[Import, ...], tuple[Export, ...], tuple[Reference, ...]]: ...

class QueryPlan:
    def __init__(
        self, patterns: Sequence[Step], capture_names: tuple[str, ...], kinds: Mapping[str, SymbolKind] | None
    ) -> None: ...
    def run(
        self, tree: tree_sitter.Tree, source: bytes, deadline: float, /
    ) -> tuple[dict[str, list[tree_sitter.Node]], FileCaptures]: ...

def parse(
    language: tree_sitter.Language, source: bytes, old_tree: tree_sitter.Tree | None, deadline: float, /
) -> tree_sitter.Tree | None: ...
