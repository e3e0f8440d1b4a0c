"""Cross-check Python extraction and resolution against CPython's own ``ast`` and import system.

For every ``.py``/``.pyi`` file under CORPUS (``bench/pycorpus.py`` builds one from pinned PyPI sdists):

- **the oracle** (``bench/pyoracle.py``) parses the file with ``ast.parse`` (a file it rejects is a *parse
  failure*: counted and listed; our extraction of it must not fail, and its rows are not compared) and applies the
  declaration and import rules of docs/index-contract.md ("Python") with a small iterative visitor; with
  ``--oracle-python PY`` another interpreter's ``ast`` does this (``python3.13`` reads 3.12 syntax). It resolves
  each import the way CPython's import system finds modules without executing code (``ImportSystemOracle``):
  ``importlib.machinery.PathFinder.find_spec`` segment by segment over the importer's package roots as
  ``sys.path`` (the roots the contract names: the first ancestor without ``__init__``, each ancestor holding
  ``pyproject.toml``/``setup.py``/``setup.cfg`` and its ``src/``, the corpus root and its ``src/``), with a
  ``FileFinder`` that knows ``.pyi`` before ``.py`` and PEP 561 ``x-stubs`` packages before ``x``; relative imports
  from the importer's ``__package__`` (its name under its project's ``src/`` or root); then
  ``sys.stdlib_module_names`` of this interpreter (builtin), else external.
- **our side** is ``stages.extract.extract_source`` and ``stages.resolvers.CommitResolver`` over the corpus
  paths, with the text of the config files that ``stages.fetch.context.is_config_path`` selects.

Compared (multisets, so duplicates count; precision and recall, in total and per kind):

- **declarations**: (name, kind, line of the name, enclosing class name);
- **imports**: (specifier, kind, line of the specifier, sorted (imported, local) bindings);
- **resolved targets**: per (importer, specifier): the corpus path for in-corpus targets (a namespace package
  is its directory), the kind otherwise; precision and recall of ``file`` targets and the overall agreement;
- reported, not checked: **exported declarations** (``Symbol.exported``; files whose ``__all__`` is not
  literal are skipped) and **type-only imports** (``is_type_only``).

Files our parse policy refuses (over the size limit, not UTF-8) are listed and left out of the comparison; a file
our extraction fails on (``internal_error``, ``timeout``) counts its oracle rows as misses.

Run (from a checkout, with its venv): ``python bench/pycorpus.py`` once, then
``python bench/pycheck.py bench/.cache/pycorpus [--check] [--json FILE] [--diff OLD.json] [--show N]
[--oracle-python PY]``.
``--check`` exits 1 unless declarations and imports reach 99.5 % precision and recall, resolved targets 97 %
(file precision, file recall and agreement), and no file fails. To measure another worktree's code, run the same
command with ``PYTHONPATH=<that worktree>`` (its ``stages/_native*.so`` built or copied in): the ``stages`` on
``PYTHONPATH`` is used, and the report names its path and commit.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if "PYTHONPATH" not in os.environ and str(REPO_ROOT) not in sys.path:
    # Without PYTHONPATH, measure the checkout this script belongs to (not an editable install elsewhere).
    sys.path.insert(0, str(REPO_ROOT))

if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))  # pyoracle beside this script, also when it is loaded as a module

from pyoracle import (  # noqa: E402
    SOURCE_SUFFIXES,
    Declaration,
    ImportFact,
    OracleFile,
    facts_from_json,
    oracle_file,
)

import stages  # noqa: E402 - the bench script runs from a checkout, not an install
from stages.extract import extract_source  # noqa: E402
from stages.fetch.context import is_config_path  # noqa: E402
from stages.models import FileExtraction  # noqa: E402
from stages.resolvers import CommitResolver  # noqa: E402

TARGETS: Mapping[str, float] = {"declarations": 0.995, "imports": 0.995}
TARGET_RESOLVED = 0.97
POLICY_ERRORS = frozenset({"too_large", "invalid_utf8", "nul_byte"})
"""Our parse policy's refusals: such files are not indexed by design, so they are listed, not compared."""
PACKAGE_MARKERS = ("__init__.py", "__init__.pyi")
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
STUB_PACKAGE_SUFFIX = "-stubs"


