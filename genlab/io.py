"""Atomic file writes: a temporary file in the same folder, fsynced, then renamed into place, so a
reader (or a crash) sees either the old file or the new one, never half of one. And genlab's cache folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """The folder for downloads, decoded caches and built kernels: $GENLAB_CACHE, else ~/.cache/genlab (not
    created here)."""
    env = os.environ.get("GENLAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genlab"


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` via a fsynced temporary file and a rename. With replace=False an existing
    `path` is never replaced, even one that appeared a moment ago: FileExistsError, and nothing written
    (the file is put in place by a hard link, which fails when the name exists)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:  # a full disk, an interrupt, a name taken: no temporary file left behind
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())
