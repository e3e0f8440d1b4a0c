"""Extract stage: one parsed file → its symbols, imports, exports and references as plain Structs.

Guarantees:
- ``extract_source`` always returns a ``FileExtraction``. A file that breaks a parse limit or the decode policy
  (see ``stages.parse``) comes back with ``error`` set and no rows; it never raises for bad input.
- The per-file time limit (``ParseLimits.parse_timeout_seconds``) covers parse and extraction together: the C
  walk reads the clock every thousand steps and stops at the parse's deadline, and the file comes back with a
  ``timeout`` error. The work is linear in the size of the tree, at any nesting depth (no lookup walks the
  tree from its root, and no walk recurses on the C stack).
- One walk of the tree per file matches the language's query file, and every row is built from its captures
  in C (``stages._native``, built from stages/native/), following docs/index-contract.md.
- Files with syntax errors still yield every declaration the grammar recognised outside the ERROR spans,
  and record ``had_syntax_errors``; so does a file in which the language's query captures ``@syntax_error``
  (what a grammar accepts but the language rejects: Python 2's ``print`` statement under Python 3).
- Output is deterministic: symbols, imports, exports and references are each sorted by source position.
- Every range lies within the file, and ``source[name_span]`` decodes to exactly ``Symbol.name``.

What counts as a symbol is written down in ``docs/index-contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stages import _native
from stages.languages import Language, is_declaration_file, language_name_for_path
from stages.models import FileError, FileExtraction
from stages.parse import ParsedFile, ParseError, ParseLimits, ParseTimeoutError, parse_source
from stages.syntax import Captures, Steps, TextLimits

_query_plans: dict[str, _native.QueryPlan] = {}

SYNTAX_ERROR_CAPTURE = "syntax_error"
"""A capture of a language's query that marks its file as having syntax errors (``had_syntax_errors``)."""


def _query_plan(language: Language) -> _native.QueryPlan:
    """The language's query, ready to run natively (built once per process)."""
    plan = _query_plans.get(language.name)
    if plan is None:
        kinds = None if language.spec.rows is not None else language.spec.kinds
        plan = _query_plans[language.name] = _native.QueryPlan(
            language.patterns.patterns, language.patterns.capture_names, kinds
        )
    return plan


@dataclass(frozen=True)
class ExtractionLimits:
    """Per-file parse limits and bounds on stored text (in characters; a text cut at its bound ends in ``…``)."""

    parse: ParseLimits = field(default_factory=ParseLimits)
    max_signature_chars: int = 200
    max_doc_chars: int = 4000
    max_qualifier_chars: int = 100

    def __post_init__(self) -> None:
        for name in ("max_signature_chars", "max_doc_chars", "max_qualifier_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ExtractionLimits.{name} must be an int of at least 1, not {value!r}")


def extract_source(
    path: str, source: bytes, *, limits: ExtractionLimits = ExtractionLimits(), language: str | None = None
) -> FileExtraction:
    """Parse and extract one file; a file that cannot be parsed, or not within its time limit, comes back with
    ``error`` set and no rows."""
    try:
        return extract_parsed(parse_source(path, source, limits=limits.parse, language=language), limits=limits)
    except ParseError as exc:
        return FileExtraction(
            path=path,
            language=language or language_name_for_path(path),
            is_declaration_file=is_declaration_file(path),
            size_bytes=len(source),
            had_syntax_errors=False,
            error=FileError(kind=exc.kind, message=str(exc)),
        )


def extract_parsed(parsed: ParsedFile, *, limits: ExtractionLimits = ExtractionLimits()) -> FileExtraction:
    """Extract the rows of an already parsed file (same process as the parse).

    Raises ``ParseTimeoutError`` when ``parsed.deadline`` passes first."""
    try:
        nodes, captures = _query_plan(parsed.language).run(parsed.tree, parsed.source, parsed.deadline)
        build = parsed.language.spec.rows
        if build is None:
            symbols, imports, exports, references = captures.rows(
                limits.max_signature_chars, limits.max_doc_chars, limits.max_qualifier_chars
            )
        else:
            text_limits = TextLimits(limits.max_signature_chars, limits.max_doc_chars, limits.max_qualifier_chars)
            symbols, imports, exports, references = build(
                Captures(
                    path=parsed.path,
                    source=parsed.source,
                    root=parsed.tree.root_node,
                    nodes=nodes,
                    limits=text_limits,
                    steps=Steps(parsed.deadline),
                )
            )
    except _native.DeadlineExceeded as exc:
        raise ParseTimeoutError(
            parsed.path,
            f"extraction exceeded {parsed.timeout_seconds:g} s (the limit of parse and extraction) and was stopped",
        ) from exc
    return FileExtraction(
        path=parsed.path,
        language=parsed.language.name,
        is_declaration_file=parsed.is_declaration_file,
        size_bytes=len(parsed.source),
        had_syntax_errors=parsed.had_syntax_errors or SYNTAX_ERROR_CAPTURE in nodes,
        error=None,
        symbols=symbols,
        imports=imports,
        exports=exports,
        references=references,
    )
