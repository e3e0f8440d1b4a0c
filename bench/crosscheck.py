"""Cross-check extraction and resolution against the TypeScript compiler.

``bench/tsc/dump.mjs`` (TypeScript 5.9.3, installed with npm into a cache directory) lists, for every source file
under a root: the declarations of ``ts.createSourceFile``, the module specifiers of ``ts.preProcessFile`` and their
``ts.resolveModuleName`` resolutions with the nearest tsconfig's options. This script computes the same from
``stages.extract.extract_source`` and ``stages.resolve.ModuleResolver`` and prints precision and recall per
category, with the disagreements (bounded).

Categories and how they are compared (multisets, so duplicates count):

- **declarations**: (mapped kind, name, line and UTF-16 column of the name). TypeScript syntax kinds map onto the
  index's symbol kinds as ``DECLARATION_MAPPING`` documents; what the index does not store (parameters, type
  parameters, local variables, object-literal members, type-literal members, call/index signatures, destructured
  names) is counted and listed as out of scope, not compared.
- **import specifiers**: (specifier, line) of every import, re-export, ``import x = require()``, ``import()`` and
  ``require()`` with a string literal.
- **resolved targets**: (importer, specifier) → file, for the specifiers the compiler lists; the compiler's
  resolution against ours. Our targets that the compiler cannot resolve by design (``.css``, ``.json``, …) are
  counted apart.

Run: ``python bench/crosscheck.py ROOT [--check]``; ``--check`` exits 1 when a target is missed
(declarations ≥ 99 % precision and recall, import specifiers ≥ 99.5 %, resolved targets ≥ 97 %).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from stages.extract import extract_source  # noqa: E402 - the bench script runs from a checkout, not an install
from stages.models import FileExtraction  # noqa: E402
from stages.parse import parse_source  # noqa: E402
from stages.resolve import ModuleResolver  # noqa: E402

TSC_PACKAGE_DIR = BENCH_DIR / "tsc"
DEFAULT_TSC_DIR = BENCH_DIR / ".cache" / "tsc"
TYPESCRIPT_VERSION = "5.9.3"
SOURCE_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
CODE_TARGET_EXTENSIONS = (*SOURCE_EXTENSIONS, ".json")
TARGETS: Mapping[str, float] = {"declarations": 0.99, "import specifiers": 0.995, "resolved targets": 0.97}

DECLARATION_MAPPING = """\
TypeScript declaration                                     → index kind
FunctionDeclaration, any depth, each overload              → function
VariableDeclaration or destructured name (BindingElement) of a `var`/`let`/`const` statement:
    initialised by an arrow function or function expression → function (at any depth)
    initialised by a class expression                      → class (at any depth)
    (through parentheses, `<T>x`, `x as T`, `x satisfies T` and `x!` around the initialiser)
    otherwise, outside functions: const / let, var, using  → constant / variable
ClassDeclaration                                           → class
MethodDeclaration, MethodSignature (class, interface, type literal) → method
Constructor                                                → constructor (name "constructor")
GetAccessor / SetAccessor (class, interface, type literal) → getter / setter
PropertyDeclaration, PropertySignature (class, interface, type literal), constructor parameter property → property
InterfaceDeclaration / TypeAliasDeclaration                → interface / type_alias
EnumDeclaration / EnumMember                               → enum / enum_member
ModuleDeclaration with an identifier name, `declare global` → namespace (`namespace A.B` is A and B)
ModuleDeclaration with a string name                       → module
CommonJS assignment declarations, statements of the module's top level (the binder's ExportsProperty,
PrototypeProperty and Property declarations of JavaScript; listed by dump.mjs from the syntax, any language):
    `exports.x = …`, `module.exports.x = …`: a function or class → function / class, a name (`= y`) → not compared
        (it exports `y`), anything else → constant
    `X.prototype.y = function …`, `obj.y = function …` (or an arrow function), X / obj declared by a function,
        class or variable statement of the module before it → method (anything else is not compared)
