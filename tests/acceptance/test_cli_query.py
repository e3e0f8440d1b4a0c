"""``python -m pipeline query …`` spawned as a user would, on a repository the real pipeline indexed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.acceptance.conftest import cli_environment
from tests.conftest import ROOT
from tests.integration.indexed import MAIN_TS, SOURCES, UTIL_TS, position
from tests.integration.pipeline.repos import commit_files, new_repository

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args, "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def answer(env: dict[str, str], *args: str) -> Any:
    result = cli(env, "query", *args, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return orjson.loads(result.stdout)


@pytest.fixture
def indexed(database_url: str, tmp_path: Path) -> tuple[dict[str, str], str]:
    """The CLI's environment and the id of a repository indexed by ``python -m pipeline index``."""
    env = cli_environment(database_url, tmp_path, parsers=1, shutdown_timeout=5.0)
    repo_path = tmp_path / "app"
    commit_files(new_repository(repo_path), dict(SOURCES), "first")
    indexed = cli(env, "index", str(repo_path))
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    repositories = answer(env, "repositories")["items"]
    assert len(repositories) == 1
    return env, repositories[0]["id"]


def test_cli_query__every_question_answers_as_json_and_as_a_table(indexed: tuple[dict[str, str], str]) -> None:
    env, repository = indexed
    symbols = answer(env, "symbols", repository, "helper")
    assert [item["name"] for item in symbols["items"]] == ["helper", "helperTwice"]
    line, column = position(MAIN_TS, "create")
    found = answer(env, "definition", repository, "src/main.ts", str(line), str(column))
    assert (found["definition"]["name"], found["definition"]["path"]) == ("create", "src/client.ts")
    helper = symbols["items"][0]["id"]
    assert answer(env, "references", repository, "--symbol", helper)["total"] == 3
    line, column = position(UTIL_TS, "helper(1)")
    assert answer(env, "references", repository, "src/util.ts", str(line), str(column))["symbol"]["id"] == helper
    outline = answer(env, "outline", repository, "src/client.ts")
    assert [child["symbol"]["name"] for child in outline["symbols"][0]["children"]] == ["create", "run", "step"]
    assert len(answer(env, "imports", repository, "src/main.ts")["imports"]) == 4
    assert [item["path"] for item in answer(env, "importers", repository, "src/util.ts")["importers"]] == [
        "src/main.ts"
    ]
    assert [item["name"] for item in answer(env, "packages", repository)["items"]] == ["fs", "react"]
    impact = answer(env, "impact", repository, "--path", "src/util.ts", "--depth", "2")
    assert [item["path"] for item in impact["files"]] == ["src/util.ts", "src/main.ts", "src/deep/nested/thing.ts"]

    table = cli(env, "query", "outline", repository, "src/client.ts")
    assert table.returncode == 0, table.stderr
    assert "class Client" in table.stdout
    assert "method step" in table.stdout
    table = cli(env, "query", "references", repository, "--symbol", helper)
    assert table.returncode == 0, table.stderr
    assert "src/main.ts:9:24" in table.stdout
    assert "helperTwice" in table.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("definition", "{repo}", "../etc/passwd", "1", "0"), 2, "path: '../etc/passwd'"),
        (("definition", "{repo}", "src/main.ts", "0", "0"), 2, "line: lines count from 1"),
        (("definition", "{repo}", "src/main.ts", "100000", "0"), 1, "past the end of src/main.ts"),
        (("definition", "{repo}", "src/main.ts", "5", "0"), 1, "no symbol at line 5, column 0"),
        (("references", "{repo}", "--symbol", "nope"), 2, "is not a symbol id"),
        (("symbols", "nobody/nothing", "x"), 1, "no repository 'nobody/nothing'"),
        (("symbols", "{repo}", "x", "--match", "regex"), 2, "invalid choice"),
        (("outline", "{repo}", "src/absent.ts"), 1, "'src/absent.ts' is not a file of the index"),
    ],
)
def test_cli_query__bad_questions_exit_2_and_unanswerable_ones_1_with_one_line(
    indexed: tuple[dict[str, str], str], args: tuple[str, ...], code: int, words: str
) -> None:
    env, repository = indexed
    result = cli(env, "query", *(arg.format(repo=repository) for arg in args))
    assert result.returncode == code, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
