"""Build a benchmark corpus of real TypeScript/JavaScript from pinned npm package tarballs.

The corpus is a small monorepo committed into a local git repository under ``bench/.cache/corpus`` (git-ignored,
never part of this project): one directory per package under ``packages/``, a root ``package.json`` declaring the
workspaces and a root ``tsconfig.json`` (bundler resolution, as modern monorepos use).

Published ``package.json`` files point their entries at build output that the corpus leaves out (it keeps the
sources). For such packages the corpus writes the package.json the way the upstream source repository has it: entry
points (``main``/``types``) at the source entry, ``exports`` dropped. Packages whose published entries are part of
the corpus (eslint, express) keep their published package.json, ``exports`` included.

Run ``python bench/corpus.py`` to build it (idempotent: tarballs and the built repository are reused when their
manifest is unchanged); the path of the repository is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE = BENCH_DIR / ".cache"
SOURCE_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


@dataclass(frozen=True)
class PinnedPackage:
    """One npm package at an exact version, and which parts of its tarball go into the corpus."""

    name: str
    version: str
    include: tuple[str, ...]
    source_entry: str | None = None
    """When set, the package.json is rewritten to the source-repository form with this entry (see module doc)."""

    @property
    def directory(self) -> str:
        return self.name.lstrip("@").replace("/", "-")


PINNED: tuple[PinnedPackage, ...] = (
    PinnedPackage("rxjs", "7.8.2", ("src/", "dist/types/"), source_entry="src/index.ts"),
    PinnedPackage("zod", "4.1.12", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tanstack/query-core", "5.90.2", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@trpc/server", "11.6.0", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("effect", "3.18.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("tldraw", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/editor", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/tlschema", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/store", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/utils", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/state", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/state-react", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("@tldraw/validate", "3.15.4", ("src/",), source_entry="src/index.ts"),
    PinnedPackage("eslint", "9.39.1", ("lib/", "messages/", "bin/")),
    PinnedPackage("express", "4.21.2", ("lib/", "index.js")),
)

ROOT_TSCONFIG = {
    "compilerOptions": {
        "target": "es2022",
        "module": "esnext",
        "moduleResolution": "bundler",
        "jsx": "react-jsx",
        "allowJs": True,
        "strict": True,
        "skipLibCheck": True,
    }
}


def manifest_digest(packages: tuple[PinnedPackage, ...]) -> str:
    """A digest of the pinned list: the built corpus is reused only when it matches."""
    text = json.dumps([[p.name, p.version, list(p.include), p.source_entry] for p in packages])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fetch_tarball(package: PinnedPackage, tarball_dir: Path) -> Path:
    """Download ``name@version`` with ``npm pack`` into ``tarball_dir`` (reused when already there)."""
    tarball_dir.mkdir(parents=True, exist_ok=True)
    expected = tarball_dir / f"{package.directory}-{package.version}.tgz"
    if expected.exists():
        return expected
    result = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", str(tarball_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    filename = json.loads(result.stdout)[0]["filename"]
    (tarball_dir / filename).rename(expected)
    return expected


def _wanted(member_path: str, package: PinnedPackage) -> bool:
    if not any(member_path == inc or member_path.startswith(inc) for inc in package.include):
        return False
    name = member_path.rsplit("/", 1)[-1]
    return name.endswith(SOURCE_EXTENSIONS) or (name.startswith("tsconfig") and name.endswith(".json"))


def source_form_package_json(package: PinnedPackage, published: dict[str, object]) -> dict[str, object]:
    """The package.json a corpus keeps: the published one, or its source-repository form (see module doc)."""
    if package.source_entry is None:
        return published
    kept: dict[str, object] = {
        key: published[key]
        for key in ("name", "version", "dependencies", "devDependencies", "peerDependencies")
        if key in published
    }
    return {**kept, "main": package.source_entry, "types": package.source_entry}


def extract_package(package: PinnedPackage, tarball: Path, destination: Path) -> int:
    """Unpack the included source files and the package.json of one tarball; returns the file count."""
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            relative = member.name.removeprefix("package/")
            if relative == "package.json":
                extracted = archive.extractfile(member)
                assert extracted is not None
                published = json.loads(extracted.read())
                (destination / "package.json").write_text(
                    json.dumps(source_form_package_json(package, published), indent=2) + "\n"
                )
            elif _wanted(relative, package):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = archive.extractfile(member)
                assert extracted is not None
                target.write_bytes(extracted.read())
                count += 1
    return count


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=corpus", "-c", "user.email=corpus@localhost", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def build_corpus(cache_dir: Path = DEFAULT_CACHE, packages: tuple[PinnedPackage, ...] = PINNED) -> Path:
    """Fetch every pinned tarball and commit the selected sources into ``cache_dir/corpus`` (a git repository)."""
    repo = cache_dir / "corpus"
    digest = manifest_digest(packages)
    marker = repo / ".git" / "corpus-manifest"
    if marker.exists() and marker.read_text() == digest:
        return repo
    if repo.exists():
        shutil.rmtree(repo)
    (repo / "packages").mkdir(parents=True)
    for package in packages:
        tarball = fetch_tarball(package, cache_dir / "tarballs")
        destination = repo / "packages" / package.directory
        destination.mkdir(parents=True)
        count = extract_package(package, tarball, destination)
        print(f"{package.name}@{package.version}: {count} files")
    root_package = {"name": "indexer-bench-corpus", "private": True, "workspaces": ["packages/*"]}
    (repo / "package.json").write_text(json.dumps(root_package, indent=2) + "\n")
    (repo / "tsconfig.json").write_text(json.dumps(ROOT_TSCONFIG, indent=2) + "\n")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", f"corpus {digest}")
    marker.write_text(digest)
    return repo


def source_files(repo: Path) -> list[Path]:
    """Every source file of the corpus, in a stable order."""
    return sorted(
        path
        for path in repo.rglob("*")
        if path.is_file() and path.name.endswith(SOURCE_EXTENSIONS) and ".git" not in path.parts
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    repo = build_corpus(args.cache_dir)
    files = source_files(repo)
    total = sum(path.stat().st_size for path in files)
    print(f"{repo}: {len(files)} source files, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
