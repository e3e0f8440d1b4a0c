"""Cross-check Go extraction and resolution against go/parser, go/ast and the go tool over a corpus.

Usage: ``python bench/gocheck.py CORPUS [--check] [--json] [--show N]``. CORPUS is a directory of Go modules (one
``go.mod`` each, as ``bench/gocorpus.py`` lays them out), read as one repository.

- Declarations: ``bench/go/astdump`` (go/parser + go/ast, built with the local ``go``) lists each file's package
  clause, top-level declarations, struct fields and interface methods as (name, kind, line, parent);
  ``stages.extract.extract_source`` must list the same (line of the name; parent by name). Files go/parser rejects
  are left out on both sides, and so are files over the extractor's size limit (2 MiB: generated tables; they
  are indexed as ``too_large`` file errors by design), which the report lists.
- Imports: (path, alias, line) of every import spec (the implicit import of the file's own package aside).
- Resolved targets: the oracle is the go tool's view of the corpus as one workspace: an import path under a module of
  the corpus is that module's directory below it (checked on disk); else a package of ``go list std`` (or cgo's
  ``C``) is the standard library; else the module the importer's ``go.mod`` requires (read with ``go mod edit
  -json``) as the longest prefix, or the import path. ``stages.resolvers.CommitResolver`` must agree.

``--check`` exits 1 when a precision or recall is below its target (declarations and imports 99.5 %, resolved
targets 97 %).
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stages.extract import extract_source  # noqa: E402  (after the checkout is on sys.path)
from stages.resolvers import CommitResolver  # noqa: E402

ASTDUMP = REPO / "bench" / "go" / "astdump"
TARGETS = {"declarations": 99.5, "imports": 99.5, "resolved": 97.0}


@dataclass
class Category:
    """Matched, ours-only and oracle-only counts of one category, with examples of each mismatch."""

    matched: int = 0
    extra: int = 0
    missing: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, path: str, ours: Counter[tuple[object, ...]], theirs: Counter[tuple[object, ...]]) -> None:
        for key in ours | theirs:
            common = min(ours[key], theirs[key])
            self.matched += common
            if ours[key] > common:
                self.extra += ours[key] - common
                self.examples.append(f"extra   {path}: {key}")
            if theirs[key] > common:
                self.missing += theirs[key] - common
                self.examples.append(f"missing {path}: {key}")

    @property
    def precision(self) -> float:
        return 100.0 * self.matched / (self.matched + self.extra) if self.matched + self.extra else 100.0

    @property
    def recall(self) -> float:
        return 100.0 * self.matched / (self.matched + self.missing) if self.matched + self.missing else 100.0


def go_environment(cache: Path) -> dict[str, str]:
    """The go tool's environment: its caches under ``cache``, no network, nothing written to $HOME."""
    return {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPATH": str(cache / "gopath"),
        "GOCACHE": str(cache / "gobuild"),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
    }


def build_astdump(cache: Path) -> Path:
    binary = cache / "astdump"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ASTDUMP, env=go_environment(cache), check=True)
    return binary


def oracle_files(binary: Path, corpus: Path) -> dict[str, dict[str, object]]:
    output = subprocess.run([str(binary), str(corpus)], capture_output=True, text=True, check=True).stdout
    return {entry["path"]: entry for entry in map(json.loads, output.splitlines())}


def standard_packages(cache: Path) -> frozenset[str]:
    output = subprocess.run(
        ["go", "list", "std"], capture_output=True, text=True, check=True, env=go_environment(cache)
    ).stdout
    return frozenset(output.split()) | {"C"}


def module_manifest(corpus: Path, go_mod: str, cache: Path) -> dict[str, object]:
    result = subprocess.run(
        ["go", "mod", "edit", "-json", go_mod],
        cwd=corpus,
        capture_output=True,
        text=True,
        env=go_environment(cache),
        check=False,
    )
    return json.loads(result.stdout) if result.returncode == 0 else {}


class Oracle:
    """Where the go tool would take an import of the corpus (see the module docstring)."""

    def __init__(self, corpus: Path, paths: list[str], cache: Path) -> None:
        self.corpus = corpus
        self.standard = standard_packages(cache)
        self.modules: dict[str, str] = {}  # module path → directory
        self.requires: dict[str, list[str]] = {}  # module directory → required module paths
        for path in paths:
            if posixpath.basename(path) != "go.mod":
                continue
            manifest = module_manifest(corpus, path, cache)
            directory = posixpath.dirname(path)
            module = manifest.get("Module")
            if isinstance(module, dict):
                self.modules.setdefault(str(module["Path"]), directory)
            self.requires[directory] = [str(r["Path"]) for r in manifest.get("Require") or ()]  # type: ignore[attr-defined]

    def resolve(self, importer: str, import_path: str) -> tuple[str, str]:
        local = _longest(self.modules, import_path)
        if local is not None:
            directory = posixpath.join(self.modules[local], import_path[len(local) :].strip("/")).strip("/")
            has_files = (
                any(
                    name.endswith(".go") and not name.endswith("_test.go")
                    for name in os.listdir(self.corpus / directory)
                )
                if (self.corpus / directory).is_dir()
                else False
            )
            return ("file", directory) if has_files else ("unresolved", "")
        if import_path in self.standard:
            return "builtin", import_path
        directory = posixpath.dirname(importer)
        while directory not in self.requires and directory:
            directory = posixpath.dirname(directory)
        required = [p for p in self.requires.get(directory, ()) if import_path == p or import_path.startswith(p + "/")]
        return "external", max(required, key=len) if required else import_path


