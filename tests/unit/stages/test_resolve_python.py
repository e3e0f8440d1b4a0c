"""Python import resolution over in-memory commits: every rule, declared distributions and their versions."""

from __future__ import annotations

import pytest

from stages.fetch.context import is_config_path
from stages.resolve import Resolution
from stages.resolve_python import PythonResolver, normalise_distribution, parse_specifier
from stages.resolvers import CommitResolver


def make_resolver(files: dict[str, str]) -> PythonResolver:
    return PythonResolver.from_files(files, files.get)


def file(path: str) -> Resolution:
    return Resolution("file", path=path)


def external(name: str) -> Resolution:
    return Resolution("external", package=name)


def builtin(name: str) -> Resolution:
    return Resolution("builtin", package=name)


UNRESOLVED = Resolution("unresolved")

PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/core.py": "",
    "pkg/sub/__init__.py": "",
    "pkg/sub/leaf.py": "",
    "pkg/sub/leaf.pyi": "",
}

# --- relative specifiers -------------------------------------------------------------------------------------


def test_resolve__single_dot_is_the_importers_package() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/core.py", ".") == file("pkg/__init__.py")
    assert resolver.resolve("pkg/__init__.py", ".") == file("pkg/__init__.py")


def test_resolve__relative_module_is_looked_up_in_the_importers_package() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/__init__.py", ".core") == file("pkg/core.py")
    assert resolver.resolve("pkg/core.py", ".sub") == file("pkg/sub/__init__.py")


def test_resolve__each_further_dot_goes_one_package_up() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/sub/leaf.py", "..core") == file("pkg/core.py")
    assert resolver.resolve("pkg/sub/leaf.py", "..") == file("pkg/__init__.py")


def test_resolve__relative_past_the_repository_root_is_unresolved() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/core.py", "...core") == UNRESOLVED
    assert resolver.resolve("pkg/core.py", ".......x") == UNRESOLVED


def test_resolve__relative_missing_module_is_unresolved() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/core.py", ".missing") == UNRESOLVED


def test_resolve__stub_wins_over_its_module() -> None:
    resolver = make_resolver(PACKAGE)
    assert resolver.resolve("pkg/sub/__init__.py", ".leaf") == file("pkg/sub/leaf.pyi")


def test_resolve__package_stub_init_wins_over_its_init() -> None:
    resolver = make_resolver({"a/__init__.py": "", "a/__init__.pyi": "", "main.py": ""})
    assert resolver.resolve("main.py", "a") == file("a/__init__.pyi")


# --- absolute specifiers and package roots -------------------------------------------------------------------


def test_resolve__absolute_from_inside_a_package_starts_at_the_directory_above_its_top_package() -> None:
    resolver = make_resolver({"lib/pkg/__init__.py": "", "lib/pkg/a/__init__.py": "", "lib/pkg/a/m.py": ""})
    assert resolver.resolve("lib/pkg/a/m.py", "pkg.a") == file("lib/pkg/a/__init__.py")


def test_resolve__src_layout_is_a_root_of_the_project() -> None:
    resolver = make_resolver(
        {"pyproject.toml": "", "src/app/__init__.py": "", "src/app/x.py": "", "tests/test_x.py": ""}
    )
    assert resolver.resolve("tests/test_x.py", "app.x") == file("src/app/x.py")


def test_resolve__nested_project_root_and_its_src_come_before_the_repository_root() -> None:
    files = {
        "svc/setup.cfg": "",
        "svc/src/util.py": "",
        "util.py": "",
        "svc/tests/test_a.py": "",
    }
    resolver = make_resolver(files)
    assert resolver.resolve("svc/tests/test_a.py", "util") == file("svc/src/util.py")
    assert resolver.resolve("main.py", "util") == file("util.py")


def test_resolve__script_directory_is_the_first_root() -> None:
    resolver = make_resolver({"scripts/run.py": "", "scripts/helpers.py": "", "helpers.py": ""})
    assert resolver.resolve("scripts/run.py", "helpers") == file("scripts/helpers.py")


def test_resolve__namespace_package_is_its_directory() -> None:
    resolver = make_resolver({"ns/part/m.py": "", "main.py": ""})
    assert resolver.resolve("main.py", "ns") == file("ns")
    assert resolver.resolve("main.py", "ns.part") == file("ns/part")
    assert resolver.resolve("main.py", "ns.part.m") == file("ns/part/m.py")


def test_resolve__regular_package_on_a_later_root_wins_over_a_namespace_on_an_earlier_one() -> None:
    resolver = make_resolver({"tools/run.py": "", "tools/app/data.py": "", "app/__init__.py": ""})
    assert resolver.resolve("tools/run.py", "app") == file("app/__init__.py")