@dataclass
class Category:
    """Matched and unmatched items of one category; ``only_ours`` are false positives, ``only_theirs`` misses.
    Items are recorded as (path, item) so disagreements can be classified and shown."""

    name: str
    matched: int = 0
    only_ours: list[tuple[str, Any]] = field(default_factory=list)
    only_theirs: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def ours(self) -> int:
        return self.matched + len(self.only_ours)

    @property
    def theirs(self) -> int:
        return self.matched + len(self.only_theirs)

    @property
    def precision(self) -> float:
        return self.matched / self.ours if self.ours else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.theirs if self.theirs else 1.0

    def add(self, path: str, ours: Iterable[Any], theirs: Iterable[Any]) -> None:
        our_counts, their_counts = Counter(ours), Counter(theirs)
        for item in sorted(our_counts | their_counts, key=str):
            both = min(our_counts[item], their_counts[item])
            self.matched += both
            self.only_ours.extend([(path, item)] * (our_counts[item] - both))
            self.only_theirs.extend([(path, item)] * (their_counts[item] - both))

    def as_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "ours": self.ours,
            "theirs": self.theirs,
            "precision": self.precision,
            "recall": self.recall,
            "only_ours": [f"{path}: {item}" for path, item in self.only_ours],
            "only_theirs": [f"{path}: {item}" for path, item in self.only_theirs],
        }


@dataclass(frozen=True, order=True)
class Target:
    """Where a specifier points: ``file`` with the corpus path (a namespace package's directory), or the kind."""

    kind: str
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.path}" if self.path is not None else self.kind


UNRESOLVED = Target("unresolved")


@dataclass(frozen=True)
class Disagreement:
    """One (importer, specifier) that the oracle and we resolve differently."""

    importer: str
    specifier: str
    theirs: Target
    ours: Target

    @property
    def outcome(self) -> str:
        if self.theirs.kind == self.ours.kind == "file":
            return "file → another file"
        return f"{self.theirs.kind} → {self.ours.kind}"

    def __str__(self) -> str:
        return f"{self.importer}: {self.specifier!r}: oracle {self.theirs}, ours {self.ours}"


@dataclass
class Report:
    """The result of one run: categories in display order, the oracle's parse failures and our file errors."""

    code: str
    oracle_python: str
    """The version of the interpreter whose ``ast`` was the oracle."""
    files: int
    categories: dict[str, Category]
    agreement: Counter[str]
    """Resolved targets by outcome: ``agree`` and one ``oracle kind → our kind`` key per disagreement class."""
    disagreements: list[Disagreement]
    parse_failures: dict[str, str]
    parse_failures_flagged: int
    syntax_errors_of_valid_files: list[str]
    """Files ``ast`` accepts where our parse met syntax errors (its declarations in the ERROR spans are lost)."""
    our_failures: dict[str, str]
    policy_refusals: dict[str, str]
    notes: list[str]

    @property
    def resolution_agreement(self) -> float:
        total = sum(self.agreement.values())
        return self.agreement["agree"] / total if total else 1.0

    def failures(self) -> list[str]:
        """Each target missed, as a sentence."""
        problems = []
        measured = [
            *((name, measure, value) for name in TARGETS for measure, value in self._measures(name)),
            *(("resolved targets", measure, value) for measure, value in self._measures("resolved file targets")),
            ("resolved targets", "agreement", self.resolution_agreement),
        ]
        for name, measure, value in measured:
            target = TARGETS.get(name, TARGET_RESOLVED)
            if value < target:
                problems.append(f"{name} {measure} {value:.2%} is below the target of {target:.1%}")
        if self.our_failures:
            problems.append(f"{len(self.our_failures)} files failed in our extraction")
        return problems

    def _measures(self, name: str) -> list[tuple[str, float]]:
        category = self.categories[name]
        return [("precision", category.precision), ("recall", category.recall)]

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "oracle_python": self.oracle_python,
            "files": self.files,
            "categories": {name: category.as_json() for name, category in self.categories.items()},
            "resolution_agreement": self.resolution_agreement,
            "agreement": dict(self.agreement),
            "disagreements": [str(d) for d in self.disagreements],
            "parse_failures": self.parse_failures,
            "parse_failures_flagged": self.parse_failures_flagged,
            "syntax_errors_of_valid_files": self.syntax_errors_of_valid_files,
            "our_failures": self.our_failures,
            "policy_refusals": self.policy_refusals,
            "notes": self.notes,
        }


