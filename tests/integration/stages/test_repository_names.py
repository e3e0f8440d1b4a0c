"""Repository names (``owner/name``) from URLs, from a local clone's ``origin`` remote, else from its path; and a
stored repository renamed by its next enqueue. Real git repositories, built here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import TupleRow

from pipeline import index_jobs
from pipeline.config import Config
from pipeline.queue.client import Queue
from stages.fetch import parse_target
from tests.integration.pipeline.repos import commit_files, new_repository


def clone_with_origin(path: Path, origin: str | None) -> Path:
    new_repository(path)
    if origin is not None:
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", origin], check=True)
    return path


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("https://github.com/acme/widgets.git", "acme/widgets"),
        ("https://github.com/acme/widgets", "acme/widgets"),
        ("ssh://git@example.test:2222/acme/widgets.git", "acme/widgets"),
        ("git@github.com:acme/widgets.git", "acme/widgets"),
        ("https://gitlab.example.test/group/subgroup/widgets.git", "subgroup/widgets"),
        ("acme/widgets", "acme/widgets"),
    ],
)
def test_full_name__of_a_url_is_the_last_two_components_of_its_path(target: str, name: str) -> None:
    assert parse_target(target, base_url="https://github.com").full_name == name


def test_full_name__four_clones_in_folders_of_one_name_are_four_names(tmp_path: Path) -> None:
    """The case that made every local clone ``repo``."""
    clones = [
        clone_with_origin(tmp_path / "a" / "repo", "https://github.com/acme/api.git"),
        clone_with_origin(tmp_path / "b" / "repo", "git@gitlab.example.test:platform/web.git"),
        clone_with_origin(tmp_path / "c" / "repo", "ssh://git@example.test/tools/cli"),
        clone_with_origin(tmp_path / "d" / "repo", None),
    ]
    names = [parse_target(str(clone)).full_name for clone in clones]
    assert names == ["acme/api", "platform/web", "tools/cli", "d/repo"]


def test_full_name__of_an_origin_with_credentials_has_none_of_them(tmp_path: Path) -> None:
    clone = clone_with_origin(tmp_path / "repo", "https://user:hunter2@github.com/acme/secret-app.git")
    target = parse_target(str(clone))
    assert target.full_name == "acme/secret-app"
    assert "hunter2" not in target.full_name


def test_full_name__of_a_path_origin_is_the_origin_s_last_two_components(tmp_path: Path) -> None:
    upstream = tmp_path / "mirrors" / "upstream.git"
    commit_files(new_repository(upstream), {"a.ts": "export {};\n"}, "first")
    relative = clone_with_origin(tmp_path / "work" / "relative", "../../mirrors/upstream.git")
    absolute = clone_with_origin(tmp_path / "work" / "absolute", str(upstream))
    assert parse_target(str(relative)).full_name == "mirrors/upstream"
    assert parse_target(str(absolute)).full_name == "mirrors/upstream"


def test_full_name__without_origin_is_the_last_two_components_of_the_path(tmp_path: Path) -> None:
    bare = tmp_path / "srv" / "widgets.git"
    new_repository(tmp_path / "plain" / "app")
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    other_remote = clone_with_origin(tmp_path / "x" / "app", None)
    subprocess.run(["git", "-C", str(other_remote), "remote", "add", "upstream", "https://h/o/r"], check=True)
    assert parse_target(str(tmp_path / "plain" / "app")).full_name == "plain/app"
    assert parse_target(str(bare)).full_name == "srv/widgets"
    assert parse_target(str(other_remote)).full_name == "x/app", "only origin names a clone"


def test_enqueue__renames_a_repository_stored_under_an_older_name(
    tmp_path: Path, config: Config, conn: psycopg.Connection[TupleRow]
) -> None:
    clone = clone_with_origin(tmp_path / "repo", "https://github.com/acme/api.git")
    target = parse_target(str(clone))
    conn.execute("INSERT INTO repositories (full_name, git_url) VALUES ('repo', %s)", [target.url])
    with Queue(config.database.url, config.database.schema, config.queue) as queue:
        job = index_jobs.enqueue(conn, queue, target).job
    assert job.repository == "acme/api"
    assert conn.execute("SELECT full_name FROM repositories").fetchall() == [("acme/api",)]
