"""Module specifier resolution over in-memory commits: every rule and the awkward cases."""

from __future__ import annotations

import json

import pytest

from stages.resolve import (
    MAX_DIAGNOSTIC_CHARS,
    MAX_DIAGNOSTICS_PER_FILE,
    MAX_EXTENDS,
    ModuleResolver,
    Resolution,
    package_name,
    strip_json_comments,
)


def make_resolver(files: dict[str, str | dict[str, object]]) -> ModuleResolver:
    """A resolver over an in-memory commit; dict values are written as JSON."""
    texts = {path: content if isinstance(content, str) else json.dumps(content) for path, content in files.items()}
    return ModuleResolver.from_files(texts, texts.get)


def file(path: str) -> Resolution:
    return Resolution("file", path=path)


def external(name: str) -> Resolution:
    return Resolution("external", package=name)


def builtin(name: str) -> Resolution:
    return Resolution("builtin", package=name)


UNRESOLVED = Resolution("unresolved")


# --- relative specifiers -------------------------------------------------------------------------------------


def test_resolve__relative_specifier_with_exact_name_is_that_file() -> None:
    resolver = make_resolver({"src/a.ts": "", "src/data.json": "{}"})
    assert resolver.resolve("src/a.ts", "./data.json") == file("src/data.json")


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (["src/b.ts", "src/b.tsx", "src/b.js"], "src/b.ts"),
        (["src/b.tsx", "src/b.d.ts", "src/b.js"], "src/b.tsx"),
        (["src/b.d.ts", "src/b.js"], "src/b.d.ts"),
        (["src/b.js", "src/b.jsx"], "src/b.js"),
        (["src/b.jsx", "src/b.mjs"], "src/b.jsx"),
        (["src/b.mjs", "src/b.cjs"], "src/b.mjs"),
        (["src/b.cjs", "src/b.mts"], "src/b.cjs"),
        (["src/b.mts", "src/b.cts"], "src/b.mts"),
        (["src/b.cts"], "src/b.cts"),
    ],
)
def test_resolve__extensionless_specifier_tries_extensions_in_order(present: list[str], expected: str) -> None:
    resolver = make_resolver({"src/a.ts": "", **dict.fromkeys(present, "")})
    assert resolver.resolve("src/a.ts", "./b") == file(expected)


def test_resolve__directory_specifier_is_its_index_file() -> None:
    resolver = make_resolver({"src/a.ts": "", "src/utils/index.tsx": "", "src/utils/helpers.ts": ""})
    assert resolver.resolve("src/a.ts", "./utils") == file("src/utils/index.tsx")
    assert resolver.resolve("src/a.ts", "./utils/") == file("src/utils/index.tsx")


def test_resolve__file_wins_over_directory_of_the_same_name() -> None:
    resolver = make_resolver({"src/a.ts": "", "src/utils.ts": "", "src/utils/index.ts": ""})
    assert resolver.resolve("src/a.ts", "./utils") == file("src/utils.ts")


def test_resolve__directory_with_package_json_uses_its_entry() -> None:
    resolver = make_resolver(
        {"src/a.ts": "", "src/lib/package.json": {"main": "./main.js"}, "src/lib/main.js": "", "src/lib/index.ts": ""}
    )
    assert resolver.resolve("src/a.ts", "./lib") == file("src/lib/main.js")


def test_resolve__parent_and_dot_specifiers_walk_up() -> None:
    resolver = make_resolver({"src/deep/a.ts": "", "src/b.ts": "", "src/index.ts": "", "index.js": ""})
    assert resolver.resolve("src/deep/a.ts", "../b") == file("src/b.ts")
    assert resolver.resolve("src/deep/a.ts", "..") == file("src/index.ts")
    assert resolver.resolve("src/b.ts", ".") == file("src/index.ts")
    assert resolver.resolve("src/b.ts", "../index.js") == file("index.js")


