"""What several commands share: repeatable KEY=VALUE options, run names, which flags argv gave, and the
checks of counts and output files that run before any work starts."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated

import tyro

from genlab.config import ConfigError

# A repeatable flag of KEY=VALUE strings: `--option a=1 b=2` and `--option a=1 --option b=2` both give
# ("a=1", "b=2") after `flatten` (a plain tuple[str, ...] would keep only the last --option).
KeyValues = Annotated[tuple[tuple[str, ...], ...], tyro.conf.UseAppendAction,
                    tyro.conf.arg(metavar="KEY=VALUE [KEY=VALUE ...]")]

# The most images one command makes: an .npz of samples (genlab.runs.sample's own cap), and a PNG grid (whose
# pixels all sit in memory at once).
MAX_GRID = 10_000
# The most inpainted or denoised versions of one image (each is a whole diffusion chain, all in one batch).
MAX_EDITS = 1_000

# The argument list of the running `genlab` call (set by main), for the flags a user actually gave.
ARGV: ContextVar[list[str] | None] = ContextVar("genlab_argv", default=None)


def flatten(groups: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """The KEY=VALUE strings of a repeated flag, in order: (("a=1",), ("b=2", "c=3")) -> ("a=1", "b=2", "c=3")."""
    return tuple(p for group in groups for p in group)


def parse_options(pairs: Iterable[str]) -> dict[str, object]:
    """KEY=VALUE strings -> dict; values parsed as JSON when they can be (numbers, true/false)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


def run_name(family: str, data: str) -> str:
    """The default run folder name FAMILY-DATA (a folder:/npz: source contributes its last path part)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{family}-{Path(data.split(':', 1)[-1]).name or data}").strip("-")


def given_flags(names: Iterable[str], prefix: str = "") -> set[str] | None:
    """Which of the options `names` the command line set (as --PREFIXNAME, --PREFIXNAME=V, --PREFIXno-NAME;
    dashes or underscores), or None when no command line is known (a command called from Python)."""
    argv = ARGV.get()
    if argv is None:
        return None
    names, found = set(names), set()
    for token in argv:
        if token == "--":
            break
        if not token.startswith("--" + prefix):
            continue
        flag = token[2 + len(prefix):].split("=", 1)[0].replace("-", "_")
        for name in (flag, flag[3:] if flag.startswith("no_") else None):
            if name in names:
                found.add(name)
                break
    return found


def output_file(out: str, *, overwrite: bool = False, suffixes: tuple[str, ...] = (".png",),
                flag: str = "--out") -> Path:
    """`out` as a Path once it is a file name that can be written now: it ends in one of `suffixes`, is not a
    folder, its folder exists and takes new files, and it is not an existing file (unless `overwrite`).

    Raises ConfigError naming the flag, before any work starts: nothing is written here (the write test
    creates and removes a temporary file), and no folder is created."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        raise ConfigError(f"{flag} {out} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} must end in {' or '.join(suffixes)}, got {out!r}")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {out}: the folder {folder} does not exist; create it first")
    if path.exists() and not overwrite:
        raise ConfigError(f"{flag} {out} already exists; pass --overwrite to replace it, or choose another {flag}")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".genlab-write-test-")
    except OSError as e:
        raise ConfigError(f"{flag} {out}: cannot write in {folder}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write_output(path: str | Path, data: bytes, *, overwrite: bool, flag: str = "--out") -> None:
    """Write an output file checked by `output_file`; without `overwrite`, a file that appeared at `path`
    since that check (another process) is kept and the command fails, so nothing is replaced silently."""
    from genlab.io import atomic_write_bytes

    try:
        atomic_write_bytes(Path(path), data, replace=overwrite)
    except FileExistsError:
        raise ConfigError(f"{flag} {path} appeared while this command ran and was kept; pass --overwrite to "
                          f"replace it, or choose another {flag}") from None
