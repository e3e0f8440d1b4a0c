"""A stage function defined in the user's ``__main__`` (a script, or a notebook's kernel) runs in the parser
processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.pipeline.repos import SOURCES_V1, commit_files, new_repository

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import sys

    import msgspec
    import psycopg

    from pipeline import index_jobs
    from pipeline.config import load_config
    from pipeline.coordinator import Coordinator
    from pipeline.queue.client import Queue
    from pipeline.queue.worker import new_worker_id
    from stages.extract import extract_source
    from stages.fetch import parse_target


    def shouting_extract(path, source, **options):
        extraction = extract_source(path, source, **options)
        symbols = tuple(msgspec.structs.replace(s, name=s.name.upper()) for s in extraction.symbols)
        return msgspec.structs.replace(extraction, symbols=symbols)


    if __name__ == "__main__":
        config = load_config(None)
        config = msgspec.structs.replace(
            config, index=msgspec.structs.replace(config.index, parsers=1, tmp_dir=sys.argv[2])
        )
        url = config.database.url
        with Queue(url, "pipeline", config.queue) as queue, psycopg.connect(
            url, options="-c search_path=pipeline"
        ) as conn:
            worker_id = new_worker_id()
            job_id = index_jobs.enqueue(conn, queue, parse_target(sys.argv[1]), reserved_for=worker_id).job.id
            conn.commit()
        Coordinator(config, until_index_job=job_id, worker_id=worker_id, extract=shouting_extract).run(
            install_signal_handlers=False
        )
        with psycopg.connect(url, options="-c search_path=pipeline") as conn:
            names = sorted(row[0] for row in conn.execute("SELECT name FROM symbols"))
        print(",".join(names))
    """
)


@pytest.mark.parametrize("main_module", ["script", "no file"])
def test_a_stage_function_from_main_is_used_by_the_parser_processes(
    database_url: str, tmp_path: Path, main_module: str
) -> None:
    """``script``: ``__main__`` is a file the spawned processes can import again. ``no file``: ``python -c``, a
    ``__main__`` without ``__file__``, as in a Jupyter kernel; the function then travels by value (dill)."""
    repo = tmp_path / "repo"
    commit_files(new_repository(repo), SOURCES_V1, "first")
    if main_module == "script":
        script = tmp_path / "my_notebook.py"
        script.write_text(SCRIPT)
        program = [str(script)]
    else:
        program = ["-c", SCRIPT]
    env = {key: value for key, value in os.environ.items() if "DATABASE_URL" not in key and "DB_URL" not in key}
    result = subprocess.run(
        [sys.executable, *program, str(repo), str(tmp_path / "work")],
        cwd=ROOT,
        env={**env, "PIPELINE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), result.stderr[-3000:]
    names = result.stdout.strip().splitlines()[-1].split(",")
    assert "MAIN" in names
    assert "HELPER" in names
    assert all(name == name.upper() for name in names)