def test_resolve__js_extension_names_the_typescript_source() -> None:
    resolver = make_resolver({"src/a.ts": "", "src/b.ts": "", "src/c.tsx": "", "src/d.d.ts": ""})
    assert resolver.resolve("src/a.ts", "./b.js") == file("src/b.ts")
    assert resolver.resolve("src/a.ts", "./c.js") == file("src/c.tsx")
    assert resolver.resolve("src/a.ts", "./c.jsx") == file("src/c.tsx")
    assert resolver.resolve("src/a.ts", "./d.js") == file("src/d.d.ts")


def test_resolve__mjs_and_cjs_extensions_name_mts_and_cts_sources() -> None:
    resolver = make_resolver({"a.mts": "", "b.mts": "", "c.cts": "", "d.mjs": ""})
    assert resolver.resolve("a.mts", "./b.mjs") == file("b.mts")
    assert resolver.resolve("a.mts", "./c.cjs") == file("c.cts")
    assert resolver.resolve("a.mts", "./d.mjs") == file("d.mjs")


def test_resolve__typescript_source_wins_over_emitted_js_next_to_it() -> None:
    resolver = make_resolver({"a.ts": "", "b.ts": "", "b.js": ""})
    assert resolver.resolve("a.ts", "./b.js") == file("b.ts")


def test_resolve__js_file_without_typescript_source_is_the_js_file() -> None:
    resolver = make_resolver({"a.js": "", "b.js": ""})
    assert resolver.resolve("a.js", "./b.js") == file("b.js")


def test_resolve__dotted_file_name_gets_extensions() -> None:
    resolver = make_resolver({"a.ts": "", "Button.styles.ts": ""})
    assert resolver.resolve("a.ts", "./Button.styles") == file("Button.styles.ts")


def test_resolve__missing_relative_target_is_unresolved() -> None:
    resolver = make_resolver({"src/a.ts": "", "src/b.css.map": ""})
    assert resolver.resolve("src/a.ts", "./missing") == UNRESOLVED
    assert resolver.resolve("src/a.ts", "./b.css") == UNRESOLVED


def test_resolve__relative_specifier_escaping_the_repository_is_unresolved() -> None:
    resolver = make_resolver({"a.ts": "", "b.ts": ""})
    assert resolver.resolve("a.ts", "../b") == UNRESOLVED
    assert resolver.resolve("a.ts", "../../a") == UNRESOLVED


def test_resolve__absolute_specifier_is_relative_to_the_repository_root() -> None:
    resolver = make_resolver({"src/a.ts": "", "lib/b.ts": ""})
    assert resolver.resolve("src/a.ts", "/lib/b") == file("lib/b.ts")


def test_resolve__empty_specifier_is_unresolved() -> None:
    assert make_resolver({"a.ts": ""}).resolve("a.ts", "") == UNRESOLVED


# --- builtins and externals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        ("fs", builtin("fs")),
        ("node:fs", builtin("fs")),
        ("fs/promises", builtin("fs")),
        ("node:fs/promises", builtin("fs")),
        ("node:test", builtin("test")),
        ("path", builtin("path")),
        ("worker_threads", builtin("worker_threads")),
        ("react", external("react")),
        ("react-dom/client", external("react-dom")),
        ("@scope/pkg", external("@scope/pkg")),
        ("@scope/pkg/deep/sub/path.js", external("@scope/pkg")),
        ("lodash/fp/map", external("lodash")),
        ("fsevents", external("fsevents")),
    ],
)
def test_resolve__bare_specifiers_outside_the_repository_are_builtins_or_externals(
    specifier: str, expected: Resolution
) -> None:
    assert make_resolver({"a.ts": ""}).resolve("a.ts", specifier) == expected


def test_package_name__drops_subpaths_and_keeps_scopes() -> None:
    assert package_name("@a/b/c/d") == "@a/b"
    assert package_name("a/b/c") == "a"
    assert package_name("@a") == "@a"


# --- tsconfig baseUrl and paths ------------------------------------------------------------------------------


