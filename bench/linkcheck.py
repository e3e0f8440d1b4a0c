"""Measure how well the linker links references, against the TypeScript language service.

Every source file under a root is extracted (``stages.extract.extract_source``) and all are linked together
(``stages.link.link`` with ``stages.resolve.ModuleResolver``, as the pipeline does). ``bench/tsc/links.mjs``
(TypeScript 5.9.3, installed as for ``bench/crosscheck.py``) asks ``getDefinitionAtPosition`` of a language service
over the same files (each in the program of its nearest tsconfig.json, JavaScript included) at the first character
of every reference's name, and, for a name after a dot, what the first name of its qualifier is (parameter, local,
import, class, …) and what type the qualifier has.

Each definition the language service names is mapped onto our symbols: the symbol of that file whose name starts
there (else whose declaration starts there: constructors, anonymous default exports; else whose value is a named
function or class expression of its name, ``exports.f = function f() {}``). Definitions outside the root,
in node_modules or in default libraries are *external*; definitions inside the root that are none of our symbols
(parameters, locals, object-literal members, …) are *not indexed*. A definition stands for its declaration group:
the overloads of a function or method (same parent, name and kind), a getter and its setter, and a constructor's
class (``new C()`` names the constructor).

Per reference kind (calls split into plain, ``this.x`` and other member calls) and overall:

- **precision**: of the references we link, the share whose target is among the language service's definitions
  (a linked reference where it names nothing, or only external / not-indexed places, is wrong);
- **recall**: of the references the language service resolves to one of our symbols, the share we link to one of
  them.

Misses and wrong links are grouped into classes (reference kind, qualifier shape, kind of the symbol the language
service names, what the qualifier's first name is) with examples, largest first.

The language service's answers are cached in ``bench/.cache/linkcheck`` under a digest of every file's text, the
configs, the TypeScript version and ``links.mjs``; per position, so a re-run after a linker change (same
references) costs only our side, and one after an extractor change asks only the new positions.

Run: ``python bench/linkcheck.py ROOT [--check] [--json OUT] [--diff OLD.json] [--examples N]``. ``--check`` exits 1
unless precision ≥ 99 % and recall ≥ 85 % overall, and recall ≥ 75 % over all calls; ``--json`` writes the metrics
and every reference's outcome; ``--diff`` compares this run's outcomes with such a file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for _path in (REPO_ROOT, BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from crosscheck import (  # noqa: E402 - the bench script runs from a checkout, not an install
    DEFAULT_TSC_DIR,
    SOURCE_EXTENSIONS,
    TSC_PACKAGE_DIR,
    TYPESCRIPT_VERSION,
    ensure_typescript,
    repository_files,
    run_node_script,
    utf16_column,
)

from stages.extract import extract_source  # noqa: E402
from stages.link import link  # noqa: E402
from stages.models import FileExtraction, Reference, Symbol  # noqa: E402
from stages.resolve import ModuleResolver  # noqa: E402

DEFAULT_CACHE_DIR = BENCH_DIR / ".cache" / "linkcheck"
CONFIG_NAMES = ("tsconfig.json", "jsconfig.json", "package.json")
ROWS = (
    "call (plain)",
    "call (this.x)",
    "call (other member)",
    "new",
    "extends",
    "implements",
    "type",
    "jsx",
)
CALL_ROWS = ROWS[:3]
TARGETS = {"overall precision": 0.99, "overall recall": 0.85, "calls recall": 0.75}
_IDENTIFIER = re.compile(r"#?[\w$]+")
_DOTTED = re.compile(r"#?[\w$]+(\.#?[\w$]+)+")

Answer = tuple[list[list[Any]], str | None, str | None]
"""What ``links.mjs`` says of one position: definitions ``[file, start, kind]``, qualifier root, qualifier type."""


@dataclass(frozen=True)
class Outcome:
    """One reference compared: where it is, its row and class, and what each side says."""

    path: str
    line: int
    column: int
    name: str
    row: str
    outcome: str
    """``ok`` (linked to a declaration the language service names), ``wrong`` (linked elsewhere), ``missed``
    (unlinked, the language service names one of our symbols), ``none`` (neither)."""
    ours: str | None
    theirs: str
    """The language service's verdict: ``ours`` (names one of our symbols), ``not indexed``, ``external``,
    ``nothing``."""
    cls: str
    qualifier_type: str | None
    detail: str


@dataclass
class Row:
    """Counts of one reference kind."""

    references: int = 0
    linked: int = 0
    correct: int = 0
    theirs: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.correct / self.linked if self.linked else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.theirs["ours"] if self.theirs["ours"] else 1.0

    def add(self, outcome: Outcome) -> None:
        self.references += 1
        self.linked += outcome.outcome in {"ok", "wrong"}
        self.correct += outcome.outcome == "ok"
        self.theirs[outcome.theirs] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "references": self.references,
            "linked": self.linked,
            "correct": self.correct,
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            **{f"ls {name}": self.theirs[name] for name in ("ours", "external", "not indexed", "nothing")},
        }


@dataclass
class Report:
    typescript: str
    files: int
    rows: dict[str, Row]
    outcomes: list[Outcome]
    asked: int
    """Positions asked of the language service in this run (the others came from the cache)."""
    timings: dict[str, float]

    def failures(self) -> list[str]:
        """Each missed target, as a sentence."""
        values = {
            "overall precision": self.rows["overall"].precision,
            "overall recall": self.rows["overall"].recall,
            "calls recall": self.rows["calls (all)"].recall,
        }
        return [
            f"{name} {values[name]:.2%} is below the target of {target:.0%}"
            for name, target in TARGETS.items()
            if values[name] < target
        ]

    def as_json(self) -> dict[str, Any]:
        """Metrics, and per file each reference as ``[line, column, name, outcome, our target, class]``; the class
        is an index into ``classes``."""
        classes = sorted({o.cls for o in self.outcomes})
        class_index = {cls: index for index, cls in enumerate(classes)}
        references: dict[str, list[list[Any]]] = defaultdict(list)
        for o in self.outcomes:
            references[o.path].append([o.line, o.column, o.name, o.outcome, o.ours, class_index[o.cls]])
        return {
            "typescript": self.typescript,
            "files": self.files,
            "metrics": {name: row.as_json() for name, row in self.rows.items()},
            "classes": classes,
            "references": references,
        }


# --- positions -------------------------------------------------------------------------------------------------


def utf16_offsets(source: bytes, byte_offsets: Iterable[int]) -> dict[int, int]:
    """Byte offset → UTF-16 offset (the language service's unit) for offsets on character boundaries."""
    wanted = sorted(set(byte_offsets))
    if source.isascii():
        return {offset: offset for offset in wanted}
    result, previous, units = {}, 0, 0
    for offset in wanted:
        units += len(source[previous:offset].decode("utf-8", errors="replace").encode("utf-16-le")) // 2
        result[offset], previous = units, offset
    return result


# --- the language service's answers, cached --------------------------------------------------------------------


def tree_digest(root: Path, paths: Sequence[str], all_paths: Iterable[str]) -> str:
    """A digest of everything the language service's answers depend on (positions aside)."""
    digest = hashlib.sha256(TYPESCRIPT_VERSION.encode())
    digest.update((TSC_PACKAGE_DIR / "links.mjs").read_bytes())
    digest.update((TSC_PACKAGE_DIR / "project.mjs").read_bytes())
    configs = [p for p in all_paths if p.rsplit("/", 1)[-1] in CONFIG_NAMES]
    for path in sorted({*paths, *configs}):
        digest.update(f"\0{path}\0".encode())
        digest.update(hashlib.sha256((root / path).read_bytes()).digest())
    return digest.hexdigest()[:32]


def language_service_answers(
    root: Path,
    wanted: Mapping[str, Sequence[int]],
    digest: str,
    *,
    tsc_dir: Path,
    cache_dir: Path | None,
) -> tuple[dict[str, dict[int, Answer]], int]:
    """The answers for every wanted position (path → UTF-16 offset → answer) and how many were asked of node
    (the rest came from the cache)."""
    cache_file = cache_dir / f"{digest}.json" if cache_dir is not None else None
    answers: dict[str, dict[int, Answer]] = {}
    if cache_file is not None and cache_file.exists():
        stored = json.loads(cache_file.read_text())
        answers = {
            path: {int(k): (v[0], v[1], v[2]) for k, v in positions.items()} for path, positions in stored.items()
        }
    missing = {
        path: sorted(set(positions) - answers.get(path, {}).keys())
        for path, positions in wanted.items()
        if set(positions) - answers.get(path, {}).keys()
    }
    asked = sum(len(positions) for positions in missing.values())
    if missing:
        with tempfile.TemporaryDirectory() as scratch:
            request, response = Path(scratch) / "in.json", Path(scratch) / "out.json"
            request.write_text(json.dumps({"files": missing}))
            run_node_script("links.mjs", ["--in", str(request), "--out", str(response), str(root)], tsc_dir)
            result = json.loads(response.read_text())
        for path, positions in missing.items():
            file_answers = answers.setdefault(path, {})
            for position, answer in zip(positions, result["files"][path], strict=True):
                file_answers[position] = (answer[0], answer[1], answer[2])
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(
                json.dumps(
                    {path: {str(k): list(v) for k, v in positions.items()} for path, positions in answers.items()}
                )
            )
    return answers, asked


# --- classification --------------------------------------------------------------------------------------------


def row_of(reference: Reference) -> str:
    if reference.kind != "call":
        return reference.kind
    if reference.qualifier is None:
        return "call (plain)"
    return "call (this.x)" if reference.qualifier == "this" else "call (other member)"


def qualifier_shape(qualifier: str | None) -> str:
    """none / this / super / identifier / this.chain / dotted / call() / other (element access, casts, …)."""
    if qualifier is None:
        return "none"
    if qualifier in {"this", "super"}:
        return qualifier
    plain = qualifier.replace("?.", ".").replace("!", "").replace(" ", "")
    if _IDENTIFIER.fullmatch(plain):
        return "identifier"
    if _DOTTED.fullmatch(plain):
        return "this.chain" if plain.startswith("this.") else "dotted"
    if plain.startswith("(") or "[" in plain:
        return "other"
    return "call()" if "(" in plain else "other"


def hint_state(reference: Reference) -> str:
    if reference.root_hint is None:
        return ""
    return " hint=''" if reference.root_hint == "" else " hint=set"


_VALUE_NAME_WINDOW = 300
"""How far into a declaration a named function or class expression of its own name is looked for."""


def _value_names(source: bytes, symbols: Sequence[Symbol]) -> Iterator[tuple[int, int]]:
    """(symbol index, byte offset) of the name of a named function or class expression that is a function's, class's
    or method's value under its own name (``exports.f = function f() {}``, ``X.prototype.m = function m() {}``): the
    language service names that expression, which is the same declaration."""
    for index, symbol in enumerate(symbols):
        if symbol.kind not in ("function", "class", "method") or not symbol.name.isidentifier():
            continue
        start = symbol.span.start_byte
        window = source[start : min(symbol.span.end_byte, start + _VALUE_NAME_WINDOW)]
        name = re.escape(symbol.name.encode())
        found = re.search(rb"(?:\bfunction\s*\*?\s*|\bclass\s+)(" + name + rb")(?![\w$])", window)
        if found is not None and start + found.start(1) != symbol.name_span.start_byte:
            yield index, start + found.start(1)


class _Symbols:
    """Our symbols by where the language service may point at them, and their declaration groups."""

    def __init__(self, paths: Sequence[str], extractions: Sequence[FileExtraction], sources: Sequence[bytes]) -> None:
        self.extractions = extractions
        self.by_name: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.by_start: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.siblings: dict[tuple[str, int | None, str], list[int]] = defaultdict(list)
        self.file_of = {path: index for index, path in enumerate(paths)}
        self.by_value_name: dict[tuple[str, int], list[int]] = defaultdict(list)
        for path, extraction, source in zip(paths, extractions, sources, strict=True):
            for index, symbol in enumerate(extraction.symbols):
                self.siblings[(path, symbol.parent, symbol.name)].append(index)
            value_names = dict(_value_names(source, extraction.symbols))
            offsets = utf16_offsets(
                source,
                [
                    *(b for s in extraction.symbols for b in (s.name_span.start_byte, s.span.start_byte)),
                    *value_names.values(),
                ],
            )
            for index, symbol in enumerate(extraction.symbols):
                self.by_name[(path, offsets[symbol.name_span.start_byte])].append(index)
                self.by_start[(path, offsets[symbol.span.start_byte])].append(index)
            for index, at in value_names.items():
                self.by_value_name[(path, offsets[at])].append(index)

    def at(self, path: str, start: int) -> list[int]:
        key = (path, start)
        return self.by_name.get(key) or self.by_start.get(key) or self.by_value_name.get(key) or []

    def group(self, path: str, index: int) -> set[tuple[str, int]]:
        """The symbol and the declarations it stands for (overloads, accessor pair, a constructor's class)."""
        symbols = self.extractions[self.file_of[path]].symbols
        symbol = symbols[index]
        kinds = {"getter", "setter"} if symbol.kind in {"getter", "setter"} else {symbol.kind}
        found = {
            (path, other) for other in self.siblings[(path, symbol.parent, symbol.name)] if symbols[other].kind in kinds
        }
        if symbol.kind == "constructor" and symbol.parent is not None:
            found.add((path, symbol.parent))
        return found

    def symbol(self, path: str, index: int) -> Symbol:
        return self.extractions[self.file_of[path]].symbols[index]

    def describe(self, path: str, index: int) -> str:
        symbol = self.symbol(path, index)
        return f"{symbol.kind} {symbol.name} ({path}:{symbol.name_span.start_line})"

    def judge(
        self, path: str, lines: Sequence[bytes], reference: Reference, ours: tuple[str, int] | None, answer: Answer
    ) -> Outcome:
        """Compare our target for ``reference`` (``ours``: path and symbol index) with the language service's."""
        definitions, root_label, qualifier_type = answer
        theirs: set[tuple[str, int]] = set()
        their_kinds: list[str] = []
        not_indexed, external = [], False
        for file, start, kind in definitions:
            found = self.at(file, start) if file in self.file_of else []
            external |= file == ""
            if file != "" and not found:
                not_indexed.append(kind)
            for index in found:
                theirs |= self.group(file, index)
                their_kinds.append(self.symbol(file, index).kind)
        verdict = "ours" if theirs else "not indexed" if not_indexed else "external" if external else "nothing"
        outcome = ("missed" if theirs else "none") if ours is None else ("ok" if ours in theirs else "wrong")
        row, shape = row_of(reference), qualifier_shape(reference.qualifier)
        qualifier_root = root_label or "-"
        if reference.qualifier is None and theirs:
            qualifier_root = "same file" if any(f == path for f, _ in theirs) else "other file"
        where = f"root {qualifier_root}{hint_state(reference)}"
        cls, detail = "", ""
        if outcome == "missed":
            cls = f"{row} | {shape} | LS→{their_kinds[0]} | {where}"
        elif outcome == "wrong" and ours is not None:
            said = f"LS→{their_kinds[0]}" if theirs else f"LS {verdict}"
            if not_indexed and not theirs:
                said += f" ({not_indexed[0]})"
            cls = f"{row} | {shape} | ours→{self.symbol(*ours).kind}, {said} | {where}"
        if outcome in {"missed", "wrong"}:
            detail = "LS: " + (", ".join(self.describe(f, i) for f, i in sorted(theirs)[:2]) or verdict)
            if ours is not None:
                detail = f"ours: {self.describe(*ours)}; {detail}"
        line = reference.span.start_line
        return Outcome(
            path=path,
            line=line,
            column=utf16_column(lines[line - 1], reference.span.start_column) + 1,
            name=reference.name,
            row=row,
            outcome=outcome,
            ours=f"{ours[0]}#{self.symbol(*ours).name}@{self.symbol(*ours).name_span.start_line}" if ours else None,
            theirs=verdict,
            cls=cls,
            qualifier_type=qualifier_type,
            detail=detail,
        )


def compare(
    root: Path,
    *,
    tsc_dir: Path = DEFAULT_TSC_DIR,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    extractions: Mapping[str, FileExtraction] | None = None,
) -> Report:
    """Link every source file under ``root`` and compare each reference's target with the language service's."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    all_paths = repository_files(root)
    paths = [p for p in all_paths if p.endswith(SOURCE_EXTENSIONS)]
    sources = [(root / p).read_bytes() for p in paths]
    extracted = [
        extractions[p] if extractions is not None and p in extractions else extract_source(p, source)
        for p, source in zip(paths, sources, strict=True)
    ]
    timings["extract"] = time.perf_counter() - started

    def read_text(path: str) -> str | None:
        try:
            return (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    started = time.perf_counter()
    linked = link(extracted, ModuleResolver.from_files(all_paths, read_text))
    targets = {(row.file, row.reference_index): row.target for row in linked.reference_links}
    timings["link"] = time.perf_counter() - started

    started = time.perf_counter()
    reference_offsets = [
        utf16_offsets(source, [r.span.start_byte for r in extraction.references])
        for source, extraction in zip(sources, extracted, strict=True)
    ]
    wanted = {path: sorted(offsets.values()) for path, offsets in zip(paths, reference_offsets, strict=True) if offsets}
    digest = tree_digest(root, paths, all_paths)
    answers, asked = language_service_answers(root, wanted, digest, tsc_dir=tsc_dir, cache_dir=cache_dir)
    timings[f"language service ({asked} positions asked, {sum(map(len, wanted.values())) - asked} cached)"] = (
        time.perf_counter() - started
    )

    started = time.perf_counter()
    symbols = _Symbols(paths, extracted, sources)
    rows = {name: Row() for name in (*ROWS, "calls (all)", "overall")}
    outcomes: list[Outcome] = []
    for file_index, (path, source, extraction) in enumerate(zip(paths, sources, extracted, strict=True)):
        lines = source.split(b"\n")
        for reference_index, reference in enumerate(extraction.references):
            target = targets.get((file_index, reference_index))
            answer = answers[path][reference_offsets[file_index][reference.span.start_byte]]
            ours = (paths[target.file], target.symbol) if target is not None else None
            outcome = symbols.judge(path, lines, reference, ours, answer)
            outcomes.append(outcome)
            for row in (outcome.row, "overall", *(("calls (all)",) if outcome.row in CALL_ROWS else ())):
                rows[row].add(outcome)
    timings["compare"] = time.perf_counter() - started
    return Report(TYPESCRIPT_VERSION, len(paths), rows, outcomes, asked, timings)


# --- output ----------------------------------------------------------------------------------------------------


def format_table(report: Report) -> str:
    header = (
        f"| {'references':<20} | {'total':>7} | {'linked':>7} | {'correct':>7} | {'LS→ours':>7} | {'precision':>9} "
        f"| {'recall':>7} | {'LS ext':>7} | {'LS n/i':>7} | {'LS none':>7} |"
    )
    lines = [header, "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"]
    for name, row in report.rows.items():
        lines.append(
            f"| {name:<20} | {row.references:>7} | {row.linked:>7} | {row.correct:>7} | {row.theirs['ours']:>7} "
            f"| {row.precision:>9.2%} | {row.recall:>7.2%} | {row.theirs['external']:>7} "
            f"| {row.theirs['not indexed']:>7} | {row.theirs['nothing']:>7} |"
        )
    return "\n".join(lines)


def _example(root: Path, outcome: Outcome, cache: dict[str, list[str]]) -> str:
    if outcome.path not in cache:
        cache[outcome.path] = (root / outcome.path).read_text(encoding="utf-8", errors="replace").split("\n")
    text = cache[outcome.path][outcome.line - 1].strip()
    text = text if len(text) <= 110 else text[:107] + "…"
    return f"    {outcome.path}:{outcome.line}:{outcome.column}  {text}\n      {outcome.detail}"


def format_classes(root: Path, report: Report, *, classes: int, examples: int) -> str:
    lines: list[str] = []
    cache: dict[str, list[str]] = {}
    for title, wanted in (("Missed (LS names our symbol, we link nothing)", "missed"), ("Wrong links", "wrong")):
        grouped: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in report.outcomes:
            if outcome.outcome == wanted:
                grouped[outcome.cls].append(outcome)
        total = sum(map(len, grouped.values()))
        lines.append(f"\n{title}: {total} in {len(grouped)} classes (kind | qualifier | target | qualifier root)")
        for cls, members in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))[:classes]:
            types = Counter(o.qualifier_type for o in members if o.qualifier_type is not None)
            lines.append(f"  {len(members):>6}  {cls}")
            if types:
                lines.append("          qualifier types: " + ", ".join(f"{t} {n}" for t, n in types.most_common(5)))
            step = max(1, len(members) // examples) if examples else 0
            lines += [_example(root, o, cache) for o in members[::step][:examples]] if examples else []
        if len(grouped) > classes:
            lines.append(f"  … and {len(grouped) - classes} more classes")
    return "\n".join(lines)


def format_diff(root: Path, report: Report, old: Mapping[str, Any], *, examples: int) -> str:
    """Which references changed outcome since ``old`` (a ``--json`` file), with examples."""
    before = {(path, r[0], r[1]): (r[3], r[4]) for path, rows in old["references"].items() for r in rows}
    now = {(o.path, o.line, o.column): o for o in report.outcomes}
    changes: dict[str, list[Outcome]] = defaultdict(list)
    for key, outcome in now.items():
        if key not in before:
            continue
        was, ours_before = before[key]
        if was == outcome.outcome and ours_before == outcome.ours:
            continue
        if outcome.outcome == "ok":
            label = f"won ({was} → ok)"
        elif was == "ok":
            label = f"lost (ok → {outcome.outcome})"
        elif outcome.outcome == "wrong":
            label = f"became wrong ({was} → wrong)" if was != "wrong" else "wrong, other target"
        else:
            label = f"{was} → {outcome.outcome}"
        changes[label].append(outcome)
    lines = [
        f"\nChanges since the old run: {sum(map(len, changes.values()))} references changed; "
        f"{len(now.keys() - before.keys())} new, {len(before.keys() - now.keys())} gone"
    ]
    cache: dict[str, list[str]] = {}
    for label, members in sorted(changes.items(), key=lambda item: -len(item[1])):
        by_class = Counter(o.cls or o.row for o in members)
        lines.append(f"  {len(members):>6}  {label}")
        lines += [f"          {n:>5}  {cls}" for cls, n in by_class.most_common(5)]
        step = max(1, len(members) // examples) if examples else 0
        lines += [_example(root, o, cache) for o in members[::step][:examples]] if examples else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure reference links against the TypeScript language service.")
    parser.add_argument("root", type=Path, help="directory (repository checkout) to check")
    parser.add_argument("--tsc-dir", type=Path, default=DEFAULT_TSC_DIR, help="where typescript is installed")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", type=Path, help="write metrics and per-reference outcomes here")
    parser.add_argument("--diff", type=Path, help="a --json file of an earlier run to compare outcomes with")
    parser.add_argument("--examples", type=int, default=3, help="examples per disagreement class")
    parser.add_argument("--classes", type=int, default=15, help="disagreement classes listed per kind")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    started = time.perf_counter()
    report = compare(root, tsc_dir=ensure_typescript(args.tsc_dir))
    print(f"TypeScript {report.typescript} language service, {report.files} files\n")
    print(format_table(report))
    print(format_classes(root, report, classes=args.classes, examples=args.examples))
    if args.diff is not None:
        print(format_diff(root, report, json.loads(args.diff.read_text()), examples=args.examples))
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), separators=(",", ":")))
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.timings.items())
    print(f"\nTime: {timings}; total {time.perf_counter() - started:.1f} s")
    failures = report.failures()
    if failures:
        print("\nBelow target:\n" + "\n".join(f"  {failure}" for failure in failures))
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
