"""One process per run folder: an OS lock (flock) on `<run>/.genlab-lock`.

The kernel releases the lock when its holder exits or crashes, so it never goes stale the way a pid file
does. The lock file stays in the folder (removing it would let a second process lock a new file while
the first still holds the old one); it holds the holder's pid, host and start time, for the message a
second process prints.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK = ".genlab-lock"


class LockHeld(RuntimeError):
    """Another process holds the run's lock; `holder` describes it."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is in use by another genlab process ({holder})")
        self.path, self.holder = path, holder


class RunLock:
    """An exclusive, non-blocking lock on a run folder, held until `release` (or the process ends)."""

    def __init__(self, folder: str | Path, command: str = "train"):
        self.path = Path(folder) / LOCK
        self.fd: int | None = None
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LockHeld(Path(folder), holder_of(self.path)) from None
        self.fd = fd
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def holder_of(lock_file: Path) -> str:
    """'pid P on HOST, started T' from a lock file (the holder writes it just after locking)."""
    for _ in range(20):
        try:
            info = json.loads(Path(lock_file).read_text() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) and "pid" in info:
            return (f"{info.get('command', 'genlab')} pid {info['pid']} on {info.get('host', '?')}, "
                    f"started {info.get('started', '?')}")
        time.sleep(0.05)
    return "a process that has not yet written its details"


__all__ = ["LOCK", "LockHeld", "RunLock", "holder_of"]
