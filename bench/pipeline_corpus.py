"""The end-to-end benchmark's corpus: real TS/JS from 11 pinned npm packages, committed twice, and a doubled copy.

Built under ``bench/.cache/`` (git-ignored, never part of this project) from tarballs fetched with ``npm pack``:

- ``pipeline-corpus``: a git repository (a monorepo: ``packages/<name>/`` per package, a root ``package.json``
  declaring the workspaces and a root ``tsconfig.json``, as ``bench/corpus.py`` lays it out) with two commits:
  the **base** commit (the selected sources) and the **edit** commit, which appends a small exported function to
  every 100th source file in sorted path order (files 0, 100, 200, …): the "1 % edit" an incremental index sees.
- ``pipeline-corpus-tree``: the base commit checked out (what ``ctags -R`` reads).
- ``pipeline-corpus-doubled``: one commit holding the base tree twice (``copy-1/``, ``copy-2/``): the same work
  twice over, for memory growth.

A source file is a ``.ts .tsx .js .mjs`` file under a package's roots (its ``src/``, or what it publishes its
sources as), not ``.d.ts`` or ``.min.js``, with no line over 1,000 characters (generated bundles and inlined data,
which no one navigates). Each package keeps its ``package.json`` (in source form, see ``bench/corpus.py``) so
imports between the packages resolve.

Commits carry fixed dates, so the same pinned list gives the same commit ids on every machine. Building is
idempotent: tarballs and repositories are reused while the manifest (pinned list and rules) is unchanged.

Run ``python bench/pipeline_corpus.py`` to build it and print its size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from corpus import (  # noqa: E402 - bench scripts run from a checkout
    DEFAULT_CACHE,
    ROOT_TSCONFIG,
    PinnedPackage,
    fetch_tarball,
    source_form_package_json,
)

PACKAGES: tuple[PinnedPackage, ...] = (
    PinnedPackage("rxjs", "7.8.2", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("zod", "4.6.7", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("effect", "4.1.0", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tanstack/query-core", "5.108.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tanstack/react-query", "5.108.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/editor", "5.1.1", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("tldraw", "5.1.1", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("three", "0.187.0", ("src/", "examples/jsm/"), source_entry="src/Three.js"),
    PinnedPackage("lodash-es", "4.18.1", ("",)),  # published as sources at the package root
    PinnedPackage("fp-ts", "2.16.11", ("es6/",), source_entry="es6/index.js"),
    PinnedPackage("date-fns", "4.4.0", ("",)),  # published as sources at the package root
)

SOURCE_SUFFIXES = (".ts", ".tsx", ".js", ".mjs")
EXCLUDED_SUFFIXES = (".d.ts", ".min.js")
MAX_LINE_CHARS = 1_000
EDIT_EVERY = 100
COMMIT_DATE = "2026-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class PipelineCorpus:
    """Where the built corpus is, its two commits and its size (source files only)."""

    repo: Path
    base_commit: str
    edit_commit: str
    tree: Path
    doubled_repo: Path
    doubled_commit: str
    files: int
    bytes: int
    edited_files: int


def is_source(path: str, data: bytes) -> bool:
    """Whether a file of a package root goes into the corpus (see the module doc)."""
    if not path.endswith(SOURCE_SUFFIXES) or path.endswith(EXCLUDED_SUFFIXES):
        return False
    return all(len(line) <= MAX_LINE_CHARS for line in data.decode("utf-8", errors="replace").splitlines())


def edited_source(path: str, data: bytes, index: int) -> bytes:
    """``data`` with a small exported function appended (typed in TypeScript files, plain in JavaScript)."""
    if path.endswith((".ts", ".tsx")):
        function = f"export function benchEdit{index}(value: number): number {{\n  return value + {index};\n}}\n"
    else:
        function = f"export function benchEdit{index}(value) {{\n  return value + {index};\n}}\n"
    return data + b"\n" + function.encode()  # a blank line after a final newline, else the end of the last line


def edit_selection(paths: list[str]) -> list[str]:
    """The files the edit commit changes: every ``EDIT_EVERY``-th in sorted path order, starting with the first."""
    return sorted(paths)[::EDIT_EVERY]


def extract_sources(package: PinnedPackage, tarball: Path, destination: Path) -> list[str]:
    """Unpack a package's source files and its package.json under ``destination``; returns the sources' paths
    relative to ``destination``."""
    sources: list[str] = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            relative = member.name.removeprefix("package/")
            if relative != "package.json" and not any(relative.startswith(root) for root in package.include):
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            data = extracted.read()
            if relative == "package.json":
                published = json.loads(data)
                data = (json.dumps(source_form_package_json(package, published), indent=2) + "\n").encode()
            elif not is_source(relative, data):
                continue
            else:
                sources.append(relative)
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return sources


def _git(repo: Path, *args: str) -> str:
    environment = {**os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE}
    result = subprocess.run(
        ["git", "-c", "user.name=corpus", "-c", "user.email=corpus@localhost", "-c", "core.autocrlf=false", *args],
        cwd=repo,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def _commit_all(repo: Path, message: str) -> str:
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _write_root(root: Path) -> None:
    """The monorepo's root files: the workspaces' package.json and the tsconfig (see ``bench/corpus.py``)."""
    root_package = {"name": "indexer-bench-corpus", "private": True, "workspaces": ["packages/*"]}
    (root / "package.json").write_text(json.dumps(root_package, indent=2) + "\n")
    (root / "tsconfig.json").write_text(json.dumps(ROOT_TSCONFIG, indent=2) + "\n")


def manifest_digest() -> str:
    """A digest of everything the corpus is built from: a built corpus is reused only while it matches."""
    text = json.dumps(
        {
            "packages": [[p.name, p.version, list(p.include), p.source_entry] for p in PACKAGES],
            "rules": [SOURCE_SUFFIXES, EXCLUDED_SUFFIXES, MAX_LINE_CHARS, EDIT_EVERY, COMMIT_DATE],
            "edit": edited_source("x.ts", b"", 0).decode() + edited_source("x.js", b"", 0).decode(),
            "tsconfig": ROOT_TSCONFIG,
        }
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_pipeline_corpus(cache_dir: Path = DEFAULT_CACHE) -> PipelineCorpus:
    """Fetch the pinned tarballs and build the repositories (see the module doc); reused when already built."""
    repo, tree, doubled = (
        cache_dir / "pipeline-corpus",
        cache_dir / "pipeline-corpus-tree",
        cache_dir / "pipeline-corpus-doubled",
    )
    digest = manifest_digest()
    manifest = cache_dir / "pipeline-corpus.json"
    if manifest.exists():
        recorded = json.loads(manifest.read_text())
        if recorded.pop("digest") == digest:
            return PipelineCorpus(repo=repo, tree=tree, doubled_repo=doubled, **recorded)
    for directory in (repo, tree, doubled):
        if directory.exists():
            shutil.rmtree(directory)
    manifest.unlink(missing_ok=True)

    sources: list[str] = []
    for package in PACKAGES:
        tarball = fetch_tarball(package, cache_dir / "tarballs")
        package_dir = Path("packages") / package.directory
        (repo / package_dir).mkdir(parents=True)
        extracted = extract_sources(package, tarball, repo / package_dir)
        sources.extend(str(package_dir / path) for path in extracted)
        print(f"{package.name}@{package.version}: {len(extracted)} files", file=sys.stderr)
    _write_root(repo)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    base_commit = _commit_all(repo, f"corpus {digest}: base")
    shutil.copytree(repo, tree, ignore=shutil.ignore_patterns(".git"))

    edited = edit_selection(sources)
    for index, path in enumerate(edited):
        target = repo / path
        target.write_bytes(edited_source(path, target.read_bytes(), index))
    edit_commit = _commit_all(repo, f"corpus {digest}: append a function to every {EDIT_EVERY}th file")

    doubled.mkdir()
    for copy in ("copy-1", "copy-2"):
        shutil.copytree(tree, doubled / copy)
    _git(doubled, "init", "--quiet", "--initial-branch=main")
    doubled_commit = _commit_all(doubled, f"corpus {digest}: the base tree twice")

    recorded = {
        "base_commit": base_commit,
        "edit_commit": edit_commit,
        "doubled_commit": doubled_commit,
        "files": len(sources),
        "bytes": sum((tree / path).stat().st_size for path in sources),
        "edited_files": len(edited),
    }
    manifest.write_text(json.dumps({**recorded, "digest": digest}, indent=2) + "\n")
    return PipelineCorpus(repo=repo, tree=tree, doubled_repo=doubled, **recorded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    corpus = build_pipeline_corpus(args.cache_dir)
    print(
        f"{corpus.repo}: {corpus.files} source files, {corpus.bytes / 1e6:.1f} MB; base {corpus.base_commit}, "
        f"edit {corpus.edit_commit} ({corpus.edited_files} files); doubled {corpus.doubled_repo} "
        f"{corpus.doubled_commit}"
    )


if __name__ == "__main__":
    main()
