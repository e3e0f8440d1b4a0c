"""Walking crafted trees: hostile entry names, names that are not UTF-8, deep and corrupt trees.

git's object format accepts names such as ``..``, ``a/b.ts`` or ``.git`` and any nesting depth; ``git`` itself refuses
to write them, so these tests write tree objects byte for byte (``raw_tree``). Every walk (``list_files`` and
``commit_context``) must skip what the path rule rejects, with a reason, and never raise for it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import msgspec
import pygit2
import pytest
from pygit2.enums import ObjectType

from stages import fetch
from stages.commit import CommitContext
from stages.fetch.context import MAX_CONFIG_BYTES
from stages.fetch.paths import MAX_PATH_BYTES, path_skip_reason

MAX_FILE_BYTES = 100_000
SOURCE = b"export const kept = 1;\n"

TREE_MODE = b"40000"
BLOB_MODE = b"100644"

RawEntry: TypeAlias = "bytes | list[tuple[bytes, RawEntry]] | tuple[bytes, pygit2.Oid]"
"""Blob content, a subtree's entries, or an explicit (mode, object id)."""


def raw_tree(repo: pygit2.Repository, entries: Sequence[tuple[bytes, RawEntry]]) -> pygit2.Oid:
    """A tree object holding ``entries`` byte for byte, in the order given: no name is checked, nothing sorted."""
    body = bytearray()
    for name, entry in entries:
        if isinstance(entry, bytes):
            mode, oid = BLOB_MODE, repo.create_blob(entry)
        elif isinstance(entry, list):
            mode, oid = TREE_MODE, raw_tree(repo, entry)
        else:
            mode, oid = entry
        body += mode + b" " + name + b"\0" + oid.raw
    return repo.odb.write(ObjectType.TREE, bytes(body))


def commit_tree(repo: pygit2.Repository, tree: pygit2.Oid) -> str:
    """A commit of ``tree`` (written raw: libgit2 would parse the tree first), made the tip of ``main``."""
    person = b"Tree Test <tree@example.com> 1700000000 +0000"
    body = b"tree %s\nauthor %s\ncommitter %s\n\ncrafted\n" % (str(tree).encode(), person, person)
    oid = repo.odb.write(ObjectType.COMMIT, body)
    repo.references.create("refs/heads/main", oid, force=True)
    return str(oid)


def deep_tree(repo: pygit2.Repository, depth: int, leaf: Sequence[tuple[bytes, RawEntry]]) -> pygit2.Oid:
    """``leaf`` below ``depth`` directories named ``d`` (built bottom up, so any depth is cheap)."""
    oid = raw_tree(repo, leaf)
    for _ in range(depth):
        oid = raw_tree(repo, [(b"d", (TREE_MODE, oid))])
    return oid


def loose_object_claiming_size(repo: pygit2.Repository, kind: bytes, claimed: int, body: bytes) -> pygit2.Oid:
    """A loose object whose header claims ``claimed`` bytes but which holds ``body``: readable header, corrupt data."""
    oid = pygit2.Oid(hex=f"{claimed:040x}"[-40:])
    directory = Path(repo.path) / "objects" / str(oid)[:2]
    directory.mkdir(exist_ok=True)
    (directory / str(oid)[2:]).write_bytes(zlib.compress(kind + b" " + str(claimed).encode() + b"\0" + body))
    return oid


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "crafted.git"), bare=True, initial_head="main")


def listing_and_context(repo: pygit2.Repository, sha: str) -> tuple[fetch.FileListing, CommitContext]:
    return fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES), fetch.commit_context(repo, sha)


def nonzero(skipped: dict[str, int]) -> dict[str, int]:
    return {reason: count for reason, count in skipped.items() if count}


