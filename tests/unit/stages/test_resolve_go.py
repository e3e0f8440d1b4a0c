"""Go import resolution: go.mod module paths to package directories, the standard library, required modules."""

from __future__ import annotations

from stages.resolve import Resolution
from stages.resolve_go import GoResolver

GO_MOD = """\
module example.com/m // the module

go 1.21

require (
\tgithub.com/pkg/errors v0.9.1
\tgolang.org/x/text v0.14.0 // indirect
)

require github.com/spf13/cobra v1.8.0

replace github.com/spf13/cobra => github.com/fork/cobra v1.8.1
replace example.com/tools => ./tools
"""

PATHS = frozenset(
    {
        "go.mod",
        "main.go",
        "main_test.go",
        "util/a.go",
        "util/b.go",
        "util/a_test.go",
        "tools/go.mod",
        "tools/t.go",
        "empty/README.md",
    }
)
TEXTS = {"go.mod": GO_MOD, "tools/go.mod": "module example.com/tools\n"}


def resolver() -> GoResolver:
    return GoResolver(PATHS, TEXTS.get)


def test_resolve_go__in_module_import_is_the_package_directory_without_tests() -> None:
    assert resolver().resolve("main.go", "example.com/m/util") == Resolution(
        "file", path="util/a.go", paths=("util/a.go", "util/b.go")
    )


def test_resolve_go__own_package_includes_tests_only_for_a_test_file() -> None:
    r = resolver()
    assert r.resolve("util/a.go", ".").paths == ("util/a.go", "util/b.go")
    assert r.resolve("util/a_test.go", ".").paths == ("util/a.go", "util/a_test.go", "util/b.go")


def test_resolve_go__standard_library_and_external_modules_with_versions() -> None:
    r = resolver()
    assert r.resolve("main.go", "net/http") == Resolution("builtin", package="net/http")
    assert r.resolve("main.go", "golang.org/x/text/unicode/norm") == Resolution("external", package="golang.org/x/text")
    assert r.resolve("util/a.go", "github.com/unknown/thing/sub") == Resolution(
        "external", package="github.com/unknown/thing/sub"
    )
    assert r.package_version("util/a.go", "golang.org/x/text") == "v0.14.0"
    assert r.package_version("main.go", "github.com/spf13/cobra") == "v1.8.1"  # the replace line's


def test_resolve_go__replace_with_a_directory_resolves_into_the_commit() -> None:
    assert resolver().resolve("main.go", "example.com/tools").path == "tools/t.go"


def test_resolve_go__a_directory_without_go_files_is_unresolved() -> None:
    assert resolver().resolve("main.go", "example.com/m/empty").kind == "unresolved"
    assert resolver().resolve("main.go", "example.com/m/nowhere").kind == "unresolved"


def test_resolve_go__malformed_go_mod_is_a_diagnostic_never_an_exception() -> None:
    texts = {"go.mod": "require (\n\tbroken\nreplace x\nmodule\n"}
    r = GoResolver(frozenset({"go.mod", "a.go"}), texts.get)
    assert r.resolve("a.go", "example.com/x").kind == "external"
    assert any("no `module` line" in d for d in r.diagnostics)
    assert any("not closed" in d for d in r.diagnostics)


def test_resolve_go__replace_outside_the_repository_is_refused() -> None:
    texts = {"go.mod": "module m\nreplace evil => ../../etc\n"}
    r = GoResolver(frozenset({"go.mod", "a.go"}), texts.get)
    assert r.resolve("a.go", "evil").kind == "builtin"  # not a directory of the commit: first element has no dot
    assert any("outside the repository" in d for d in r.diagnostics)