def test_resolve__directory_without_python_files_is_no_namespace_package() -> None:
    resolver = make_resolver({"docs/index.md": "", "main.py": ""})
    assert resolver.resolve("main.py", "docs") == external("docs")


# --- standard library and external distributions ------------------------------------------------------------


@pytest.mark.parametrize(("specifier", "package"), [("os", "os"), ("os.path", "os"), ("__future__", "__future__")])
def test_resolve__standard_library_is_builtin_named_by_first_segment(specifier: str, package: str) -> None:
    assert make_resolver({"main.py": ""}).resolve("main.py", specifier) == builtin(package)


def test_resolve__local_module_shadows_the_standard_library() -> None:
    resolver = make_resolver({"main.py": "", "json.py": ""})
    assert resolver.resolve("main.py", "json") == file("json.py")


@pytest.mark.parametrize(
    ("specifier", "package"),
    [("yaml", "pyyaml"), ("PIL.Image", "pillow"), ("sklearn.svm", "scikit-learn"), ("bs4", "beautifulsoup4")],
)
def test_resolve__well_known_import_names_map_to_their_distribution(specifier: str, package: str) -> None:
    assert make_resolver({"main.py": ""}).resolve("main.py", specifier) == external(package)


def test_resolve__undeclared_external_is_its_first_segment_normalised() -> None:
    resolver = make_resolver({"main.py": ""})
    assert resolver.resolve("main.py", "Foo_Bar.baz") == external("foo-bar")


def test_resolve__declared_distribution_is_matched_by_normalised_name() -> None:
    files = {"pyproject.toml": '[project]\ndependencies = ["Tree_Sitter>=0.23"]\n', "main.py": ""}
    resolver = make_resolver(files)
    assert resolver.resolve("main.py", "tree_sitter") == external("tree-sitter")
    assert resolver.package_version("main.py", "tree-sitter") == ">=0.23"


# --- declared versions ---------------------------------------------------------------------------------------


def test_package_version__pep_621_dependencies_and_extras() -> None:
    pyproject = """
[project]
dependencies = ["requests[socks] >= 2.0, <3 ; python_version < '3.13'", "attrs"]
[project.optional-dependencies]
dev = ["pytest==8.3.2"]
"""
    resolver = make_resolver({"pyproject.toml": pyproject, "main.py": ""})
    assert resolver.package_version("main.py", "requests") == ">=2.0,<3"
    assert resolver.package_version("main.py", "pytest") == "==8.3.2"
    assert resolver.package_version("main.py", "attrs") is None
    assert resolver.resolve("main.py", "attr") == external("attrs")


def test_package_version__poetry_dependencies_and_groups() -> None:
    pyproject = """
[tool.poetry.dependencies]
python = "^3.11"
click = "^8.1"
httpx = { version = "~0.27", extras = ["http2"] }
[tool.poetry.group.test.dependencies]
pytest = "*"
"""
    resolver = make_resolver({"pyproject.toml": pyproject, "main.py": ""})
    assert resolver.package_version("main.py", "click") == "^8.1"
    assert resolver.package_version("main.py", "httpx") == "~0.27"
    assert resolver.package_version("main.py", "pytest") == "*"
    assert resolver.package_version("main.py", "python") is None


def test_package_version__pep_735_dependency_groups() -> None:
    pyproject = '[dependency-groups]\nlint = ["ruff>=0.6", {include-group = "x"}]\n'
    resolver = make_resolver({"pyproject.toml": pyproject, "main.py": ""})
    assert resolver.package_version("main.py", "ruff") == ">=0.6"


def test_package_version__setup_cfg_install_requires_and_extras() -> None:
    setup_cfg = """
[metadata]
name = app
[options]
install_requires =
    numpy>=1.26  # arrays
    PyYAML
[options.extras_require]
plot = matplotlib==3.9.0
"""
    resolver = make_resolver({"setup.cfg": setup_cfg, "main.py": ""})
    assert resolver.package_version("main.py", "numpy") == ">=1.26"
    assert resolver.package_version("main.py", "matplotlib") == "==3.9.0"
    assert resolver.resolve("main.py", "yaml") == external("pyyaml")


