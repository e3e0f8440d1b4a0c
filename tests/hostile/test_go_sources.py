"""Hostile Go input: deep nesting, huge files and careless or malicious go.mod files never fail or blow up."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from stages.extract import extract_source
from stages.link import link, link_batches
from stages.models import FileExtraction, SymbolId
from stages.resolve_go import MAX_MANIFEST_LINES, GoResolver
from stages.resolvers import CommitResolver


def test_go__twenty_thousand_nested_blocks_extract() -> None:
    depth = 20_000
    source = ("package a\n\nfunc F() {\n" + "{\n" * depth + "g()\n" + "}\n" * depth + "}\n").encode()
    extraction = extract_source("a.go", source)
    assert extraction.error is None
    assert [s.name for s in extraction.symbols] == ["a", "F"]
    assert [(r.name, r.enclosing) for r in extraction.references] == [("g", 1)]


def test_go__twenty_thousand_nested_calls_extract() -> None:
    depth = 20_000
    source = ("package a\n\nvar x = " + "f(" * depth + "1" + ")" * depth + "\n").encode()
    extraction = extract_source("a.go", source)
    assert extraction.error is None
    assert len(extraction.references) == depth


def test_go__a_two_megabyte_file_extracts_or_is_refused_by_size() -> None:
    body = "".join(f"func F{i}() int {{ return G{i}() }}\n" for i in range(60_000))
    source = ("package a\n\n" + body).encode()[: 2 * 1024 * 1024 - 1]
    source = source[: source.rfind(b"\n") + 1]
    extraction = extract_source("a.go", source)
    assert extraction.error is None or extraction.error.kind == "timeout"
    if extraction.error is None:
        assert len(extraction.symbols) > 50_000
    assert extract_source("b.go", source + b"x" * 2 * 1024 * 1024).error is not None


def test_go__broken_go_mod_never_raises() -> None:
    texts = {
        "go.mod": 'module "unterminated\nrequire (\n)\n)\nreplace => =>\nreplace a => \nrequire\n\x00\n',
        "sub/go.mod": "",
        "go.work": "use (\n../../../etc\n./nothing\n",
    }
    resolver = GoResolver(frozenset({"go.mod", "sub/go.mod", "go.work", "a.go", "sub/b.go"}), texts.get)
    for specifier in ("", ".", "..", "/etc/passwd", "a\\b", "x//y", "example.com/a", "fmt", "C"):
        resolver.resolve("a.go", specifier)
        resolver.resolve("sub/b.go", specifier)
    assert resolver.diagnostics


def test_go__huge_go_mod_is_read_up_to_its_bound() -> None:
    lines = [f"require example.com/m{i} v1.0.{i}" for i in range(MAX_MANIFEST_LINES + 10)]
    texts = {"go.mod": "module m\n" + "\n".join(lines) + "\n"}
    resolver = GoResolver(frozenset({"go.mod", "a.go"}), texts.get)
    assert resolver.resolve("a.go", "example.com/m5/x").package == "example.com/m5"
    assert any("lines" in d for d in resolver.diagnostics)


def test_go__a_package_of_two_thousand_files_of_methods_apart_from_their_types_links_each_once() -> None:
    count = 2_000
    files = {"go.mod": "module example.com/m\n"}
    for number in range(count):
        files[f"p/t{number}.go"] = (
            f"package p\n\ntype T{number} struct{{}}\n\nfunc use{number}(v T{number}) {{ v.M() }}\n"
        )
        files[f"p/m{number}.go"] = f"package p\n\nfunc (t *T{number}) M() {{}}\n"
    extractions = [extract_source(path, text.encode()) for path, text in files.items() if path.endswith(".go")]
    index = link(extractions, CommitResolver.from_files(files, files.get))
    calls = [row for row in index.reference_links if extractions[row.file].references[row.reference_index].name == "M"]
    assert len(calls) == count
    for row in calls:
        assert row.target is not None
        type_file = extractions[row.file].path
        assert extractions[row.target.file].path == type_file.replace("/t", "/m")


class CountedReads(Mapping[int, FileExtraction]):
    """The extractions by file id, counting how often the linker reads one (it builds a file's lookups from it)."""

    def __init__(self, extractions: list[FileExtraction]) -> None:
        self.extractions = extractions
        self.reads = 0

    def __getitem__(self, file_id: int) -> FileExtraction:
        self.reads += 1
        return self.extractions[file_id]

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.extractions)))

    def __len__(self) -> int:
        return len(self.extractions)


def test_go__a_package_of_four_thousand_files_calling_builtins_and_each_other_reads_each_file_a_few_times() -> None:
    count = 4_000
    files = {"go.mod": "module example.com/m\n"}
    for number in range(count):
        files[f"p/f{number:05d}.go"] = (
            f"package p\n\nfunc F{number}(xs []int) int {{\n"
            f"\tout := append(make([]int, 0), len(xs), cap(xs))\n"
            f"\treturn min(len(out), 1) + F{(number + 1) % count}(xs) + missing()\n}}\n"
        )
    extractions = [extract_source(path, text.encode()) for path, text in files.items() if path.endswith(".go")]
    counted = CountedReads(extractions)
    paths = {extraction.path: file_id for file_id, extraction in enumerate(extractions)}
    batches = [range(start, min(start + 100, count)) for start in range(0, count, 100)]
    indexes = list(
        link_batches(counted, CommitResolver.from_files(files, files.get), paths=paths, batches=batches, max_tables=50)
    )
    # each file once to link it and once to build its package's names (a call's target may be read again)
    assert counted.reads <= 3 * count
    calls = {
        (row.file, row.target)
        for index in indexes
        for row in index.reference_links
        if extractions[row.file].references[row.reference_index].name.startswith("F")
    }
    assert calls == {(number, SymbolId(file=(number + 1) % count, symbol=1)) for number in range(count)}
    dependencies = [edge for index in indexes for edge in index.file_dependencies]
    assert [(edge.source, edge.target) for edge in dependencies] == [
        (number, (number + 1) % count) for number in range(count)
    ]
