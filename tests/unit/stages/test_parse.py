"""Parse stage: language registry, per-file limits, decode policy and syntax-error trees."""

from __future__ import annotations

import pytest

from stages.languages import (
    LANGUAGES,
    is_declaration_file,
    language_name_for_path,
    load_language,
    query_source,
    typescript_recovery,
)
from stages.parse import (
    FileTooLargeError,
    InvalidUtf8Error,
    NulByteError,
    ParseLimits,
    ParseTimeoutError,
    UnsupportedLanguageError,
    error_bytes,
    parse_source,
)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a.ts", "typescript"),
        ("a.mts", "typescript"),
        ("a.cts", "typescript"),
        ("types/a.d.ts", "typescript"),
        ("a.tsx", "tsx"),
        ("a.js", "javascript"),
        ("a.mjs", "javascript"),
        ("a.cjs", "javascript"),
        ("a.jsx", "javascript"),
        ("A.TS", "typescript"),
        ("a.py", "python"),
        ("stubs/a.pyi", "python"),
        ("a.rb", None),
        ("Makefile", None),
        ("dir.ts/file", None),
    ],
)
def test_language_name_for_path__maps_extensions(path: str, language: str | None) -> None:
    assert language_name_for_path(path) == language


def test_is_declaration_file__flags_d_ts_variants_only() -> None:
    assert is_declaration_file("lib/index.d.ts")
    assert is_declaration_file("lib/index.d.mts")
    assert not is_declaration_file("lib/index.ts")
    assert not is_declaration_file("lib/d.ts.js")


def test_query_source__includes_inherited_files_once() -> None:
    tsx = query_source("tsx")
    assert tsx.count("Patterns shared by every ECMAScript dialect") == 1
    assert "TypeScript declarations" in tsx
    assert "JSX component usage" in tsx


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_load_language__compiles_each_registered_query_once(name: str) -> None:
    first = load_language(name)
    assert first.patterns.patterns
    assert load_language(name) is first


def test_parse_source__parses_a_declaration_file_and_flags_it() -> None:
    parsed = parse_source("x/index.d.ts", b"export declare function f(): void;\n")
    assert parsed.is_declaration_file
    assert parsed.language.name == "typescript"
    assert not parsed.had_syntax_errors


def test_parse_source__javascript_grammar_parses_jsx() -> None:
    parsed = parse_source("a.jsx", b"const a = <Foo bar={1}><b/></Foo>;\n")
    assert not parsed.had_syntax_errors


def test_parse_source__syntax_errors_give_a_tree_flagged_with_errors() -> None:
    parsed = parse_source("a.ts", b"class K { m( { }\n")
    assert parsed.had_syntax_errors


def test_parse_source__rejects_files_over_the_size_limit() -> None:
    with pytest.raises(FileTooLargeError, match=r"big\.ts: 11 bytes exceeds the limit of 10 bytes") as info:
        parse_source("big.ts", b"let a = 1;\n", limits=ParseLimits(max_bytes=10))
    assert info.value.kind == "too_large"


def test_parse_source__rejects_invalid_utf8_naming_the_offset() -> None:
    with pytest.raises(InvalidUtf8Error, match=r"bad\.ts: invalid UTF-8 at byte offset 9") as info:
        parse_source("bad.ts", b"let a = '\xff';\n")
    assert info.value.kind == "invalid_utf8"
    assert info.value.path == "bad.ts"


def test_parse_source__recovery_keeps_the_original_bytes_and_offsets() -> None:
    source = b"class K<in out T> { m(): T { return this.v; } }\n"
    parsed = parse_source("a.ts", source)
    assert not parsed.had_syntax_errors
    assert parsed.source == source
    assert parsed.tree.root_node.end_byte == len(source)


def test_error_bytes__counts_bytes_in_error_nodes() -> None:
    clean = parse_source("a.ts", b"let a = 1;\n")
    broken = parse_source("b.ts", b"let a = 1;\nfunction ( { ) ;\n")
    assert error_bytes(clean.tree.root_node) == 0
    assert error_bytes(broken.tree.root_node) > 0


