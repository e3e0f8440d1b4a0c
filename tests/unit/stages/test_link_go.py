"""Go linking: real sources through extract_source and link, over several files and packages of a module."""

from __future__ import annotations

from stages.extract import extract_source
from stages.link import link
from stages.models import FileExtraction, LinkedIndex
from stages.resolvers import CommitResolver

FILES = {
    "go.mod": "module example.com/m\n\ngo 1.21\n\nrequire github.com/pkg/errors v0.9.1\n",
    "main.go": """\
package main

import (
\t"fmt"
\t"example.com/m/util"
\tu2 "example.com/m/util"
\t. "example.com/m/dot"
\t"github.com/pkg/errors"
)

func main() {
\ts := util.New()
\ts.Run()
\tfmt.Println(helper())
\tx := util.Thing{}
\tx.Run()
\tu2.New()
\tFromDot()
\terrors.New("x")
\t_ = len("x")
}
""",
    "other.go": "package main\n\nfunc helper() int { return 1 }\n",
    "util/a.go": "package util\n\nfunc New() *Thing { return &Thing{} }\n",
    "util/b.go": "package util\n\ntype Thing struct{ Base }\n\nfunc (t *Thing) Run() { t.Inherited() }\n",
    "util/c.go": "package util\n\ntype Base struct{}\n\nfunc (b Base) Inherited() {}\n",
    "dot/d.go": "package dot\n\nfunc FromDot() {}\n",
}


def linked() -> tuple[list[FileExtraction], LinkedIndex]:
    extractions = [extract_source(path, text.encode()) for path, text in FILES.items() if path.endswith(".go")]
    resolver = CommitResolver.from_files(FILES, FILES.get)
    return extractions, link(extractions, resolver)


def targets(extractions: list[FileExtraction], index: LinkedIndex, path: str) -> list[tuple[str, str | None]]:
    file = next(i for i, e in enumerate(extractions) if e.path == path)
    found = []
    for row in index.reference_links:
        if row.file != file:
            continue
        reference = extractions[file].references[row.reference_index]
        target = None
        if row.target is not None:
            declared = extractions[row.target.file]
            target = f"{declared.path}:{declared.symbols[row.target.symbol].name}"
        found.append((f"{reference.qualifier or ''}.{reference.name}", target))
    return found


def test_link_go__package_scope_selectors_literals_and_receivers() -> None:
    extractions, index = linked()
    assert targets(extractions, index, "main.go") == [
        ("util.New", "util/a.go:New"),
        ("s.Run", "util/b.go:Run"),
        ("fmt.Println", None),
        (".helper", "other.go:helper"),
        ("util.Thing", "util/b.go:Thing"),
        ("x.Run", "util/b.go:Run"),
        ("u2.New", "util/a.go:New"),
        (".FromDot", "dot/d.go:FromDot"),
        ("errors.New", None),
        (".len", None),
    ]


def test_link_go__embedded_struct_members_and_types_across_files() -> None:
    extractions, index = linked()
    assert targets(extractions, index, "util/b.go") == [
        (".Base", "util/c.go:Base"),
        (".Thing", "util/b.go:Thing"),
        ("t.Inherited", "util/c.go:Inherited"),
    ]
    assert targets(extractions, index, "util/a.go") == [(".Thing", "util/b.go:Thing"), (".Thing", "util/b.go:Thing")]


def test_link_go__package_dependencies_and_file_dependencies_cover_the_package() -> None:
    extractions, index = linked()
    paths = [e.path for e in extractions]
    main = paths.index("main.go")
    assert {(p.package, p.is_builtin) for p in index.package_dependencies if p.file == main} == {
        ("fmt", True),
        ("github.com/pkg/errors", False),
    }
    depended = {paths[d.target] for d in index.file_dependencies if d.source == main}
    assert depended == {"other.go", "util/a.go", "util/b.go", "util/c.go", "dot/d.go"}


def test_link_go__relinking_one_file_gives_the_rows_of_a_full_link() -> None:
    extractions, index = linked()
    resolver = CommitResolver.from_files(FILES, FILES.get)
    main = [e.path for e in extractions].index("main.go")
    alone = link(extractions, resolver, only=[main])
    assert alone.reference_links == tuple(r for r in index.reference_links if r.file == main)