def test_package_version__requirements_with_comments_markers_extras_urls_and_includes() -> None:
    requirements = """
# pinned
-r requirements/base.txt
--index-url https://example.invalid/simple
flask[async]>=2.3 ; python_version >= "3.8"   # web
-e git+https://example.invalid/x.git#egg=edited_dist
pinned @ https://example.invalid/pinned-1.0.tar.gz
https://example.invalid/archive.zip#egg=from_url
long \\
  ==1.0
"""
    files = {
        "requirements.txt": requirements,
        "requirements/base.txt": "Django~=5.0\n",
        "main.py": "",
    }
    resolver = make_resolver(files)
    assert resolver.package_version("main.py", "flask") == ">=2.3"
    assert resolver.package_version("main.py", "django") == "~=5.0"
    assert resolver.package_version("main.py", "long") == "==1.0"
    assert resolver.resolve("main.py", "edited_dist") == external("edited-dist")
    assert resolver.resolve("main.py", "pinned") == external("pinned")
    assert resolver.resolve("main.py", "from_url") == external("from-url")
    assert resolver.package_version("main.py", "pinned") is None
    assert resolver.diagnostics == ()


def test_package_version__nearest_declaring_project_wins() -> None:
    files = {
        "requirements.txt": "requests==2.0\nrich==13.0\n",
        "svc/requirements.txt": "requests==2.32\n",
        "svc/app.py": "",
    }
    resolver = make_resolver(files)
    assert resolver.package_version("svc/app.py", "requests") == "==2.32"
    assert resolver.package_version("svc/app.py", "rich") == "==13.0"
    assert resolver.package_version("other.py", "requests") == "==2.0"


def test_commit_resolver__sends_python_importers_to_the_python_resolver() -> None:
    files = {"pyproject.toml": '[project]\ndependencies = ["pyyaml==6.0.2"]\n', "app/__init__.py": "", "main.py": ""}
    resolver = CommitResolver.from_files(files, files.get)
    assert resolver.resolve("main.py", "app") == file("app/__init__.py")
    assert resolver.resolve("main.py", "yaml") == external("pyyaml")
    assert resolver.package_version("main.py", "pyyaml") == "==6.0.2"


# --- the specifier grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specifier", "parsed"),
    [
        (".", (1, ())),
        ("..a.b", (2, ("a", "b"))),
        ("a", (0, ("a",))),
        ("données.été", (0, ("données", "été"))),
        ("", None),
        ("a..b", None),
        ("a.", None),
        (".a.", None),
        ("1a", None),
        ("a-b", None),
        ("a b", None),
        ("." * 600, None),
    ],
)
def test_parse_specifier__dotted_identifiers_after_leading_dots(
    specifier: str, parsed: tuple[int, tuple[str, ...]] | None
) -> None:
    assert parse_specifier(specifier) == parsed


def test_resolve__unicode_module_names_resolve_like_any_other() -> None:
    resolver = make_resolver({"données/__init__.py": "", "données/été.py": "", "main.py": ""})
    assert resolver.resolve("main.py", "données.été") == file("données/été.py")


@pytest.mark.parametrize(("name", "normalised"), [("Foo_Bar", "foo-bar"), ("a.-_b", "a-b"), ("PyYAML", "pyyaml")])
def test_normalise_distribution__pep_503(name: str, normalised: str) -> None:
    assert normalise_distribution(name) == normalised


def test_package_version__requirements_files_named_as_the_fetch_stage_reads_them() -> None:
    """Only config files reach the resolver (``is_config_path``): ``dev-requirements.txt`` and
    ``requirements/test.txt`` are read, with their includes; an include of another name is reported as not read."""
    files = {
        "requirements.txt": "-r dev-requirements.txt\n-r base.txt\n",
        "dev-requirements.txt": "pytest>=8\n-r requirements/test.txt\n",
        "requirements/test.txt": "hypothesis==6.1\n",
        "constraints.txt": "rich<14\n",
        "base.txt": "django==5.0\n",
        "main.py": "",
    }
    readable = {path: text for path, text in files.items() if is_config_path(path)}
    assert set(readable) == {"requirements.txt", "dev-requirements.txt", "requirements/test.txt", "constraints.txt"}
    resolver = PythonResolver(frozenset(files), readable.get)
    assert resolver.package_version("main.py", "pytest") == ">=8"
    assert resolver.package_version("main.py", "hypothesis") == "==6.1"
    assert resolver.package_version("main.py", "rich") == "<14"
    assert resolver.package_version("main.py", "django") is None
    assert len(resolver.diagnostics) == 1
    assert resolver.diagnostics[0].startswith("requirements.txt: included file 'base.txt' is not read")


def test_resolve__a_package_wins_over_a_module_of_the_same_name() -> None:
    """CPython's FileFinder takes the directory with ``__init__`` before ``name.py`` beside it."""
    resolver = make_resolver({"app/__init__.py": "", "app.py": "", "app/util.py": "", "main.py": ""})
    assert resolver.resolve("main.py", "app") == file("app/__init__.py")
    assert resolver.resolve("main.py", "app.util") == file("app/util.py")
    assert resolver.resolve("app/__init__.py", ".util") == file("app/util.py")
