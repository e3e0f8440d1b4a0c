"""Build a benchmark corpus of real Go modules from pinned Debian source packages.

Debian's ``golang-*-dev`` packages ship a module's source, its ``go.mod`` included, under ``/usr/share/gocode/src``.
Each package is fetched at an exact version with ``apt-get download`` (apt checks the archive's signed index), its
SHA-256 is checked against the pin below, and its source tree is unpacked with ``dpkg-deb`` into
``bench/.cache/gocorpus`` (git-ignored): one directory per module at its import path, as a Go workspace lays them
out (``github.com/spf13/cobra/…``). 16 modules, 1,655 ``.go`` files: standard-library-like code (x/text, x/net,
x/sync), generics (x/exp's slices, maps, constraints), frameworks (gin, cobra, zap, logrus), small libraries.

Run ``python bench/gocorpus.py`` to build it (idempotent: packages and the unpacked tree are reused when the
manifest is unchanged); the corpus path is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE = BENCH_DIR / ".cache"
SOURCE_ROOT = Path("usr/share/gocode/src")


@dataclass(frozen=True)
class PinnedDeb:
    """One Debian package of Go source at an exact version, and the SHA-256 of its ``.deb``."""

    package: str
    version: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.package}_{self.version.replace(':', '%3a')}_all.deb"


PINNED: tuple[PinnedDeb, ...] = (
    PinnedDeb(
        "golang-github-burntsushi-toml-dev",
        "1.2.0-2",
        "eb0bc9f96d02b33034311604f787ca7ab071de026c9abdffa6ae40a63362f7b8",
    ),
    PinnedDeb(
        "golang-github-gin-gonic-gin-dev",
        "1.8.1-1",
        "66d916769bcd36a6722b0c92a81719b8faca56f69662b17d1ef7ba257c85367a",
    ),
    PinnedDeb(
        "golang-github-google-go-cmp-dev",
        "0.5.9-1",
        "b68bd919daa7c1bdf02abfb68894e29e532f19b03b68c8615f50626c48f553b6",
    ),
    PinnedDeb(
        "golang-github-google-uuid-dev",
        "1.3.0-1",
        "f79ead959ee04842fcb410347e7023a3c4c357c17f77b9bb13cff30ef4353351",
    ),
    PinnedDeb(
        "golang-github-gorilla-mux-dev",
        "1.8.0-1",
        "0880a4019fe68496a0e0a749c2948c029e489f49edd448bed2fedaba33f848c2",
    ),
    PinnedDeb(
        "golang-github-pkg-errors-dev",
        "0.9.1-2",
        "87227544904795f81d8c660b7854045a1ef78d5c690993bb4a0c43e05104ca64",
    ),
    PinnedDeb(
        "golang-github-sirupsen-logrus-dev",
        "1.9.0-1",
        "51fb87b05452e96be38b97c03d5f997f6ce3a144421f911338d6c4ea2e8aa118",
    ),
    PinnedDeb(
        "golang-github-spf13-cobra-dev",
        "1.6.1-1",
        "4f5d20855133319beef3c5b49d3c21a0406f270bf94fb4b6f4d406b691283cb2",
    ),
    PinnedDeb(
        "golang-github-spf13-pflag-dev",
        "1.0.6~git20210604-d5e0c0615ace-1",
        "bd1c3c2a3e47512a64da02ebea900eb5a3f3c5d386e559d5718a3a935c0ea570",
    ),
    PinnedDeb(
        "golang-github-stretchr-testify-dev",
        "1.8.1-1",
        "214a31391cf60e1d1abd9f218cb5134a1fd646340a147a04c2d95a981024a305",
    ),
    PinnedDeb(
        "golang-go.uber-zap-dev",
        "1.23.0-1",
        "cff89ff0de841df81d5bf43d8e71e026c97ad0b2753c2040c440ebf8a45f4a38",
    ),
    PinnedDeb(
        "golang-golang-x-exp-dev",
        "0.0~git20221028.83b7d23-2",
        "237439c0dbbb766109f1713f22c7b0dda268de388c4bdf66ac8019600b917cf3",
    ),
    PinnedDeb(
        "golang-golang-x-net-dev",
        "1:0.7.0+dfsg-1",
        "ddfa0ab08e6caf68eb51c96f9b8ba7c3ab6c93aada7147c3a20a187e38a9d259",
    ),
    PinnedDeb(
        "golang-golang-x-sync-dev",
        "0.1.0-1",
        "c9609d1ef1c162bff89b689b15f2705271a784b5c13dbe5f8513fe5a3c006bed",
    ),
    PinnedDeb(
        "golang-golang-x-text-dev",
        "0.7.0-1",
        "0d4e17e9caa2656bdc633b723645d4adafeda93189bd1d55fedf64ec38439f63",
    ),
    PinnedDeb(
        "golang-gopkg-yaml.v3-dev",
        "3.0.1-3",
        "3ad4febd49700bc670f0f143f3291ecab4e032cc227d69521bacadbc493cfbbe",
    ),
)


class CorpusError(Exception):
    """A package could not be fetched, or its bytes are not the pinned ones."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(pin: PinnedDeb, debs: Path) -> Path:
    """The pinned ``.deb``, downloaded once into ``debs`` and checked against its SHA-256."""
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / pin.file_name
    if not path.exists():
        result = subprocess.run(
            ["apt-get", "download", f"{pin.package}={pin.version}"],
            cwd=debs,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not path.exists():
            raise CorpusError(f"apt-get download {pin.package}={pin.version} failed: {result.stderr.strip()}")
    actual = _sha256(path)
    if actual != pin.sha256:
        path.unlink()
        raise CorpusError(f"{pin.file_name}: SHA-256 {actual}, pinned {pin.sha256}")
    return path


def manifest() -> str:
    return "".join(f"{pin.package} {pin.version} {pin.sha256}\n" for pin in PINNED)


def build(cache: Path) -> Path:
    """The corpus directory, built from the pinned packages unless already built from the same manifest."""
    corpus = cache / "gocorpus"
    stamp = corpus / ".manifest"
    if stamp.exists() and stamp.read_text(encoding="utf-8") == manifest():
        return corpus
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=cache) as unpacked:
        for pin in PINNED:
            deb = fetch(pin, cache / "godebs")
            subprocess.run(["dpkg-deb", "-x", str(deb), unpacked], check=True)
        shutil.copytree(Path(unpacked) / SOURCE_ROOT, corpus, dirs_exist_ok=True, symlinks=True)
    for link in [path for path in corpus.rglob("*") if path.is_symlink()]:
        link.unlink()  # a few packages link to other packages' files: the corpus keeps real files only
    stamp.write_text(manifest(), encoding="utf-8")
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    arguments = parser.parse_args()
    print(build(arguments.cache))


if __name__ == "__main__":
    main()
