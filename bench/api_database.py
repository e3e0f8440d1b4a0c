"""What the API benchmarks share: a migrated embedded Postgres in a temporary directory, and a config for it."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR.parent) not in sys.path:
    sys.path.append(str(BENCH_DIR.parent))

import msgspec  # noqa: E402 - bench scripts run from a checkout

from pipeline.config import Config, load_config  # noqa: E402
from pipeline.embedded_pg import EmbeddedPostgres  # noqa: E402
from pipeline.migrate import migrate  # noqa: E402


@contextmanager
def migrated_database(prefix: str, root: Path = BENCH_DIR.parent) -> Iterator[Config]:
    """``root``'s ``configs/test.toml`` pointed at a fresh, migrated embedded Postgres (schema ``pipeline``, no
    fsync), which is stopped and deleted on exit."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)
    server = EmbeddedPostgres(workdir / "pg", fsync=False, database="postgres")
    server.start()
    try:
        url = server.url("postgres")
        migrate(url, "pipeline")
        base = load_config(root / "configs" / "test.toml", environ={})
        yield msgspec.structs.replace(base, database=msgspec.structs.replace(base.database, url=url, schema="pipeline"))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
