"""A small Python project indexed end to end: a real git repository, the real stage processes and Postgres.

The project has a ``pyproject.toml`` with dependencies, a ``src/`` layout with a package whose ``__init__``
re-exports, relative imports, a submodule bound by ``from pkg import sub``, a star import, inheritance with
``self``/``super()`` calls, class instantiation, and a test directory importing the package absolutely. The stored
index must say what the code says, equal the in-process runner's index, and stay equal to a full index when a
later commit adds a submodule that an existing import now reaches.
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

PYPROJECT = """\
[project]
name = "shapes"
dependencies = ["PyYAML>=6.0", "requests==2.32.3"]

[project.optional-dependencies]
test = ["pytest>=8"]
"""
INIT = """\
from .model import Shape, Square
from . import geometry

__all__ = ["Shape", "Square", "geometry"]
"""
MODEL = '''\
from __future__ import annotations

import yaml

from .base import Base


class Shape(Base):
    """A shape."""

    def area(self) -> float:
        return 0.0

    def describe(self) -> str:
        self.check()
        return yaml.safe_dump({"area": self.area()})


class Square(Shape):
    def __init__(self, side: float) -> None:
        self.side = side

    def area(self) -> float:
        super().area()
        return self.side * self.side
'''
BASE = """\
class Base:
    def check(self) -> None:
        pass
"""
GEOMETRY = """\
import math


def circle_area(radius: float) -> float:
    return math.pi * radius * radius
"""
HELPERS = """\
from .geometry import *


def biggest(radius: float) -> float:
    return circle_area(radius)
"""
CLIENT = """\
import requests


def fetch(url: str) -> str:
    return requests.get(url).text
"""
TEST_SHAPES = """\
import shapes.model
from shapes import Square, geometry
from shapes.helpers import biggest


def test_square() -> None:
    square = Square(2.0)
    square.area()
    shapes.model.Shape().describe()
    geometry.circle_area(1.0)
    biggest(1.0)
"""
SOURCES: dict[str, bytes | str] = {
    "pyproject.toml": PYPROJECT,
    "src/shapes/__init__.py": INIT,
    "src/shapes/model.py": MODEL,
    "src/shapes/base.py": BASE,
    "src/shapes/geometry.py": GEOMETRY,
    "src/shapes/helpers.py": HELPERS,
    "src/shapes/client.py": CLIENT,
    "tests/test_shapes.py": TEST_SHAPES,
}


def links_of(stored: dict[str, Any], path: str) -> list[tuple[str, int]]:
    """The (path, symbol index) targets of the linked references of ``path``, in reference order."""
    return [target for (source, _), target in sorted(stored["reference_links"].items()) if source == path]


def test_python_project__stored_index_says_what_the_code_says_and_equals_the_in_process_index(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    path = tmp_path / "shapes"
    commit = commit_files(new_repository(path), SOURCES, "first")
    stored = index_and_dump(harness.pipeline_config(config, tmp_path), conn, path, commit)

    assert not differences(stored, in_process_dump(path, commit))
    assert stored["files"]["src/shapes/model.py"][1] == "python"
    model = "src/shapes/model.py"
    assert [stored["symbols"][model, index][:2] for index in range(6)] == [
        ("Shape", "class"),
        ("area", "method"),
        ("describe", "method"),
        ("Square", "class"),
        ("__init__", "method"),
        ("area", "method"),
    ]
    resolved = stored["resolved_imports"]
    assert resolved["tests/test_shapes.py", 0] == ("file", model, None, None)
    assert resolved["tests/test_shapes.py", 1] == ("file", "src/shapes/__init__.py", None, None)
    assert resolved["src/shapes/helpers.py", 0] == ("file", "src/shapes/geometry.py", None, None)
    assert resolved[model, 1] == ("external", None, "pyyaml", None)
    assert stored["package_dependencies"] == {
        (model, "__future__"): (True, None),
        (model, "pyyaml"): (False, ">=6.0"),
        ("src/shapes/geometry.py", "math"): (True, None),
        ("src/shapes/client.py", "requests"): (False, "==2.32.3"),
    }
    # Square(2.0), square.area(), shapes.model.Shape(), .describe(), geometry.circle_area(), biggest()
    assert links_of(stored, "tests/test_shapes.py") == [
        (model, 3),
        (model, 5),
        (model, 0),
        (model, 2),
        ("src/shapes/geometry.py", 0),
        ("src/shapes/helpers.py", 0),
    ]
    # Base, self.check() (inherited), self.area(), Shape, super().area()
    assert links_of(stored, model) == [
        ("src/shapes/base.py", 0),
        ("src/shapes/base.py", 1),
        (model, 1),
        (model, 0),
        (model, 1),
    ]
    assert links_of(stored, "src/shapes/helpers.py") == [("src/shapes/geometry.py", 0)]  # through `import *`
    assert stored["binding_links"]["tests/test_shapes.py", 1, 0] == (model, 3)  # Square, through __init__


def test_python_project__a_submodule_added_later_is_linked_by_an_unchanged_importer_as_a_full_index_would(
    config: Config, conn: psycopg.Connection[TupleRow], tmp_path: Path
) -> None:
    importer = (
        "from shapes import extra\nimport shapes\n\n\ndef use() -> None:\n    extra.grow()\n    shapes.more.x()\n"
    )
    path = tmp_path / "shapes"
    repo = new_repository(path)
    pipeline_config = harness.pipeline_config(config, tmp_path)
    first = commit_files(repo, {**SOURCES, "tests/test_extra.py": importer}, "first")
    index_and_dump(pipeline_config, conn, path, first)
    second = commit_files(
        repo,
        {
            **SOURCES,
            "tests/test_extra.py": importer,
            "src/shapes/extra.py": "def grow() -> None:\n    pass\n",
            "src/shapes/more/__init__.py": "def x() -> None:\n    pass\n",
        },
        "second",
    )
    stored = index_and_dump(pipeline_config, conn, path, second, incremental=True)
    assert not differences(stored, in_process_dump(path, second))
    assert links_of(stored, "tests/test_extra.py") == [
        ("src/shapes/extra.py", 0),
        ("src/shapes/more/__init__.py", 0),
    ]
    third = commit_files(repo, {**SOURCES, "tests/test_extra.py": importer}, "third")
    stored = index_and_dump(pipeline_config, conn, path, third, incremental=True)
    assert not differences(stored, in_process_dump(path, third))
    assert links_of(stored, "tests/test_extra.py") == []
