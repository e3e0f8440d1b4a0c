"""The Python cross-check (bench/pycheck.py) on a small corpus written here: every construct of the contract, Python 2
code and a file ``ast`` rejects, relative imports, a namespace package, a stub beside its module, external and
standard-library imports. Our extraction and resolution agree with the oracle on all of it, and a wrong row on
either side is caught by ``--check``."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path
from types import ModuleType

import msgspec
import pytest

from stages.languages import language_name_for_path
from stages.models import FileExtraction
from tests.bench_scripts import load_bench_script

pytestmark = pytest.mark.skipif(
    language_name_for_path("module.py") is None, reason="the cross-check measures Python extraction, not registered"
)

CORE = '''\
"""Every declaration form of the contract."""

from __future__ import annotations

import importlib
import os.path
import json as j
import typing
from typing import TYPE_CHECKING, Final, TypeAlias

from . import util
from .util import *
from .util import (
    helper as aid,
    other,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
if typing.TYPE_CHECKING:
    import decimal

MAX_SIZE = 10
_LIMIT: Final = 3
ratio: Final[float] = 0.5
Alias: TypeAlias = "dict[str, int]"
name: str
a = b = 1
first, (second, *rest) = 1, (2, 3)
counter = 0
counter += 1
obj = object()
obj.attribute = 2

try:
    import yaml
except ImportError:
    yaml = None
else:
    LOADED = True
finally:
    DONE = True

if os.path.sep == "/":
    mode = "posix"
elif os.path.sep == "\\\\":
    mode = "windows"
else:
    mode = "other"

with open(os.devnull) as handle:
    OPENED = True
for index in range(2):
    LOOPED = index
else:
    LOOPED_ALL = True
while False:
    NEVER = True

match counter:
    case 1:
        MATCHED = True
    case _:
        MATCHED = False

squares = [square for square in range(3)]
if (walrus := 3) > 2:
    pass


def top(x: int, *, y: int = 2) -> str:
    """Docstring."""
    global counter
    local = x + y

    def nested() -> None:
        inner = 1

    class Local:
        member = 1

    importlib.import_module("json")
    __import__("os.path")
    return str(local)


async def fetch() -> None:
    async with open(os.devnull) as stream:
        pass


@staticmethod
def decorated() -> None:
    pass


class Engine(util.Base, metaclass=type):
    """An engine."""

    kind = "engine"
    SPEED: int = 3

    class Part:
        size = 1

        def measure(self) -> int:
            return self.size

    def __init__(self) -> None:
        self._value = 0

    @property
    def value(self) -> int:
        return self._value

    @value.setter
    def value(self, new: int) -> None:
        self._value = new

    @value.deleter
    def value(self) -> None:
        self._value = 0

    @staticmethod
    def make() -> Engine:
        return Engine()

    @classmethod
    def build(cls) -> Engine:
        return cls()

    async def run(self) -> None:
        pass

    if TYPE_CHECKING:
        def typed(self) -> int: ...
    else:
        def typed(self) -> int:
            return 1

    def _hidden(self) -> None:
        pass
'''

STUB = """\
MAX_SIZE: int

class Engine:
    kind: str
    def __init__(self) -> None: ...
"""

UTIL = """\
import functools

__all__ = ["helper", "other", "Base"]
__all__ += ["more"]
__all__.append("extra")


def helper() -> None:
    pass


def other() -> None:
    pass


def _private() -> None:
    pass


class Base:
    @functools.cached_property
    def cached(self) -> int:
        return 1


