"""Stage functions plugged into the parser processes by tests (importable, so spawned processes can load them)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from stages.extract import extract_source
from stages.models import FileExtraction

SLOW_SECONDS_ENV = "PIPELINE_TEST_SLOW_SECONDS"  # read in the parser process, which inherits the environment


def slow_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """The real extraction, slowed down so a test can act while a job is in the middle of parsing."""
    time.sleep(float(os.environ.get(SLOW_SECONDS_ENV, "1.0")))
    return extract_source(path, source, **options)


def shouting_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """The real extraction with every symbol name upper-cased: rows no other extractor may reuse."""
    extraction = extract_source(path, source, **options)
    symbols = tuple(msgspec.structs.replace(symbol, name=symbol.name.upper()) for symbol in extraction.symbols)
    return msgspec.structs.replace(extraction, symbols=symbols)


def raising_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """A bug on every file."""
    raise RuntimeError(f"cannot handle {path}")


def none_extract(path: str, source: bytes, **options: Any) -> Any:
    """Returns nothing at all."""
    return None


def ill_typed_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """A ``FileExtraction`` whose fields hold the wrong types (what msgspec does not check at construction)."""
    extraction = extract_source(path, source, **options)
    return msgspec.structs.replace(extraction, symbols=("not a symbol", 42))  # type: ignore[arg-type]


def exiting_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """Ends its process, as a crash in native code would."""
    os._exit(3)


def system_exit_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """Raises ``SystemExit``, which is not an ``Exception``: it ends the parser process as ``sys.exit`` would."""
    raise SystemExit(4)


PAUSE_LIMIT_SECONDS = 30.0  # a bound for a test that never releases the pause, not a figure under test
PAUSE_MARKER = "// paused until this file exists: "


def paused_source(release: Path) -> str:
    """A source file that ``pausing_extract`` holds until the file ``release`` exists."""
    return f"{PAUSE_MARKER}{release}\nexport const x = 1;\n"


def paused_at(release: Path) -> Path:
    """Where ``pausing_extract`` writes the pid of the parser process holding the file, once it holds it."""
    return release.with_name(f"{release.name}.pid")


def pausing_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """The real extraction once the file named in the source (``paused_source``) exists, so a test can act while
    the job is being parsed and decide when it goes on; announces its process in ``paused_at``."""
    first_line = source.decode().split("\n", 1)[0]
    if not first_line.startswith(PAUSE_MARKER):
        raise ValueError(f"{path} does not start with {PAUSE_MARKER!r}: {first_line!r}")
    release = Path(first_line.removeprefix(PAUSE_MARKER))
    announcing = paused_at(release).with_suffix(".tmp")
    announcing.write_text(str(os.getpid()))
    announcing.replace(paused_at(release))  # never read half-written
    deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} was not created within {PAUSE_LIMIT_SECONDS:g} s")
        time.sleep(0.02)
    return extract_source(path, source, **options)


def never_returning_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """Never returns (an endless loop in a plugged-in function): only killing its process ends it."""
    threading.Event().wait()
    raise AssertionError("unreachable: the event is never set")


HOSTILE_FILES = {
    "raises.ts": raising_extract,
    "returns-none.ts": none_extract,
    "ill-typed.ts": ill_typed_extract,
    "exits.ts": exiting_extract,
    "system-exit.ts": system_exit_extract,
    "pauses.ts": pausing_extract,
    "never-returns.ts": never_returning_extract,
}


def hostile_extract(path: str, source: bytes, **options: Any) -> FileExtraction:
    """The real extraction, except for a file named in ``HOSTILE_FILES``, which gets that misbehaviour."""
    misbehave = HOSTILE_FILES.get(path.rsplit("/", 1)[-1], extract_source)
    result: FileExtraction = misbehave(path, source, **options)
    return result