APART = {
    "go.mod": "module example.com/m\n\ngo 1.21\n",
    "srv/server.go": "package srv\n\ntype Server struct{ Base }\n\nfunc New() *Server { return &Server{} }\n",
    "srv/handlers.go": "package srv\n\nfunc (s *Server) Handle() { s.helper(); s.Close(); Handle() }\n",
    "srv/helpers.go": "package srv\n\nfunc (s *Server) helper() {}\n\nfunc Handle() {}\n",
    "srv/base.go": "package srv\n\ntype Base struct{}\n",
    "srv/close.go": "package srv\n\nfunc (b *Base) Close() {}\n",
    "srv/early.go": "package srv\n\nfunc (e Early) Run() {}\n\ntype Early int\n\nfunc use(e Early) { e.Run() }\n",
    "main.go": """\
package main

import "example.com/m/srv"

func main() {
\tx := srv.New()
\tx.Handle()
\tvar y srv.Server
\ty.Handle()
\ty.Close()
\ty.Missing()
}
""",
}


def linked_apart() -> tuple[list[FileExtraction], LinkedIndex]:
    extractions = [extract_source(path, text.encode()) for path, text in APART.items() if path.endswith(".go")]
    return extractions, link(extractions, CommitResolver.from_files(APART, APART.get))


def test_link_go__methods_in_other_files_than_their_type_are_its_members() -> None:
    extractions, index = linked_apart()
    assert targets(extractions, index, "main.go") == [
        ("srv.New", "srv/server.go:New"),
        ("x.Handle", "srv/handlers.go:Handle"),
        ("srv.Server", "srv/server.go:Server"),
        ("y.Handle", "srv/handlers.go:Handle"),
        ("y.Close", "srv/close.go:Close"),  # a method of the embedded Base, declared apart from it too
        ("y.Missing", None),
    ]


def test_link_go__a_method_is_no_name_in_scope_and_a_function_of_its_name_stays_one() -> None:
    extractions, index = linked_apart()
    assert targets(extractions, index, "srv/handlers.go") == [
        (".Server", "srv/server.go:Server"),
        ("s.helper", "srv/helpers.go:helper"),
        ("s.Close", "srv/close.go:Close"),
        (".Handle", "srv/helpers.go:Handle"),
    ]


def test_link_go__a_method_declared_before_its_type_in_the_same_file_is_its_member() -> None:
    extractions, index = linked_apart()
    assert targets(extractions, index, "srv/early.go")[-1] == ("e.Run", "srv/early.go:Run")


def test_link_go__reading_methods_apart_is_an_inferred_dependency_and_relinking_one_file_gives_the_full_rows() -> None:
    extractions, index = linked_apart()
    paths = [e.path for e in extractions]
    main = paths.index("main.go")
    inferred = {paths[d.target] for d in index.file_dependencies if d.source == main and d.inferred}
    assert {"srv/handlers.go", "srv/close.go"} <= inferred
    alone = link(extractions, CommitResolver.from_files(APART, APART.get), only=[main])
    assert alone.reference_links == tuple(r for r in index.reference_links if r.file == main)
    assert alone.file_dependencies == tuple(d for d in index.file_dependencies if d.source == main)


def test_link_go__files_of_a_package_depend_only_on_the_files_their_links_name() -> None:
    count = 60
    files = {"go.mod": "module example.com/m\n"}
    for number in range(count):
        files[f"p/f{number:03d}.go"] = (
            f"package p\n\nfunc F{number}(xs []int) int {{ return len(xs) + F{(number + 1) % count}(xs) }}\n"
        )
    files["p/alone.go"] = 'package p\n\nfunc Alone() int { return len("x") + missing() }\n'
    files["p/typed.go"] = "package p\n\nvar shared = F0(nil)\n\ntype T struct{}\n\nfunc use(t T) { t.M() }\n"
    files["p/methods.go"] = "package p\n\nfunc (t T) M() {}\n"
    extractions = [extract_source(path, text.encode()) for path, text in files.items() if path.endswith(".go")]
    index = link(extractions, CommitResolver.from_files(files, files.get))
    paths = [extraction.path for extraction in extractions]
    assert {(paths[edge.source], paths[edge.target], edge.inferred) for edge in index.file_dependencies} == {
        *((f"p/f{number:03d}.go", f"p/f{(number + 1) % count:03d}.go", False) for number in range(count)),
        ("p/typed.go", "p/f000.go", False),
        ("p/typed.go", "p/methods.go", True),
        ("p/methods.go", "p/typed.go", False),
    }