# ------------------------------------------------------------------------------------------------------ path rule


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"index.ts", None),
        (b".gitignore", None),
        (b"caf\xc3\xa9 file.ts", None),
        (b"CON.ts", None),
        (b"notes 10.30.ts", None),
        (b"", "unsafe_path"),
        (b".", "unsafe_path"),
        (b"..", "unsafe_path"),
        (b"a/b.ts", "unsafe_path"),
        (b"sub/../../x.ts", "unsafe_path"),
        (b"..\\..\\x.ts", "unsafe_path"),
        (b"D:evil.ts", "unsafe_path"),
        (b"x\x00.ts", "unsafe_path"),
        (b"x\n.ts", "unsafe_path"),
        (b"x\x1b[31m.ts", "unsafe_path"),
        (b"x\x7f.ts", "unsafe_path"),
        (b"x\xc2\x85.ts", "unsafe_path"),
        (b".git", "unsafe_path"),
        (b".GiT", "unsafe_path"),
        (b".git. . ", "unsafe_path"),
        (b"GIT~1", "unsafe_path"),
        (b"...", "unsafe_path"),
        (b".. ", "unsafe_path"),
        (b". .", "unsafe_path"),
        (b"index.ts.", "unsafe_path"),
        (b"index.ts ", "unsafe_path"),
        (b"10:30 notes.ts", "unsafe_path"),
        (b".git::$INDEX_ALLOCATION", "unsafe_path"),
        (b"index.ts:stream", "unsafe_path"),
        (b"caf\xe9.ts", "invalid_path"),
        (b"\xed\xa0\x80.ts", "invalid_path"),
        (b"x" * (MAX_PATH_BYTES + 1), "invalid_path"),
    ],
)
def test_path_skip_reason__rejects_names_that_escape_a_checkout_or_cannot_be_stored(
    name: bytes, reason: str | None
) -> None:
    assert path_skip_reason("", name) == reason