Names: string-literal names without quotes; anonymous `export default class/function` is "default" at the
`default` keyword; positions are the name's start (line, UTF-16 column).
"""


@dataclass(frozen=True)
class Declaration:
    """A declaration as compared: kind, name, and where the name starts (1-based line, UTF-16 column)."""

    kind: str
    name: str
    line: int
    column: int


@dataclass
class Category:
    """Matched and unmatched items of one category; ``only_ours`` are false positives, ``only_theirs`` misses."""

    name: str
    matched: int = 0
    only_ours: list[str] = field(default_factory=list)
    only_theirs: list[str] = field(default_factory=list)

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

    def add(self, path: str, ours: Iterable[object], theirs: Iterable[object]) -> None:
        our_counts, their_counts = Counter(ours), Counter(theirs)
        for item in our_counts | their_counts:
            both = min(our_counts[item], their_counts[item])
            self.matched += both
            self.only_ours.extend([f"{path}: {item}"] * (our_counts[item] - both))
            self.only_theirs.extend([f"{path}: {item}"] * (their_counts[item] - both))


@dataclass
class Report:
    """The result of one cross-check run."""

    typescript: str
    files: int
    categories: dict[str, Category]
    out_of_scope: Counter[str]
    notes: list[str]

    def failures(self) -> list[str]:
        """Each category that misses its target, as a sentence."""
        problems = []
        for name, target in TARGETS.items():
            category = self.categories[name]
            for measure, value in (("precision", category.precision), ("recall", category.recall)):
                if value < target:
                    problems.append(f"{name} {measure} {value:.2%} is below the target of {target:.1%}")
        return problems


def ensure_typescript(tsc_dir: Path = DEFAULT_TSC_DIR) -> Path:
    """Install the pinned TypeScript into ``tsc_dir`` with npm unless it is already there; return ``tsc_dir``.
    Processes calling it at once (test processes under pytest-xdist) install once: the first holds a lock on the
    directory while it installs, the others wait for it and find the install done."""
    tsc_dir.mkdir(parents=True, exist_ok=True)
    with (tsc_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = tsc_dir / "node_modules" / "typescript" / "package.json"
        if installed.exists() and json.loads(installed.read_text())["version"] == TYPESCRIPT_VERSION:
            return tsc_dir
        shutil.copyfile(TSC_PACKAGE_DIR / "package.json", tsc_dir / "package.json")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=tsc_dir,
            check=True,
            capture_output=True,
        )
    return tsc_dir


def run_node_script(script: str, arguments: list[str], tsc_dir: Path) -> None:
    """Run ``bench/tsc/<script>`` with node and the TypeScript in ``tsc_dir``; raise with its stderr on failure."""
    completed = subprocess.run(
        ["node", str(TSC_PACKAGE_DIR / script), "--ts-dir", str(tsc_dir), *arguments],
        check=False,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{script} failed (exit {completed.returncode}): {completed.stderr.strip()}")


def run_dump(root: Path, tsc_dir: Path) -> dict[str, Any]:
    """Run ``dump.mjs`` over ``root`` and return its JSON."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "dump.json"
        run_node_script("dump.mjs", ["--out", str(out), str(root)], tsc_dir)
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def repository_files(root: Path) -> list[str]:
    """Every file under ``root`` outside ``.git`` and ``node_modules``, repository-relative and POSIX."""
    found: list[str] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d not in {".git", "node_modules"}]
        base = Path(directory).relative_to(root).as_posix()
        found.extend(name if base == "." else f"{base}/{name}" for name in names)
    return sorted(found)


def expected_kind(declaration: Mapping[str, Any]) -> tuple[str | None, str]:
    """The index kind a compiler declaration maps to, or ``None`` and the reason it is out of scope."""
    kind, scope = declaration["kind"], declaration["scope"]
    simple = {
        "FunctionDeclaration": "function",
        "ClassDeclaration": "class",
        "InterfaceDeclaration": "interface",
        "TypeAliasDeclaration": "type_alias",
        "EnumDeclaration": "enum",
        "EnumMember": "enum_member",
        "Constructor": "constructor",
        "PropertyDeclaration": "property",
    }
    if kind in simple:
        return simple[kind], ""
    members = {
        "MethodDeclaration": "method",
        "MethodSignature": "method",
        "GetAccessor": "getter",
        "SetAccessor": "setter",
        "PropertySignature": "property",
    }
    if kind in members:
        if scope == "object":
            return None, "object literal member"
        return members[kind], ""
    if kind == "Parameter" and declaration.get("propertyParameter"):
        return "property", ""
    if kind == "ModuleDeclaration":
        return ("module" if declaration.get("stringName") else "namespace"), ""
    if kind == "VariableDeclaration" or (
        kind == "BindingElement" and declaration.get("owner") == "VariableDeclaration"
    ):
        return _variable_kind(declaration)
    if kind == "AssignmentDeclaration":
        return _assignment_kind(declaration)
    return None, _out_of_scope_reason(kind, scope)


def _assignment_kind(declaration: Mapping[str, Any]) -> tuple[str | None, str]:
    initializer = declaration.get("initializer")
    is_function = initializer in {"ArrowFunction", "FunctionExpression"}
    if declaration["form"] == "exports":
        if declaration.get("rightIsName"):
            return None, "CommonJS export of a name (`exports.x = y`: an export row of y)"
        return ("function" if is_function else "class" if initializer == "ClassExpression" else "constant"), ""
    if is_function and declaration.get("rootDeclared"):
        return "method", ""
    return None, "member assignment that is no CommonJS method (not a function, or of no name the module declares)"