# --- The oracle: where CPython's import system finds each module ----------------------------------------------------


@contextlib.contextmanager
def stub_aware_path_finder() -> Iterator[None]:
    """``PathFinder`` as CPython runs it, with a ``FileFinder`` that finds ``.pyi`` before ``.py`` (stubs first, as
    type checkers read them) and no extension modules (sdists hold none built); the interpreter's own path hooks
    and cache are put back afterwards, so nothing else is imported through this finder."""
    hooks, cache = sys.path_hooks, sys.path_importer_cache
    sys.path_hooks = [importlib.machinery.FileFinder.path_hook((importlib.machinery.SourceFileLoader, [".pyi", ".py"]))]
    sys.path_importer_cache = {}
    try:
        yield
    finally:
        sys.path_hooks, sys.path_importer_cache = hooks, cache


CORPUS_ROOTS = ("", "src")


@dataclass(frozen=True)
class PackageRoots:
    """Where an importer's absolute imports are looked for (the contract's roots): ``nearest``, the first ancestor
    without ``__init__``; each of ``projects`` (ancestors with ``pyproject.toml``/``setup.py``/``setup.cfg``, nearest
    first) and its ``src/``; then the corpus root and its ``src/``."""

    nearest: str
    projects: tuple[str, ...]

    @property
    def search_path(self) -> list[str]:
        """The roots as ``sys.path``, nearest first, each once."""
        project_roots = (root for project in self.projects for root in (project, f"{project}/src"))
        return list(dict.fromkeys((self.nearest, *project_roots, *CORPUS_ROOTS)))

    @property
    def install_roots(self) -> list[str]:
        """Where a module's installed name is counted from, first choice first: each project's ``src/``, then the
        project, then ``nearest`` and the corpus roots."""
        project_roots = (root for project in self.projects for root in (f"{project}/src", project))
        return list(dict.fromkeys((*project_roots, self.nearest, *CORPUS_ROOTS)))


class ImportSystemOracle:
    """Resolves (importer, specifier) like CPython's ``PathFinder`` over the contract's package roots (see the module
    docstring); use inside ``stub_aware_path_finder``. Paths are corpus-relative POSIX paths."""

    def __init__(self, root: Path, paths: Iterable[str]) -> None:
        self._root = root
        self._files = frozenset(paths)

    def _has_any(self, directory: str, names: Iterable[str]) -> bool:
        prefix = f"{directory}/" if directory else ""
        return any(f"{prefix}{name}" in self._files for name in names)

    def roots(self, importer: str) -> PackageRoots:
        """The importer's package roots (directories, corpus-relative; see ``PackageRoots``)."""
        ancestors: list[str] = []
        directory = importer.rpartition("/")[0]
        while True:
            ancestors.append(directory)
            if not directory:
                break
            directory = directory.rpartition("/")[0]
        nearest = next(d for d in ancestors if not d or not self._has_any(d, PACKAGE_MARKERS))
        projects = tuple(d for d in ancestors[:-1] if self._has_any(d, PROJECT_MARKERS))
        return PackageRoots(nearest, projects)

    def module_name(self, importer: str, roots: PackageRoots) -> tuple[str, str] | None:
        """(root, dotted module name) of the importer: the name it is installed by (``PackageRoots.install_roots``:
        the first root under which its path is a dotted name of identifiers); ``None`` when no root gives one (such a
        file is no importable module)."""
        for root in roots.install_roots:
            prefix = f"{root}/" if root else ""
            if not importer.startswith(prefix):
                continue
            parts = importer[len(prefix) :].rsplit(".", 1)[0].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            if parts and parts[0].endswith(STUB_PACKAGE_SUFFIX):
                parts[0] = parts[0].removesuffix(STUB_PACKAGE_SUFFIX)  # PEP 561: ``x-stubs`` is the package ``x``
            if parts and all(part.isidentifier() for part in parts):
                return root, ".".join(parts)
        return None

    def resolve(self, importer: str, specifier: str) -> Target:
        """Where ``specifier`` as written in ``importer`` points."""
        roots = self.roots(importer)
        if specifier.startswith("."):
            located = self.module_name(importer, roots)
            if located is None:
                return UNRESOLVED
            root, name = located
            is_package = importer.rsplit("/", 1)[-1] in PACKAGE_MARKERS
            package = name if is_package else name.rpartition(".")[0]
            try:
                absolute = importlib.util.resolve_name(specifier, package)
            except (ImportError, ValueError):
                return UNRESOLVED
            return self._find(absolute, [root]) or UNRESOLVED
        found = self._find(specifier, roots.search_path)
        if found is not None:
            return found
        # Not found in the corpus (not even a submodule of a corpus package: ``six.moves.x`` and the like are made at
        # run time): the standard library's, else an external distribution's.
        return Target("builtin" if specifier.split(".", 1)[0] in sys.stdlib_module_names else "external")

    def _find(self, name: str, roots: Sequence[str]) -> Target | None:
        """``PathFinder.find_spec`` segment by segment over ``roots``; the file, the namespace package's first
        directory, or ``None``."""
        if not name or not all(part.isidentifier() for part in name.split(".")):
            return None
        search: list[str] = [str(self._root / root) for root in roots]
        spec = None
        parts = name.split(".")
        for depth in range(len(parts)):
            if spec is not None:
                if spec.submodule_search_locations is None:
                    return None
                search = list(spec.submodule_search_locations)
            # The segment alone: a dotted name would make PathFinder read the parent package from sys.modules.
            # A top-level package's stub-only distribution (``x-stubs``, PEP 561) comes before it, as stubs do.
            stubs = PathFinder.find_spec(parts[0] + STUB_PACKAGE_SUFFIX, search) if depth == 0 else None
            spec = stubs if stubs is not None else PathFinder.find_spec(parts[depth], search)
            if spec is None:
                return None
        assert spec is not None
        if spec.origin is not None and spec.has_location:
            return Target("file", Path(spec.origin).relative_to(self._root).as_posix())
        locations = list(spec.submodule_search_locations or [])
        if not locations:
            return None
        return Target("file", Path(locations[0]).relative_to(self._root).as_posix())


