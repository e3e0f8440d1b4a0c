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


def test_parse_attributes__a_reversed_range_holds_nothing_but_its_first_character_as_in_git() -> None:
    rules = tuple(parse_attributes("[z-a].ts linguist-vendored\n[a-c].ts linguist-generated\n", ""))
    assert linguist_state(rules, "b.ts") == (None, True)
    assert linguist_state(rules, "z.ts") == (True, None)
    assert linguist_state(rules, "y.ts") == (None, None)


def test_parse_attributes__bracket_classes_read_as_git_reads_them() -> None:
    text = "".join(
        f"{pattern} linguist-vendored\n"
        for pattern in (
            "d[[:digit:]].ts",
            "e[\\d].ts",
            "a[x&&y].ts",
            "o[x||y].ts",
            "m[x--y].ts",
            "t[x~~y].ts",
            "n[[x].ts",
        )
    )
    rules = tuple(parse_attributes(text, ""))  # warnings are errors: no FutureWarning about set operations
    marked = ["d7.ts", "ed.ts", "a&.ts", "ax.ts", "o|.ts", "my.ts", "t~.ts", "n[.ts"]
    unmarked = ["dx.ts", "e1.ts", "e\\.ts", "az.ts", "oz.ts", "m-.ts", "tz.ts", "nz.ts"]
    assert [linguist_state(rules, path)[0] for path in marked] == [True] * len(marked)
    assert [linguist_state(rules, path)[0] for path in unmarked] == [None] * len(unmarked)


def test_parse_attributes__an_unclosed_class_or_an_unknown_posix_class_matches_nothing() -> None:
    rules = tuple(parse_attributes("u[x.ts linguist-vendored\nb[[:nope:]].ts linguist-vendored\n", ""))
    assert linguist_state(rules, "u[x.ts") == (None, None)
    assert linguist_state(rules, "bn.ts") == (None, None)
