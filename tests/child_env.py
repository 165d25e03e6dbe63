"""The environment of a genlab child process a test starts: this checkout first on PYTHONPATH, ahead of (not
instead of) the caller's, so the child imports the genlab under test and still finds packages the caller found
through PYTHONPATH (a machine where genlab's dependencies are not installed in the interpreter)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}