def _variable_kind(declaration: Mapping[str, Any]) -> tuple[str | None, str]:
    if declaration.get("list") in {"ForStatement", "ForOfStatement", "ForInStatement"}:
        return None, "loop variable"
    if declaration["name"] is None:
        return None, "destructuring pattern (its names are compared one by one)"
    initializer = declaration.get("initializer")
    if initializer in {"ArrowFunction", "FunctionExpression"}:
        return "function", ""
    if initializer == "ClassExpression":
        return "class", ""
    if declaration["scope"] == "function":
        return None, "local variable"
    return ("constant" if declaration.get("declaration") == "const" else "variable"), ""


def _out_of_scope_reason(kind: str, scope: str) -> str:
    reasons = {
        "Parameter": "parameter",
        "TypeParameter": "type parameter",
        "BindingElement": "destructured parameter",
        "PropertyAssignment": "object literal member",
        "ShorthandPropertyAssignment": "object literal member",
        "CallSignature": "call signature",
        "ConstructSignature": "construct signature",
        "IndexSignature": "index signature",
        "FunctionExpression": "function expression (not bound by a declaration)",
        "ClassExpression": "class expression (not bound by a declaration)",
        "ImportEqualsDeclaration": "import alias (an import, not a symbol)",
    }
    return reasons.get(kind, f"{kind} in {scope}")


def utf16_column(line_text: bytes, byte_column: int) -> int:
    """The UTF-16 column (the compiler's unit) of a byte column in one line of UTF-8 text."""
    return len(line_text[:byte_column].decode("utf-8", errors="replace").encode("utf-16-le")) // 2


def their_declarations(records: Iterable[Mapping[str, Any]], out_of_scope: Counter[str]) -> list[Declaration]:
    """The compiler's declarations mapped onto index kinds; the rest is tallied in ``out_of_scope``."""
    mapped = []
    for record in records:
        kind, reason = expected_kind(record)
        if kind is None:
            out_of_scope[reason] += 1
            continue
        name = record["name"]
        if record["kind"] == "Constructor":
            name = "constructor"
        elif record["kind"] == "ModuleDeclaration" and record.get("global"):
            name = "global"
        elif name is None:
            name = "default" if record.get("isDefault") else "<anonymous>"
        column = record["column"] + 1 if record.get("quoted") else record["column"]
        mapped.append(Declaration(kind, name, record["line"], column))
    return mapped


def error_line_spans(path: str, source: bytes) -> list[tuple[int, int]]:
    """1-based inclusive line ranges of the ERROR and MISSING nodes tree-sitter produced for a file."""
    spans: list[tuple[int, int]] = []
    pending = [parse_source(path, source).tree.root_node]
    while pending:
        node = pending.pop()
        if node.type == "ERROR" or node.is_missing:
            spans.append((node.start_point.row + 1, node.end_point.row + 1))
        elif node.has_error:
            pending.extend(node.children)
    return spans


def our_declarations(extraction: FileExtraction, source: bytes) -> list[Declaration]:
    lines = source.split(b"\n")
    return [
        Declaration(
            symbol.kind,
            symbol.name,
            symbol.name_span.start_line,
            utf16_column(lines[symbol.name_span.start_line - 1], symbol.name_span.start_column),
        )
        for symbol in extraction.symbols
    ]


