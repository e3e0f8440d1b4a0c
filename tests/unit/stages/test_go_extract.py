"""Go extraction: every construct yields exactly the rows docs/index-contract.md ("Go") lists."""

from __future__ import annotations

from stages.extract import extract_source
from stages.models import FileExtraction

SOURCE = """\
// Package demo does things.
package demo

import (
\t"fmt"
\tf "fmt"
\t. "strings"
\t_ "embed"
\t"example.com/m/util"
\t"gopkg.in/yaml.v3"
)

// Answer is the answer.
const Answer = 42

const (
\tA Kind = iota
\tB
\tc, d = 1, 2
)

var x, Y int = 1, 2
var z = &Server{}

type Kind int
type Alias = util.Thing

type Pair[K comparable, V any] struct {
\tKey K
\t// Value doc
\tValue V
\t*Embedded
\tutil.Other
}

type Runner interface {
\tfmt.Stringer
\tRun(ctx int) *Server
}

// Server serves.
type Server struct{ name string }

func (s *Server) Start(n int) (*Server, error) {
\tfmt.Println(s.name)
\tt := Server{}
\tp := util.New()
\tt.Start(1)
\tp.Do()
\ts.Stop()
\treturn &Server{}, nil
}

func (p Pair[K, V]) Get() K { var k K; return k }

func helper() *Server { return New(len("x")) }
"""


def extract() -> FileExtraction:
    extraction = extract_source("demo.go", SOURCE.encode())
    assert extraction.error is None
    assert not extraction.had_syntax_errors
    return extraction


def test_extract__go_declarations_kinds_parents_and_exported() -> None:
    symbols = extract().symbols
    rows = [(s.name, s.kind, None if s.parent is None else symbols[s.parent].name, s.exported) for s in symbols]
    assert rows == [
        ("demo", "module", None, False),
        ("Answer", "constant", None, True),
        ("A", "constant", None, True),
        ("B", "constant", None, True),
        ("c", "constant", None, False),
        ("d", "constant", None, False),
        ("x", "variable", None, False),
        ("Y", "variable", None, True),
        ("z", "variable", None, False),
        ("Kind", "type_alias", None, True),
        ("Alias", "type_alias", None, True),
        ("Pair", "class", None, True),
        ("Key", "property", "Pair", True),
        ("Value", "property", "Pair", True),
        ("Embedded", "property", "Pair", True),
        ("Other", "property", "Pair", True),
        ("Runner", "interface", None, True),
        ("Run", "method", "Runner", True),
        ("Server", "class", None, True),
        ("name", "property", "Server", False),
        ("Start", "method", "Server", True),
        ("Get", "method", "Pair", True),
        ("helper", "function", None, False),
    ]


def test_extract__go_name_spans_are_exact_and_rows_sorted() -> None:
    extraction = extract()
    source = SOURCE.encode()
    for symbol in extraction.symbols:
        assert source[symbol.name_span.start_byte : symbol.name_span.end_byte].decode() == symbol.name
    starts = [s.span.start_byte for s in extraction.symbols]
    assert starts == sorted(starts)
    references = [r.span.start_byte for r in extraction.references]
    assert references == sorted(references)
    assert len(set(references)) == len(references)


def test_extract__go_signatures_docs_and_hints() -> None:
    by_name = {s.name: s for s in extract().symbols}
    assert by_name["demo"].doc == "Package demo does things."
    assert by_name["Answer"].doc == "Answer is the answer."
    assert by_name["Value"].doc == "Value doc"
    assert by_name["Server"].doc == "Server serves."
    assert by_name["Start"].signature == "func (s *Server) Start(n int) (*Server, error)"
    assert by_name["Pair"].signature == "type Pair[K comparable, V any] struct"
    assert by_name["x"].signature == "var x, Y int"
    assert by_name["Answer"].signature == "const Answer"
    assert by_name["z"].type_hint == "{Server}"
    assert by_name["A"].type_hint == by_name["B"].type_hint == "{Kind}"
    assert by_name["Alias"].type_hint == "{util.Thing}"
    assert by_name["Pair"].type_hint == "{Embedded},{util.Other}"
    assert by_name["Runner"].type_hint == "{fmt.Stringer}"
    assert by_name["Run"].type_hint == "{Server}"
    assert by_name["helper"].type_hint == "{Server}"
    assert by_name["Key"].type_hint is None  # a type parameter
    assert by_name["Start"].type_hint is None  # two results