def our_target(resolver: CommitResolver, importer: str, specifier: str) -> Target:
    """Our resolution as compared: the path of a ``file`` target, the kind otherwise."""
    resolution = resolver.resolve(importer, specifier)
    return Target(resolution.kind, resolution.path if resolution.kind == "file" else None)


# --- The comparison -----------------------------------------------------------------------------------------------


def corpus_paths(root: Path) -> list[str]:
    """Every file under ``root`` outside ``.git``, corpus-relative and POSIX, sorted."""
    found: list[str] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d != ".git")
        base = Path(directory).relative_to(root).as_posix()
        found.extend(name if base == "." else f"{base}/{name}" for name in names)
    return sorted(found)


def our_declaration(extraction: FileExtraction, index: int) -> Declaration:
    """A symbol as compared; names NFKC-normalised as Python reads identifiers (``ast`` gives ``μ`` for ``µ``), while
    the index keeps the name as written."""
    symbol = extraction.symbols[index]
    parent = extraction.symbols[symbol.parent].name if symbol.parent is not None else None
    return Declaration(
        unicodedata.normalize("NFKC", symbol.name),
        symbol.kind,
        symbol.name_span.start_line,
        None if parent is None else unicodedata.normalize("NFKC", parent),
    )


def our_import(extraction: FileExtraction, index: int) -> ImportFact:
    row = extraction.imports[index]
    bindings = tuple(sorted((b.imported, b.local) for b in row.bindings))
    return ImportFact(row.specifier, row.kind, row.specifier_span.start_line, bindings)