def test_parse_source__accepts_a_byte_order_mark() -> None:
    parsed = parse_source("bom.ts", b"\xef\xbb\xbfexport const a = 1;\n")
    assert not parsed.had_syntax_errors


def test_parse_source__rejects_nul_bytes_naming_the_offset() -> None:
    with pytest.raises(NulByteError, match="offset 3") as info:
        parse_source("nul.js", b"let\x00a;")
    assert info.value.kind == "nul_byte"


def test_parse_source__rejects_unknown_extensions() -> None:
    with pytest.raises(UnsupportedLanguageError, match=r"README\.md"):
        parse_source("README.md", b"# hi")


def test_parse_source__stops_at_the_time_limit_and_the_parser_stays_usable() -> None:
    source = b"const a = [" + b"[1, {b: 2}], " * 400_000 + b"];\n"
    with pytest.raises(ParseTimeoutError, match=r"longer than 0\.001 s") as info:
        parse_source("slow.ts", source, limits=ParseLimits(parse_timeout_seconds=0.001, max_bytes=len(source)))
    assert info.value.kind == "timeout"
    parsed = parse_source("next.ts", b"export const b = 2;\n")
    assert parsed.tree.root_node.end_byte == len(b"export const b = 2;\n")
    assert not parsed.had_syntax_errors


def test_typescript_recovery__rewrites_known_gaps_keeping_every_offset() -> None:
    source = (
        b"type F<in out A, const B> = {\n"
        b"  (a: A): B\n"
        b"  <C>(c: C): C\n"
        b"}\n"
        b"type T = `a\\`b`\n"
        b"abstract class K { abstract override x: number }\n"
        b"const s = [\n  <D>(d: D) => d,\n]\n"
        b"export default abstract class { abstract m(): void }\n"
    )
    rewrite = typescript_recovery(source)
    rewritten = rewrite.source
    assert [source[start:end] for start, end in rewrite.changed] == [
        b"in out",
        b"const",
        b" ",
        b"\\`",
        b"abstract override",
        b"abstract",
    ]
    assert all(
        rewritten[end:next_start] == source[end:next_start]
        for (_, end), (next_start, _) in zip(rewrite.changed, [*rewrite.changed[1:], (len(source), 0)], strict=True)
    )
    assert len(rewritten) == len(source)
    assert rewritten.count(b"\n") == source.count(b"\n")
    assert b"type F<       A,       B>" in rewritten
    assert b"\n ;<C>(c: C): C\n" in rewritten
    assert b"type T = `a  b`" in rewritten
    assert b"override abstract x: number" in rewritten
    assert b"\n  <D>(d: D) => d," in rewritten  # after a comma: an arrow function, not a signature
    assert b"export default          class { abstract m(): void }" in rewritten


def test_parse_source__keeps_the_original_tree_when_the_rewrite_is_not_better() -> None:
    source = b"const s = [\n  <D>(d: D) => d,\n]\nlet broken = (;\n"
    parsed = parse_source("a.ts", source)
    assert parsed.had_syntax_errors
    assert error_bytes(parsed.tree.root_node) <= error_bytes(
        parse_source("b.ts", typescript_recovery(source).source).tree.root_node
    )


def test_parse_source__the_incremental_recovery_parse_equals_a_fresh_parse_of_the_rewrite() -> None:
    source = (
        b"export interface Box<in out A> { readonly value: A }\n"
        b"export type Fn<const T> = {\n  (a: T): T\n  <B>(b: B): B\n}\n"
        b"export class K<out T> { get(): T { return this.t; } }\n"
        b"type S = `x\\`y`\n"
    )
    parsed = parse_source("a.ts", source)
    fresh = parse_source("b.ts", typescript_recovery(source).source)
    assert not parsed.had_syntax_errors
    assert str(parsed.tree.root_node) == str(fresh.tree.root_node)
