"""Hostile Python project files and specifiers: the Python resolver answers every question, reports each broken
file by name (a bounded number of times), and keeps what the rest of the commit declares."""

from __future__ import annotations

import pytest

from stages.resolve import Resolution
from stages.resolve_python import MAX_DIAGNOSTICS_PER_FILE, MAX_INCLUDE_DEPTH, MAX_INCLUDES, PythonResolver

ONE_MIB = 1024 * 1024


def make_resolver(files: dict[str, str]) -> PythonResolver:
    return PythonResolver.from_files(files, files.get)


def test_malformed_toml__is_reported_and_treated_as_absent() -> None:
    files = {"pyproject.toml": "[project\ndependencies = [", "requirements.txt": "rich==13.0\n", "main.py": ""}
    resolver = make_resolver(files)
    assert resolver.resolve("main.py", "rich") == Resolution("external", package="rich")
    assert resolver.package_version("main.py", "rich") == "==13.0"
    assert len(resolver.diagnostics) == 1
    assert resolver.diagnostics[0].startswith("pyproject.toml: invalid TOML")


def test_deeply_nested_toml__ends_in_a_diagnostic_not_a_crash() -> None:
    nested = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    resolver = make_resolver({"pyproject.toml": nested, "main.py": ""})
    assert resolver.package_version("main.py", "x") is None
    assert resolver.diagnostics[0].startswith("pyproject.toml: invalid TOML")


def test_toml_of_wrong_shapes__is_read_for_what_fits() -> None:
    pyproject = """
[project]
dependencies = "requests"
optional-dependencies = ["x"]
[tool]
poetry = 3
[dependency-groups]
dev = [1, {a = 2}, "ok==1"]
"""
    resolver = make_resolver({"pyproject.toml": pyproject, "main.py": ""})
    assert resolver.package_version("main.py", "ok") == "==1"
    assert resolver.package_version("main.py", "requests") is None


def test_broken_setup_cfg__is_reported_and_treated_as_absent() -> None:
    resolver = make_resolver({"setup.cfg": "install_requires = x\n[options\n", "main.py": ""})
    assert resolver.package_version("main.py", "x") is None
    assert resolver.diagnostics[0].startswith("setup.cfg: invalid setup.cfg")


def test_one_mib_requirements_file__keeps_good_lines_and_reports_a_bounded_number_of_bad_ones() -> None:
    good = "".join(f"dist{index}==1.{index}\n" for index in range(2000))
    bad = "!!! not a requirement ???\n" * ((ONE_MIB - len(good)) // 26)
    resolver = make_resolver({"requirements.txt": good + bad, "main.py": ""})
    assert resolver.package_version("main.py", "dist1999") == "==1.1999"
    assert resolver.resolve("main.py", "dist7") == Resolution("external", package="dist7")
    assert len(resolver.diagnostics) == MAX_DIAGNOSTICS_PER_FILE + 1


def test_one_line_requirements_file_of_one_mib__is_one_bad_line() -> None:
    resolver = make_resolver({"requirements.txt": "a" + "=" * ONE_MIB, "main.py": ""})
    assert resolver.package_version("main.py", "a") is None
    assert len(resolver.diagnostics) == 1


def test_include_cycle__reads_each_file_once() -> None:
    files = {
        "requirements.txt": "-r requirements-dev.txt\nflask==3.0\n",
        "requirements-dev.txt": "-r requirements.txt\npytest==8.0\n",
        "main.py": "",
    }
    resolver = make_resolver(files)
    assert resolver.package_version("main.py", "flask") == "==3.0"
    assert resolver.package_version("main.py", "pytest") == "==8.0"
    assert resolver.diagnostics == ()


def test_include_chain_deeper_than_the_bound__stops_there() -> None:
    depth = MAX_INCLUDE_DEPTH + 5
    files = {f"requirements/r{index}.txt": f"-r r{index + 1}.txt\nd{index}==1\n" for index in range(depth)}
    files["requirements.txt"] = "-r requirements/r0.txt\n"
    files["main.py"] = ""
    resolver = make_resolver(files)
    assert resolver.package_version("main.py", f"d{MAX_INCLUDE_DEPTH - 1}") == "==1"
    assert resolver.package_version("main.py", f"d{depth - 1}") is not None  # read as a requirements file itself
    assert any("past the bound" in diagnostic for diagnostic in resolver.diagnostics)


def test_includes_wider_than_the_bound__stop_there() -> None:
    width = MAX_INCLUDES * 2
    files = {f"reqs/r{index}-requirements.txt": f"w{index}==1\n" for index in range(width)}
    files["requirements.txt"] = "".join(f"-r reqs/r{index}-requirements.txt\n" for index in range(width))
    files["main.py"] = ""
    resolver = make_resolver(files)
    assert resolver.package_version("main.py", "w0") == "==1"
    assert resolver.package_version("main.py", f"w{width - 1}") is None
    assert any("past the bound" in diagnostic for diagnostic in resolver.diagnostics)


def test_include_outside_the_commit_or_above_the_root__is_reported() -> None:
    files = {"requirements.txt": "-r ../../etc/passwd\n-r /etc/passwd\n-r missing.txt\nok==1\n", "main.py": ""}
    resolver = make_resolver(files)
    assert resolver.package_version("main.py", "ok") == "==1"
    assert len(resolver.diagnostics) == 3


def test_unreadable_config__is_reported() -> None:
    resolver = PythonResolver.from_files(["pyproject.toml", "main.py"], lambda path: None)
    assert resolver.resolve("main.py", "x") == Resolution("external", package="x")
    assert resolver.diagnostics == ("pyproject.toml: could not be read",)


@pytest.mark.parametrize(
    "specifier",
    [
        ".......x",
        "a..b",
        "a.",
        "",
        ".a..",
        "a/b",
        "../a",
        "a\x00b",
        "é\u200b",
        "." * 100_000,
        "a." * 50_000 + "a",
        "x" * 100_000,
    ],
)
def test_absurd_specifier__is_unresolved(specifier: str) -> None:
    resolver = make_resolver({"pkg/__init__.py": "", "pkg/m.py": ""})
    assert resolver.resolve("pkg/m.py", specifier) == Resolution("unresolved")


def test_many_nested_project_roots__are_bounded() -> None:
    directories = [("p/" * depth).rstrip("/") for depth in range(1, 60)]
    files = {f"{directory}/setup.py": "" for directory in directories}
    deepest = directories[-1]
    files[f"{deepest}/main.py"] = ""
    files["top.py"] = ""
    resolver = make_resolver(files)
    # the repository root is past the bound of roots for the deepest file: its `top` is no local module
    assert resolver.resolve(f"{deepest}/main.py", "top") == Resolution("external", package="top")
    assert resolver.resolve("main.py", "top") == Resolution("file", path="top.py")
