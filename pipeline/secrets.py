"""Secrets passed in environment variables (the git token, the API token), kept out of child processes.

Guarantees:
- ``take`` removes the variables from this process's environment, which every process started from here inherits
  (stage processes, Postgres, multiprocess's resource tracker), and keeps their values for this process only.
- ``get`` finds a secret whether or not it was taken, so whatever reads one (the API's token check above all)
  never silently sees "no secret" because another component took it first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

_taken: dict[str, str] = {}
_lock = threading.Lock()


def take(names: Iterable[str]) -> dict[str, str]:
    """Move the environment variables ``names`` out of the environment; return the value of each that has one.

    Values taken by an earlier call are remembered, so a second caller still finds them; a variable set again
    later replaces the remembered value.
    """
    with _lock:
        wanted = list(names)
        for name in wanted:
            value = os.environ.pop(name, None)
            if value:
                _taken[name] = value
        return {name: _taken[name] for name in wanted if name in _taken}


def get(name: str) -> str:
    """The secret in the environment variable ``name``: its current value, else the one ``take`` moved out of the
    environment, else ``""``."""
    with _lock:
        return os.environ.get(name) or _taken.get(name, "")
