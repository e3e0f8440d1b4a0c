"""Build a corpus of real Python from pinned PyPI source distributions, for ``bench/pycheck.py``.

Each sdist in ``PINNED`` (exact version, sha256 of the archive written here) is downloaded once into
``bench/.cache/pycorpus-archives/`` and its ``.py``/``.pyi`` files and resolution configs (``pyproject.toml``,
``setup.cfg``, ``requirements*.txt``) are unpacked into ``bench/.cache/pycorpus/<name>-<version>/`` (the archive's
top directory stripped; ``bench/.cache`` is git-ignored). The download URL is looked up in PyPI's JSON API
(``/pypi/<name>/json``, the file of that version and name); an archive whose sha256 differs is rejected, so the
corpus is the same wherever it is built.

Unpacking treats the archive as hostile: members with absolute paths, ``..``, backslashes or NUL, links and
devices are skipped, and every member, the archive and the whole corpus have size caps (``MAX_*``).

The packages were chosen for variety: src/ and flat layouts, a PEP 420 namespace package (jaraco.functools),
stub-only distributions (types-requests, types-setuptools, typeshed inside mypy), ``.pyi`` beside ``.py``
(attrs, werkzeug), heavy relative and star imports with ``__all__`` (networkx, sqlalchemy, pygments),
``if TYPE_CHECKING`` and dataclasses (pydantic, black, rich), async code (anyio, trio, httpx), and Python 2 only
code that ``ast`` rejects (BeautifulSoup 3, MySQL-python), besides the code black keeps to test its parser.

Run ``python bench/pycorpus.py`` (idempotent: archives and the unpacked corpus are reused when the pinned list is
unchanged); it prints the corpus path and its file counts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CACHE = BENCH_DIR / ".cache"
SOURCE_SUFFIXES = (".py", ".pyi")
CONFIG_NAMES = frozenset({"pyproject.toml", "setup.cfg"})
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024
MAX_MEMBER_BYTES = 4 * 1024 * 1024
MAX_MEMBERS = 20_000
MAX_CORPUS_BYTES = 256 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class PinnedSdist:
    """One source distribution: the project's name on PyPI, its exact version, the archive's file name and sha256."""

    name: str
    version: str
    filename: str
    sha256: str

    @property
    def directory(self) -> str:
        return f"{self.name}-{self.version}"


PINNED: tuple[PinnedSdist, ...] = (
    PinnedSdist(
        "requests",
        "2.32.3",
        "requests-2.32.3.tar.gz",
        "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760",
    ),
    PinnedSdist(
        "click", "8.1.7", "click-8.1.7.tar.gz", "ca9853ad459e787e2192211578cc907e7594e294c7ccc834310722b41b9ca6de"
    ),
    PinnedSdist(
        "flask", "3.0.3", "flask-3.0.3.tar.gz", "ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842"
    ),
    PinnedSdist(
        "jinja2", "3.1.4", "jinja2-3.1.4.tar.gz", "4a3aee7acbbe7303aede8e9648d13b8bf88a429282aa6122a993f0ac800cb369"
    ),
    PinnedSdist(
        "werkzeug",
        "3.0.4",
        "werkzeug-3.0.4.tar.gz",
        "34f2371506b250df4d4f84bfe7b0921e4762525762bbd936614909fe25cd7306",
    ),
    PinnedSdist(
        "attrs", "24.2.0", "attrs-24.2.0.tar.gz", "5cfb1b9148b5b086569baec03f20d7b6bf3bcacc9a42bebf87ffaaca362f6346"
    ),
    PinnedSdist(
        "sqlalchemy",
        "2.0.36",
        "sqlalchemy-2.0.36.tar.gz",
        "7f2767680b6d2398aea7082e45a774b2b0767b5c8d8ffb9c8b683088ea9b29c5",
    ),
    PinnedSdist(
        "pydantic",
        "2.9.2",
        "pydantic-2.9.2.tar.gz",
        "d155cef71265d1e9807ed1c32b4c8deec042a44a50a4188b25ac67ecd81a9c0f",
    ),
    PinnedSdist(
        "anyio",
        "4.6.2.post1",
        "anyio-4.6.2.post1.tar.gz",
        "4c8bc31ccdb51c7f7bd251f51c609e038d63e34219b44aa86e47576389880b4c",
    ),
    PinnedSdist(
        "httpx", "0.27.2", "httpx-0.27.2.tar.gz", "f7c2be1d2f3c3c3160d441802406b206c2b76f5947b11115e6df10c6c65e66c2"
    ),
    PinnedSdist(
        "trio", "0.27.0", "trio-0.27.0.tar.gz", "1dcc95ab1726b2da054afea8fd761af74bad79bd52381b84eae408e983c76831"
    ),
    PinnedSdist(
        "rich", "13.9.4", "rich-13.9.4.tar.gz", "439594978a49a09530cff7ebc4b5c7103ef57baf48d5ea3184f21d9a2befa098"
    ),
    PinnedSdist(
        "black", "24.10.0", "black-24.10.0.tar.gz", "846ea64c97afe3bc677b761787993be4991810ecc7a4a937816dd6bddedc4875"
    ),
    PinnedSdist(
        "networkx",
        "3.4.2",
        "networkx-3.4.2.tar.gz",
        "307c3669428c5362aab27c8a1260aa8f47c4e91d3891f48be0141738d8d053e1",
    ),
    PinnedSdist(
        "pygments",
        "2.18.0",
        "pygments-2.18.0.tar.gz",
        "786ff802f32e91311bff3889f6e9a86e81505fe99f2735bb6d60ae0c5004f199",
    ),
    PinnedSdist(
        "mypy", "1.13.0", "mypy-1.13.0.tar.gz", "0291a61b6fbf3e6673e3405cfcc0e7650bebc7939659fdca2702958038bd835e"
    ),
    PinnedSdist(
        "types-requests",
        "2.32.0.20241016",
        "types-requests-2.32.0.20241016.tar.gz",
        "0d9cad2f27515d0e3e3da7134a1b6f28fb97129d86b867f24d9c726452634d95",
    ),
    PinnedSdist(
        "types-setuptools",
        "75.2.0.20241019",
        "types-setuptools-75.2.0.20241019.tar.gz",
        "86ea31b5f6df2c6b8f2dc8ae3f72b213607f62549b6fa2ed5866e5299f968694",
    ),
    PinnedSdist(
        "jaraco.functools",
        "4.1.0",
        "jaraco_functools-4.1.0.tar.gz",
        "70f7e0e2ae076498e212562325e805204fc092d7b4c17e0e86c959e249701a9d",
    ),
    PinnedSdist(
        "six", "1.16.0", "six-1.16.0.tar.gz", "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
    ),
    PinnedSdist(
        "BeautifulSoup",
        "3.2.2",
        "BeautifulSoup-3.2.2.tar.gz",
        "a04169602bff6e3138b1259dbbf491f5a27f9499dea9a8fbafd48843f9d89970",
    ),
    PinnedSdist(
        "MySQL-python",
        "1.2.5",
        "MySQL-python-1.2.5.zip",
        "811040b647e5d5686f84db415efd697e6250008b112b6909ba77ac059e140c74",
    ),
)


class CorpusError(Exception):
    """A pinned archive could not be fetched or does not match its pin."""


def manifest_digest(sdists: tuple[PinnedSdist, ...]) -> str:
    """A digest of the pinned list: the unpacked corpus is reused only when it matches."""
    text = json.dumps([[s.name, s.version, s.filename, s.sha256] for s in sdists])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sdist_url(sdist: PinnedSdist) -> str:
    """The download URL of the pinned archive, from PyPI's JSON API (made absolute: mirrors answer relative ones)."""
    index_url = f"https://pypi.org/pypi/{urllib.parse.quote(sdist.name)}/json"
    with urllib.request.urlopen(index_url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        release = json.loads(response.read()).get("releases", {}).get(sdist.version, [])
    for entry in release:
        if entry.get("filename") == sdist.filename:
            return urllib.parse.urljoin(index_url, str(entry["url"]))
    raise CorpusError(f"PyPI lists no file {sdist.filename} for {sdist.name} {sdist.version}")


def fetch_archive(sdist: PinnedSdist, archive_dir: Path) -> bytes:
    """The archive's bytes, downloaded once into ``archive_dir``; raises ``CorpusError`` on a sha256 mismatch."""
    cached = archive_dir / sdist.filename
    if cached.exists():
        data = cached.read_bytes()
    else:
        with urllib.request.urlopen(sdist_url(sdist), timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            data = response.read(MAX_ARCHIVE_BYTES + 1)
        if len(data) > MAX_ARCHIVE_BYTES:
            raise CorpusError(f"{sdist.filename} is larger than {MAX_ARCHIVE_BYTES} bytes")
    digest = hashlib.sha256(data).hexdigest()
    if digest != sdist.sha256:
        cached.unlink(missing_ok=True)
        raise CorpusError(f"{sdist.filename}: sha256 {digest}, pinned {sdist.sha256}")
    if not cached.exists():
        archive_dir.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return data


def safe_relative_path(member_name: str) -> str | None:
    """The member's path below the archive's top directory, or ``None`` when it is unsafe or names no file we keep:
    absolute, with ``..``, a backslash, a NUL or an empty part."""
    if "\\" in member_name or "\0" in member_name or member_name.startswith("/"):
        return None
    parts = PurePosixPath(member_name).parts[1:]
    if not parts or any(part in {"", ".", ".."} for part in parts):
        return None
    return "/".join(parts)


def is_kept(relative: str) -> bool:
    """Whether a file goes into the corpus: Python sources and the configs that resolution reads."""
    name = relative.rsplit("/", 1)[-1]
    if name.endswith(SOURCE_SUFFIXES) or name in CONFIG_NAMES:
        return True
    return name.startswith("requirements") and name.endswith(".txt")


def archive_files(filename: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every regular file of a ``.tar.gz`` or ``.zip`` archive that the corpus keeps;
    links, devices, unsafe paths and members over ``MAX_MEMBER_BYTES`` are skipped, at most ``MAX_MEMBERS`` read."""
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist()[:MAX_MEMBERS]:
                file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded none
                if info.is_dir() or file_type not in (0, stat.S_IFREG) or info.file_size > MAX_MEMBER_BYTES:
                    continue
                relative = safe_relative_path(info.filename)
                if relative is not None and is_kept(relative):
                    with archive.open(info) as member:
                        content = member.read(MAX_MEMBER_BYTES + 1)
                    if len(content) <= MAX_MEMBER_BYTES:
                        yield relative, content
        return
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for count, tar_member in enumerate(archive):
            if count >= MAX_MEMBERS:
                break
            if not tar_member.isreg() or tar_member.size > MAX_MEMBER_BYTES:
                continue
            relative = safe_relative_path(tar_member.name)
            if relative is None or not is_kept(relative):
                continue
            extracted = archive.extractfile(tar_member)
            if extracted is not None:
                yield relative, extracted.read(MAX_MEMBER_BYTES)


def build_corpus(cache_dir: Path = DEFAULT_CACHE, sdists: tuple[PinnedSdist, ...] = PINNED) -> Path:
    """Fetch every pinned sdist and unpack its kept files into ``cache_dir/pycorpus/<name>-<version>/``."""
    corpus = cache_dir / "pycorpus"
    digest = manifest_digest(sdists)
    marker = corpus / ".manifest"
    if marker.exists() and marker.read_text() == digest:
        return corpus
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    total = 0
    for sdist in sdists:
        data = fetch_archive(sdist, cache_dir / "pycorpus-archives")
        destination = corpus / sdist.directory
        count = 0
        for relative, content in archive_files(sdist.filename, data):
            total += len(content)
            if total > MAX_CORPUS_BYTES:
                raise CorpusError(f"the corpus grew past {MAX_CORPUS_BYTES} bytes at {sdist.directory}/{relative}")
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            count += 1
        print(f"{sdist.name} {sdist.version}: {count} files")
    marker.write_text(digest)
    return corpus


def source_files(corpus: Path) -> list[Path]:
    """Every ``.py``/``.pyi`` file of the corpus, in a stable order."""
    return sorted(path for path in corpus.rglob("*") if path.is_file() and path.name.endswith(SOURCE_SUFFIXES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args()
    corpus = build_corpus(args.cache_dir)
    files = source_files(corpus)
    stubs = sum(1 for path in files if path.suffix == ".pyi")
    size = sum(path.stat().st_size for path in files)
    print(f"{corpus}: {len(files)} Python files ({stubs} stubs), {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