def test_path_skip_reason__bounds_the_whole_path_not_just_the_name() -> None:
    parent = "d/" * (MAX_PATH_BYTES // 2 - 2)

    assert path_skip_reason(parent, b"ab.t") is None
    assert path_skip_reason(parent, b"abc.t") == "invalid_path"
    assert path_skip_reason("é" * (MAX_PATH_BYTES // 2), b"x") == "invalid_path"


# ------------------------------------------------------------------------------------------------------ bad names


UNSAFE_NAMES = [
    b"..",
    b".",
    b"a/b.ts",
    b"sub/../../x.ts",
    b"..\\evil.ts",
    b"C:evil.ts",
    b".git",
    b".GIT",
    b"x\x01.ts",
    b"x\n.ts",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_list_files__unsafe_file_name_is_skipped_and_kept_out_of_the_context(
    repo: pygit2.Repository, name: bytes
) -> None:
    sha = commit_tree(repo, raw_tree(repo, [(name, SOURCE), (b"ok.ts", SOURCE)]))

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["ok.ts"]
    assert nonzero(listing.skipped) == {"unsafe_path": 1}
    assert listing.files_seen == 2
    assert context.paths == ("ok.ts",)


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_list_files__everything_below_an_unsafe_directory_is_skipped(repo: pygit2.Repository, name: bytes) -> None:
    config = b'{"compilerOptions": {"baseUrl": "."}}'
    below: RawEntry = [(b"evil.ts", SOURCE), (b"tsconfig.json", config), (b"node_modules", [(b"x.js", SOURCE)])]
    sha = commit_tree(repo, raw_tree(repo, [(name, below), (b"ok.ts", SOURCE)]))

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["ok.ts"]
    assert nonzero(listing.skipped) == {"unsafe_path": 3}
    assert context == CommitContext(paths=("ok.ts",), configs={})


def test_list_files__a_name_repeated_in_one_tree_is_kept_once(repo: pygit2.Repository) -> None:
    sha = commit_tree(repo, raw_tree(repo, [(b"a.ts", SOURCE), (b"a.ts", b"export const other = 2;\n")]))

    listing, context = listing_and_context(repo, sha)

    assert [(item.path, item.oid) for item in listing.items] == [("a.ts", str(repo.create_blob(SOURCE)))]
    assert nonzero(listing.skipped) == {"unsafe_path": 1}
    assert context.paths == ("a.ts",)


def test_list_files__names_differing_only_by_case_are_distinct_paths(repo: pygit2.Repository) -> None:
    sha = commit_tree(repo, raw_tree(repo, [(b"A.ts", SOURCE), (b"a.ts", SOURCE)]))

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["A.ts", "a.ts"]
    assert context.paths == ("A.ts", "a.ts")


# ------------------------------------------------------------------------------------------------------ not UTF-8


def test_list_files__names_that_are_not_utf8_are_skipped_everywhere(repo: pygit2.Repository) -> None:
    tree = raw_tree(
        repo,
        [
            (b"caf\xe9.ts", SOURCE),
            (b"caf\xe8.ts", SOURCE),
            (b"d\xffir", [(b"package.json", b"{}"), (b"inner.ts", SOURCE)]),
            (b"ok.ts", SOURCE),
        ],
    )
    sha = commit_tree(repo, tree)

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["ok.ts"]
    assert nonzero(listing.skipped) == {"invalid_path": 4}
    assert context == CommitContext(paths=("ok.ts",), configs={})
    msgspec.msgpack.encode(context)  # what the fetcher sends to the writer: no surrogate can be in it


# ------------------------------------------------------------------------------------------------------ depth, size


def test_list_files__a_tree_1200_directories_deep_is_walked_without_recursion(repo: pygit2.Repository) -> None:
    deep = deep_tree(repo, 1200, [(b"bottom.ts", SOURCE)])
    shallow = deep_tree(repo, 10, [(b"near.ts", SOURCE)])
    vendored = raw_tree(repo, [(b"node_modules", (TREE_MODE, deep))])
    sha = commit_tree(repo, raw_tree(repo, [(b"deep", (TREE_MODE, deep)), (b"shallow", (TREE_MODE, shallow))]))
    vendored_sha = commit_tree(repo, vendored)

    listing, context = listing_and_context(repo, sha)
    vendored_listing = fetch.list_files(repo, vendored_sha, max_file_bytes=MAX_FILE_BYTES)

    near = "shallow/" + "d/" * 10 + "near.ts"
    assert [item.path for item in listing.items] == [near]
    assert nonzero(listing.skipped) == {"invalid_path": 1}
    assert context.paths == (near,)
    assert nonzero(vendored_listing.skipped) == {"vendored": 1}


def test_list_files__path_longer_than_the_limit_is_skipped(repo: pygit2.Repository) -> None:
    long_name = b"n" * 250
    tree = raw_tree(repo, [(b"ok.ts", SOURCE)])
    for _ in range(16):  # ~4,000 characters in all
        tree = raw_tree(repo, [(long_name, (TREE_MODE, tree))])
    sha = commit_tree(repo, raw_tree(repo, [(b"long", (TREE_MODE, tree)), (b"x" * 3000 + b".ts", SOURCE)]))

    listing, context = listing_and_context(repo, sha)

    assert listing.items == []
    assert nonzero(listing.skipped) == {"invalid_path": 2}
    assert context.paths == ()


def test_list_files__blob_claiming_a_huge_size_is_too_large_without_being_read(repo: pygit2.Repository) -> None:
    huge = loose_object_claiming_size(repo, b"blob", 10**12, b"tiny")
    sha = commit_tree(repo, raw_tree(repo, [(b"huge.ts", (BLOB_MODE, huge)), (b"package.json", (BLOB_MODE, huge))]))

    listing, context = listing_and_context(repo, sha)

    assert nonzero(listing.skipped) == {"too_large": 1, "unsupported_language": 1}
    assert context == CommitContext(paths=("huge.ts", "package.json"), configs={})


# ------------------------------------------------------------------------------------------------------ corrupt


def test_list_files__subtree_git_cannot_parse_is_one_corrupt_object(repo: pygit2.Repository) -> None:
    empty_name = raw_tree(repo, [(b"", SOURCE), (b"lost.ts", SOURCE)])
    sha = commit_tree(repo, raw_tree(repo, [(b"bad", (TREE_MODE, empty_name)), (b"ok.ts", SOURCE)]))

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["ok.ts"]
    assert nonzero(listing.skipped) == {"corrupt_object": 1}
    assert context.paths == ("ok.ts",)


def test_list_files__root_tree_git_cannot_parse_fails_without_retry(repo: pygit2.Repository) -> None:
    sha = commit_tree(repo, raw_tree(repo, [(b"", SOURCE)]))

    with pytest.raises(fetch.CorruptObject, match="cannot be parsed") as listed:
        fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)
    with pytest.raises(fetch.CorruptObject, match="cannot be parsed"):
        fetch.commit_context(repo, sha)

    assert not listed.value.retryable


def test_list_files__file_entry_whose_object_is_a_tree_is_a_corrupt_object(repo: pygit2.Repository) -> None:
    subtree = raw_tree(repo, [(b"x.ts", SOURCE)])
    entries: list[tuple[bytes, RawEntry]] = [
        (b"tree.ts", (BLOB_MODE, subtree)),
        (b"tsconfig.json", (BLOB_MODE, subtree)),
        (b"ok.ts", SOURCE),
    ]
    sha = commit_tree(repo, raw_tree(repo, entries))

    listing, context = listing_and_context(repo, sha)

    assert [item.path for item in listing.items] == ["ok.ts"]
    assert nonzero(listing.skipped) == {"corrupt_object": 1, "unsupported_language": 1}
    assert context.configs == {}


def test_read_files__object_that_cannot_be_read_is_a_corrupt_object(repo: pygit2.Repository) -> None:
    corrupt = loose_object_claiming_size(repo, b"blob", 50, b"fewer bytes than claimed")
    items = [
        fetch.FileItem(path="corrupt.ts", oid=str(corrupt), language="typescript", size=50),
        fetch.FileItem(path="ok.ts", oid=str(repo.create_blob(SOURCE)), language="typescript", size=len(SOURCE)),
    ]
    skipped: dict[str, int] = {}

    read = [(item.path, data) for item, data in fetch.read_files(repo, items, skipped=skipped)]

    assert read == [("ok.ts", SOURCE)]
    assert skipped == {"corrupt_object": 1}


def test_commit_context__config_larger_than_the_limit_is_left_out(repo: pygit2.Repository) -> None:
    big = b'{"name": "big", "padding": "' + b"x" * MAX_CONFIG_BYTES + b'"}'
    sha = commit_tree(repo, raw_tree(repo, [(b"package.json", big), (b"tsconfig.json", b"{}")]))

    context = fetch.commit_context(repo, sha)

    assert context == CommitContext(paths=("package.json", "tsconfig.json"), configs={"tsconfig.json": "{}"})


def test_list_files__a_tree_naming_one_subtree_again_and_again_stops_at_the_entry_bound(
    repo: pygit2.Repository,
) -> None:
    # 16 names for the same subtree on each of 6 levels: 16**6 (16.7 million) paths in 7 small tree objects
    level = raw_tree(repo, [(b"x.ts", SOURCE)])
    for _ in range(6):
        level = raw_tree(repo, [(b"d%02d" % index, (TREE_MODE, level)) for index in range(16)])
    sha = commit_tree(repo, level)

    with pytest.raises(fetch.LimitExceeded, match=r"more than 10,000 entries \(index.max_tree_entries\)") as listed:
        fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES, max_entries=10_000)
    with pytest.raises(fetch.LimitExceeded, match="more than 10,000 entries"):
        fetch.commit_context(repo, sha, max_entries=10_000)

    assert not listed.value.retryable


def test_list_files__a_tree_within_the_entry_bound_is_listed_whole(repo: pygit2.Repository) -> None:
    level = raw_tree(repo, [(b"x.ts", SOURCE)])
    level = raw_tree(repo, [(b"d%02d" % index, (TREE_MODE, level)) for index in range(16)])
    sha = commit_tree(repo, level)

    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES, max_entries=32)

    assert len(listing.items) == 16
    assert len(fetch.commit_context(repo, sha, max_entries=32).paths) == 16


# ------------------------------------------------------------------------------------------------------ object sizes


@pytest.mark.parametrize("where", ["root", "subtree"])
def test_list_files__a_tree_object_over_the_byte_bound_fails_before_it_is_read(
    repo: pygit2.Repository, where: str
) -> None:
    big = raw_tree(repo, [(f"f{index:04d}.ts".encode(), SOURCE) for index in range(100)])
    size = repo.odb.read_header(big)[1]
    tree = big if where == "root" else raw_tree(repo, [(b"ok.ts", SOURCE), (b"big", (TREE_MODE, big))])
    sha = commit_tree(repo, tree)
    message = rf"tree object {big} is {size:,} bytes, more than index.max_tree_object_bytes \({size - 1:,}\)"

    with pytest.raises(fetch.LimitExceeded, match=message) as caught:
        fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES, max_object_bytes=size - 1)
    with pytest.raises(fetch.LimitExceeded, match=message):
        fetch.commit_context(repo, sha, max_object_bytes=size - 1)
    assert not caught.value.retryable
    listing = fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES, max_object_bytes=size)
    assert len(fetch.commit_context(repo, sha, max_object_bytes=size).paths) == len(listing.items) >= 100


