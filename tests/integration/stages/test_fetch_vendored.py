"""Vendored and generated code in real commits: skipped by where it is and by the .gitattributes, never when
first-party code imports from it (``stages.fetch.vendored``)."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from pygit2.enums import AttrCheck

from pipeline.local import index_commit
from stages import fetch
from stages.commit import CommitContext
from stages.fetch.attributes import MAX_RULES, Rule
from stages.fetch.vendored import MAX_ATTRIBUTES_BYTES
from tests.integration.pipeline.repos import commit_files, new_repository

MAX_FILE_BYTES = 1024 * 1024
CODE = "export const x = 1;\n"


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return new_repository(tmp_path / "repo")


def listed(repo: pygit2.Repository, files: dict[str, bytes | str]) -> tuple[fetch.FileListing, CommitContext]:
    sha = commit_files(repo, files, "commit")
    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)
    return listing, fetch.commit_context(repo, sha, rescued=listing.rescued)


def paths(listing: fetch.FileListing) -> list[str]:
    return [item.path for item in listing.items]


def test_list_files__vendor_and_build_output_are_skipped_only_at_a_package_root(repo: pygit2.Repository) -> None:
    listing, context = listed(
        repo,
        {
            "package.json": "{}",
            "vendor/jquery.js": CODE,
            "dist/app.js": CODE,
            "packages/ui/package.json": "{}",
            "packages/ui/build/index.js": CODE,
            "packages/ui/vendor/lib.js": CODE,
            "packages/ui/src/vendor/patched.ts": CODE,
            "packages/ui/src/build/plugin.ts": CODE,
            "src/out/report.ts": CODE,
            "src/node_modules/dep/index.js": CODE,
            "src/.next/page.js": CODE,
        },
    )
    assert paths(listing) == [
        "packages/ui/src/build/plugin.ts",
        "packages/ui/src/vendor/patched.ts",
        "src/out/report.ts",
    ]
    assert listing.skipped["vendored"] == 6
    assert "packages/ui/vendor/lib.js" not in context.paths
    assert "packages/ui/src/vendor/patched.ts" in context.paths


def test_list_files__a_directory_first_party_code_imports_from_is_indexed(repo: pygit2.Repository) -> None:
    files: dict[str, bytes | str] = {
        "package.json": '{"name": "app"}',
        "src/app.ts": 'import { lib } from "../vendor/lib";\nimport "../vendor/styles.css";\nlib();\n',
        "vendor/lib/index.ts": 'export { lib } from "./impl";\n',
        "vendor/lib/impl.ts": "export function lib(): void {}\n",
        "vendor/styles.css": "body {}\n",
        "vendor/other.js": CODE,
        "dist/bundle.js": CODE,
    }
    listing, context = listed(repo, files)

    assert paths(listing) == ["src/app.ts", "vendor/lib/impl.ts", "vendor/lib/index.ts", "vendor/other.js"]
    assert listing.skipped["vendored"] == 1  # dist/bundle.js: nothing imports it
    assert listing.rescued.dirs == {"vendor"}
    assert {"vendor/lib/index.ts", "vendor/styles.css"} <= set(context.paths)
    assert "dist/bundle.js" not in context.paths

    local = index_commit(repo, listing.commit_sha, max_file_bytes=MAX_FILE_BYTES)
    file_paths = [file.path for file in local.files]
    app = file_paths.index("src/app.ts")
    resolved = [(r.kind, r.target_file, r.target_path) for r in local.linked.linked.resolved_imports if r.file == app]
    assert resolved == [
        ("file", file_paths.index("vendor/lib/index.ts"), None),
        ("file", None, "vendor/styles.css"),
    ]
    bindings = [b.target for b in local.linked.linked.binding_links if b.file == app]
    assert [None if t is None else file_paths[t.file] for t in bindings] == ["vendor/lib/impl.ts"]


def test_list_files__an_import_into_installed_dependencies_indexes_that_package_only(
    repo: pygit2.Repository,
) -> None:
    listing, _ = listed(
        repo,
        {
            "src/a.js": 'const pad = require("../node_modules/left-pad/index.js");\n',
            "src/b.ts": 'export * from "../node_modules/@scope/kit/lib";\nimport("./c");\n',
            "src/c.ts": CODE,
            "node_modules/left-pad/index.js": CODE,
            "node_modules/right-pad/index.js": CODE,
            "node_modules/@scope/kit/lib.ts": CODE,
            "node_modules/@scope/other/index.ts": CODE,
        },
    )
    assert paths(listing) == [
        "node_modules/@scope/kit/lib.ts",
        "node_modules/left-pad/index.js",
        "src/a.js",
        "src/b.ts",
        "src/c.ts",
    ]
    assert listing.rescued.dirs == {"node_modules/left-pad", "node_modules/@scope/kit"}
    assert listing.skipped["vendored"] == 2


def test_list_files__the_rule_applies_again_inside_a_rescued_directory(repo: pygit2.Repository) -> None:
    listing, _ = listed(
        repo,
        {
            "src/a.js": 'require("../node_modules/outer/index.js");\n',
            "node_modules/outer/index.js": 'require("./node_modules/inner");\n',
            "node_modules/outer/node_modules/inner/index.js": CODE,
            "node_modules/outer/node_modules/unused/index.js": CODE,
            "node_modules/outer/package.json": "{}",
            "node_modules/outer/dist/bundle.js": CODE,
        },
    )
    assert paths(listing) == [
        "node_modules/outer/index.js",
        "node_modules/outer/node_modules/inner/index.js",
        "src/a.js",
    ]
    assert listing.rescued.dirs == {"node_modules/outer", "node_modules/outer/node_modules/inner"}
    assert listing.skipped["vendored"] == 2


def test_list_files__rescued_files_are_scanned_in_turn(repo: pygit2.Repository) -> None:
    listing, _ = listed(
        repo,
        {
            "src/app.ts": 'import "../vendor/a";\n',
            "vendor/a.ts": 'import "../build/b";\n',
            "build/b.ts": CODE,
            "out/c.ts": CODE,
        },
    )
    assert paths(listing) == ["build/b.ts", "src/app.ts", "vendor/a.ts"]
    assert listing.skipped["vendored"] == 1


def test_list_files__gitattributes_mark_and_unmark_vendored_and_generated_paths(repo: pygit2.Repository) -> None:
    listing, context = listed(
        repo,
        {
            ".gitattributes": (
                "# linguist\n"
                "static/** linguist-vendored\n"
                "*.pb.ts linguist-generated\n"
                "/api/**/*.gen.ts linguist-generated=true\n"
                "vendor/keep.js -linguist-vendored\n"
                "vendor/also.js linguist-vendored=false\n"
                "src/gone.ts linguist-vendored\n"
                "src/gone.ts !linguist-vendored\n"
            ),
            "static/js/app.js": CODE,
            "src/msg.pb.ts": CODE,
            "src/gone.ts": CODE,
            "api/v1/client.gen.ts": CODE,
            "api/client.gen.ts": CODE,
            "lib/api/v1/client.gen.ts": CODE,
            "vendor/keep.js": CODE,
            "vendor/also.js": CODE,
            "vendor/dropped.js": CODE,
            "sub/.gitattributes": "local.js linguist-vendored\n",
            "sub/local.js": CODE,
            "sub/deeper/local.js": CODE,
            "local.js": CODE,
        },
    )
    assert paths(listing) == [
        "lib/api/v1/client.gen.ts",
        "local.js",
        "src/gone.ts",
        "vendor/also.js",
        "vendor/keep.js",
    ]
    assert listing.skipped["vendored"] == 4  # static/js/app.js, vendor/dropped.js, sub/local.js, sub/deeper/local.js
    assert listing.skipped["generated"] == 3  # src/msg.pb.ts, api/v1/client.gen.ts, api/client.gen.ts
    assert "vendor/keep.js" in context.paths
    assert "src/msg.pb.ts" not in context.paths


def test_list_files__an_imported_generated_file_is_indexed_and_the_others_are_not(repo: pygit2.Repository) -> None:
    listing, context = listed(
        repo,
        {
            ".gitattributes": "src/gen/** linguist-generated\n",
            "src/app.ts": 'import { x } from "./gen/api";\nimport data from "./gen/data.json";\n',
            "src/gen/api.ts": 'export * from "./types";\n',
            "src/gen/types.ts": CODE,
            "src/gen/unused.ts": CODE,
            "src/gen/data.json": "{}",
        },
    )
    assert paths(listing) == ["src/app.ts", "src/gen/api.ts", "src/gen/types.ts"]
    assert listing.skipped["generated"] == 1  # src/gen/unused.ts (the .json file is put back, and not code)
    assert {"src/gen/api.ts", "src/gen/data.json"} <= set(context.paths)
    assert "src/gen/unused.ts" not in context.paths


def test_list_files__gitattributes_beyond_the_byte_bound_are_not_applied(repo: pygit2.Repository) -> None:
    padding = "# padding\n" * (MAX_ATTRIBUTES_BYTES // 10)
    listing, _ = listed(
        repo,
        {
            ".gitattributes": "*.gen.ts linguist-generated\n",
            "small/.gitattributes": "x.ts linguist-vendored\n",
            "small/x.ts": CODE,
            "small/y.gen.ts": CODE,
            "big/.gitattributes": padding + "x.ts linguist-vendored\n",
            "big/x.ts": CODE,
            "big/y.gen.ts": CODE,
        },
    )
    assert paths(listing) == ["big/x.ts", "big/y.gen.ts"]
    assert listing.skipped["vendored"] == 1
    assert listing.skipped["generated"] == 1


def test_list_files__rules_past_the_bound_are_not_copied_in_each_directory(
    repo: pygit2.Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = MAX_ATTRIBUTES_BYTES // 32  # one attributes file near the byte bound, repeated in every directory
    attributes = "".join(f"f{index}.ts linguist-vendored\n" for index in range(rules))
    directories = [f"d{index}" for index in range(20)]
    files: dict[str, bytes | str] = {}
    for directory in directories:
        files |= {
            f"{directory}/.gitattributes": attributes,
            f"{directory}/f0.ts": CODE,
            f"{directory}/f{rules - 1}.ts": CODE,
        }
    copies = 0
    replace = Rule._replace

    def counted(rule: Rule, *, base: str) -> Rule:
        nonlocal copies
        copies += 1
        return replace(rule, base=base)

    monkeypatch.setattr(Rule, "_replace", counted)
    sha = commit_files(repo, files, "commit")
    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)  # one walk: nothing is imported

    assert paths(listing) == sorted(f"{directory}/f{rules - 1}.ts" for directory in directories)  # past the bound
    assert 0 < copies <= len(directories) * MAX_RULES


PATTERNS = [
    "*.gen.ts linguist-generated",
    "/root-only.js linguist-vendored",
    "docs/*.js linguist-vendored",
    "lib/**/deep.js linguist-vendored",
    "**/fixtures/** linguist-vendored",
    "third/** linguist-vendored",
    "third/keep/** -linguist-vendored",
    "a?c.ts linguist-generated",
    "[ab]x.ts linguist-generated",
    "[!ab]y.ts linguist-generated=true",
    "z*z*z.ts linguist-generated",
    "third/keep/again.js linguist-vendored=false",
    "mixed.ts linguist-vendored linguist-generated",
    "mixed.ts !linguist-vendored",
    "dir/ linguist-vendored",
    "\\#hash.ts linguist-generated",
    "cls[[:digit:]].ts linguist-generated",
    "sp[[:space:][:upper:]]q.ts linguist-generated",
    "bad[[:nope:]].ts linguist-generated",
    "col[[:x].ts linguist-generated",
    "esc[\\d].ts linguist-generated",
    "rng[\\a-\\c].ts linguist-generated",
    "amp[a&&b].ts linguist-generated",
    "bar[x||y].ts linguist-generated",
    "set[a--b].ts linguist-generated",
    "rev[z-a].ts linguist-generated",
    "neg[!z-a].ts linguist-generated",
    "rb[]a].ts linguist-generated",
    "un[closed.ts linguist-generated",
]
PROBES = [
    "a.gen.ts",
    "src/b.gen.ts",
    "root-only.js",
    "src/root-only.js",
    "docs/x.js",
    "docs/sub/x.js",
    "lib/deep.js",
    "lib/a/b/deep.js",
    "src/lib/deep.js",
    "fixtures/x.ts",
    "src/fixtures/a/b.ts",
    "third/x.js",
    "third/keep/y.js",
    "third/keep/again.js",
    "abc.ts",
    "src/abbc.ts",
    "ax.ts",
    "cx.ts",
    "cy.ts",
    "ay.ts",
    "zz.ts",
    "zzz.ts",
    "zaazbbz.ts",
    "mixed.ts",
    "src/mixed.ts",
    "dir/x.ts",
    "#hash.ts",
    "sub/a.gen.ts",
    "sub/x.ts",
    "cls1.ts",
    "clsa.ts",
    "spAq.ts",
    "sp q.ts",
    "spaq.ts",
    "badn.ts",
    "col[.ts",
    "colx.ts",
    "coly.ts",
    "escd.ts",
    "esc1.ts",
    "rngb.ts",
    "rngd.ts",
    "amp&.ts",
    "ampc.ts",
    "bar|.ts",
    "barz.ts",
    "set-.ts",
    "setb.ts",
    "set,.ts",
    "revz.ts",
    "reva.ts",
    "negz.ts",
    "nega.ts",
    "rb].ts",
    "rbb.ts",
    "un[closed.ts",
]


def test_gitattributes__the_listing_agrees_with_git_on_every_probe(repo: pygit2.Repository) -> None:
    files: dict[str, bytes | str] = {
        ".gitattributes": "\n".join(PATTERNS) + "\n",
        "sub/.gitattributes": "x.ts linguist-vendored\n*.gen.ts -linguist-generated\n",
    }
    files |= dict.fromkeys(PROBES, CODE)
    sha = commit_files(repo, files, "probes")
    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)
    flags = AttrCheck.INCLUDE_COMMIT | AttrCheck.NO_SYSTEM | AttrCheck.INDEX_ONLY

    def marked(path: str, name: str) -> bool:
        value = repo.get_attr(path, name, flags, sha)
        return value is True or (isinstance(value, str) and value != "false")

    expected = sorted(
        path for path in PROBES if not marked(path, "linguist-vendored") and not marked(path, "linguist-generated")
    )
    assert paths(listing) == expected
    assert len(expected) not in (0, len(PROBES))