def compare(root: Path, dump: Mapping[str, Any], *, extractions: Mapping[str, FileExtraction] | None = None) -> Report:
    """Compare the compiler's view of ``root`` (a ``run_dump`` result) with ours; pure apart from reading files."""
    all_files = repository_files(root)

    def read_text(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    resolver = ModuleResolver.from_files(all_files, read_text)
    categories = {
        name: Category(name)
        for name in (
            "declarations",
            "import specifiers",
            "resolved targets",
            "declarations, files without syntax errors",
        )
    }
    misses_in_error_spans = 0
    files_with_syntax_errors = 0
    per_kind: dict[str, Category] = {}
    out_of_scope: Counter[str] = Counter()
    notes: list[str] = []
    non_code_targets = 0
    extraction_errors = 0
    for path, facts in sorted(dump["files"].items()):
        source = (root / path).read_bytes()
        extraction = extractions[path] if extractions is not None else extract_source(path, source)
        if extraction.error is not None:
            extraction_errors += 1
            notes.append(f"{path}: not extracted ({extraction.error.kind}: {extraction.error.message})")
        theirs = their_declarations(facts["declarations"], out_of_scope)
        ours = our_declarations(extraction, source)
        categories["declarations"].add(path, ours, theirs)
        if extraction.had_syntax_errors:
            spans = error_line_spans(path, source)
            missed = Counter(theirs) - Counter(ours)
            misses_in_error_spans += sum(
                count for item, count in missed.items() if any(lo <= item.line <= hi for lo, hi in spans)
            )
            files_with_syntax_errors += 1
        else:
            categories["declarations, files without syntax errors"].add(path, ours, theirs)
        for kind in {d.kind for d in theirs} | {d.kind for d in ours}:
            per_kind.setdefault(kind, Category(f"declarations: {kind}")).add(
                path, [d for d in ours if d.kind == kind], [d for d in theirs if d.kind == kind]
            )
        augmentations = {
            (d["name"], d["line"])
            for d in facts["declarations"]
            if d["kind"] == "ModuleDeclaration" and d.get("stringName")
        }
        their_imports = [(i["specifier"], i["line"]) for i in facts["imports"]]
        out_of_scope['module augmentation (`declare module "x"` in a module: a declaration, not an import)'] += sum(
            1 for item in their_imports if item in augmentations
        )
        categories["import specifiers"].add(
            path,
            [(i.specifier, i.specifier_span.start_line) for i in extraction.imports],
            [item for item in their_imports if item not in augmentations],
        )
        our_targets, their_targets = [], []
        for specifier, resolved in facts["resolutions"].items():
            if resolved is not None and resolved["path"] is not None:
                their_targets.append((specifier, resolved["path"]))
            mine = resolver.resolve(path, specifier)
            if mine.kind == "file" and mine.path is not None:
                if mine.path.endswith(CODE_TARGET_EXTENSIONS):
                    our_targets.append((specifier, mine.path))
                else:
                    non_code_targets += 1
        categories["resolved targets"].add(path, our_targets, their_targets)
    if files_with_syntax_errors:
        notes.append(
            f"{files_with_syntax_errors} files have tree-sitter syntax errors; {misses_in_error_spans} of the "
            f"{len(categories['declarations'].only_theirs)} missed declarations lie inside their ERROR spans"
        )
    if non_code_targets:
        notes.append(
            f"{non_code_targets} specifiers resolved by us to files the compiler does not resolve "
            "(.css, .svg, …), not compared"
        )
    if extraction_errors:
        notes.append(f"{extraction_errors} files not extracted; their compiler facts count as misses")
    notes.extend(f"resolver: {problem}" for problem in resolver.diagnostics)
    categories.update({category.name: category for _, category in sorted(per_kind.items())})
    return Report(dump["typescript"], len(dump["files"]), categories, out_of_scope, notes)


def format_report(report: Report, *, limit: int = 20) -> str:
    """A human-readable report: one line per category, then bounded lists of disagreements."""
    lines = [
        f"TypeScript {report.typescript}, {report.files} files",
        "",
        f"{'category':<44} {'matched':>8} {'ours':>8} {'tsc':>8} {'precision':>10} {'recall':>8}",
    ]
    for category in report.categories.values():
        lines.append(
            f"{category.name:<44} {category.matched:>8} {category.ours:>8} {category.theirs:>8} "
            f"{category.precision:>10.2%} {category.recall:>8.2%}"
        )
    lines += ["", "Declaration mapping:", DECLARATION_MAPPING]
    lines.append("Out of scope (compiler declarations the index does not store, not compared):")
    lines += [f"  {reason}: {count}" for reason, count in report.out_of_scope.most_common()]
    for category in report.categories.values():
        if category.name.startswith("declarations: "):
            continue
        for label, items in (
            ("only ours (false positives)", category.only_ours),
            ("only tsc (misses)", category.only_theirs),
        ):
            if items:
                lines.append(f"\n{category.name}: {label}, {len(items)} (first {min(limit, len(items))}):")
                lines += [f"  {item}" for item in items[:limit]]
    if report.notes:
        lines.append("\nNotes:")
        lines += [f"  {note}" for note in report.notes[:limit]]
        if len(report.notes) > limit:
            lines.append(f"  … and {len(report.notes) - limit} more")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cross-check extraction and resolution with TypeScript 5.9.3.")
    parser.add_argument("root", type=Path, help="directory (repository checkout) to check")
    parser.add_argument("--tsc-dir", type=Path, default=DEFAULT_TSC_DIR, help="where typescript is installed")
    parser.add_argument("--limit", type=int, default=20, help="disagreements listed per category")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    dump = run_dump(root, ensure_typescript(args.tsc_dir))
    report = compare(root, dump)
    print(format_report(report, limit=args.limit))
    failures = report.failures()
    if failures:
        print("\nBelow target:\n" + "\n".join(f"  {failure}" for failure in failures))
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