def _longest(modules: dict[str, str], import_path: str) -> str | None:
    found = [p for p in modules if import_path == p or import_path.startswith(p + "/")]
    return max(found, key=len) if found else None


def compare(corpus: Path, cache: Path) -> tuple[dict[str, Category], list[str]]:
    paths = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    oracle = oracle_files(build_astdump(cache), corpus)
    texts = {p: (corpus / p).read_text(encoding="utf-8", errors="replace") for p in paths if p.endswith("go.mod")}
    resolver = CommitResolver.from_files(paths, texts.get)
    where = Oracle(corpus, paths, cache)
    categories = {name: Category() for name in TARGETS}
    skipped_too_large: list[str] = []
    for path, theirs in sorted(oracle.items()):
        if theirs.get("error"):
            continue
        source = (corpus / path).read_bytes()
        extraction = extract_source(path, source)
        if extraction.error is not None and extraction.error.kind == "too_large":
            skipped_too_large.append(path)  # over the per-file limit: indexed as a file error by design
            continue
        symbols = extraction.symbols
        ours_declarations = Counter(
            (s.name, s.kind, s.name_span.start_line, "" if s.parent is None else symbols[s.parent].name)
            for s in symbols
        )
        their_declarations = Counter(
            (d["name"], d["kind"], d["line"], d["parent"])
            for d in theirs["declarations"]  # type: ignore[union-attr]
        )
        categories["declarations"].add(path, ours_declarations, their_declarations)
        ours_imports: Counter[tuple[object, ...]] = Counter()
        ours_resolved: Counter[tuple[object, ...]] = Counter()
        for imported in extraction.imports:
            if imported.kind == "package":
                continue
            alias = "_" if imported.kind == "side_effect" else ""
            for binding in imported.bindings:
                if binding.span != imported.specifier_span:
                    alias = source[binding.span.start_byte : binding.span.end_byte].decode()
            ours_imports[(imported.specifier, alias, imported.specifier_span.start_line)] += 1
            resolution = resolver.resolve(path, imported.specifier)
            target = posixpath.dirname(resolution.path) if resolution.kind == "file" and resolution.path else ""
            ours_resolved[(imported.specifier, resolution.kind, target or resolution.package or "")] += 1
        their_imports: Counter[tuple[object, ...]] = Counter()
        their_resolved: Counter[tuple[object, ...]] = Counter()
        for spec in theirs["imports"]:  # type: ignore[union-attr]
            their_imports[(spec["path"], spec["alias"], spec["line"])] += 1
            their_resolved[(spec["path"], *where.resolve(path, spec["path"]))] += 1
        categories["imports"].add(path, ours_imports, their_imports)
        categories["resolved"].add(path, ours_resolved, their_resolved)
    return categories, skipped_too_large


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 below a target")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--show", type=int, default=0, help="print up to N mismatches of each category")
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / ".cache" / "gocheck")
    arguments = parser.parse_args()
    arguments.cache.mkdir(parents=True, exist_ok=True)
    categories, too_large = compare(arguments.corpus.resolve(), arguments.cache.resolve())
    figures: dict[str, object] = {
        name: {
            "matched": c.matched,
            "extra": c.extra,
            "missing": c.missing,
            "precision": round(c.precision, 3),
            "recall": round(c.recall, 3),
        }
        for name, c in categories.items()
    }
    figures["files_over_size_limit"] = too_large
    if arguments.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, c in categories.items():
            print(
                f"{name:13} precision {c.precision:7.3f} %  recall {c.recall:7.3f} %  ({c.matched} matched, "
                f"{c.extra} extra, {c.missing} missing)"
            )
        print(f"files over the size limit, left out: {len(too_large)} ({', '.join(too_large)})")
    for name, c in categories.items():
        for example in c.examples[: arguments.show]:
            print(f"[{name}] {example}")
    if arguments.check:
        below = [n for n, c in categories.items() if min(c.precision, c.recall) < TARGETS[n]]
        if below:
            print(f"below target: {', '.join(below)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