def test_extract__go_imports_bindings_and_own_package() -> None:
    imports = [(i.kind, i.specifier, [(b.imported, b.local) for b in i.bindings]) for i in extract().imports]
    assert imports == [
        ("package", ".", []),
        ("import", "fmt", [("*", "fmt")]),
        ("import", "fmt", [("*", "f")]),
        ("import", "strings", [("*", "*")]),
        ("side_effect", "embed", []),
        ("import", "example.com/m/util", [("*", "util")]),
        ("import", "gopkg.in/yaml.v3", [("*", "yaml")]),
    ]
    source = SOURCE.encode()
    for imported in extract().imports[1:]:
        span = imported.specifier_span
        assert source[span.start_byte : span.end_byte].decode() == imported.specifier


def test_extract__go_exports_are_capitalised_top_level_names() -> None:
    assert [e.exported for e in extract().exports] == [
        "Answer",
        "A",
        "B",
        "Y",
        "Kind",
        "Alias",
        "Pair",
        "Runner",
        "Server",
    ]


def test_extract__go_references_calls_literals_types_and_root_hints() -> None:
    extraction = extract()
    symbols = extraction.symbols
    rows = [
        (r.kind, r.qualifier, r.name, None if r.enclosing is None else symbols[r.enclosing].name, r.root_hint)
        for r in extraction.references
    ]
    assert rows == [
        ("type", None, "Kind", "A", None),
        ("new", None, "Server", "z", None),
        ("type", "util", "Thing", "Alias", None),
        ("type", None, "Embedded", "Embedded", None),
        ("type", "util", "Other", "Other", None),
        ("type", "fmt", "Stringer", "Runner", None),
        ("type", None, "Server", "Run", None),
        ("type", None, "Server", "Start", None),
        ("type", None, "Server", "Start", None),
        ("call", "fmt", "Println", "Start", None),
        ("new", None, "Server", "Start", None),
        ("call", "util", "New", "Start", None),
        ("call", "t", "Start", "Start", "{Server}"),
        ("call", "p", "Do", "Start", "util.New()"),
        ("call", "s", "Stop", "Start", "{Server}"),
        ("new", None, "Server", "Start", None),
        ("type", None, "Pair", "Get", None),
        ("type", None, "Server", "helper", None),
        ("call", None, "New", "helper", None),
        ("call", None, "len", "helper", None),
    ]


def test_extract__go_method_before_its_type_has_no_parent_and_names_its_receiver() -> None:
    extraction = extract_source("a.go", b"package a\n\nfunc (t T) M() {}\n\ntype T struct{}\n")
    assert [(s.name, s.parent, s.receiver) for s in extraction.symbols] == [
        ("a", None, None),
        ("M", None, "T"),
        ("T", None, None),
    ]


def test_extract__go_method_of_a_type_in_another_file_names_its_receiver_through_pointers_and_type_arguments() -> None:
    source = b"""package a

type Local struct{}

func (l *Local) Here() {}
func (s *Server) Handle() {}
func (p Pair[K, V]) Key() K { var k K; return k }
func (Value) Anonymous() {}
func Plain() {}
"""
    extraction = extract_source("handlers.go", source)
    assert [(s.name, s.parent, s.receiver) for s in extraction.symbols] == [
        ("a", None, None),
        ("Local", None, None),
        ("Here", 1, None),
        ("Handle", None, "Server"),
        ("Key", None, "Pair"),
        ("Anonymous", None, "Value"),
        ("Plain", None, None),
    ]


def test_extract__go_syntax_errors_keep_what_parsed() -> None:
    extraction = extract_source("a.go", b"package a\n\nfunc Good() {}\n\nfunc broken( {\n")
    assert extraction.had_syntax_errors
    assert "Good" in [s.name for s in extraction.symbols]


def test_extract__go_qualified_composite_literals_are_new_and_qualified_types_are_type() -> None:
    source = b"""package a

import "example.com/m/b"

func Use(x b.Param) *b.Result {
\tc := b.Base{}
\tp := &b.Base{Name: "x"}
\tq := b.Pair[int]{}
\tvar r b.Base
\treturn nil
}
"""
    extraction = extract_source("a.go", source)
    rows = [(r.kind, r.qualifier, r.name, r.span.start_line, r.span.start_column) for r in extraction.references]
    assert rows == [
        ("type", "b", "Param", 5, 13),
        ("type", "b", "Result", 5, 23),
        ("new", "b", "Base", 6, 8),
        ("new", "b", "Base", 7, 9),
        ("new", "b", "Pair", 8, 8),
        ("type", "b", "Base", 9, 9),
    ]
