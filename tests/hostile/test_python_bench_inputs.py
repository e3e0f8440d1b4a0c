"""Hostile inputs of the Python cross-check: sdist archives that try to escape or flood the corpus directory, an
archive that does not match its pin, and sources that ``ast`` or our parse refuse (deep nesting, NUL bytes, long
chains, other encodings). Each is refused or reported; nothing escapes, raises or runs unbounded."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from stages.languages import language_name_for_path
from tests.bench_scripts import load_bench_script


@pytest.fixture(scope="module")
def pycorpus() -> ModuleType:
    return load_bench_script("pycorpus")


@pytest.fixture(scope="module")
def pycheck() -> ModuleType:
    return load_bench_script("pycheck")


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_pycorpus__tar_members_that_escape_link_or_flood_are_skipped(
    pycorpus: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pycorpus, "MAX_MEMBER_BYTES", 64)
    data = _tar(
        [
            (_member("pkg-1/good.py"), b"x = 1\n"),
            (_member("/etc/absolute.py"), b"x = 1\n"),
            (_member("pkg-1/../escape.py"), b"x = 1\n"),
            (_member("pkg-1/sub\\..\\..\\win.py"), b"x = 1\n"),
            (_member("pkg-1/link.py", tarfile.SYMTYPE, "/etc/passwd"), b""),
            (_member("pkg-1/hard.py", tarfile.LNKTYPE, "pkg-1/good.py"), b""),
            (_member("pkg-1/fifo.py", tarfile.FIFOTYPE), b""),
            (_member("pkg-1/huge.py"), b"#" * 65),
            (_member("pkg-1/data.bin"), b"\0"),
            (_member("pkg-1/pyproject.toml"), b"[project]\n"),
        ]
    )
    assert list(pycorpus.archive_files("pkg-1.tar.gz", data)) == [
        ("good.py", b"x = 1\n"),
        ("pyproject.toml", b"[project]\n"),
    ]


def test_pycorpus__zip_members_that_escape_or_link_are_skipped(pycorpus: ModuleType) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg-1/good.py", "x = 1\n")
        archive.writestr("pkg-1/../../escape.py", "x = 1\n")
        archive.writestr("/abs.py", "x = 1\n")
        link = zipfile.ZipInfo("pkg-1/link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert list(pycorpus.archive_files("pkg-1.zip", buffer.getvalue())) == [("good.py", b"x = 1\n")]


def test_pycorpus__members_past_the_count_cap_are_not_read(
    pycorpus: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pycorpus, "MAX_MEMBERS", 3)
    data = _tar([(_member(f"pkg-1/m{index}.py"), b"x = 1\n") for index in range(10)])
    assert [path for path, _ in pycorpus.archive_files("pkg-1.tar.gz", data)] == ["m0.py", "m1.py", "m2.py"]


def test_pycorpus__an_archive_that_differs_from_its_pin_is_rejected_and_dropped(
    pycorpus: ModuleType, tmp_path: Path
) -> None:
    pinned = pycorpus.PinnedSdist("pkg", "1", "pkg-1.tar.gz", hashlib.sha256(b"the real archive").hexdigest())
    (tmp_path / "pkg-1.tar.gz").write_bytes(b"a tampered archive")
    with pytest.raises(pycorpus.CorpusError, match="sha256"):
        pycorpus.fetch_archive(pinned, tmp_path)
    assert not (tmp_path / "pkg-1.tar.gz").exists()
    (tmp_path / "pkg-1.tar.gz").write_bytes(b"the real archive")
    assert pycorpus.fetch_archive(pinned, tmp_path) == b"the real archive"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("nested_parentheses", b"x = " + b"(" * 20_000 + b"1" + b")" * 20_000 + b"\n"),
        ("nested_lists", b"x = " + b"[" * 20_000 + b"]" * 20_000 + b"\n"),
        ("nul_byte", b"x = 1\0\n"),
        ("deep_blocks", b"".join(b" " * depth + b"if x:\n" for depth in range(200)) + b" " * 200 + b"pass\n"),
    ],
)
def test_pycheck__sources_ast_refuses_are_parse_failures(pycheck: ModuleType, name: str, source: bytes) -> None:
    facts = pycheck.oracle_file(f"{name}.py", source)
    assert facts.parse_failure is not None
    assert facts.declarations == ()


def test_pycheck__a_chain_deeper_than_ast_builds_is_a_parse_failure_not_a_crash(pycheck: ModuleType) -> None:
    chain = ".".join(["a"] * 20_000)
    facts = pycheck.oracle_file("chain.py", f"x = {chain}\n@{chain}\ndef f(): pass\n".encode())
    assert facts.parse_failure is None or facts.parse_failure.startswith("RecursionError"), facts.parse_failure


def test_pycheck__long_chains_and_wide_modules_are_read_without_recursion(pycheck: ModuleType) -> None:
    chain = ".".join(["a"] * 300)
    source = (
        f"x = {chain}\n@{chain}\ndef f(): pass\n"
        + "".join(f"v{index} = {index}\n" for index in range(20_000))
        + f"__all__ = [{', '.join(repr(f'v{index}') for index in range(20_000))}]\n"
    ).encode()
    facts = pycheck.oracle_file("wide.py", source)
    assert facts.parse_failure is None
    assert len(facts.declarations) == 20_003
    assert facts.exported is not None
    assert len(facts.exported) == 20_000


@pytest.mark.skipif(language_name_for_path("module.py") is None, reason="Python extraction is not registered")
def test_pycheck__a_latin1_file_is_a_policy_refusal_not_a_failure(pycheck: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n")
    (tmp_path / "pkg" / "nul.py").write_bytes(b"x = 1\0\n")
    report = pycheck.compare(tmp_path)
    assert set(report.policy_refusals) == {"pkg/__init__.py", "pkg/nul.py"}
    assert report.our_failures == {}
    assert report.categories["declarations"].theirs == 0