def test_resolve__base_url_resolves_bare_specifiers_from_the_config_directory() -> None:
    resolver = make_resolver(
        {"app/tsconfig.json": {"compilerOptions": {"baseUrl": "./src"}}, "app/src/a.ts": "", "app/src/lib/b.ts": ""}
    )
    assert resolver.resolve("app/src/a.ts", "lib/b") == file("app/src/lib/b.ts")
    assert resolver.resolve("app/src/a.ts", "react") == external("react")


def test_resolve__paths_wildcard_maps_onto_targets() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]}}},
            "src/a.ts": "",
            "src/components/Button.tsx": "",
        }
    )
    assert resolver.resolve("src/a.ts", "@/components/Button") == file("src/components/Button.tsx")


def test_resolve__paths_without_base_url_are_relative_to_the_config() -> None:
    resolver = make_resolver(
        {"web/tsconfig.json": {"compilerOptions": {"paths": {"~/*": ["./app/*"]}}}, "web/app/x.ts": "", "web/y.ts": ""}
    )
    assert resolver.resolve("web/y.ts", "~/x") == file("web/app/x.ts")


def test_resolve__paths_try_every_target_in_order() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"baseUrl": ".", "paths": {"#lib/*": ["gen/*", "src/*"]}}},
            "src/a.ts": "",
            "src/util.ts": "",
        }
    )
    assert resolver.resolve("src/a.ts", "#lib/util") == file("src/util.ts")


def test_resolve__paths_pick_the_longest_matching_prefix() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {
                "compilerOptions": {
                    "baseUrl": ".",
                    "paths": {"@app/*": ["src/app/*"], "@app/shared/*": ["shared/*"], "*": ["vendor/*"]},
                }
            },
            "src/app/shared/x.ts": "",
            "shared/x.ts": "",
            "vendor/left-pad.js": "",
            "main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "@app/shared/x") == file("shared/x.ts")
    assert resolver.resolve("main.ts", "left-pad") == file("vendor/left-pad.js")


def test_resolve__paths_exact_key_wins_over_patterns() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"baseUrl": ".", "paths": {"config": ["cfg/main"], "*": ["x/*"]}}},
            "cfg/main.ts": "",
            "x/config.ts": "",
            "a.ts": "",
        }
    )
    assert resolver.resolve("a.ts", "config") == file("cfg/main.ts")


def test_resolve__paths_with_suffix_after_the_wildcard() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"paths": {"icons/*.svg": ["./assets/icons/*.tsx"]}}},
            "assets/icons/close.tsx": "",
            "a.ts": "",
        }
    )
    assert resolver.resolve("a.ts", "icons/close.svg") == file("assets/icons/close.tsx")


def test_resolve__unmatched_paths_target_falls_through_to_packages() -> None:
    resolver = make_resolver(
        {"tsconfig.json": {"compilerOptions": {"paths": {"*": ["./types/*"]}}}, "a.ts": "", "types/x.d.ts": ""}
    )
    assert resolver.resolve("a.ts", "x") == file("types/x.d.ts")
    assert resolver.resolve("a.ts", "react") == external("react")


def test_resolve__nearest_config_applies_to_each_file() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"paths": {"@/*": ["./root/*"]}}},
            "pkg/tsconfig.json": {"compilerOptions": {"paths": {"@/*": ["./inner/*"]}}},
            "root/x.ts": "",
            "pkg/inner/x.ts": "",
            "main.ts": "",
            "pkg/deep/main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "@/x") == file("root/x.ts")
    assert resolver.resolve("pkg/deep/main.ts", "@/x") == file("pkg/inner/x.ts")


def test_resolve__jsconfig_is_used_when_there_is_no_tsconfig() -> None:
    resolver = make_resolver(
        {"jsconfig.json": {"compilerOptions": {"baseUrl": "src"}}, "src/a.js": "", "src/lib/b.js": ""}
    )
    assert resolver.resolve("src/a.js", "lib/b") == file("src/lib/b.js")


