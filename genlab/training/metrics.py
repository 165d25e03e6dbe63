"""A run's metrics.jsonl: one JSON record per line, each with the `step` it was logged at.

The trainer appends one line per record; a kill or a full disk in the middle of an append can leave a
torn last line, which readers drop with a warning (resume then rewrites the file without it). Any other
line that is not a record is an error naming the file and the line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from genlab.io import atomic_write_bytes

METRICS = "metrics.jsonl"


class MetricsError(ValueError):
    """metrics.jsonl cannot be read or written; the message names the file (and line) and what to do."""


def _record(line: str) -> dict[str, Any] | None:
    try:
        r = json.loads(line)
    except ValueError:
        return None
    return r if isinstance(r, dict) and isinstance(r.get("step"), int) else None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (none when it is missing); a torn last line is dropped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise MetricsError(f"could not read {path}: {e}") from None
    numbered = [(i + 1, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    out = []
    for k, (number, line) in enumerate(numbered):
        record = _record(line)
        if record is None:
            # an append that a kill or a full disk cut short: the last line, without its newline (or zeros)
            torn = k == len(numbered) - 1 and (not text.endswith("\n") or not line.strip("\0 \t\r"))
            if torn:
                warnings.warn(f"{path}: dropped a torn last line ({number}: {line[:40]!r}...), left by an "
                              "interrupted write", RuntimeWarning, stacklevel=2)
                break
            raise MetricsError(f"{path}, line {number}, is not a metrics record (a JSON object with an integer "
                               f"'step'): {line[:60]!r}; fix or delete that line")
        out.append(record)
    return out


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a line (one write call)."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise MetricsError(f"could not write {path}: {e}; free space (or fix permissions) and resume the run "
                           "with --resume") from None


def trim_metrics(path: str | Path, step: int) -> None:
    """Keep only the records up to `step` (the checkpoint a resumed run continues from), and no torn line."""
    path = Path(path)
    if not path.exists():
        return
    keep = [json.dumps(r) for r in read_metrics(path) if r["step"] <= step]
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


__all__ = ["METRICS", "MetricsError", "append_record", "read_metrics", "trim_metrics"]
