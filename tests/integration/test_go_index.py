"""A small Go module indexed end to end: a real git repository, the real stage processes and Postgres.

The module has a ``go.mod`` with a module path and ``require`` lines, a ``main`` package importing an in-module
package, the standard library and an external module, and a package split over several files: its type in one,
methods of that type in others (``Symbol.receiver``), a ``_test.go`` file of the same package. The stored index must
say what the code says, equal the in-process runner's index, and stay equal to a full index when later commits move
a method into its type's file, delete a file of the package and add one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline.config import Config
from tests.integration.pipeline import harness
from tests.integration.pipeline.harness import in_process_dump, index_and_dump
from tests.integration.pipeline.index_dump import differences
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow

GO_MOD = """\
module example.com/shop

go 1.21

require (
\tgithub.com/google/uuid v1.6.0
\tgolang.org/x/sync v0.7.0
)
"""
STORE = """\
package store

// Store holds items by id.
type Store struct {
\titems map[string]Item
}

// New makes an empty store.
func New() *Store {
\treturn &Store{items: map[string]Item{}}
}
"""
ITEM = """\
package store

import "github.com/google/uuid"

type Item struct {
\tID    string
\tPrice int
}

func NewItem(price int) Item {
\treturn Item{ID: uuid.NewString(), Price: price}
}
"""
METHODS = """\
package store

func (s *Store) Add(item Item) {
\ts.items[item.ID] = item
}

func (s *Store) Total() int {
\ttotal := 0
\tfor _, item := range s.items {
\t\ttotal += item.Price
\t}
\treturn total - s.count()
}

func (s *Store) count() int {
\treturn len(s.items)
}
"""
SALE = """\
package store

func (s *Store) Discount(percent int) int {
\treturn s.Total() * percent / 100
}

func Sale(s *Store) int {
\treturn s.Discount(50)
}
"""
STORE_TEST = """\
package store

import "testing"

func TestTotal(t *testing.T) {
\ts := New()
\ts.Add(NewItem(3))
\tif s.Total() != 2 || Sale(s) != 1 {
\t\tt.Fatal("total")
\t}
}
"""
MAIN = """\
package main

import (
\t"fmt"

\t"example.com/shop/store"
\t"golang.org/x/sync/errgroup"
)