def test_list_files__a_tree_whose_header_claims_gigabytes_fails_without_inflating_it(repo: pygit2.Repository) -> None:
    huge = loose_object_claiming_size(repo, b"tree", 8 * 1024**3, b"")
    sha = commit_tree(repo, raw_tree(repo, [(b"ok.ts", SOURCE), (b"huge", (TREE_MODE, huge))]))

    with pytest.raises(fetch.LimitExceeded, match=r"8,589,934,592 bytes, more than index\.max_tree_object_bytes"):
        fetch.list_files(repo, sha, max_file_bytes=MAX_FILE_BYTES)


@pytest.mark.parametrize("how", ["sha", "ref", "annotated tag"])
def test_resolve_commit__a_commit_whose_header_claims_gigabytes_fails_without_inflating_it(
    repo: pygit2.Repository, how: str
) -> None:
    huge = loose_object_claiming_size(repo, b"commit", 9 * 1024**3, b"tree ")
    repo.references.create("refs/heads/main", huge, force=True)
    tag = b"object %s\ntype commit\ntag v1\ntagger T <t@example.com> 1700000000 +0000\n\nv1\n" % str(huge).encode()
    repo.references.create("refs/tags/v1", repo.odb.write(ObjectType.TAG, tag))
    selector = {"sha": {"commit_sha": str(huge)}, "ref": {"ref": "main"}, "annotated tag": {"ref": "v1"}}[how]

    with pytest.raises(fetch.LimitExceeded, match=r"commit object \w+ is 9,663,676,416 bytes, more than"):
        fetch.resolve_commit(repo, **selector)


