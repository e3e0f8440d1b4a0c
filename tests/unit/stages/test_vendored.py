"""The import scan behind the vendoring rule: which paths relative specifiers name, and what they put back."""

from __future__ import annotations

import time

from stages.fetch.attributes import linguist_state, parse_attributes
from stages.fetch.vendored import Rescued, VendoredRegions, relative_targets


def test_relative_targets__static_reexport_require_and_dynamic_imports() -> None:
    source = b"""
import a from "./a";
import './side.css';
export * from '../lib/b';
export { c } from "./c/index.js";
const d = require( "./d" );
const e = await import("../e?raw");
import pkg from "react";
import up from "../../../outside";
import type { T } from "./types";
"""
    assert list(relative_targets("src/app/main.ts", source)) == [
        "src/app/a",
        "src/app/side.css",
        "src/lib/b",
        "src/app/c/index.js",
        "src/app/d",
        "src/e",
        "src/app/types",
    ]


def test_rescue_for__a_skipped_directory_whole_and_one_installed_package() -> None:
    regions = VendoredRegions(roots={"vendor": False, "web/node_modules": True}, marked=[])
    rescued = regions.rescue_for(
        ["vendor/lib/x", "web/node_modules/left-pad/index.js", "web/node_modules/@s/kit/a", "src/own"],
        lambda target: True,
    )
    assert rescued == Rescued(dirs=frozenset({"vendor", "web/node_modules/left-pad", "web/node_modules/@s/kit"}))


def test_rescue_for__an_import_of_nothing_inside_a_skipped_directory_rescues_nothing() -> None:
    regions = VendoredRegions(roots={"dist": False}, marked=[])
    existing = {"dist/real"}
    rescued = regions.rescue_for(["dist/package/Rx", "dist/real"], existing.__contains__)
    assert rescued == Rescued(dirs=frozenset({"dist"}))
    assert regions.rescue_for(["dist/package/Rx"], existing.__contains__) == Rescued()


def test_rescue_for__marked_files_by_extension_or_directory_and_not_by_a_longer_name() -> None:
    marked = ["gen/api.ts", "gen/api/index.ts", "gen/apis.ts", "gen/other.ts", "data.json"]
    regions = VendoredRegions(roots={}, marked=marked)
    rescued = regions.rescue_for(["gen/api", "data.json"], lambda target: True)
    assert rescued == Rescued(files=frozenset({"gen/api.ts", "gen/api/index.ts", "data.json"}))


def test_rescue_for__a_target_rescues_the_marked_files_it_names_and_none_deeper() -> None:
    marked = [
        "gen/api.d.ts",
        "gen/api/index.ts",
        "gen/api/package.json",
        "gen/api/deep/x.ts",
        "gen/api/other.ts",
        "src/deep/nested/file.ts",
    ]
    regions = VendoredRegions(roots={}, marked=marked)
    rescued = regions.rescue_for(["gen/api", "src"], lambda target: True)
    assert rescued == Rescued(files=frozenset({"gen/api.d.ts", "gen/api/index.ts", "gen/api/package.json"}))


def test_linguist_state__crafted_patterns_cannot_make_matching_slow() -> None:
    rules = tuple(parse_attributes("*a*a*a*a*a*a*a*a*b linguist-vendored\n**/**/**/**/x linguist-generated\n" * 32, ""))
    path = "/".join(["a" * 200] * 4) + "/" + "a" * 200
    started = time.monotonic()
    assert linguist_state(rules, path) == (None, None)
    assert time.monotonic() - started < 1.0


def test_parse_attributes__a_class_that_is_not_a_valid_range_drops_its_line_only() -> None:
    rules = tuple(parse_attributes("[z-a].ts linguist-vendored\n[a-c].ts linguist-generated\n", ""))
    assert linguist_state(rules, "b.ts") == (None, True)
    assert linguist_state(rules, "z.ts") == (None, None)
