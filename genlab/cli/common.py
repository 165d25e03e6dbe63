"""What several commands share: repeatable KEY=VALUE options, run names, and which flags argv gave."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated

import tyro

# A repeatable flag of KEY=VALUE strings: `--option a=1 b=2` and `--option a=1 --option b=2` both give
# ("a=1", "b=2") after `flatten` (a plain tuple[str, ...] would keep only the last --option).
KeyValues = Annotated[tuple[tuple[str, ...], ...], tyro.conf.UseAppendAction,
                    tyro.conf.arg(metavar="KEY=VALUE [KEY=VALUE ...]")]

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