def test_commit_context__reads_every_config_an_extends_chain_names_and_no_other_json(repo: pygit2.Repository) -> None:
    big = b'{"padding": "' + b"x" * MAX_CONFIG_BYTES + b'"}'
    files: list[tuple[bytes, RawEntry]] = [
        (b"configs", [(b"strict.json", b'{"extends": "../tsconfig.base.json"}')]),  # a cycle: read once
        (b"data.json", b'{"extends": "./tsconfig.json"}'),  # no config extends it: never read
        (b"huge.json", big),  # past the size bound: left out, as a tsconfig.json of that size is
        (b"tsconfig.base.json", b'{"extends": "./configs/strict"}'),  # ".json" is implied, as tsc does
        (b"tsconfig.json", b'{"extends": ["./tsconfig.base.json", "./huge.json", "../../outside.json"]}'),
    ]
    sha = commit_tree(repo, raw_tree(repo, files))

    context = fetch.commit_context(repo, sha)

    assert sorted(context.configs) == ["configs/strict.json", "tsconfig.base.json", "tsconfig.json"]


def test_commit_context__a_commit_without_tsconfig_reads_no_json_but_its_configs(repo: pygit2.Repository) -> None:
    files: list[tuple[bytes, RawEntry]] = [
        (b"base.json", b"{}"),
        (b"package.json", b'{"name": "a"}'),
        (b"pyproject.toml", b"[project]\n"),
    ]
    sha = commit_tree(repo, raw_tree(repo, files))

    assert sorted(fetch.commit_context(repo, sha).configs) == ["package.json", "pyproject.toml"]