def test_resolve__extends_chain_inherits_base_url_relative_to_the_base_config() -> None:
    resolver = make_resolver(
        {
            "config/tsconfig.base.json": {"compilerOptions": {"baseUrl": "..", "paths": {"@shared/*": ["shared/*"]}}},
            "config/tsconfig.mid.json": {"extends": "./tsconfig.base", "compilerOptions": {"strict": True}},
            "apps/web/tsconfig.json": {"extends": "../../config/tsconfig.mid.json"},
            "apps/web/main.ts": "",
            "shared/util.ts": "",
        }
    )
    assert resolver.resolve("apps/web/main.ts", "@shared/util") == file("shared/util.ts")


def test_resolve__child_paths_replace_the_inherited_paths() -> None:
    resolver = make_resolver(
        {
            "tsconfig.base.json": {"compilerOptions": {"paths": {"@old/*": ["./old/*"]}}},
            "app/tsconfig.json": {
                "extends": "../tsconfig.base.json",
                "compilerOptions": {"paths": {"@new/*": ["./n/*"]}},
            },
            "old/x.ts": "",
            "app/n/x.ts": "",
            "app/main.ts": "",
        }
    )
    assert resolver.resolve("app/main.ts", "@new/x") == file("app/n/x.ts")
    assert resolver.resolve("app/main.ts", "@old/x") == external("@old/x")


def test_resolve__inherited_paths_stay_relative_to_the_config_that_declares_them() -> None:
    resolver = make_resolver(
        {
            "tsconfig.base.json": {"compilerOptions": {"paths": {"@lib/*": ["./libs/*"]}}},
            "apps/web/tsconfig.json": {"extends": "../../tsconfig.base.json"},
            "libs/ui.ts": "",
            "apps/web/main.ts": "",
        }
    )
    assert resolver.resolve("apps/web/main.ts", "@lib/ui") == file("libs/ui.ts")