func main() {
\ts := store.New()
\ts.Add(store.NewItem(2))
\tvar g errgroup.Group
\tg.Go(func() error {
\t\tfmt.Println(s.Total(), s.Discount(10))
\t\treturn nil
\t})
\t_ = g.Wait()
}
"""
SOURCES: dict[str, bytes | str] = {
    "go.mod": GO_MOD,
    "store/store.go": STORE,
    "store/types.go": ITEM,
    "store/methods.go": METHODS,
    "store/sale.go": SALE,
    "store/store_test.go": STORE_TEST,
    "main.go": MAIN,
}


def links_of(stored: dict[str, Any], path: str) -> list[tuple[int, tuple[str, int]]]:
    """The (reference index, (path, symbol index) target) of the linked references of ``path``, in order."""
    return [(index, target) for (source, index), target in sorted(stored["reference_links"].items()) if source == path]


def receivers(conn: psycopg.Connection[TupleRow], path: str) -> dict[str, str]:
    """Method name → the type it names as its receiver, for the methods of ``path`` declared apart from their type
    (in every stored result of that path: the test indexes one repository)."""
    rows = conn.execute(
        "SELECT DISTINCT s.name, s.receiver FROM snapshot_files f JOIN symbols s ON s.file_result_id ="
        " f.file_result_id WHERE f.path = %s AND s.receiver IS NOT NULL",
        [path],
    ).fetchall()
    return dict(rows)


def test_go_module__stored_index_says_what_the_code_says_and_equals_the_in_process_index(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "shop"
    commit = commit_files(new_repository(path), SOURCES, "first")
    stored = index_and_dump(harness.pipeline_config(config, tmp_path), conn, path, commit)

    assert not differences(stored, in_process_dump(path, commit))
    assert stored["files"]["store/methods.go"][1] == "go"
    assert [stored["symbols"]["store/methods.go", index][:2] for index in range(4)] == [
        ("store", "module"),
        ("Add", "method"),
        ("Total", "method"),
        ("count", "method"),
    ]
    assert receivers(conn, "store/methods.go") == {"Add": "Store", "Total": "Store", "count": "Store"}
    assert receivers(conn, "store/store.go") == {}
    resolved = stored["resolved_imports"]
    # (the package import `.` and an in-module import: the package's first file stands for it)
    assert resolved["main.go", 2] == ("file", "store/methods.go", None, None)
    assert resolved["store/sale.go", 0] == ("file", "store/methods.go", None, None)
    assert resolved["main.go", 1] == ("builtin", None, "fmt", None)
    assert resolved["main.go", 3] == ("external", None, "golang.org/x/sync", None)
    assert resolved["store/types.go", 1] == ("external", None, "github.com/google/uuid", None)
    assert stored["package_dependencies"] == {
        ("main.go", "fmt"): (True, None),
        ("main.go", "golang.org/x/sync"): (False, "v0.7.0"),
        ("store/types.go", "github.com/google/uuid"): (False, "v1.6.0"),
        ("store/store_test.go", "testing"): (True, None),
    }
    # store.New(), s.Add() (methods.go), store.NewItem(), s.Total() (methods.go), s.Discount() (sale.go)
    assert links_of(stored, "main.go") == [
        (0, ("store/store.go", 3)),
        (1, ("store/methods.go", 1)),
        (2, ("store/types.go", 4)),
        (6, ("store/methods.go", 2)),
        (7, ("store/sale.go", 1)),
    ]
    # Store (receiver), Item, Store, s.count() (a method of the same file, declared apart from its type), Store
    assert links_of(stored, "store/methods.go") == [
        (0, ("store/store.go", 1)),
        (1, ("store/types.go", 1)),
        (2, ("store/store.go", 1)),
        (3, ("store/methods.go", 3)),
        (4, ("store/store.go", 1)),
    ]
    # New(), NewItem() and Sale() through the package scope; s.Add(), s.Total() in another file than their type
    assert links_of(stored, "store/store_test.go") == [
        (1, ("store/store.go", 3)),
        (2, ("store/methods.go", 1)),
        (3, ("store/types.go", 4)),
        (4, ("store/methods.go", 2)),
        (5, ("store/sale.go", 2)),
    ]
    assert ("main.go", "store/methods.go", True) in stored["file_dependencies"]  # its links read the methods


def test_go_module__methods_moved_and_package_files_deleted_or_added_keep_the_index_a_full_index(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "shop"
    repo = new_repository(path)
    pipeline_config = harness.pipeline_config(config, tmp_path)
    index_and_dump(pipeline_config, conn, path, commit_files(repo, SOURCES, "first"))

    # `count` moves into its type's file (a member of `Store` there); `NewItem` is renamed in types.go, not the
    # package's first file: the unchanged main.go (importing the package) and store_test.go (in it) lose its links.
    second_sources = {
        **SOURCES,
        "store/store.go": STORE + "\nfunc (s *Store) count() int {\n\treturn len(s.items)\n}\n",
        "store/methods.go": METHODS[: METHODS.index("func (s *Store) count()")].rstrip() + "\n",
        "store/types.go": ITEM.replace("NewItem", "MakeItem"),
    }
    second = commit_files(repo, second_sources, "second")
    stored = index_and_dump(pipeline_config, conn, path, second, incremental=True)
    assert not differences(stored, in_process_dump(path, second))
    assert stored["symbols"]["store/store.go", 4][:2] == ("count", "method")
    assert ("store/methods.go", 3) not in stored["symbols"]
    assert (3, ("store/store.go", 4)) in links_of(stored, "store/methods.go")
    assert [index for index, _ in links_of(stored, "main.go")] == [0, 1, 6, 7]
    assert [index for index, _ in links_of(stored, "store/store_test.go")] == [1, 2, 4, 5]

    # sale.go is deleted: `Sale(s)` in the unchanged test file and `s.Discount()` in main.go no longer link.
    third_sources = {name: text for name, text in second_sources.items() if name != "store/sale.go"}
    third = commit_files(repo, third_sources, "third")
    stored = index_and_dump(pipeline_config, conn, path, third, incremental=True)
    assert not differences(stored, in_process_dump(path, third))
    assert [index for index, _ in links_of(stored, "main.go")] == [0, 1, 6]
    assert [index for index, _ in links_of(stored, "store/store_test.go")] == [1, 2, 4]

    # A new file of the package declares them again: the unchanged files link to it.
    fourth = commit_files(repo, {**third_sources, "store/pricing.go": SALE}, "fourth")
    stored = index_and_dump(pipeline_config, conn, path, fourth, incremental=True)
    assert not differences(stored, in_process_dump(path, fourth))
    assert links_of(stored, "main.go")[-1] == (7, ("store/pricing.go", 1))
    assert links_of(stored, "store/store_test.go")[-1] == (5, ("store/pricing.go", 2))


def test_go_module__a_name_of_the_package_declared_later_links_files_that_store_no_dependency_on_its_file(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "lonely"
    repo = new_repository(path)
    pipeline_config = harness.pipeline_config(config, tmp_path)
    sources: dict[str, bytes | str] = {
        "go.mod": "module example.com/lonely\n",
        "p/a.go": "package p\n\nfunc A() {}\n",
        "p/b.go": "package p\n\nfunc B() {}\n",
        "p/use.go": "package p\n\nfunc use() { Later(); Added() }\n",
    }
    stored = index_and_dump(pipeline_config, conn, path, commit_files(repo, sources, "first"))
    # (the files of a package depend on each other only where their links name one another)
    assert not [edge for edge in stored["file_dependencies"] if edge[0] == "p/use.go"]
    assert links_of(stored, "p/use.go") == []

    # b.go (not the package's first file) declares `Later`, and a new file declares `Added`: use.go, unchanged and
    # depending on neither, links to both.
    second_sources = {
        **sources,
        "p/b.go": "package p\n\nfunc B() {}\n\nfunc Later() {}\n",
        "p/c.go": "package p\n\nfunc Added() {}\n",
    }
    second = commit_files(repo, second_sources, "second")
    stored = index_and_dump(pipeline_config, conn, path, second, incremental=True)
    assert not differences(stored, in_process_dump(path, second))
    assert links_of(stored, "p/use.go") == [(0, ("p/b.go", 2)), (1, ("p/c.go", 1))]

    # b.go is deleted: use.go depends on it and loses its link; c.go's `Added` still links.
    third_sources = {name: text for name, text in second_sources.items() if name != "p/b.go"}
    third = commit_files(repo, third_sources, "third")
    stored = index_and_dump(pipeline_config, conn, path, third, incremental=True)
    assert not differences(stored, in_process_dump(path, third))
    assert links_of(stored, "p/use.go") == [(1, ("p/c.go", 1))]