more = extra = 1
unlisted = 2
"""

INIT = """\
from .core import Engine
from . import util as tools
import nsp.sub.mod
import sys
import requests
"""

FILES = {
    "proj/pyproject.toml": '[project]\nname = "proj"\ndependencies = ["pyyaml>=6", "requests"]\n',
    "proj/src/pkg/__init__.py": INIT,
    "proj/src/pkg/core.py": CORE,
    "proj/src/pkg/core.pyi": STUB,
    "proj/src/pkg/util.py": UTIL,
    "proj/src/pkg/sub/__init__.py": "from .. import core\nfrom ..util import helper\n",
    "proj/src/nsp/sub/mod.py": "from . import sibling\nfrom nsp import sub\nVALUE = 1\n",
    "proj/src/nsp/sub/sibling.py": "import nsp\n",
    "proj/legacy/py2.py": 'import os\nprint "hello"\ntry:\n    pass\nexcept Exception, error:\n    pass\n',
    "proj/legacy/broken.py": "def f(:\n    return 1\n",
    "proj/tests/test_core.py": "from pkg.core import Engine\nimport pkg\n\n\ndef test_engine():\n    Engine()\n",
}


@pytest.fixture(scope="module")
def pycheck() -> ModuleType:
    return load_bench_script("pycheck")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pycorpus")
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    return root.resolve()


def test_pycheck__agrees_with_the_oracle_on_every_construct(pycheck: ModuleType, corpus: Path) -> None:
    report = pycheck.compare(corpus)
    assert report.failures() == [], pycheck.format_report(corpus, report)
    for category in report.categories.values():
        assert (category.precision, category.recall) == (1.0, 1.0), pycheck.format_report(corpus, report)
    assert report.resolution_agreement == 1.0
    assert report.our_failures == {}


def test_pycheck__exercises_every_kind_and_resolution(pycheck: ModuleType, corpus: Path) -> None:
    report = pycheck.compare(corpus)
    kinds = {name.removeprefix("declarations: ") for name in report.categories if name.startswith("declarations: ")}
    assert {"function", "method", "property", "setter", "class", "constant", "variable", "type_alias"} <= kinds
    assert {"imports: import", "imports: dynamic"} <= set(report.categories)
    assert report.categories["declarations"].theirs > 50
    assert report.categories["type-only imports"].theirs == 2
    assert report.agreement["agree"] > 20
    assert set(report.parse_failures) == {"proj/legacy/py2.py", "proj/legacy/broken.py"}


def test_pycheck__oracle_resolves_stubs_namespaces_and_relative_imports(pycheck: ModuleType, corpus: Path) -> None:
    oracle = pycheck.ImportSystemOracle(corpus, pycheck.corpus_paths(corpus))
    with pycheck.stub_aware_path_finder():
        answers = {
            (importer, specifier): oracle.resolve(importer, specifier)
            for importer, specifier in [
                ("proj/src/pkg/__init__.py", ".core"),
                ("proj/src/pkg/__init__.py", "nsp.sub.mod"),
                ("proj/src/nsp/sub/sibling.py", "nsp"),
                ("proj/src/pkg/sub/__init__.py", ".."),
                ("proj/src/pkg/sub/__init__.py", "..."),
                ("proj/tests/test_core.py", "pkg.core"),
                ("proj/src/pkg/__init__.py", "sys"),
                ("proj/src/pkg/__init__.py", "requests"),
            ]
        }
    assert [str(target) for target in answers.values()] == [
        "file proj/src/pkg/core.pyi",
        "file proj/src/nsp/sub/mod.py",
        "file proj/src/nsp",
        "file proj/src/pkg/__init__.py",
        "unresolved",
        "file proj/src/pkg/core.pyi",
        "builtin",
        "external",
    ]


def test_pycheck__a_dropped_symbol_and_a_doctored_oracle_are_caught(pycheck: ModuleType, corpus: Path) -> None:
    from stages.extract import extract_source

    util = "proj/src/pkg/util.py"
    extraction: FileExtraction = extract_source(util, (corpus / util).read_bytes())
    dropped = msgspec.structs.replace(extraction, symbols=extraction.symbols[:-1])
    report = pycheck.compare(corpus, extractions={util: dropped})
    assert [path for path, _ in report.categories["declarations"].only_theirs] == [util]
    assert any("declarations recall" in failure for failure in report.failures())

    core = "proj/src/pkg/core.py"
    facts = pycheck.oracle_file(core, (corpus / core).read_bytes())
    doctored = pycheck.OracleFile(
        declarations=facts.declarations[1:],
        exported=facts.exported,
        imports=(*facts.imports, pycheck.ImportFact("ghost", "import", 1, ())),
        type_only=facts.type_only,
    )
    report = pycheck.compare(corpus, oracle={core: doctored})
    assert any("declarations precision" in failure for failure in report.failures())
    assert any("imports recall" in failure for failure in report.failures())


def test_pycheck__check_exits_non_zero_on_a_wrong_extraction(
    pycheck: ModuleType, corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pycheck.main([str(corpus), "--check"]) == 0
    real = pycheck.extract_source

    def without_first_import(path: str, source: bytes) -> FileExtraction:
        extraction: FileExtraction = real(path, source)
        return msgspec.structs.replace(extraction, imports=extraction.imports[1:])

    monkeypatch.setattr(pycheck, "extract_source", without_first_import)
    assert pycheck.main([str(corpus), "--check"]) == 1
    assert "imports recall" in capsys.readouterr().out


def test_pycheck__json_and_diff_name_what_changed(
    pycheck: ModuleType, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "earlier.json"
    assert pycheck.main([str(corpus), "--json", str(earlier)]) == 0
    stored = json.loads(earlier.read_text())
    assert stored["categories"]["declarations"]["recall"] == 1.0
    stored["categories"]["declarations"]["only_theirs"] = ["proj/src/pkg/util.py: function gone (line 1)"]
    earlier.write_text(json.dumps(stored))
    capsys.readouterr()
    assert pycheck.main([str(corpus), "--diff", str(earlier)]) == 0
    diff = capsys.readouterr().out.split("Compared with", 1)[1]
    assert "declarations: precision 100.00% → 100.00%" in diff
    assert "fixed misses: 1\n      proj/src/pkg/util.py: function gone (line 1)" in diff


MODERN = """\
type Pair = tuple[int, int]


class Box[T]:
    type Item = list[T]

    def get[U](self, default: U) -> T | U:
        return default


def first[T](items: list[T]) -> T:
    return items[0]
"""


def newer_python() -> str | None:
    """An interpreter of Python 3.12 or later that runs (on PATH, or one pyenv installed), or ``None``."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 16)]
    candidates += sorted(str(path) for path in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info >= (3, 12)"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return candidate
    return None


NEWER_PYTHON = newer_python()


@pytest.mark.skipif(NEWER_PYTHON is None, reason="reading 3.12 syntax needs a Python 3.12 or later")
def test_pycheck__a_newer_interpreter_as_oracle_reads_type_statements(pycheck: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "modern.py").write_text(MODERN)
    version, oracle = pycheck.external_oracle(NEWER_PYTHON, tmp_path)
    assert tuple(int(part) for part in version.split(".")[:2]) >= (3, 12)
    assert oracle["modern.py"].parse_failure is None
    report = pycheck.compare(tmp_path, oracle=oracle, oracle_python=version)
    assert report.parse_failures == {}
    assert report.categories["declarations: type_alias"].theirs == 2
    assert report.failures() == [], pycheck.format_report(tmp_path, report)