def test_resolve__extends_a_list_later_entries_win() -> None:
    resolver = make_resolver(
        {
            "a.json": {"compilerOptions": {"baseUrl": "./from-a"}},
            "b.json": {"compilerOptions": {"baseUrl": "./from-b"}},
            "tsconfig.json": {"extends": ["./a.json", "./b.json"]},
            "from-a/x.ts": "",
            "from-b/x.ts": "",
            "main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "x") == file("from-b/x.ts")


def test_resolve__extends_a_workspace_package_config() -> None:
    resolver = make_resolver(
        {
            "tooling/tsconfig/package.json": {"name": "@acme/tsconfig"},
            "tooling/tsconfig/base.json": {"compilerOptions": {"paths": {"@acme/env": ["./env.ts"]}}},
            "tooling/tsconfig/env.ts": "",
            "tooling/tsconfig/tsconfig.json": {"compilerOptions": {"baseUrl": "."}},
            "app/tsconfig.json": {"extends": "@acme/tsconfig/base.json"},
            "web/tsconfig.json": {"extends": "@acme/tsconfig"},
            "app/main.ts": "",
            "web/main.ts": "",
        }
    )
    assert resolver.resolve("app/main.ts", "@acme/env") == file("tooling/tsconfig/env.ts")
    assert resolver.resolve("web/main.ts", "env") == file("tooling/tsconfig/env.ts")


def test_resolve__config_dir_template_is_the_nearest_config_directory() -> None:
    resolver = make_resolver(
        {
            "tsconfig.base.json": {"compilerOptions": {"paths": {"@/*": ["${configDir}/src/*"]}}},
            "pkg/tsconfig.json": {"extends": "../tsconfig.base.json"},
            "pkg/src/x.ts": "",
            "pkg/main.ts": "",
        }
    )
    assert resolver.resolve("pkg/main.ts", "@/x") == file("pkg/src/x.ts")


def test_resolve__extends_cycle_is_reported_not_fatal() -> None:
    resolver = make_resolver(
        {
            "a.json": {"extends": "./tsconfig.json", "compilerOptions": {"baseUrl": "src"}},
            "tsconfig.json": {"extends": "./a.json"},
            "src/x.ts": "",
            "main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "x") == file("src/x.ts")
    assert any("extends cycle" in problem for problem in resolver.diagnostics)


def test_resolve__an_extends_chain_1500_deep_is_cut_at_the_bound_with_a_diagnostic() -> None:
    """Each config of a 1,500-deep chain (deeper than the recursion limit) considers at most ``MAX_EXTENDS`` bases:
    no recursion error, linear work, and in a linear chain the nearest bases (which set what the config does not)
    still apply."""
    depth = 1500
    files: dict[str, str | dict[str, object]] = {
        f"c{level}/tsconfig.json": {"extends": f"../c{level + 1}/tsconfig.json"} for level in range(depth)
    }
    files["c1/tsconfig.json"] = {"extends": "../c2/tsconfig.json", "compilerOptions": {"baseUrl": "../src"}}
    files.update({"src/x.ts": "", "c0/main.ts": ""})
    resolver = make_resolver(files)

    assert resolver.resolve("c0/main.ts", "x") == file("src/x.ts")
    assert f"c0/tsconfig.json: extends more than {MAX_EXTENDS} configs" in " ".join(resolver.diagnostics)
    assert len(resolver.extended_configs()) == depth - 1  # every config but the top one, each chain cut alike


def test_resolve__extends_a_list_of_thousands_considers_the_first_bases_only() -> None:
    bases = [f"./missing{index}.json" for index in range(10_000)]
    resolver = make_resolver({"tsconfig.json": {"extends": ["./a.json", *bases]}, "a.json": {}, "main.ts": ""})

    assert resolver.extended_configs() == {"a.json"}
    assert len(resolver.diagnostics) == MAX_DIAGNOSTICS_PER_FILE + 1  # then "more problems not reported"


def test_resolve__a_base_every_config_extends_reports_its_problems_once_and_bounded() -> None:
    """A 100 kB missing ``extends`` value in a base that 500 configs extend: its problems are reported once,
    each quoting at most ``MAX_DIAGNOSTIC_CHARS`` of the value."""
    missing = [f"./{index}{'x' * 100_000}.json" for index in range(3)]
    files: dict[str, str | dict[str, object]] = {"base.json": {"extends": missing}}
    files.update({f"p{index}/tsconfig.json": {"extends": "../base.json"} for index in range(500)})
    resolver = make_resolver(files)

    resolver.extended_configs()

    assert len(resolver.diagnostics) == 3
    assert all(len(problem) < MAX_DIAGNOSTIC_CHARS + 100 for problem in resolver.diagnostics)


def test_resolve__tsconfig_with_comments_and_trailing_commas_is_read() -> None:
    config = """{
      // the app's aliases
      "compilerOptions": {
        /* base */ "baseUrl": "./src", // trailing
        "paths": { "@/*": ["./*",], },
      },
    }"""
    resolver = make_resolver({"tsconfig.json": config, "src/lib/x.ts": "", "main.ts": ""})
    assert resolver.resolve("main.ts", "@/lib/x") == file("src/lib/x.ts")


def test_resolve__malformed_tsconfig_is_a_diagnostic_and_ignored() -> None:
    resolver = make_resolver({"tsconfig.json": '{"compilerOptions": {"baseUrl": ', "main.ts": "", "x.ts": ""})
    assert resolver.resolve("main.ts", "./x") == file("x.ts")
    assert resolver.resolve("main.ts", "x") == external("x")
    assert resolver.diagnostics == ("tsconfig.json: invalid JSON: Expecting value: line 1 column 33 (char 32)",)


def test_resolve__missing_extended_config_is_a_diagnostic() -> None:
    resolver = make_resolver({"tsconfig.json": {"extends": "@tsconfig/node20/tsconfig.json"}, "main.ts": ""})
    assert resolver.resolve("main.ts", "fs") == builtin("fs")
    assert resolver.diagnostics == (
        "tsconfig.json: extends '@tsconfig/node20/tsconfig.json', which is not in the repository",
    )


def test_strip_json_comments__leaves_strings_alone() -> None:
    text = '{"a": "// not a comment", "b": "/* nor this */", "c": "x,}", }'
    assert json.loads(strip_json_comments(text)) == {"a": "// not a comment", "b": "/* nor this */", "c": "x,}"}


def test_strip_json_comments__handles_escaped_quotes() -> None:
    assert json.loads(strip_json_comments('{"a": "say \\"hi\\" // x", /* c */ }')) == {"a": 'say "hi" // x'}


# --- workspace packages --------------------------------------------------------------------------------------


def monorepo(package: dict[str, object], *files: str) -> ModuleResolver:
    return make_resolver(
        {
            "package.json": {"name": "root", "private": True, "workspaces": ["packages/*"]},
            "packages/ui/package.json": {"name": "@acme/ui", **package},
            "apps/web/main.ts": "",
            **dict.fromkeys(files, ""),
        }
    )


def test_resolve__workspace_package_exports_string() -> None:
    resolver = monorepo({"exports": "./lib/entry.ts"}, "packages/ui/lib/entry.ts", "packages/ui/src/index.ts")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/lib/entry.ts")


def test_resolve__workspace_package_exports_conditions_are_taken_in_object_order() -> None:
    resolver = monorepo(
        {"exports": {".": {"types": "./src/index.ts", "import": "./dist/index.mjs", "require": "./dist/index.cjs"}}},
        "packages/ui/src/index.ts",
        "packages/ui/dist/index.mjs",
        "packages/ui/dist/index.cjs",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/src/index.ts")


def test_resolve__workspace_package_exports_unknown_conditions_are_skipped() -> None:
    resolver = monorepo(
        {"exports": {".": {"browser": "./browser.js", "deno": "./deno.ts", "default": "./index.js"}}},
        "packages/ui/browser.js",
        "packages/ui/deno.ts",
        "packages/ui/index.js",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/index.js")


def test_resolve__workspace_package_exports_import_before_require() -> None:
    resolver = monorepo(
        {"exports": {"require": "./index.cjs", "import": "./index.mjs"}},
        "packages/ui/index.cjs",
        "packages/ui/index.mjs",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/index.mjs")


def test_resolve__workspace_package_exports_require_when_alone() -> None:
    resolver = monorepo({"exports": {".": {"require": "./index.cjs"}}}, "packages/ui/index.cjs")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/index.cjs")


def test_resolve__workspace_package_exports_nested_conditions() -> None:
    resolver = monorepo(
        {
            "exports": {
                ".": {
                    "import": {"types": "./dist/index.d.mts", "default": "./dist/index.mjs"},
                    "require": {"types": "./dist/index.d.cts", "default": "./dist/index.cjs"},
                }
            }
        },
        "packages/ui/dist/index.d.mts",
        "packages/ui/dist/index.d.cts",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/dist/index.d.mts")


def test_resolve__workspace_package_exports_js_target_names_the_ts_source() -> None:
    resolver = monorepo({"exports": {".": "./src/index.js"}}, "packages/ui/src/index.ts")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/src/index.ts")


def test_resolve__workspace_package_exports_subpath_and_pattern() -> None:
    resolver = monorepo(
        {
            "exports": {
                ".": "./src/index.ts",
                "./button": "./src/components/button.tsx",
                "./icons/*": "./src/icons/*.tsx",
                "./icons/internal/*": None,
                "./package.json": "./package.json",
            }
        },
        "packages/ui/src/index.ts",
        "packages/ui/src/components/button.tsx",
        "packages/ui/src/icons/close.tsx",
        "packages/ui/src/icons/internal/secret.tsx",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/button") == file("packages/ui/src/components/button.tsx")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/icons/close") == file("packages/ui/src/icons/close.tsx")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/package.json") == file("packages/ui/package.json")


def test_resolve__workspace_package_exports_longest_pattern_prefix_wins() -> None:
    resolver = monorepo(
        {"exports": {"./*": "./src/*.ts", "./features/*": "./src/features/*/index.ts"}},
        "packages/ui/src/features/chat/index.ts",
        "packages/ui/src/features/chat.ts",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/features/chat") == file(
        "packages/ui/src/features/chat/index.ts"
    )


def test_resolve__workspace_package_exports_to_missing_build_output_falls_back_to_source() -> None:
    resolver = monorepo(
        {"exports": {".": {"import": "./dist/index.mjs"}}, "main": "./dist/index.js"}, "packages/ui/src/index.ts"
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file("packages/ui/src/index.ts")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"types": "./types/main.d.ts", "main": "./lib/main.js"}, "packages/ui/types/main.d.ts"),
        ({"typings": "./types/main.d.ts", "main": "./lib/main.js"}, "packages/ui/types/main.d.ts"),
        ({"main": "./lib/main.js", "module": "./esm/main.js"}, "packages/ui/lib/main.js"),
        ({"main": "./lib", "module": "./esm/main.js"}, "packages/ui/lib/index.js"),
        ({"module": "./esm/main.js"}, "packages/ui/esm/main.js"),
        ({}, "packages/ui/src/index.ts"),
    ],
)
def test_resolve__workspace_package_without_exports_uses_entry_fields(
    manifest: dict[str, object], expected: str
) -> None:
    resolver = monorepo(
        manifest,
        "packages/ui/types/main.d.ts",
        "packages/ui/lib/main.js",
        "packages/ui/lib/index.js",
        "packages/ui/esm/main.js",
        "packages/ui/src/index.ts",
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui") == file(expected)


def test_resolve__workspace_package_deep_subpath_without_exports_is_inside_the_package() -> None:
    resolver = monorepo({"main": "src/index.ts"}, "packages/ui/src/index.ts", "packages/ui/src/lib/deep/thing.ts")
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/src/lib/deep/thing") == file(
        "packages/ui/src/lib/deep/thing.ts"
    )
    assert resolver.resolve("apps/web/main.ts", "@acme/ui/src/lib/deep/thing.js") == file(
        "packages/ui/src/lib/deep/thing.ts"
    )


def test_resolve__unscoped_workspace_package_and_self_reference() -> None:
    resolver = make_resolver(
        {"libs/core/package.json": {"name": "core", "main": "index.js"}, "libs/core/index.js": "", "libs/core/a.js": ""}
    )
    assert resolver.resolve("libs/core/a.js", "core") == file("libs/core/index.js")


def test_resolve__packages_inside_node_modules_are_not_workspace_packages() -> None:
    resolver = make_resolver(
        {"node_modules/left-pad/package.json": {"name": "left-pad"}, "node_modules/left-pad/index.js": "", "a.js": ""}
    )
    assert resolver.resolve("a.js", "left-pad") == external("left-pad")


def test_resolve__paths_are_tried_before_workspace_packages() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"compilerOptions": {"paths": {"@acme/ui": ["./packages/ui/src/index.ts"]}}},
            "packages/ui/package.json": {"name": "@acme/ui", "main": "dist/index.js"},
            "packages/ui/dist/index.js": "",
            "packages/ui/src/index.ts": "",
            "main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "@acme/ui") == file("packages/ui/src/index.ts")


def test_resolve__package_imports_map_hash_specifiers() -> None:
    resolver = make_resolver(
        {
            "package.json": {"name": "app", "imports": {"#db": "./src/db/index.ts", "#utils/*": "./src/utils/*.js"}},
            "src/db/index.ts": "",
            "src/utils/date.ts": "",
            "src/main.ts": "",
        }
    )
    assert resolver.resolve("src/main.ts", "#db") == file("src/db/index.ts")
    assert resolver.resolve("src/main.ts", "#utils/date") == file("src/utils/date.ts")
    assert resolver.resolve("src/main.ts", "#missing") == UNRESOLVED


def test_resolve__malformed_package_json_is_a_diagnostic() -> None:
    resolver = make_resolver({"packages/x/package.json": "{oops", "main.ts": ""})
    assert resolver.resolve("main.ts", "x") == external("x")
    assert resolver.diagnostics == (
        "packages/x/package.json: invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
    )


def test_resolve__is_memoised_per_directory_and_specifier() -> None:
    reads: list[str] = []
    texts = {"tsconfig.json": json.dumps({"compilerOptions": {"baseUrl": "."}}), "a/x.ts": "", "a/y.ts": ""}

    def read_text(path: str) -> str | None:
        reads.append(path)
        return texts.get(path)

    resolver = ModuleResolver.from_files(texts, read_text)
    first = resolver.resolve("a/x.ts", "a/y")
    second = resolver.resolve("a/y.ts", "a/y")
    assert first == second == file("a/y.ts")
    assert reads.count("tsconfig.json") <= 2


# --- versions ------------------------------------------------------------------------------------------------


def test_package_version__comes_from_the_nearest_package_json_that_declares_it() -> None:
    resolver = make_resolver(
        {
            "package.json": {"devDependencies": {"typescript": "5.9.3"}, "dependencies": {"react": "^18.0.0"}},
            "apps/web/package.json": {
                "name": "web",
                "dependencies": {"react": "^19.1.0"},
                "peerDependencies": {"react-dom": "*"},
                "optionalDependencies": {"fsevents": "2.3.3"},
            },
            "apps/web/src/main.ts": "",
            "scripts/build.ts": "",
        }
    )
    assert resolver.package_version("apps/web/src/main.ts", "react") == "^19.1.0"
    assert resolver.package_version("apps/web/src/main.ts", "react-dom") == "*"
    assert resolver.package_version("apps/web/src/main.ts", "fsevents") == "2.3.3"
    assert resolver.package_version("apps/web/src/main.ts", "typescript") == "5.9.3"
    assert resolver.package_version("scripts/build.ts", "react") == "^18.0.0"
    assert resolver.package_version("scripts/build.ts", "vue") is None


# --- bad input never raises ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specifier", "expected"),
    [
        ("./", file("src/index.ts")),
        ("...", external("...")),
        ("@", external("@")),
        ("@/", external("@/")),
        ("node:", UNRESOLVED),
        ("#", UNRESOLVED),
        ("./a\x00b", UNRESOLVED),
        ("../../../../etc/passwd", UNRESOLVED),
    ],
)
def test_resolve__odd_specifiers_get_an_answer(specifier: str, expected: Resolution) -> None:
    resolver = make_resolver({"src/index.ts": "", "src/a.ts": ""})
    assert resolver.resolve("src/a.ts", specifier) == expected


def test_resolve__malformed_manifests_and_configs_never_raise() -> None:
    resolver = make_resolver(
        {
            "tsconfig.json": {"extends": [1, None, "./missing"], "compilerOptions": {"paths": {"@/*": "src/*"}}},
            "packages/a/package.json": {"name": "a", "exports": [None, 3, {"import": ["./x.js"]}], "main": 7},
            "packages/a/x.ts": "",
            "packages/b/package.json": '["not", "an", "object"]',
            "packages/c/package.json": {"name": "c", "exports": {".": None}, "types": ["no"]},
            "packages/c/src/index.ts": "",
            "main.ts": "",
        }
    )
    assert resolver.resolve("main.ts", "a") == file("packages/a/x.ts")
    assert resolver.resolve("main.ts", "c") == file("packages/c/src/index.ts")
    assert resolver.resolve("main.ts", "@/x") == external("@/x")
    assert resolver.resolve("main.ts", "b") == external("b")
    assert "packages/b/package.json: expected a JSON object, found list" in resolver.diagnostics


def test_resolve__answers_are_remembered_per_importer_directory() -> None:
    resolver = make_resolver({"a.ts": "", "b.ts": "", "src/a.ts": "", "src/b.ts": "", "src/deep/c.ts": ""})
    assert resolver.resolve("a.ts", "./b") == file("b.ts")
    assert resolver.resolve("src/a.ts", "./b") == file("src/b.ts")
    assert resolver.resolve("src/b.ts", "./b") == file("src/b.ts")
    assert resolver.resolve("src//deep/c.ts", "../b") == file("src/b.ts")
    assert resolver.resolve("src/deep/c.ts", "../a") == file("src/a.ts")
    assert resolver.resolve("a.ts", "./b") == file("b.ts")
