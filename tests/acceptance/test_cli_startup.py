"""What a command loads before it does anything: the CLI imports what its command uses (no web stack, git or
extractor where they are not needed), and a spawned stage process does not import the command line at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.acceptance.conftest import cli_environment
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

HEAVY = ("litestar", "pygit2", "tree_sitter", "stages.extract")

# Runs the CLI in this interpreter as ``python -m pipeline`` would, then prints which of HEAVY it imported.
CLI_THEN_MODULES = (
    f"HEAVY = {HEAVY!r}\n"
    + """
import sys

import orjson

from pipeline.cli import main

try:
    code = main(sys.argv[1:])
except SystemExit as exit_:  # --help
    code = exit_.code
print(orjson.dumps({"code": code, "loaded": [name for name in HEAVY if name in sys.modules]}).decode())
"""
)


def loaded_by(env: dict[str, str], *args: str) -> list[str]:
    """The modules of ``HEAVY`` that the CLI process imported for this command (which must succeed)."""
    result = subprocess.run(
        [sys.executable, "-c", CLI_THEN_MODULES, *args, "--config", env["PIPELINE_CONFIG"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = orjson.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == 0, result.stderr[-3000:]
    loaded: list[str] = outcome["loaded"]
    return loaded


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_environment(database_url, tmp_path, parsers=1, shutdown_timeout=5.0)


def test_help__loads_neither_the_web_stack_nor_git_nor_tree_sitter(cli_env: dict[str, str]) -> None:
    assert loaded_by(cli_env, "--help") == []


def test_run_until_idle__loads_neither_the_web_stack_nor_git_nor_tree_sitter(cli_env: dict[str, str]) -> None:
    # git comes with a job's target and tree-sitter with the parsers, in their own processes: an idle worker
    # needs neither
    assert loaded_by(cli_env, "run", "--until-idle") == []


def test_index__loads_git_for_its_target_but_neither_the_web_stack_nor_the_extractor(
    cli_env: dict[str, str], repo_path: Path
) -> None:
    # the target is checked with the fetch stage's code, which knows the languages by tree-sitter's grammars; the
    # extractor itself (the native part and the queries) is loaded by the parser processes only
    loaded = loaded_by(cli_env, "index", str(repo_path), "--json")
    assert "pygit2" in loaded
    assert not {"litestar", "stages.extract"} & set(loaded)


def test_stage_process__spawned_from_the_cli_does_not_import_the_command_line() -> None:
    # What spawning does with the main module of ``python -m pipeline`` in each stage process (multiprocess's
    # ``spawn._fixup_main_from_name``): run it again under another name.
    program = (
        "import runpy, sys\n"
        "runpy.run_module('pipeline.__main__', run_name='__mp_main__', alter_sys=True)\n"
        "print('pipeline.cli' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