def measured_code() -> str:
    """Where the measured ``stages`` comes from: its directory and the commit checked out there."""
    directory = Path(stages.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(directory)
    return f"{directory} at {commit}{' (with uncommitted changes)' if dirty else ''}"


def compare(
    root: Path,
    *,
    extractions: Mapping[str, FileExtraction] | None = None,
    oracle: Mapping[str, OracleFile] | None = None,
    oracle_python: str | None = None,
) -> Report:
    """Compare the oracle's view of ``root`` with ours. ``extractions`` and ``oracle`` replace either side's facts
    for the files they name (a test doctors one side to see the check catch it)."""
    paths = corpus_paths(root)
    sources = [path for path in paths if path.endswith(SOURCE_SUFFIXES)]
    names = ("declarations", "imports", "resolved file targets", "exported declarations", "type-only imports")
    categories = {name: Category(name) for name in names}
    per_kind: dict[str, Category] = {}
    parse_failures: dict[str, str] = {}
    our_failures: dict[str, str] = {}
    policy_refusals: dict[str, str] = {}
    flagged = 0
    syntax_errors: list[str] = []
    notes: list[str] = []
    questions: list[tuple[str, str]] = []
    for path in sources:
        source = (root / path).read_bytes()
        facts = oracle[path] if oracle is not None and path in oracle else oracle_file(path, source)
        ours = extractions[path] if extractions is not None and path in extractions else extract_source(path, source)
        if ours.error is not None:
            if ours.error.kind in POLICY_ERRORS:
                policy_refusals[path] = f"{ours.error.kind}: {ours.error.message}"
                continue
            our_failures[path] = f"{ours.error.kind}: {ours.error.message}"
        if facts.parse_failure is not None:
            parse_failures[path] = facts.parse_failure
            flagged += ours.had_syntax_errors
            continue
        if ours.had_syntax_errors:
            syntax_errors.append(path)
        our_declarations = [our_declaration(ours, i) for i in range(len(ours.symbols))]
        categories["declarations"].add(path, our_declarations, facts.declarations)
        for kind in {d.kind for d in our_declarations} | {d.kind for d in facts.declarations}:
            per_kind.setdefault(f"declarations: {kind}", Category(f"declarations: {kind}")).add(
                path, [d for d in our_declarations if d.kind == kind], [d for d in facts.declarations if d.kind == kind]
            )
        if facts.exported is not None:
            exported = [d for d, s in zip(our_declarations, ours.symbols, strict=True) if s.exported]
            categories["exported declarations"].add(path, exported, facts.exported)
        our_imports = [our_import(ours, i) for i in range(len(ours.imports))]
        categories["imports"].add(path, our_imports, facts.imports)
        for kind in {i.kind for i in our_imports} | {i.kind for i in facts.imports}:
            per_kind.setdefault(f"imports: {kind}", Category(f"imports: {kind}")).add(
                path, [i for i in our_imports if i.kind == kind], [i for i in facts.imports if i.kind == kind]
            )
        type_only = [fact for fact, row in zip(our_imports, ours.imports, strict=True) if row.is_type_only]
        categories["type-only imports"].add(path, type_only, facts.type_only)
        questions.extend((path, specifier) for specifier in dict.fromkeys(i.specifier for i in facts.imports))

    configs = {path for path in paths if is_config_path(path)}

    def read_text(path: str) -> str | None:
        if path not in configs:
            return None
        try:
            return (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    oracle_resolver = ImportSystemOracle(root, paths)
    with stub_aware_path_finder():
        theirs = [oracle_resolver.resolve(importer, specifier) for importer, specifier in questions]
    resolver = CommitResolver.from_files(paths, read_text)
    agreement: Counter[str] = Counter()
    disagreements: list[Disagreement] = []
    resolved = categories["resolved file targets"]
    for (importer, specifier), their_target in zip(questions, theirs, strict=True):
        mine = our_target(resolver, importer, specifier)
        agreement[
            "agree" if mine == their_target else Disagreement(importer, specifier, their_target, mine).outcome
        ] += 1
        resolved.add(
            importer,
            [(specifier, mine.path)] if mine.kind == "file" else [],
            [(specifier, their_target.path)] if their_target.kind == "file" else [],
        )
        if mine != their_target:
            disagreements.append(Disagreement(importer, specifier, their_target, mine))
    notes.extend(f"resolver: {problem}" for problem in resolver.diagnostics)
    categories.update(dict(sorted(per_kind.items())))
    return Report(
        code=measured_code(),
        oracle_python=oracle_python or sys.version.split()[0],
        files=len(sources),
        categories=categories,
        agreement=agreement,
        disagreements=disagreements,
        parse_failures=parse_failures,
        parse_failures_flagged=flagged,
        syntax_errors_of_valid_files=syntax_errors,
        our_failures=our_failures,
        policy_refusals=policy_refusals,
        notes=notes,
    )


# --- Output -------------------------------------------------------------------------------------------------------


def source_line(root: Path, path: str, line: int, cache: dict[str, list[str]]) -> str:
    """The stripped text of one source line (for examples), cut to 100 characters."""
    if path not in cache:
        try:
            cache[path] = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 100 else text[:99] + "…"


def _line_of(item: Any) -> int:
    return int(getattr(item, "line", 0))


def disagreement_classes(category: Category) -> dict[str, list[tuple[str, Any, Any]]]:
    """A category's disagreements grouped by what differs: items of one file on the same line (and of the same name
    or specifier) are paired (``kind differs``, ``parent differs``, ``bindings differ``); the rest are ``missing``
    or ``extra`` by kind. Each entry: (path, oracle item or None, our item or None)."""
    classes: dict[str, list[tuple[str, Any, Any]]] = {}
    extras: dict[tuple[str, Any], list[Any]] = {}
    for path, item in category.only_ours:
        extras.setdefault((path, _pairing_key(item)), []).append(item)
    for path, theirs in category.only_theirs:
        paired = extras.get((path, _pairing_key(theirs)))
        if paired:
            ours = paired.pop(0)
            classes.setdefault(_difference(theirs, ours), []).append((path, theirs, ours))
        else:
            classes.setdefault(f"missing {_kind_of(theirs)}", []).append((path, theirs, None))
    for (path, _), items in extras.items():
        for ours in items:
            classes.setdefault(f"extra {_kind_of(ours)}", []).append((path, None, ours))
    return dict(sorted(classes.items(), key=lambda entry: -len(entry[1])))


def _pairing_key(item: Any) -> Any:
    if isinstance(item, Declaration):
        return (item.name, item.line)
    if isinstance(item, ImportFact):
        return (item.specifier, item.line)
    return item


def _kind_of(item: Any) -> str:
    if isinstance(item, Declaration | ImportFact):
        return item.kind
    return "file target"


def _difference(theirs: Any, ours: Any) -> str:
    if isinstance(theirs, Declaration) and isinstance(ours, Declaration):
        if theirs.kind != ours.kind:
            return f"kind differs: oracle {theirs.kind}, ours {ours.kind}"
        return "parent differs"
    if isinstance(theirs, ImportFact) and isinstance(ours, ImportFact):
        return "kind differs" if theirs.kind != ours.kind else "bindings differ"
    return "differs"


def format_example(root: Path, path: str, theirs: Any, ours: Any, cache: dict[str, list[str]]) -> str:
    line = _line_of(theirs if theirs is not None else ours)
    sides = [f"oracle {theirs}" if theirs is not None else "", f"ours {ours}" if ours is not None else ""]
    where = f"{path}:{line}" if line else path
    return f"{where}: {'; '.join(side for side in sides if side)}  | {source_line(root, path, line, cache)}"


def format_report(root: Path, report: Report, *, show: int = 5) -> str:
    """The figures (one line per category), then the classes of disagreement with ``show`` examples each."""
    total = sum(report.agreement.values())
    lines = [
        f"Code measured: {report.code}",
        f"Python {report.oracle_python} ast; {report.files} files; {len(report.parse_failures)} rejected by ast "
        f"({report.parse_failures_flagged} of them flagged had_syntax_errors by us); {len(report.policy_refusals)} "
        f"refused by our parse policy; {len(report.our_failures)} failed in our extraction; "
        f"{len(report.syntax_errors_of_valid_files)} accepted by ast had syntax errors in our parse",
        "",
        f"{'category':<40} {'matched':>8} {'ours':>8} {'oracle':>8} {'precision':>10} {'recall':>8}",
    ]
    for category in report.categories.values():
        lines.append(
            f"{category.name:<40} {category.matched:>8} {category.ours:>8} {category.theirs:>8} "
            f"{category.precision:>10.2%} {category.recall:>8.2%}"
        )
    lines.append(
        f"{'resolved targets: agreement':<40} {report.agreement['agree']:>8} {'':>8} {total:>8} "
        f"{report.resolution_agreement:>10.2%}"
    )
    lines += [f"  {outcome}: {count}" for outcome, count in report.agreement.most_common() if outcome != "agree"]
    cache: dict[str, list[str]] = {}
    for name in ("declarations", "imports", "exported declarations", "type-only imports"):
        for label, entries in disagreement_classes(report.categories[name]).items():
            lines.append(f"\n{name}: {label}: {len(entries)}")
            lines += [f"  {format_example(root, *entry, cache)}" for entry in entries[:show]]
    outcomes: dict[str, list[Disagreement]] = {}
    for disagreement in report.disagreements:
        outcomes.setdefault(disagreement.outcome, []).append(disagreement)
    for outcome, items in sorted(outcomes.items(), key=lambda entry: -len(entry[1])):
        lines.append(f"\nresolved targets: oracle {outcome} (ours): {len(items)}")
        lines += [f"  {item}" for item in items[:show]]
    listed: tuple[tuple[str, dict[str, str]], ...] = (
        ("Rejected by ast (not compared)", report.parse_failures),
        ("Refused by our parse policy (not compared)", report.policy_refusals),
        ("Failed in our extraction", report.our_failures),
        ("Accepted by ast, syntax errors in our parse", dict.fromkeys(report.syntax_errors_of_valid_files, "")),
    )
    for title, failures in listed:
        if failures:
            lines.append(f"\n{title}: {len(failures)}")
            lines += [
                f"  {path}: {message}" if message else f"  {path}" for path, message in list(failures.items())[:show]
            ]
    if report.notes:
        lines.append(f"\nNotes: {len(report.notes)}")
        lines += [f"  {note}" for note in report.notes[:show]]
    return "\n".join(lines)


def format_diff(report: Report, old: Mapping[str, Any], *, show: int = 5) -> str:
    """What changed since ``old`` (a ``--json`` file): each category's figures, and the disagreements that appeared
    or went away."""
    lines = [f"Compared with {old.get('code', 'an earlier run')}:"]
    now = report.as_json()["categories"]
    for name, category in now.items():
        before = old.get("categories", {}).get(name)
        if before is None:
            continue
        lines.append(
            f"  {name}: precision {before['precision']:.2%} → {category['precision']:.2%}, "
            f"recall {before['recall']:.2%} → {category['recall']:.2%}"
        )
        for side, label in (("only_theirs", "misses"), ("only_ours", "extras")):
            appeared = sorted((Counter(category[side]) - Counter(before[side])).elements())
            gone = sorted((Counter(before[side]) - Counter(category[side])).elements())
            for verb, items in (("new", appeared), ("fixed", gone)):
                if items:
                    lines.append(f"    {verb} {label}: {len(items)}")
                    lines += [f"      {item}" for item in items[:show]]
    before_agreement = old.get("resolution_agreement")
    if before_agreement is not None:
        lines.append(f"  resolved targets agreement: {before_agreement:.2%} → {report.resolution_agreement:.2%}")
    return "\n".join(lines)


def external_oracle(python: str, root: Path) -> tuple[str, dict[str, OracleFile]]:
    """The oracle's facts as another interpreter's ``ast`` reads them (``pyoracle.py`` run there): its version and
    the facts of every file."""
    completed = subprocess.run(
        [python, str(BENCH_DIR / "pyoracle.py"), str(root)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"{python} pyoracle.py failed (exit {completed.returncode}): {completed.stderr.strip()}")
    answer = json.loads(completed.stdout)
    return str(answer["python"]), {path: facts_from_json(facts) for path, facts in answer["files"].items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="directory of Python sources (bench/pycorpus.py builds one)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", type=Path, help="write the figures and every disagreement here")
    parser.add_argument("--diff", type=Path, help="a --json file of an earlier run to compare with")
    parser.add_argument("--show", type=int, default=5, help="examples shown per class of disagreement")
    parser.add_argument(
        "--oracle-python", help="interpreter whose ast reads the sources (python3.13 reads 3.12 syntax); default: this"
    )
    args = parser.parse_args(argv)
    root = args.corpus.resolve()
    started = time.monotonic()
    oracle_python, oracle = external_oracle(args.oracle_python, root) if args.oracle_python else (None, None)
    report = compare(root, oracle=oracle, oracle_python=oracle_python)
    print(format_report(root, report, show=args.show))
    print(f"\n({time.monotonic() - started:.0f} s)")
    if args.diff is not None:
        print("\n" + format_diff(report, json.loads(args.diff.read_text()), show=args.show))
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=1))
    failures = report.failures()
    if failures:
        print("\nBelow target:\n" + "\n".join(f"  {failure}" for failure in failures))
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
